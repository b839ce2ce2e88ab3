/**
 * A real HTTP server speaking OpenAI's chat wire format, for tests of what railgate sends upstream and
 * how it relays what comes back. It records every request (method, path, headers, parsed body, and
 * whether the client hung up before the response was complete) and can misbehave on demand: answer
 * late, answer with an error, stream slowly, stall, or drop the connection mid-stream.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { brotliCompressSync, constants, createBrotliCompress, createGzip, gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FakeBehaviour {
  /** Answer with this HTTP status and `errorBody` instead of a completion. */
  readonly status?: number;
  readonly errorBody?: unknown;
  /** With `status`: this text as the body of every answer, without a content-type (as some proxies answer). */
  readonly errorText?: string;
  /** Wait this long before sending anything (response headers included). */
  readonly headersDelayMs?: number;
  /** Content pieces of a streamed answer; default: the echo text split into words. */
  readonly chunks?: readonly string[];
  /** Pause between streamed events. */
  readonly chunkDelayMs?: number;
  /** Destroy the socket after this many content chunks (a crash mid-stream). */
  readonly dropAfterChunks?: number;
  /** Stop sending, keeping the connection open, after this many content chunks. */
  readonly stallAfterChunks?: number;
  /** A stream's headers go out at once; its first event waits until this settles. */
  readonly beforeFirstEvent?: () => Promise<void>;
  /** Compress every answer this way, asked or not (as a misconfigured server or proxy does). */
  readonly encoding?: 'gzip' | 'br';
  /** Extra response headers on every answer. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The content of a non-streamed completion, instead of the echo. */
  readonly content?: string;
  /** Label every answer with this content-encoding but send it plain (a broken proxy on the way). */
  readonly mislabelledEncoding?: 'gzip' | 'br';
  /**
   * Answer a streaming request with this instead of an event stream: a JSON completion (or one whose
   * second half follows 300 ms after the first, so the body is still arriving), or HTML.
   */
  readonly streamAnswer?: 'json' | 'json-slowly' | 'html';
  /** Send these bytes as the whole streamed body (after the headers), instead of events. */
  readonly rawStream?: Buffer;
  /** With `rawStream`: send it, then end the response this much later (Infinity: never). */
  readonly holdOpenMs?: number;
  /** Answer with a call of this tool (id `call_1`) instead of text; streamed, its arguments in two pieces. */
  readonly toolCall?: { readonly name: string; readonly arguments: string };
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when there was none). */
  readonly body: unknown;
  /** The body's text as received. */
  readonly raw: string;
  /** The client closed the connection before the response was complete. */
  closedEarly: boolean;
  /** The response was sent completely. */
  finished: boolean;
}

