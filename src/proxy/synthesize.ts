/**
 * Answers railgate writes itself (respond and refuse), in exactly the wire format OpenAI uses, so any
 * client parses them like a model's answer: a `chat.completion`, or `chat.completion.chunk` SSE events
 * ending with `data: [DONE]`.
 */
import { randomBytes } from 'node:crypto';
import type { RailgateView } from './decision-view.js';

export type FinishReason = 'stop' | 'content_filter';

export interface SynthesisInput {
  readonly model: string;
  readonly content: string;
  readonly finishReason: FinishReason;
  /** How many choices (the request's `n`); each carries the same answer. */
  readonly choices: number;
  /**
   * The answer is a refusal of a structured-output request: OpenAI's convention puts the text in
   * `message.refusal` (content null, finish_reason stop), which the SDKs' `parse()` returns as
   * `parsed: null` instead of failing to parse the text as JSON.
   */
  readonly asRefusal?: boolean;
  /** Epoch milliseconds. */
  readonly now: number;
  readonly railgate: RailgateView;
}

const ZERO_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } as const;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `chatcmpl-` and 29 alphanumerics, the shape of OpenAI's ids. */
export function completionId(): string {
  const bytes = randomBytes(29);
  let id = 'chatcmpl-';
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

export function synthesizeCompletion(input: SynthesisInput) {
  return {
    id: completionId(),
    object: 'chat.completion' as const,
    created: Math.floor(input.now / 1000),
    model: input.model,
    choices: Array.from({ length: input.choices }, (_, index) => ({
      index,
      message: input.asRefusal
        ? { role: 'assistant' as const, content: null, refusal: input.content }
        : { role: 'assistant' as const, content: input.content, refusal: null },
      logprobs: null,
      finish_reason: input.asRefusal ? 'stop' : input.finishReason,
    })),
    usage: ZERO_USAGE,
    system_fingerprint: null,
    railgate: input.railgate,
  };
}

export function sseEvent(data: unknown): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

/**
 * The events of a streamed synthetic answer: for each choice a role chunk, the content and the finish
 * reason (the very first chunk carries the `railgate` decision, which SDKs ignore as an unknown
 * field), then the usage chunk when asked for, and `[DONE]`.
 */
export function synthesizeChunks(input: SynthesisInput & { readonly includeUsage: boolean }): string[] {
  const base = {
    id: completionId(),
    object: 'chat.completion.chunk' as const,
    created: Math.floor(input.now / 1000),
    model: input.model,
    system_fingerprint: null,
  };
  // With include_usage, OpenAI sends `usage: null` on every chunk but the last.
  const usage = input.includeUsage ? { usage: null } : {};
  const chunk = (index: number, delta: object, finishReason: FinishReason | null) => ({
    ...base,
    choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
    ...usage,
  });
  const events: string[] = [];
  for (let index = 0; index < input.choices; index++) {
    const role = input.asRefusal
      ? chunk(index, { role: 'assistant', content: null, refusal: '' }, null)
      : chunk(index, { role: 'assistant', content: '', refusal: null }, null);
    events.push(
      sseEvent(index === 0 ? { ...role, railgate: input.railgate } : role),
      sseEvent(chunk(index, input.asRefusal ? { refusal: input.content } : { content: input.content }, null)),
      sseEvent(chunk(index, {}, input.asRefusal ? 'stop' : input.finishReason)),
    );
  }
  if (input.includeUsage) events.push(sseEvent({ ...base, choices: [], usage: ZERO_USAGE }));
  events.push(SSE_DONE);
  return events;
}
