/**
 * Validation of the client's request bodies, before anything is decided. Only what railgate itself
 * relies on is checked (messages, roles, content, stream, model, and `n`, which a synthesized answer
 * honours); every other OpenAI parameter is left
 * for the upstream to judge, so a new OpenAI feature passes through without a railgate release.
 * Problems come out as RG_ERR_INVALID_REQUEST with OpenAI's `param` path (`messages[2].content`).
 */
import { z } from 'zod';
import { RailgateError } from '../errors.js';
import type { Settings } from '../settings.js';

type Limits = Settings['limits'];

/** The client's body as received; forwarded (whole or with `messages`/`model` replaced) upstream. */
export type ChatBody = Readonly<Record<string, unknown>>;

export interface ChatRequest {
  readonly body: ChatBody;
  readonly stream: boolean;
  /** `stream_options.include_usage`: a final usage chunk is expected. */
  readonly includeUsage: boolean;
  readonly model: string | undefined;
  /** `n`: how many choices the client asked for (1 unless given). */
  readonly choices: number;
  /**
   * `response_format` asks for structured output (`json_schema`): a respond or refuse answer, which is
   * not the schema's JSON, goes in `message.refusal` with `content: null`, where `parse()` looks. In
   * JSON mode (`json_object`) a canned answer stays in `content`: those clients read it, and a refusal
   * keeps its `content_filter` finish.
   */
  readonly structured: boolean;
  /** The text matched against the rails: the last user message. */
  readonly userText: string;
  /**
   * The user messages before it (at most `limits.earlierMessages`, oldest first) with their index in
   * `messages`: they can refuse a passthrough.
   */
  readonly earlier: readonly EarlierMessage[];
}

export interface EarlierMessage {
  /** Index in the request's `messages`. */
  readonly index: number;
  readonly text: string;
}

export interface GuardRequest {
  readonly text: string;
  readonly earlier: readonly EarlierMessage[];
  /** The rail set named in the body, if any. */
  readonly railSet: string | undefined;
}

/** The message for a body that is JSON but not an object (an array, a number, a string). */
const NOT_AN_OBJECT = 'the request body must be a JSON object';

const contentPart = z
  .object({ type: z.string() }, { invalid_type_error: 'expected a content part object' })
  .passthrough()
  .superRefine((part, ctx) => {
    if (part.type === 'text' && typeof part.text !== 'string') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['text'], message: 'a text part needs a string `text`' });
    }
  });

/**
 * The roles OpenAI's chat API defines; it refuses others, and so does railgate. Only `user` messages
 * are decided, and an upstream's chat template may read any other spelling ("User", "human") as the
 * user's turn: passed on, such a message would reach the model undecided.
 */
const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
const role = z.string().refine((value) => (ROLES as readonly string[]).includes(value), {
  message: `must be one of ${ROLES.map((r) => `'${r}'`).join(', ')}`,
});

const message = z
  .object(
    { role, content: z.unknown() },
    {
      invalid_type_error: 'expected a message object',
    },
  )
  .passthrough()
  .superRefine((msg, ctx) => {
    const { content } = msg;
    // Assistant turns that only call tools carry no content, as in OpenAI's API.
    if ((content === null || content === undefined) && msg.role === 'assistant') return;
    if (typeof content === 'string') return;
    if (!Array.isArray(content)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['content'],
        message: `expected a string or an array of content parts, got ${describe(content)}`,
      });
      return;
    }
    content.forEach((part, index) => {
      const result = contentPart.safeParse(part, { errorMap });
      if (!result.success) {
        for (const issue of result.error.issues) ctx.addIssue({ ...issue, path: ['content', index, ...issue.path] });
      }
    });
  });

function messagesSchema(limits: Limits) {
  return z
    .array(message, { invalid_type_error: 'expected an array of messages' })
    .min(1, 'must contain at least one message')
    .max(limits.messages, `must contain at most ${limits.messages} messages, this proxy's limit (limits.messages)`);
}

function chatSchema(limits: Limits) {
  return z
    .object(
      {
        model: z.string().optional(),
        messages: messagesSchema(limits),
        stream: z.boolean().nullable().optional(),
        // OpenAI's own bounds for `n`.
        n: z
          .number()
          .int('must be an integer')
          .min(1, 'must be at least 1')
          .max(128, 'must be at most 128')
          .nullable()
          .optional(),
        stream_options: z
          .object({ include_usage: z.boolean().nullable().optional() })
          .passthrough()
          .nullable()
          .optional(),
      },
      { invalid_type_error: NOT_AN_OBJECT },
    )
    .passthrough();
}

