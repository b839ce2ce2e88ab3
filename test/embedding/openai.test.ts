import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dot, normalizeInPlace } from '../../src/embedding/embedder.js';
import { OpenAIEmbedder } from '../../src/embedding/openai.js';
import { fakeVector, startFakeEmbeddingsServer, type FakeEmbeddingsServer } from '../helpers/fake-embeddings-server.js';
import { failure } from '../helpers/failure.js';

const API_KEY = 'sk-test-0123456789abcdef';
const MODEL = 'text-embedding-test';

let server: FakeEmbeddingsServer;
const embedders: OpenAIEmbedder[] = [];

function baseOptions() {
  return { baseURL: server.baseURL, apiKey: API_KEY, model: MODEL };
}

async function create(options: Partial<Parameters<typeof OpenAIEmbedder.create>[0]> = {}): Promise<OpenAIEmbedder> {
  const embedder = await OpenAIEmbedder.create({ baseURL: server.baseURL, apiKey: API_KEY, model: MODEL, ...options });
  embedders.push(embedder);
  return embedder;
}

function expected(text: string, dimension = 16): Float32Array {
  return normalizeInPlace(Float32Array.from(fakeVector(text, dimension)));
}

beforeEach(async () => {
  server = await startFakeEmbeddingsServer({ dimension: 16, reverseOrder: true });
});

afterEach(async () => {
  await Promise.all(embedders.splice(0).map((e) => e.close()));
  await server.close();
});

