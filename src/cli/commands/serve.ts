import { existsSync } from 'node:fs';
import path from 'node:path';
import { defineCommand, UsageError } from '../../authoring/cli.js';
import { LoadCancelled } from '../../errors.js';
import { formatIssue, RailsInvalidError } from '../../rails/issues.js';
import { loadSettings, unknownVariables } from '../../settings.js';
import { writeLine } from '../io.js';
import { closeOnSignals, listen, reloadOnHangup } from '../../server.js';

const HELP = `usage: railgate serve [--rails DIR] [--port N] [--host H] [--db PATH]

Starts the proxy. Settings come from railgate.config.json (or RAILGATE_CONFIG) and the environment
(PORT, RAILGATE_RAILS, RAILGATE_DB, RAILGATE_UPSTREAM_URL, RAILGATE_UPSTREAM_API_KEY, …); flags win.`;

/**
 * The environment with the flags written over it, each as the variable that wins for its setting
 * (`RAILGATE_HOST`, not `HOST`, which it beats): flags win over the environment and the config file.
 */
export function withFlags(
  env: Readonly<Record<string, string | undefined>>,
  flags: { rails?: string | undefined; port?: string | undefined; host?: string | undefined; db?: string | undefined },
): Record<string, string | undefined> {
  return {
    ...env,
    ...(flags.rails && { RAILGATE_RAILS: flags.rails }),
    ...(flags.port && { PORT: flags.port }),
    ...(flags.host && { RAILGATE_HOST: flags.host }),
    ...(flags.db && { RAILGATE_DB: flags.db }),
  };
}

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
    // Checked here, not by the settings: their message would name PORT, a variable the user never set.
    if (values.port !== undefined && (!/^\d+$/.test(values.port) || Number(values.port) > 65_535)) {
      throw new UsageError(`--port must be a port number (0 to 65535), got "${values.port}"`);
    }
    // A misspelt setting would leave its setting at the default: RAILGATE_CLIENT_API_KEY (one letter
    // short) would serve without client keys. Nothing starts; a name like no setting's only warns
    // (deployment tools add their own RAILGATE_* variables).
    const unknown = unknownVariables(io.env);
    const misspelt = unknown.filter((variable) => variable.suggestion !== undefined);
    if (misspelt.length > 0) {
      for (const { name, suggestion } of misspelt)
        writeLine(io.stderr, `railgate: ${name} is not a railgate setting; did you mean ${suggestion}?`);
      writeLine(io.stderr, 'railgate: not started: rename the variable, or unset it');
      return 2;
    }
    const settings = loadSettings(withFlags(io.env, values), io.cwd);
    // Before the port opens: a load balancer would see /healthz answer for the moment it takes to fail.
    const railsDir = path.resolve(io.cwd, settings.rails);
    if (!existsSync(railsDir)) {
      writeLine(
        io.stderr,
        `railgate: the rails folder ${railsDir} (RAILGATE_RAILS, --rails or "rails") does not exist`,
      );
      return 1;
    }
    const server = await listen(settings);
    // In a terminal, SIGHUP means the terminal closed: shut down as on SIGTERM, rather than run on,
    // unseen, holding the port. Elsewhere (a container, a process manager) it asks for a reload.
    if (process.stdout.isTTY) closeOnSignals(server, ['SIGINT', 'SIGTERM', 'SIGHUP']);
    else {
      closeOnSignals(server);
      reloadOnHangup(server);
    }
    for (const { name } of unknown)
      server.app.log.warn({ variable: name }, `${name} is not a railgate setting and is ignored`);
    // A failed load leaves nothing to serve: exit non-zero rather than answer 503 forever.
    const failure = await server.guard.then(
      () => undefined,
      (error: unknown) => error ?? new Error('loading failed'),
    );
    if (failure === undefined) return 0;
    // The log line holds them too, inside JSON: the author gets them as `railgate check` prints them.
    if (failure instanceof RailsInvalidError)
      for (const issue of failure.issues) writeLine(io.stderr, formatIssue(issue, io.cwd));
    // Whatever the log level (fatal, silent), a process that exits 1 says why; a shutdown while
    // loading is no failure to report.
    else if (!(failure instanceof LoadCancelled))
      writeLine(io.stderr, `railgate: ${failure instanceof Error ? failure.message : String(failure)}`);
    await server.close();
    return 1;
  },
});
