/**
 * No Docker engine runs here, so check what can be checked without one: the compose file parses, its
 * services build from this repo, mount folders that exist and run a command this package provides.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTINGS_VARIABLES, loadSettings, parseSettings } from '../../src/settings.js';

const root = path.resolve(import.meta.dirname, '../..');

interface ComposeService {
  build?: string | { context: string; dockerfile?: string };
  image?: string;
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  ports?: string[];
  stop_grace_period?: string;
}

const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
};

describe('docker-compose.yml', () => {
  it('defines railgate built from this repo, and an optional local LLM', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['railgate', 'ollama']));
    expect(compose.services.railgate!.build).toBe('.');
    expect(existsSync(path.join(root, 'Dockerfile'))).toBe(true);
    expect(compose.services.ollama!.profiles).toContain('local-llm');
  });

  it('mounts the rails folder and sets the upstream by env', () => {
    const railgate = compose.services.railgate!;
    const rails = railgate.volumes!.find((v) => v.endsWith(':/rails:ro'))!;
    expect(existsSync(path.join(root, rails.split(':')[0]!))).toBe(true);
    expect(railgate.environment!.RAILGATE_UPSTREAM_URL).toMatch(/\$\{RAILGATE_UPSTREAM_URL/);
    expect(railgate.environment!.RAILGATE_RAILS).toBe('/rails');
    // Everything railgate writes, a downloaded model included, goes to the data volume.
    for (const name of ['RAILGATE_DB', 'RAILGATE_EMBED_CACHE_DB', 'RAILGATE_MODEL_CACHE'])
      expect(railgate.environment![name], name).toMatch(/^\/data\//);
    expect(readFileSync(path.join(root, 'Dockerfile'), 'utf8')).toMatch(/RAILGATE_MODEL_CACHE=\/data\//);
    expect(railgate.volumes).toContain('railgate-data:/data');
    for (const v of railgate.volumes!) {
      const source = v.split(':')[0]!;
      if (!source.startsWith('.')) expect(compose.volumes).toHaveProperty(source);
    }
  });

  it('is not an open relay or a SIGKILLed log: loopback port, no Ollama port, a stop grace past the drain', () => {
    const railgate = compose.services.railgate!;
    expect(railgate.ports).toEqual(['127.0.0.1:8787:8787']);
    expect(compose.services.ollama!.ports).toBeUndefined();
    for (const name of Object.keys(railgate.environment!)) expect(SETTINGS_VARIABLES).toContain(name);
    const stopGraceMs = Number(/^(\d+)s$/.exec(railgate.stop_grace_period ?? '')?.[1]) * 1000;
    expect(stopGraceMs).toBeGreaterThan(parseSettings({}).shutdownGraceMs);
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/chown node:node \/data/);
  });

  it("runs a command the package builds, and the Dockerfile's paths exist", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const command = compose.services.railgate!.command!;
    const bin = pkg.bin.railgate!;
    expect(command.slice(0, 2)).toEqual(['node', bin]);
    expect(command[2]).toBe('serve');
    // The compiled bin comes from this source file.
    expect(existsSync(path.join(root, bin.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')))).toBe(true);
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of sources!.split(/\s+/)) expect(existsSync(path.join(root, source)), source).toBe(true);
    }
    expect(dockerfile).toContain(`CMD ["node", "${bin}", "serve"]`);
  });

  it('starts with what it passes on when the host sets none of it (blank is unset)', () => {
    // `${NAME:-default}` as compose resolves it with NAME unset on the host.
    const env = Object.fromEntries(
      Object.entries(compose.services.railgate!.environment!).map(([name, value]) => [
        name,
        value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1'),
      ]),
    );
    expect(Object.values(env).filter((v) => v === '').length).toBeGreaterThan(5);
    const settings = loadSettings(env, root);
    expect(settings.rails).toBe('/rails');
    expect(settings.clientApiKeys).toEqual([]);
    expect(settings.shutdownGraceMs).toBe(parseSettings({}).shutdownGraceMs);
  });
});
