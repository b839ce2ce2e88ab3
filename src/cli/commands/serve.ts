import { parseArgs } from 'node:util';
import { loadSettings } from '../../settings.js';
import { closeOnSignals, listen } from '../../server.js';
import { writeLine, type CliCommand } from '../io.js';

const HELP = `usage: railgate serve [--rails DIR] [--port N] [--host H] [--db PATH]

Starts the proxy. Settings come from railgate.config.json (or RAILGATE_CONFIG) and the environment
(PORT, RAILGATE_RAILS, RAILGATE_DB, RAILGATE_UPSTREAM_URL, RAILGATE_UPSTREAM_API_KEY, …); flags win.`;

export const run: CliCommand = async (args, io) => {
  const { values } = parseArgs({
    args: [...args],
    options: {
      rails: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      db: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    writeLine(io.stdout, HELP);
    return 0;
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
};
