/**
 * What railgate says at start about settings it cannot use or doubts: stores SQLite cannot open, a
 * default rail set that is not loaded, clientRailSets naming no loaded set.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/settings.js';
import { startRailgate } from '../../src/start.js';
import { captureLog } from '../helpers/log-capture.js';
import { SUPPORT_RAIL as RAIL } from './support-rail.js';

describe('start-up errors', () => {
  it('name the store and the file SQLite cannot open, and the sets when the default is missing', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-startup-'));
    mkdirSync(path.join(root, 'rails', 'support'), { recursive: true });
    writeFileSync(path.join(root, 'rails', 'support', 'rail.yml'), RAIL);
    writeFileSync(path.join(root, 'corrupt.db'), 'this is not a database, it is a text file '.repeat(100));
    const start = (settings: Parameters<typeof parseSettings>[0]) =>
      startRailgate(parseSettings({ rails: 'rails', logLevel: 'silent', ...settings }), { cwd: root });
    await expect(start({ db: 'corrupt.db' })).rejects.toThrow(
      /cannot open the decision log \(RAILGATE_DB \/ db\) at .*corrupt\.db: file is not a database/,
    );
    await expect(start({ db: ':memory:', embedding: { cacheDb: 'corrupt.db' } })).rejects.toThrow(
      /cannot open the example cache \(RAILGATE_EMBED_CACHE_DB \/ embedding\.cacheDb\) at .*corrupt\.db/,
    );
    const missing = await start({ db: ':memory:', embedding: { cacheDb: ':memory:' }, defaultRailSet: 'nosuch' });
    try {
      await expect(missing.guard).rejects.toThrow(/default rail set "nosuch" .* is not loaded; the sets are: support/);
    } finally {
      await missing.close();
    }
  });

  it('warns of clientRailSets naming no loaded set (a client asking for it gets a 404), and not of *', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-client-sets-'));
    mkdirSync(path.join(root, 'rails', 'support'), { recursive: true });
    writeFileSync(path.join(root, 'rails', 'support', 'rail.yml'), RAIL);
    const warnings = async (clientRailSets: string[]) => {
      const { lines, stream } = captureLog();
      const settings = parseSettings({
        rails: 'rails',
        db: ':memory:',
        watch: false,
        clientRailSets,
        embedding: { cacheDb: ':memory:' },
      });
      const started = await startRailgate(settings, { cwd: root, logger: { level: 'warn', stream } });
      try {
        await started.guard;
      } finally {
        await started.close();
      }
      return lines.filter((line) => line.includes('clientRailSets names'));
    };
    const [warning] = await warnings(['support', 'suport']);
    expect(warning).toContain('clientRailSets names suport, which no loaded rail set is (loaded: support)');
    expect(await warnings(['*', 'support'])).toEqual([]);
  });

  it('warns when no client keys guard a proxy listening beyond this machine', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'railgate-open-'));
    mkdirSync(path.join(root, 'rails', 'support'), { recursive: true });
    writeFileSync(path.join(root, 'rails', 'support', 'rail.yml'), RAIL);
    const warned = async (settings: Parameters<typeof parseSettings>[0]) => {
      const { lines, stream } = captureLog();
      const started = await startRailgate(
        parseSettings({
          rails: 'rails',
          db: ':memory:',
          watch: false,
          embedding: { cacheDb: ':memory:' },
          ...settings,
        }),
        { cwd: root, logger: { level: 'warn', stream } },
      );
      await started.close();
      return lines.filter((line) => line.includes('no client API keys are set'));
    };
    const [open] = await warned({ host: '0.0.0.0' });
    expect(open).toContain('railgate listens on 0.0.0.0: whoever reaches it spends the upstream key');
    expect(await warned({ host: '0.0.0.0', clientApiKeys: ['client-key-0123456789abcdef'] })).toEqual([]);
    expect(await warned({ host: '127.0.0.1' })).toEqual([]);
  });
});
