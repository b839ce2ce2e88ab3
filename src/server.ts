/**
 * Listens and shuts down gracefully; everything else is built in start.ts / app.ts.
 */
import { terminalProgress, type Progress } from './cli/progress.js';
import type { Settings } from './settings.js';
import { startRailgate, type Railgate } from './start.js';

export interface RunningServer extends Railgate {
  readonly url: string;
}

export async function listen(settings: Settings): Promise<RunningServer> {
  const bars = new Map<string, Progress>();
  const railgate = await startRailgate(settings, {
    logger: settings.logLevel !== 'silent',
    onProgress: (set, done, total) => {
      const bar = bars.get(set) ?? terminalProgress(process.stderr, `embedding ${set}`);
      bars.set(set, bar);
      bar.update(done, total);
    },
  });
  let url: string;
  try {
    url = await railgate.app.listen({ host: settings.host, port: settings.port });
  } catch (error) {
    // Port taken, say: nothing will be served, so stop the loading (model worker, rails) and fail.
    await railgate.close();
    throw error;
  }
  // A failure is logged by the app's guard gate (and `serve` exits 1).
  railgate.guard.then(
    (guard) => railgate.app.log.info({ rails: guard.list() }, 'railgate ready'),
    () => undefined,
  );
  return { ...railgate, url };
}

/** SIGINT/SIGTERM: stop taking requests, finish those in flight, flush the decision log, exit. */
export function closeOnSignals(
  server: RunningServer,
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
): void {
  let closing = false;
  for (const signal of signals) {
    // `on`, not `once`: a second signal during the grace period must not fall back to Node's default
    // (exit at once), which would cut the requests in flight and lose their log rows.
    process.on(signal, () => {
      if (closing) {
        server.app.log.info({ signal }, 'already shutting down; requests in flight get their grace period');
        return;
      }
      closing = true;
      server.app.log.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          server.app.log.error({ err: error }, 'error during shutdown');
          process.exit(1);
        },
      );
    });
  }
}

/**
 * SIGHUP reloads the rails, as a change the watcher saw would (a process manager's "reload"; with
 * `watch` off, the only way to load edits without a restart). Node's default for it is to exit at
 * once, cutting the requests in flight.
 */
export function reloadOnHangup(server: RunningServer): void {
  process.on('SIGHUP', () => {
    server.app.log.info({ signal: 'SIGHUP' }, 'reloading the rails');
    void server.reloadRails();
  });
}
