/**
 * The one registry of railgate's errors: a stable `RG_ERR_*` code, an HTTP status and an OpenAI error
 * `type` each. Everything that reaches a client is rendered by `toOpenAIError` in OpenAI's shape
 * `{ error: { message, type, param, code } }`, so SDKs surface it the way they surface OpenAI's own errors.
 */
export const ERROR_CODES = {
  RG_ERR_INVALID_JSON: { status: 400, type: 'invalid_request_error' },
  RG_ERR_INVALID_REQUEST: { status: 400, type: 'invalid_request_error' },
  RG_ERR_MESSAGE_TOO_LONG: { status: 400, type: 'invalid_request_error' },
  RG_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error' },
  RG_ERR_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error' },
  RG_ERR_HEADERS_TOO_LARGE: { status: 431, type: 'invalid_request_error' },
  RG_ERR_EXPECTATION_FAILED: { status: 417, type: 'invalid_request_error' },
  RG_ERR_REQUEST_TIMEOUT: { status: 408, type: 'invalid_request_error' },
  RG_ERR_UNAUTHORIZED: { status: 401, type: 'invalid_request_error' },
  RG_ERR_NOT_FOUND: { status: 404, type: 'invalid_request_error' },
  RG_ERR_UNKNOWN_RAIL_SET: { status: 404, type: 'invalid_request_error' },
  RG_ERR_NOT_READY: { status: 503, type: 'service_unavailable' },
  RG_ERR_OVERLOADED: { status: 503, type: 'service_unavailable' },
  RG_ERR_UPSTREAM_NOT_CONFIGURED: { status: 503, type: 'service_unavailable' },
  RG_ERR_UPSTREAM_UNREACHABLE: { status: 502, type: 'upstream_error' },
  RG_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, type: 'upstream_error' },
  RG_ERR_UPSTREAM_TIMEOUT: { status: 504, type: 'upstream_error' },
  RG_ERR_EMBEDDING_FAILED: { status: 502, type: 'embedding_error' },
  RG_ERR_EMBEDDING_TIMEOUT: { status: 504, type: 'embedding_error' },
  RG_ERR_RAILS_INVALID: { status: 500, type: 'configuration_error' },
  RG_ERR_CONFIG_INVALID: { status: 500, type: 'configuration_error' },
  RG_ERR_INTERNAL: { status: 500, type: 'internal_error' },
  /** Never sent (the client is gone): marks a logged request whose client hung up first (nginx's 499). */
  RG_ERR_CLIENT_CLOSED: { status: 499, type: 'client_closed' },
  /**
   * A request still running when the shutdown grace ended: a 503, or a stream's last event, when it
   * can still be sent; else only logged.
   */
  RG_ERR_SHUTDOWN_CUT: { status: 503, type: 'service_unavailable' },
  /**
   * Never sent by railgate: marks a logged stream that the upstream ended with an error event of its
   * own (relayed to the client as it came), which the stream's status (200) does not show.
   */
  RG_ERR_UPSTREAM_STREAM_ERROR: { status: 502, type: 'upstream_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Loading was stopped on purpose (railgate closed during start-up): not a failure to report. */
export class LoadCancelled extends Error {
  override readonly name = 'LoadCancelled';
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

export class RailgateError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly type: string;
  readonly param: string | null;

  constructor(code: ErrorCode, message: string, options: { param?: string | null; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RailgateError';
    this.code = code;
    this.statusCode = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
    this.param = options.param ?? null;
  }
}

export function isRailgateError(value: unknown): value is RailgateError {
  return value instanceof RailgateError;
}

/**
 * What a client is told of an error: its message, except where that names railgate's insides. An
 * embedding failure's message names the embeddings server (an internal URL) and quotes its answer
 * (a GPU host's out-of-memory text): the operator's to read in the log, not a client's.
 */
export function clientMessage(error: RailgateError): string {
  if (error.code === 'RG_ERR_EMBEDDING_TIMEOUT')
    return "The embedding model did not answer in time; railgate's log has the details.";
  if (error.code === 'RG_ERR_EMBEDDING_FAILED') return "The embedding model failed; railgate's log has the details.";
  return error.message;
}

export function toOpenAIError(error: RailgateError): OpenAIErrorBody {
  return { error: { message: clientMessage(error), type: error.type, param: error.param, code: error.code } };
}

/** An error and each of its causes, outermost first (undici wraps socket errors); a cycle ends it. */
export function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let at: unknown = error; at instanceof Error && !chain.includes(at); at = at.cause) chain.push(at);
  return chain;
}

/** The `code` of an error and of each of its causes, outermost first. */
export function causeCodes(error: unknown): string[] {
  return causeChain(error).flatMap((at) => {
    const code = (at as { code?: unknown }).code;
    return typeof code === 'string' ? [code] : [];
  });
}
