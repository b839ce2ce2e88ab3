/**
 * A real HTTP server (127.0.0.1, port 0) speaking OpenAI's `POST /v1/embeddings`, for testing the `openai`
 * provider end to end. Vectors are derived from a hash of each text, so they are deterministic, and are
 * deliberately NOT unit length (the client must normalise). It records every request and can be told to
 * fail, stall, answer garbage or answer out of order.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RecordedEmbeddingsRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: { model?: string; input?: string | string[]; dimensions?: number; encoding_format?: string };
}

export type FakeBehaviour =
  | { kind: 'ok' }
  /** Answer with this status and body. */
  | { kind: 'status'; status: number; body: string }
  /** Wait this long before answering normally. */
  | { kind: 'slow'; delayMs: number }
  /** 200 with this raw body. */
  | { kind: 'raw'; body: string }
  /**
   * 200 with a body sent in these pieces, 10 ms apart; after the first, waits for `held` if given;
   * with `drop`, the connection is destroyed after the last piece instead of ending the body.
   */
  | { kind: 'pieces'; pieces: readonly string[]; held?: Promise<void>; drop?: boolean };

export interface FakeEmbeddingsServer {
  /** e.g. http://127.0.0.1:PORT/v1 — pass as baseURL. */
  readonly baseURL: string;
  readonly requests: RecordedEmbeddingsRequest[];
  /** The most requests it was answering at the same time. */
  readonly maxInFlight: number;
  /** Behaviour of every following request (default ok). */
  behave(behaviour: FakeBehaviour): void;
  close(): Promise<void>;
}

export interface FakeEmbeddingsOptions {
  dimension?: number;
  /** Answer `data` in reverse order (with correct `index`es), as servers are allowed to. */
  reverseOrder?: boolean;
}

/** The server's vector for a text, before normalisation: hash bytes mapped to [-4, 4]. */
export function fakeVector(text: string, dimension: number): number[] {
  const out: number[] = [];
  for (let block = 0; out.length < dimension; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (const byte of digest) if (out.length < dimension) out.push((byte - 127.5) / 32);
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeEmbeddingsServer(options: FakeEmbeddingsOptions = {}): Promise<FakeEmbeddingsServer> {
  const defaultDimension = options.dimension ?? 16;
  const requests: RecordedEmbeddingsRequest[] = [];
  let behaviour: FakeBehaviour = { kind: 'ok' };
  const timers = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let maxInFlight = 0;

  const answer = (res: ServerResponse, status: number, body: string): void => {
    inFlight--;
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  };

  const sendPieces = async (res: ServerResponse, how: Extract<FakeBehaviour, { kind: 'pieces' }>) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const [i, piece] of how.pieces.entries()) {
      if (i === 1) await how.held;
      if (i > 0) await sleep(10);
      res.write(piece);
    }
    inFlight--;
    if (how.drop) res.socket?.destroy();
    else res.end();
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const raw = await readBody(req);
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        answer(res, 404, JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      const body = JSON.parse(raw) as RecordedEmbeddingsRequest['body'];
      requests.push({ path: req.url, headers: req.headers, body });
      const current = behaviour;
      if (current.kind === 'status') return answer(res, current.status, current.body);
      if (current.kind === 'raw') return answer(res, 200, current.body);
      if (current.kind === 'pieces') return sendPieces(res, current);
      const dimension = body.dimensions ?? defaultDimension;
      // base64 (what the official SDKs ask for by default): the float32 values' little-endian bytes.
      const asBase64 = (vector: number[]) => Buffer.from(Float32Array.from(vector).buffer).toString('base64');
      // `input` may be one string (LangChain's embedQuery sends one) or a list of them.
      const inputs = typeof body.input === 'string' ? [body.input] : (body.input ?? []);
      const data = inputs.map((text, index) => ({
        object: 'embedding',
        index,
        embedding:
          body.encoding_format === 'base64' ? asBase64(fakeVector(text, dimension)) : fakeVector(text, dimension),
      }));
      if (options.reverseOrder) data.reverse();
      const payload = JSON.stringify({ object: 'list', data, model: body.model, usage: { prompt_tokens: 0 } });
      if (current.kind === 'slow') {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer(res, 200, payload);
        }, current.delayMs);
        timers.add(timer);
        return;
      }
      answer(res, 200, payload);
    })();
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    behave(next) {
      behaviour = next;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
