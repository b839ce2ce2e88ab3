/**
 * Hot reload: watch the rails folder; on a change, validate, recompile the sets whose files changed
 * (examples come from the persistent cache, so only new ones are embedded; unchanged sets are kept as
 * compiled) and swap the rail sets in atomically. Requests
 * in flight finish on the rails they started with. An invalid edit keeps the old rails serving and
 * logs every `file:line:column` problem.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import type { RailsRuntime } from './matching/runtime.js';
import { formatIssue, validateRails } from './rails/load.js';

export interface RailsWatcher {
  /** Reloads now (what a file change triggers); resolves to whether the new rails were swapped in. */
  reload(): Promise<boolean>;
  close(): void;
}

export interface WatchOptions {
  /** Editors write a file in several steps; wait for quiet before reloading. */
  readonly debounceMs?: number;
  readonly onReload?: (ok: boolean) => void;
}

export function watchRails(
  root: string,
  runtime: RailsRuntime,
  logger: FastifyBaseLogger,
  options: WatchOptions = {},
): RailsWatcher {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> = Promise.resolve(true);
  let again = false;

  const reloadOnce = async (): Promise<boolean> => {
    const { sets, issues } = await validateRails(root);
    if (issues.length > 0) {
      for (const issue of issues) logger.error({ issue }, `rails not reloaded: ${formatIssue(issue)}`);
      return false;
    }
    try {
      await runtime.replace(sets);
    } catch (error) {
      logger.error({ err: error }, 'rails not reloaded: building the new rails failed; the old rails keep serving');
      return false;
    }
    logger.info({ rails: runtime.list() }, 'rails reloaded');
    return true;
  };

  // One reload at a time; changes during a reload schedule exactly one more.
  const reload = (): Promise<boolean> => {
    if (again) return running;
    again = true;
    running = running.then(async () => {
      again = false;
      const ok = await reloadOnce();
      options.onReload?.(ok);
      return ok;
    });
    return running;
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(root, { recursive: true }, (_event, file) => {
      if (file && !/\.ya?ml$/i.test(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), options.debounceMs ?? 150);
    });
    watcher.on('error', (error) => logger.warn({ err: error }, 'rails watcher failed; hot reload is off'));
  } catch (error) {
    logger.warn({ err: error }, 'cannot watch the rails folder; hot reload is off');
  }

  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