export interface FakeUpstream {
  /** Base URL as railgate expects it: `http://127.0.0.1:<port>/v1`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** TCP connections accepted so far (a keep-alive client reuses one). */
  readonly connections: number;
  /** Applies to requests from now on (replacing the previous behaviour). */
  behave(behaviour: FakeBehaviour): void;
  reset(): void;
  /** Polls until `predicate` holds (fails after `timeoutMs`). */
  waitUntil(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface ChatBody {
  model?: string;
  messages?: { role: string; content: unknown }[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((p: { text?: unknown }) => (typeof p.text === 'string' ? p.text : '')).join('\n');
  return '';
}

/** What the fake model answers: derived from the last message it received, so tests can see what arrived. */
export function echoOf(body: ChatBody): string {
  const last = body.messages?.at(-1);
  return `echo: ${last ? textOf(last.content) : ''}`;
}

function encode(text: string, encoding: FakeBehaviour['encoding']): Buffer {
  if (encoding === 'gzip') return gzipSync(text);
  if (encoding === 'br') return brotliCompressSync(text);
  return Buffer.from(text);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  encoding?: FakeBehaviour['encoding'],
  label: FakeBehaviour['encoding'] = encoding,
): void {
  const bytes = encode(JSON.stringify(body), encoding);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': bytes.length,
    ...(label ? { 'content-encoding': label } : {}),
    'x-request-id': 'req_fake_upstream',
    'x-ratelimit-remaining-requests': '99',
    'openai-processing-ms': '12',
    'openai-organization': 'org-the-operators-account',
    ...(status >= 400 ? { 'x-should-retry': 'false' } : {}),
  });
  res.end(bytes);
}

/** The stream's body: the response itself, or a compressor in front of it flushed after each event. */
function streamBody(
  res: ServerResponse,
  encoding: FakeBehaviour['encoding'],
): {
  write(text: string): Promise<void>;
  end(data: string | Buffer): void;
} {
  if (!encoding)
    return { write: (text) => new Promise((resolve) => res.write(text, () => resolve())), end: (t) => res.end(t) };
  const compressor: Writable & { flush(kind: number, done: () => void): void } =
    encoding === 'gzip' ? createGzip() : createBrotliCompress();
  compressor.pipe(res);
  const kind = encoding === 'gzip' ? constants.Z_SYNC_FLUSH : constants.BROTLI_OPERATION_FLUSH;
  return {
    write: (text) => new Promise((resolve) => (compressor.write(text), compressor.flush(kind, () => resolve()))),
    end: (data) => compressor.end(data),
  };
}

interface FakeMessage {
  role: 'assistant';
  content: string | null;
  refusal: null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
}

function completion(body: ChatBody, toolCall: FakeBehaviour['toolCall']) {
  const message: FakeMessage = toolCall
    ? {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: toolCall.name, arguments: toolCall.arguments } },
        ],
      }
    : { role: 'assistant', content: echoOf(body), refusal: null };
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: body.model ?? 'fake-model',
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: toolCall ? 'tool_calls' : 'stop',
      },
    ],
    usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
  };
}

async function stream(res: ServerResponse, body: ChatBody, behaviour: FakeBehaviour): Promise<void> {
  const base = {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: body.model ?? 'fake-model',
  };
  const includeUsage = body.stream_options?.include_usage === true;
  const usage = includeUsage ? { usage: null } : {};
  // Each event is flushed to the socket before going on, so a later drop cannot swallow it.
  const out = streamBody(res, behaviour.encoding);
  const event = (data: unknown) => out.write(`data: ${JSON.stringify(data)}\n\n`);
  const pause = () => (behaviour.chunkDelayMs ? sleep(behaviour.chunkDelayMs) : Promise.resolve());
  const chunks = behaviour.chunks ?? echoOf(body).split(/(?= )/);

  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    ...(behaviour.encoding || behaviour.mislabelledEncoding
      ? { 'content-encoding': behaviour.encoding ?? behaviour.mislabelledEncoding }
      : {}),
  });
  if (behaviour.rawStream) {
    if (behaviour.holdOpenMs === undefined) out.end(behaviour.rawStream);
    else {
      void out.write(behaviour.rawStream.toString('utf8'));
      if (Number.isFinite(behaviour.holdOpenMs)) setTimeout(() => out.end(''), behaviour.holdOpenMs);
    }
    return;
  }
  if (behaviour.beforeFirstEvent) {
    res.flushHeaders();
    await behaviour.beforeFirstEvent();
  }
  if (behaviour.toolCall) return streamToolCall(out, base, includeUsage, behaviour.toolCall);
  await event({
    ...base,
    choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    ...usage,
  });
  for (const [index, piece] of chunks.entries()) {
    if (index === behaviour.dropAfterChunks) {
      res.socket?.destroy();
      return;
    }
    if (index === behaviour.stallAfterChunks) return;
    await pause();
    if (res.destroyed) return;
    await event({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }], ...usage });
  }
  await pause();
  await event({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...usage });
  if (includeUsage)
    await event({
      ...base,
      choices: [],
      usage: { prompt_tokens: 7, completion_tokens: chunks.length, total_tokens: 7 + chunks.length },
    });
  out.end('data: [DONE]\n\n');
}

