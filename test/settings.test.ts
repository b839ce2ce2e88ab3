import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withFlags } from '../src/cli/commands/serve.js';
import { loadSettings, parseSettings, SETTINGS_VARIABLES, unknownVariables } from '../src/settings.js';

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'railgate-settings-'));
}

describe('settings', () => {
  it('has documented defaults and is frozen', () => {
    const settings = loadSettings({}, tmp());
    expect(settings).toMatchObject({
      port: 8787,
      host: '127.0.0.1',
      rails: 'rails',
      db: 'data/railgate.db',
      decisionRetentionDays: 30,
      clientApiKeys: [],
      trustProxy: false,
      upstreams: {},
    });
    expect(settings.limits).toEqual({
      bodyBytes: 1_048_576,
      messageChars: 32_000,
      messages: 512,
      messageChunks: 64,
      streamEventBytes: 4_194_304,
      upstreamAnswerBytes: 16_777_216,
      earlierMessages: 16,
      jsonDepth: 64,
      requestTimeoutMs: 30_000,
    });
    expect(Object.isFrozen(settings) && Object.isFrozen(settings.limits)).toBe(true);
    expect(settings.index).toEqual({
      exactBelow: 20_000,
      m: 16,
      efConstruction: 200,
      efSearch: 64,
      minRecall: 0.99,
      maxEfSearch: 1_024,
    });
  });

  it('reads the environment: upstream, limits, embedding', () => {
    const settings = loadSettings(
      {
        PORT: '9000',
        RAILGATE_RAILS: '/srv/rails',
        RAILGATE_UPSTREAM_URL: 'http://llm:8000/v1',
        RAILGATE_UPSTREAM_API_KEY: 'sk-test',
        RAILGATE_UPSTREAM_TIMEOUT_MS: '1500',
        RAILGATE_BODY_LIMIT: '2048',
        RAILGATE_MAX_QUEUE: '10',
        RAILGATE_EMBED_WORKER: 'false',
      },
      tmp(),
    );
    expect(settings.port).toBe(9000);
    expect(settings.rails).toBe('/srv/rails');
    expect(settings.upstreams.default).toMatchObject({
      url: 'http://llm:8000/v1',
      apiKey: 'sk-test',
      headersTimeoutMs: 1500,
    });
    expect(settings.limits.bodyBytes).toBe(2048);
    expect(settings.embedding).toMatchObject({ maxQueue: 10, worker: false });
  });

  it('merges railgate.config.json under the environment', () => {
    const dir = tmp();
    writeFileSync(
      path.join(dir, 'railgate.config.json'),
      JSON.stringify({
        port: 7000,
        defaultRailSet: 'bank',
        upstreams: { default: { url: 'http://a/v1', apiKey: 'from-file' } },
      }),
    );
    const settings = loadSettings({ PORT: '7001', RAILGATE_UPSTREAM_URL: 'http://b/v1' }, dir);
    expect(settings.port).toBe(7001);
    expect(settings.defaultRailSet).toBe('bank');
    expect(settings.upstreams.default).toMatchObject({ url: 'http://b/v1', apiKey: 'from-file' });
  });

  it('applies the upstream variables to a default upstream whose URL is in the config file', () => {
    const dir = tmp();
    writeFileSync(
      path.join(dir, 'railgate.config.json'),
      JSON.stringify({ upstreams: { default: { url: 'http://a/v1', connections: 8 } } }),
    );
    const env = {
      RAILGATE_UPSTREAM_API_KEY: 'sk-from-env',
      RAILGATE_FORWARD_CLIENT_AUTH: 'true',
      RAILGATE_UPSTREAM_TIMEOUT_MS: '1000',
    };
    expect(loadSettings(env, dir).upstreams.default).toMatchObject({
      url: 'http://a/v1',
      apiKey: 'sk-from-env',
      forwardClientAuth: true,
      headersTimeoutMs: 1000,
      connections: 8,
    });
    // Without a URL anywhere, the key would configure nothing: say so instead of dropping it.
    expect(() => loadSettings({ RAILGATE_UPSTREAM_API_KEY: 'sk-from-env' }, tmp())).toThrow(/RAILGATE_UPSTREAM_URL/);
    expect(loadSettings({ RAILGATE_UPSTREAM_API_KEY: '' }, tmp()).upstreams.default).toBeUndefined();
  });

  it('rejects bad values with the setting named, and unknown keys', () => {
    expect(() => loadSettings({ PORT: 'eighty' }, tmp())).toThrow(/PORT must be a decimal number/);
    expect(() => loadSettings({ RAILGATE_WATCH: 'maybe' }, tmp())).toThrow(/RAILGATE_WATCH must be true or false/);
    expect(() => loadSettings({ RAILGATE_UPSTREAM_URL: 'not a url' }, tmp())).toThrow(
      /RAILGATE_UPSTREAM_URL \(upstreams\.default\.url\): Invalid url/,
    );
    expect(() => parseSettings({ index: { minRecall: 1.5 } })).toThrow(/index\.minRecall/);
    // A value from the environment is reported under the variable's name, one from the file under its key.
    expect(() => loadSettings({ RAILGATE_LOG_LEVEL: 'verbose' }, tmp())).toThrow(/RAILGATE_LOG_LEVEL \(logLevel\)/);
    expect(() => loadSettings({ PORT: '99999' }, tmp())).toThrow(/PORT \(port\): Number must be less/);
    expect(() => parseSettings({ limits: { bodyBytes: -1 } })).toThrow(/limits\.bodyBytes/);
    expect(() => parseSettings({ prot: 1 } as never)).toThrow(/prot/);
    expect(() => parseSettings({ index: { m: 1 } })).toThrow(/index\.m/);
    expect(() => parseSettings({ index: { efSearch: 0 } })).toThrow(/index\.efSearch/);
    const dir = tmp();
    writeFileSync(path.join(dir, 'broken.json'), '{ nope');
    expect(() => loadSettings({ RAILGATE_CONFIG: 'broken.json' }, dir)).toThrow(/cannot read config file/);
    expect(() => loadSettings({ RAILGATE_CONFIG: 'missing.json' }, dir)).toThrow(/cannot read config file/);
  });

  it('takes a blank variable as unset, reads numbers in decimal only, and refuses a timer Node cannot set', () => {
    const defaults = loadSettings({}, tmp());
    const blank = loadSettings(
      { PORT: ' ', RAILGATE_SHUTDOWN_GRACE_MS: '\n', RAILGATE_DECISION_RETENTION_DAYS: ' ' },
      tmp(),
    );
    expect([blank.port, blank.shutdownGraceMs, blank.decisionRetentionDays]).toEqual([
      defaults.port,
      defaults.shutdownGraceMs,
      defaults.decisionRetentionDays,
    ]);
    expect(loadSettings({ PORT: ' 9000\n' }, tmp()).port).toBe(9000);
    expect(() => loadSettings({ PORT: '0x1F90' }, tmp())).toThrow(/PORT must be a decimal number .*, got "0x1F90"/);
    expect(loadSettings({ RAILGATE_BATCH_WINDOW_MS: '.5' }, tmp()).embedding.batchWindowMs).toBe(0.5);
    // RAILGATE_CONFIG too: blank is unset (the default file), a trailing newline is no part of the name.
    const dir = tmp();
    writeFileSync(path.join(dir, 'prod.json'), JSON.stringify({ port: 9100 }));
    expect(loadSettings({ RAILGATE_CONFIG: 'prod.json\n' }, dir).port).toBe(9100);
    expect(loadSettings({ RAILGATE_CONFIG: ' ' }, dir).port).toBe(defaults.port);
    expect(() => loadSettings({ RAILGATE_SHUTDOWN_GRACE_MS: '9999999999' }, tmp())).toThrow(
      /RAILGATE_SHUTDOWN_GRACE_MS \(shutdownGraceMs\): must be at most 2147483647 ms/,
    );
    expect(() => parseSettings({ embedding: { timeoutMs: 2 ** 31 } })).toThrow(/embedding\.timeoutMs/);
    expect(parseSettings({ shutdownGraceMs: 2 ** 31 - 1 }).shutdownGraceMs).toBe(2 ** 31 - 1);
  });

  it('refuses an endpoint or a non-HTTP URL where a base URL goes, and a list variable holding no item', () => {
    expect(() => loadSettings({ RAILGATE_UPSTREAM_URL: 'https://api.openai.com/v1/chat/completions' }, tmp())).toThrow(
      /RAILGATE_UPSTREAM_URL \(upstreams\.default\.url\): must be the API's base URL/,
    );
    expect(() => loadSettings({ RAILGATE_EMBEDDINGS_URL: 'http://tei:8080/v1/embeddings' }, tmp())).toThrow(
      /RAILGATE_EMBEDDINGS_URL \(embedding\.openaiUrl\): must be the API's base URL/,
    );
    expect(() => loadSettings({ RAILGATE_UPSTREAM_URL: 'ftp://x/v1' }, tmp())).toThrow(
      /must be an http:\/\/ or https:\/\//,
    );
    expect(() => loadSettings({ RAILGATE_UPSTREAM_URL: 'https://x/v1/Chat/Completions?x=1' }, tmp())).toThrow(
      /base URL/,
    );
    // A base URL that ends in /models (Azure AI Foundry's) is a base URL.
    const foundry = 'https://r.services.ai.azure.com/models';
    expect(loadSettings({ RAILGATE_UPSTREAM_URL: foundry }, tmp()).upstreams.default?.url).toBe(foundry);
    // " , " turning client auth off would be the worst reading of a mistake.
    expect(() => loadSettings({ RAILGATE_CLIENT_API_KEYS: ' , ' }, tmp())).toThrow(
      /RAILGATE_CLIENT_API_KEYS holds no item/,
    );
  });

  it('names the settings file a bad setting came from, and refuses a file that is no object', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'railgate.config.json'), JSON.stringify({ limits: { bodyByte: 1 } }));
    expect(() => loadSettings({}, dir)).toThrow(
      new RegExp(`limits: .*bodyByte.*\\(settings file: ${path.join(dir, 'railgate.config.json')}\\)`),
    );
    // A bad value from a variable is named by the variable, not blamed on the file.
    writeFileSync(path.join(dir, 'railgate.config.json'), JSON.stringify({ port: 8080 }));
    expect(() => loadSettings({ RAILGATE_UPSTREAM_URL: 'ftp://x/v1' }, dir)).toThrow(/https:\/\/ URL$/);
    for (const text of ['null', '"text"', '[1]']) {
      writeFileSync(path.join(dir, 'railgate.config.json'), text);
      expect(() => loadSettings({}, dir)).toThrow(/must hold a JSON object of settings/);
    }
  });

  it('reads a comma-separated list of client keys', () => {
    const settings = loadSettings({ RAILGATE_CLIENT_API_KEYS: ' key-one-0123456789 , key-two-0123456789 ,' }, tmp());
    expect(settings.clientApiKeys).toEqual(['key-one-0123456789', 'key-two-0123456789']);
  });

  it('never echoes a secret: credentials in a URL are refused, a broken config file is located, not quoted', () => {
    const withCredentials = () =>
      loadSettings({ RAILGATE_UPSTREAM_URL: 'https://user:s3cret-pass@llm.example/v1' }, tmp());
    expect(withCredentials).toThrow(
      /RAILGATE_UPSTREAM_URL \(upstreams\.default\.url\): must not contain credentials .*RAILGATE_UPSTREAM_API_KEY/,
    );
    expect(withCredentials).not.toThrow(/s3cret/);
    expect(() => parseSettings({ embedding: { openaiUrl: 'http://key@emb.example/v1' } })).toThrow(
      /embedding\.openaiUrl: must not contain credentials .*RAILGATE_EMBEDDINGS_API_KEY/,
    );

    const dir = tmp();
    for (const [name, text] of [
      ['unquoted.json', '{\n  "upstreams": { "default": { "url": "http://a/v1", "apiKey": sk-FILE-SECRET-123 } }\n}'],
      ['unclosed.json', '{\n  "upstreams": { "default": { "apiKey": "sk-FILE-SECRET-123" "url": "http://a/v1" } }\n}'],
    ]) {
      writeFileSync(path.join(dir, name!), text!);
      const load = () => loadSettings({ RAILGATE_CONFIG: name! }, dir);
      expect(load).toThrow(/cannot read config file .*: not valid JSON/);
      expect(load).not.toThrow(/SECRET/);
    }
    expect(() => loadSettings({ RAILGATE_CONFIG: 'unclosed.json' }, dir)).toThrow(/at line 2, column \d+$/);
  });

  it('trims API keys (files and secrets end in a newline) and refuses one with spaces or control characters', () => {
    const settings = loadSettings(
      {
        RAILGATE_UPSTREAM_URL: 'http://127.0.0.1:9/v1',
        RAILGATE_UPSTREAM_API_KEY: 'sk-abc\n',
        RAILGATE_EMBEDDINGS_API_KEY: ' sk-e ',
      },
      tmp(),
    );
    expect(settings.upstreams.default!.apiKey).toBe('sk-abc');
    expect(settings.embedding.openaiApiKey).toBe('sk-e');
    expect(() => loadSettings({ RAILGATE_EMBEDDINGS_API_KEY: 'sk-a\rb' }, tmp())).toThrow(
      /RAILGATE_EMBEDDINGS_API_KEY.*must not contain spaces or control characters/,
    );
  });

  it('takes RAILGATE_HOST over the generic HOST that images set (this Dockerfile sets HOST=0.0.0.0)', () => {
    expect(loadSettings({ HOST: '0.0.0.0', RAILGATE_HOST: '127.0.0.1' }, tmp()).host).toBe('127.0.0.1');
    expect(loadSettings({ HOST: '0.0.0.0' }, tmp()).host).toBe('0.0.0.0');
  });

  it("serve's flags win over every variable for their setting, RAILGATE_HOST included", () => {
    const env = { HOST: '0.0.0.0', RAILGATE_HOST: '127.0.0.2', PORT: '1000', RAILGATE_DB: 'env.db' };
    const settings = loadSettings(withFlags(env, { host: '127.0.0.1', port: '2000', db: 'flag.db' }), tmp());
    expect(settings).toMatchObject({ host: '127.0.0.1', port: 2000, db: 'flag.db' });
  });

  it('names RAILGATE_* variables it does not read, with the one meant: a typo is not silent', () => {
    const env = {
      RAILGATE_CLIENT_API_KEY: 'abcdefghijklmnopqrstuvwxyz',
      RAILGATE_CONFIG: 'railgate.config.json',
      RAILGATE_UPSTREAM_URL: 'http://127.0.0.1:9/v1',
      RAILGATE_HOSTNAME: '127.0.0.1',
      RAILGATE_SOMETHING_ELSE_ENTIRELY: '1',
      RAILGATE_PORT: '9000',
      RAILGATE_UPSTREAM_KEY: 'sk-x',
      RAILGATE_UPSTRAEM_URL: 'http://x',
      // A guess could send a secret to the wrong setting (the client keys): none is made.
      RAILGATE_API_KEY: 'sk-x',
      RAILGATE_OPENAI_API_KEY: 'sk-x',
      RAILGATE_CLIENT_API_KEYS_FILE: '/run/secrets/keys',
      // Another setting, not a typo of the nearest one (that sets the headers timeout).
      RAILGATE_UPSTREAM_CONNECT_TIMEOUT_MS: '2000',
      HOME: '/root',
    };
    expect(unknownVariables(env)).toEqual([
      { name: 'RAILGATE_API_KEY', suggestion: undefined },
      { name: 'RAILGATE_CLIENT_API_KEY', suggestion: 'RAILGATE_CLIENT_API_KEYS' },
      { name: 'RAILGATE_CLIENT_API_KEYS_FILE', suggestion: undefined },
      { name: 'RAILGATE_HOSTNAME', suggestion: 'RAILGATE_HOST' },
      { name: 'RAILGATE_OPENAI_API_KEY', suggestion: undefined },
      { name: 'RAILGATE_PORT', suggestion: 'PORT' },
      { name: 'RAILGATE_SOMETHING_ELSE_ENTIRELY', suggestion: undefined },
      { name: 'RAILGATE_UPSTRAEM_URL', suggestion: 'RAILGATE_UPSTREAM_URL' },
      { name: 'RAILGATE_UPSTREAM_CONNECT_TIMEOUT_MS', suggestion: undefined },
      { name: 'RAILGATE_UPSTREAM_KEY', suggestion: 'RAILGATE_UPSTREAM_API_KEY' },
    ]);
  });

  it('reads exactly the environment variables the README documents', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = new Set([...readme.matchAll(/`((?:RAILGATE_[A-Z_]+)|PORT|HOST)`/g)].map((m) => m[1]));
    expect([...documented].sort()).toEqual([...SETTINGS_VARIABLES, 'RAILGATE_CONFIG'].sort());
  });
});
