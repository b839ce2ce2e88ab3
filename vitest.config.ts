import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real model, real servers, real SQLite: give loading room, but a hang still fails.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores here: each file loads the model; forks keep wasm state per file.
    pool: 'forks',
    maxWorkers: 2,
  },
});
