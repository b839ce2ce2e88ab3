/** The assertion every error test makes: OpenAI's error shape, the status and code, no stack trace. */
import { expect } from 'vitest';

export function expectError(
  response: { statusCode: number; json: () => unknown },
  status: number,
  code: string,
  param?: string | null,
) {
  expect(response.statusCode).toBe(status);
  const body = response.json() as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(body.error).toMatchObject({ message: expect.any(String), type: expect.any(String), code });
  if (param !== undefined) expect(body.error.param).toBe(param);
  expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}