describe('openai provider against an OpenAI-compatible embeddings server', () => {
  it('learns the dimension from one probe request and sends model, float format and the bearer key', async () => {
    const embedder = await create();
    expect(embedder.dimension).toBe(16);
    // The server is part of the id: the same model name on another server is another model.
    expect(embedder.modelId).toBe(`openai/${MODEL}@${server.baseURL.replace('http://', '')}`);
    expect(server.requests).toHaveLength(1);
    const [probe] = server.requests;
    expect(probe!.path).toBe('/v1/embeddings');
    expect(probe!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(probe!.body).toMatchObject({ model: MODEL, encoding_format: 'float' });
    expect(probe!.body.dimensions).toBeUndefined();
  });

  it('sends no Authorization header without an API key', async () => {
    await create({ apiKey: undefined });
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('returns unit vectors in input order even when the server answers out of order', async () => {
    const embedder = await create();
    const texts = ['refund my order', 'what is the weather', 'hello', 'refund my order'];
    const vectors = await embedder.embed(texts);
    expect(vectors).toHaveLength(4);
    vectors.forEach((vector, i) => {
      expect(vector).toHaveLength(16);
      expect(dot(vector, vector)).toBeCloseTo(1, 5);
      expect(Array.from(vector)).toEqual(Array.from(expected(texts[i]!)));
    });
    expect(Array.from(vectors[0]!)).toEqual(Array.from(vectors[3]!));
  });

  it('splits large inputs into batches of at most batchSize and reassembles them in order', async () => {
    const embedder = await create({ batchSize: 32 });
    const texts = Array.from({ length: 70 }, (_, i) => `message number ${i}`);
    const vectors = await embedder.embed(texts);
    const batches = server.requests.slice(1).map((r) => r.body.input!);
    expect(batches.map((b) => b.length).sort((a, b) => a - b)).toEqual([6, 32, 32]);
    expect(batches.flat().sort()).toEqual([...texts].sort());
    vectors.forEach((vector, i) => expect(Array.from(vector)).toEqual(Array.from(expected(texts[i]!))));
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const embedder = await create({ batchSize: 2, concurrency: 3 });
    server.behave({ kind: 'slow', delayMs: 100 });
    const texts = Array.from({ length: 20 }, (_, i) => `text ${i}`);
    const vectors = await embedder.embed(texts);
    expect(vectors).toHaveLength(20);
    expect(server.requests).toHaveLength(1 + 10);
    expect(server.maxInFlight).toBe(3);
  });

  it('sends `dimensions` when given and then needs no probe request', async () => {
    const embedder = await create({ dimensions: 8 });
    expect(embedder.dimension).toBe(8);
    expect(server.requests).toHaveLength(0);
    const [vector] = await embedder.embed(['short vectors']);
    expect(server.requests[0]!.body.dimensions).toBe(8);
    expect(Array.from(vector!)).toEqual(Array.from(expected('short vectors', 8)));
  });

  it('embeds an empty list without a request, and an empty string as a space', async () => {
    const embedder = await create();
    expect(await embedder.embed([])).toEqual([]);
    expect(server.requests).toHaveLength(1);
    await embedder.embed(['']);
    expect(server.requests[1]!.body.input).toEqual([' ']);
  });

  it('turns a 500 into RG_ERR_EMBEDDING_FAILED with the status and the server message, never the key', async () => {
    const embedder = await create();
    server.behave({
      kind: 'status',
      status: 500,
      body: JSON.stringify({ error: { message: `model overloaded (request had Bearer ${API_KEY})` } }),
    });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('RG_ERR_EMBEDDING_FAILED');
    expect(error.statusCode).toBe(502);
    expect(error.message).toContain('500');
    expect(error.message).toContain('model overloaded');
    expect(error.message).toContain(MODEL);
    expect(error.message).not.toContain(API_KEY);
  });

  it('fails creation clearly when the probe is refused (e.g. a wrong key)', async () => {
    server.behave({ kind: 'status', status: 401, body: '{"error":{"message":"Incorrect API key provided"}}' });
    const error = await failure(create());
    expect(error.code).toBe('RG_ERR_EMBEDDING_FAILED');
    expect(error.message).toMatch(/401.*Incorrect API key provided/);
  });

  it('turns a server slower than timeoutMs into RG_ERR_EMBEDDING_TIMEOUT', async () => {
    const embedder = await create({ timeoutMs: 150 });
    server.behave({ kind: 'slow', delayMs: 5_000 });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('RG_ERR_EMBEDDING_TIMEOUT');
    expect(error.statusCode).toBe(504);
    expect(error.message).toContain('150 ms');
  });

  it.each([
    ['a body that is not JSON', '<html>bad gateway</html>', /not JSON.*bad gateway/],
    ['a body without data', '{"object":"list"}', /no `data` array/],
    ['too few embeddings', '{"data":[]}', /sent 1 texts but got 0/],
    ['a non-numeric embedding', '{"data":[{"index":0,"embedding":["x"]}]}', /not a non-empty list of finite numbers/],
    ['an out-of-range index', '{"data":[{"index":5,"embedding":[1,2]}]}', /invalid index 5/],
    ['the wrong dimension', '{"data":[{"index":0,"embedding":[1,2,3]}]}', /3 dimensions, expected 16/],
    [
      'an all-zero embedding',
      JSON.stringify({ data: [{ index: 0, embedding: new Array(16).fill(0) }] }),
      /index 0 is all zeros/,
    ],
  ])('rejects %s with a clear RG_ERR_EMBEDDING_FAILED', async (_name, body, message) => {
    const embedder = await create();
    server.behave({ kind: 'raw', body });
    const error = await failure(embedder.embed(['hello']));
    expect(error.code).toBe('RG_ERR_EMBEDDING_FAILED');
    expect(error.message).toMatch(message);
  });

  it('accepts base64-encoded float32 embeddings', async () => {
    const embedder = await create({ dimensions: 4 });
    const base64 = Buffer.from(Float32Array.from([3, 0, 4, 0]).buffer).toString('base64');
    server.behave({ kind: 'raw', body: JSON.stringify({ data: [{ index: 0, embedding: base64 }] }) });
    const [vector] = await embedder.embed(['hello']);
    expect(Array.from(vector!)).toEqual([0.6000000238418579, 0, 0.800000011920929, 0]);
  });

  it('reports an unreachable server as RG_ERR_EMBEDDING_FAILED with the network error as cause, after retrying', async () => {
    const url = server.baseURL;
    await server.close();
    server = await startFakeEmbeddingsServer();
    const error = await failure(
      OpenAIEmbedder.create({ baseURL: url, model: MODEL, timeoutMs: 5_000, probeRetries: 2, probeBackoffMs: 10 }),
    );
    expect(error.code).toBe('RG_ERR_EMBEDDING_FAILED');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('(after 3 tries)');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('waits at start for a server that is busy or restarting, but not for one that refuses the request', async () => {
    server.behave({ kind: 'status', status: 503, body: 'warming up' });
    const ready = setTimeout(() => server.behave({ kind: 'ok' }), 150);
    const before = server.requests.length;
    const embedder = await OpenAIEmbedder.create({ ...baseOptions(), probeBackoffMs: 100 });
    clearTimeout(ready);
    expect(server.requests.length - before).toBeGreaterThanOrEqual(2);
    expect(embedder.dimension).toBeGreaterThan(0);
    await embedder.close();

    server.behave({ kind: 'status', status: 401, body: 'bad key' });
    const refused = server.requests.length;
    const error = await failure(OpenAIEmbedder.create({ ...baseOptions(), probeBackoffMs: 10 }));
    expect(error.message).toContain('server answered 401');
    expect(server.requests.length - refused).toBe(1);
  });

  it('waits out a rate limit at start, but gives up at once on a server that does not answer in time', async () => {
    server.behave({ kind: 'status', status: 429, body: '{"error":{"message":"Rate limit reached"}}' });
    const ready = setTimeout(() => server.behave({ kind: 'ok' }), 150);
    const before = server.requests.length;
    const embedder = await OpenAIEmbedder.create({ ...baseOptions(), probeBackoffMs: 100 });
    clearTimeout(ready);
    expect(server.requests.length - before).toBeGreaterThanOrEqual(2);
    expect(embedder.dimension).toBe(16);
    await embedder.close();

    // A timeout already waited timeoutMs; retrying would multiply a start-up the operator sized.
    server.behave({ kind: 'slow', delayMs: 5_000 });
    const slow = server.requests.length;
    const error = await failure(OpenAIEmbedder.create({ ...baseOptions(), timeoutMs: 100, probeBackoffMs: 10 }));
    expect(error.code).toBe('RG_ERR_EMBEDDING_TIMEOUT');
    expect(error.message).not.toContain('tries');
    expect(server.requests.length - slow).toBe(1);
  });

  it('rejects a base URL that is not http(s) as a configuration error', async () => {
    const error = await failure(OpenAIEmbedder.create({ baseURL: 'ftp://example.invalid', model: MODEL }));
    expect(error.code).toBe('RG_ERR_CONFIG_INVALID');
  });
});