/** A tool call streamed as OpenAI streams one: its id and name first, then its arguments in pieces. */
async function streamToolCall(
  out: ReturnType<typeof streamBody>,
  base: object,
  includeUsage: boolean,
  call: NonNullable<FakeBehaviour['toolCall']>,
): Promise<void> {
  const usage = includeUsage ? { usage: null } : {};
  const event = (delta: object, finish: string | null) =>
    out.write(
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }], ...usage })}\n\n`,
    );
  const half = Math.floor(call.arguments.length / 2);
  await event(
    {
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: call.name, arguments: '' } }],
    },
    null,
  );
  for (const piece of [call.arguments.slice(0, half), call.arguments.slice(half)])
    await event({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null);
  await event({}, 'tool_calls');
  if (includeUsage)
    await out.write(
      `data: ${JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 } })}\n\n`,
    );
  out.end('data: [DONE]\n\n');
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  let behaviour: FakeBehaviour = {};
  const UNREADABLE_BODY = JSON.stringify({
    error: {
      message: 'We could not parse the JSON body of your request.',
      type: 'invalid_request_error',
      param: null,
      code: null,
    },
  });

  const server = createServer((req, res) => {
    const pieces: Buffer[] = [];
    req.on('data', (piece: Buffer) => pieces.push(piece));
    req.on('end', () => {
      const raw = Buffer.concat(pieces).toString('utf8');
      let body: unknown;
      let current = behaviour;
      try {
        body = raw ? (JSON.parse(raw) as unknown) : undefined;
      } catch {
        // As OpenAI does: a body it cannot read is a 400 (the request is still recorded).
        current = { status: 400, errorText: UNREADABLE_BODY };
      }
      const record: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        raw,
        closedEarly: false,
        finished: false,
      };
      requests.push(record);
      res.on('close', () => {
        if (res.writableFinished) record.finished = true;
        else record.closedEarly = true;
      });
      void answer(record, res, current);
    });
  });

  async function answer(record: RecordedRequest, res: ServerResponse, current: FakeBehaviour): Promise<void> {
    if (current.headersDelayMs) await sleep(current.headersDelayMs);
    if (res.destroyed) return;
    for (const [name, value] of Object.entries(current.headers ?? {})) res.setHeader(name, value);
    if (current.status && current.errorText !== undefined) {
      res.writeHead(current.status, { 'content-length': Buffer.byteLength(current.errorText) });
      res.end(current.errorText);
      return;
    }
    if (record.method === 'GET' && record.path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: 'fake-model', object: 'model', created: 1_700_000_000, owned_by: 'fake' }],
      });
      return;
    }
    const model = record.method === 'GET' ? /^\/v1\/models\/([^/]+)$/.exec(record.path)?.[1] : undefined;
    if (model === 'fake-model') {
      sendJson(res, 200, { id: 'fake-model', object: 'model', created: 1_700_000_000, owned_by: 'fake' });
      return;
    }
    if (model !== undefined) {
      const message = `The model '${decodeURIComponent(model)}' does not exist`;
      sendJson(res, 404, {
        error: { message, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
      });
      return;
    }
    if (record.method !== 'POST' || record.path !== '/v1/chat/completions') {
      sendJson(res, 404, { error: { message: 'not found', type: 'invalid_request_error', param: null, code: null } });
      return;
    }
    if (current.status) {
      sendJson(
        res,
        current.status,
        current.errorBody ?? { error: { message: 'upstream says no', type: 'server_error', param: null, code: null } },
      );
      return;
    }
    const body = record.body as ChatBody;
    if (body.stream && current.streamAnswer === 'html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>bad gateway</body></html>');
    } else if (body.stream && current.streamAnswer === 'json-slowly') {
      const text = JSON.stringify(completion(body, current.toolCall));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(text.slice(0, 10));
      await sleep(300);
      if (!res.destroyed) res.end(text.slice(10));
    } else if (body.stream && current.streamAnswer !== 'json') await stream(res, body, current);
    else {
      const answer = completion(body, current.toolCall);
      if (current.content !== undefined)
        answer.choices[0]!.message = { ...answer.choices[0]!.message, content: current.content };
      sendJson(res, 200, answer, current.encoding, current.encoding ?? current.mislabelledEncoding);
    }
  }

  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get connections() {
      return connections;
    },
    behave(next) {
      behaviour = next;
    },
    reset() {
      behaviour = {};
      requests.length = 0;
    },
    async waitUntil(predicate, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error('fake upstream: condition not met in time');
        await sleep(10);
      }
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
