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
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: input.content, refusal: null },
        logprobs: null,
        finish_reason: input.finishReason,
      },
    ],
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
 * The events of a streamed synthetic answer: a role chunk (carrying the `railgate` decision, which
 * SDKs ignore as an unknown field), the content, the finish reason, the usage chunk when asked for,
 * and `[DONE]`.
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
  const choice = (delta: object, finishReason: FinishReason | null) => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finishReason,
  });
  const events = [
    sseEvent({
      ...base,
      choices: [choice({ role: 'assistant', content: '', refusal: null }, null)],
      ...usage,
      railgate: input.railgate,
    }),
    sseEvent({ ...base, choices: [choice({ content: input.content }, null)], ...usage }),
    sseEvent({ ...base, choices: [choice({}, input.finishReason)], ...usage }),
  ];
  if (input.includeUsage) events.push(sseEvent({ ...base, choices: [], usage: ZERO_USAGE }));
  events.push(SSE_DONE);
  return events;
}