function guardSchema(limits: Limits) {
  return z
    .object(
      {
        messages: messagesSchema(limits).optional(),
        input: z.string().optional(),
        rails: z.string().min(1, 'must not be empty').optional(),
      },
      { invalid_type_error: NOT_AN_OBJECT },
    )
    .passthrough();
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Readable messages in OpenAI's tone: "expected a string, got a number". */
const errorMap: z.ZodErrorMap = (issue, ctx) => {
  if (issue.code === z.ZodIssueCode.invalid_type) {
    if (issue.received === 'undefined')
      return {
        message:
          issue.path.length > 0
            ? 'is required'
            : 'the request has no body; send it as JSON with Content-Type: application/json',
      };
    return {
      message: ctx.defaultError.startsWith('Expected')
        ? `expected ${issue.expected}, got ${issue.received}`
        : ctx.defaultError,
    };
  }
  return { message: ctx.defaultError };
};

/** `['messages', 2, 'content']` → `messages[2].content`, the way OpenAI names parameters. */
export function paramPath(path: readonly (string | number)[]): string | null {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${key}` : key;
  return out || null;
}

function invalid(issue: z.ZodIssue): RailgateError {
  const param = paramPath(issue.path);
  const message = param ? `Invalid '${param}': ${issue.message}.` : `Invalid request: ${issue.message}.`;
  return new RailgateError('RG_ERR_INVALID_REQUEST', message, { param });
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body, { errorMap });
  if (!result.success) throw invalid(result.error.issues[0]!);
  return result.data;
}

/**
 * The keys of a content part that hold text a model reads: `text` in any part (an upstream may read
 * `input_text` or `Text` parts that OpenAI would refuse), and `refusal` and `thinking`, which vLLM's
 * chat templates read as text too, whatever role they come in.
 */
const TEXT_KEYS = ['text', 'refusal', 'thinking'] as const;

/**
 * The text of one message's content: a string, or the text of an array's parts joined by newlines.
 * No text an upstream may read passes undecided.
 */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return wellFormed(content);
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content as unknown[]) {
    if (typeof part !== 'object' || part === null) continue;
    for (const key of TEXT_KEYS) {
      const text = (part as Record<string, unknown>)[key];
      if (typeof text === 'string') texts.push(text);
    }
  }
  return wellFormed(texts.join('\n'));
}

/** A UTF-16 surrogate without its other half (`"\ud800"` in the JSON): no character at all. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The text with each lone surrogate read as U+FFFD, as any UTF-8 reader of it (the upstream, the
 * decision log) reads it: the text decided is then the text logged, replayed and turned into examples.
 */
function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

const NOTHING_TO_DECIDE = /^[\p{P}\p{Z}\s]*$/u;

/**
 * The text of the user messages before the last one, oldest first, without empty ones: what a
 * passthrough sends upstream besides the last message. The most recent ones only, as many as
 * `limits.earlierMessages` (0: none) and as fit in `limits.messageChars` together: the model's time
 * is bounded by text, and a client writes its own history, so the check may cost at most what one
 * more last message may. (A long context pasted earlier in one turn is no error: it is not checked.)
 */
function earlierUserMessages(
  messages: readonly { role: string; content?: unknown }[],
  limits: Limits,
): EarlierMessage[] {
  const users = messages.flatMap((m, index) => (m.role === 'user' ? [{ index, text: contentText(m.content) }] : []));
  const kept: EarlierMessage[] = [];
  const seen = new Set<string>();
  let chars = 0;
  for (const message of users.slice(0, -1).reverse()) {
    if (kept.length >= limits.earlierMessages) break;
    // Messages of only punctuation and space, and repeats, would decide nothing new: they do not count
    // against the limit (16 turns of " . " pushed a refused request out of the checked history).
    if (NOTHING_TO_DECIDE.test(message.text) || seen.has(message.text)) continue;
    seen.add(message.text);
    chars += message.text.length;
    if (chars > limits.messageChars) break;
    kept.push(message);
  }
  return kept.reverse();
}

/** What the proxy answers to a last user message over `limits.messageChars` (`railgate explain` says it too). */
export function lastMessageTooLong(length: number, limit: number, param: string): RailgateError {
  return new RailgateError(
    'RG_ERR_MESSAGE_TOO_LONG',
    `The last user message is ${length} characters long; the limit is ${limit}.`,
    { param },
  );
}

/** The last user message's text, checked against the length limit. */
function lastUserText(messages: readonly { role: string; content?: unknown }[], limits: Limits): string {
  for (let index = messages.length - 1; index >= 0; index--) {
    const msg = messages[index]!;
    if (msg.role !== 'user') continue;
    const text = contentText(msg.content);
    if (text.length > limits.messageChars)
      throw lastMessageTooLong(text.length, limits.messageChars, `messages[${index}].content`);
    return text;
  }
  throw new RailgateError('RG_ERR_INVALID_REQUEST', "Invalid 'messages': there is no message with role 'user'.", {
    param: 'messages',
  });
}

const anyObject = z.object({}, { invalid_type_error: NOT_AN_OBJECT }).passthrough();

/** A body relayed without a decision (`/v1/embeddings`): a JSON object, said as chat's would be. */
export function requestObject(body: unknown): Readonly<Record<string, unknown>> {
  return parse(anyObject, body);
}

export function createRequestParsers(limits: Limits) {
  const chat = chatSchema(limits);
  const guard = guardSchema(limits);
  return {
    chat(body: unknown): ChatRequest {
      const parsed = parse(chat, body);
      return {
        body: body as ChatBody,
        stream: parsed.stream === true,
        includeUsage: parsed.stream_options?.include_usage === true,
        model: parsed.model,
        choices: parsed.n ?? 1,
        structured: (parsed as { response_format?: { type?: unknown } }).response_format?.type === 'json_schema',
        userText: lastUserText(parsed.messages, limits),
        earlier: earlierUserMessages(parsed.messages, limits),
      };
    },
    guard(body: unknown): GuardRequest {
      const parsed = parse(guard, body);
      if (parsed.input !== undefined) {
        if (parsed.input.length > limits.messageChars) {
          throw new RailgateError(
            'RG_ERR_MESSAGE_TOO_LONG',
            `'input' is ${parsed.input.length} characters long; the limit is ${limits.messageChars}.`,
            { param: 'input' },
          );
        }
        return { text: wellFormed(parsed.input), earlier: [], railSet: parsed.rails };
      }
      if (!parsed.messages) {
        throw new RailgateError(
          'RG_ERR_INVALID_REQUEST',
          "Invalid request: either 'messages' or 'input' is required.",
          {
            param: 'messages',
          },
        );
      }
      return {
        text: lastUserText(parsed.messages, limits),
        earlier: earlierUserMessages(parsed.messages, limits),
        railSet: parsed.rails,
      };
    },
  };
}

export type RequestParsers = ReturnType<typeof createRequestParsers>;
