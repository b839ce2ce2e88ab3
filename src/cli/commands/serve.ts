import { defineCommand, UsageError } from '../../authoring/cli.js';
import { loadSettings } from '../../settings.js';
import { closeOnSignals, listen } from '../../server.js';

const HELP = `usage: railgate serve [--rails DIR] [--port N] [--host H] [--db PATH]

Starts the proxy. Settings come from railgate.config.json (or RAILGATE_CONFIG) and the environment
(PORT, RAILGATE_RAILS, RAILGATE_DB, RAILGATE_UPSTREAM_URL, RAILGATE_UPSTREAM_API_KEY, …); flags win.`;

export const run = defineCommand({
  name: 'serve',
  help: HELP,
  options: {
    rails: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    db: { type: 'string' },
  },
  async body({ values }, io) {
    if (values.port !== undefined && !/^\d+$/.test(values.port)) {
      throw new UsageError(`--port must be a port number, got "${values.port}"`);
    }
    const settings = loadSettings(
      {
        ...io.env,
        ...(values.rails && { RAILGATE_RAILS: values.rails }),
        ...(values.port && { PORT: values.port }),
        ...(values.host && { HOST: values.host }),
        ...(values.db && { RAILGATE_DB: values.db }),
      },
      io.cwd,
    );
    const server = await listen(settings);
    closeOnSignals(server);
    // A failed load leaves nothing to serve: exit non-zero rather than answer 503 forever.
    const failed = await server.guard.then(
      () => false,
      () => true,
    );
    if (!failed) return 0;
    await server.close();
    return 1;
  },
});
