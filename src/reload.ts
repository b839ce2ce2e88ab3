/**
 * Hot reload: watch the rails folder; on a change, validate, recompile the sets whose files changed
 * (examples come from the persistent cache, so only new ones are embedded; unchanged sets are kept as
 * compiled) and swap the rail sets in atomically. Requests
 * in flight finish on the rails they started with. An invalid edit keeps the old rails serving and
 * logs every `file:line:column` problem: the old version of the set it broke, while the other sets'
 * valid edits go live (rails/partial-reload.ts says when that cannot be told set by set).
 */
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { LoadCancelled, RailgateError } from './errors.js';
import { warnOfExactFallbacks } from './matching/index-recall.js';
import type { RailsRuntime } from './matching/runtime.js';
import { FolderWatchers } from './rails/folder-watch.js';
import { formatIssue, railsDiffer } from './rails/load.js';
import { validateRailsOffThread } from './rails/validate-off-thread.js';
import type { LoadOptions } from './rails/merge.js';
import { within } from './rails/issues.js';
import { partialReload, type PartialReload } from './rails/partial-reload.js';
import type { RailIssue } from './rails/types.js';

export interface RailsWatcher {
  /** Reloads now (what a file change triggers); resolves to whether new rails were swapped in (some or all). */
  reload(): Promise<boolean>;
  close(): void;
}

/**
 * How a reload went: every set swapped in; `partial`, the sets that validated swapped in while those
 * with issues keep their previous version; `failed`, the previous rails keep serving whole.
 */
export type ReloadResult = 'ok' | 'partial' | 'failed';

export interface WatchOptions {
  /** Editors write a file in several steps; wait for quiet before reloading. */
  readonly debounceMs?: number;
  readonly onReload?: (result: ReloadResult) => void;
  /** What the rails are checked against besides themselves, as at start. */
  readonly load?: LoadOptions;
  /** Watch the folder (`watch`); without, the rails reload only when `reload` is called (SIGHUP). */
  readonly watch?: boolean;
}

/** What a reload's issue held back: every set, the previous version of its set, or a new set folder. */
function notReloaded(issue: RailIssue, partial: PartialReload | undefined): string {
  if (!partial) return 'rails not reloaded';
  const set = partial.kept.find((s) => within(s.dir, issue.file));
  return set
    ? `rail set ${set.name} not reloaded (its previous version keeps serving)`
    : 'new rail set folder not loaded';
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

  /** The rail sets serving now. */
  const servingSets = () => runtime.list().flatMap((info) => runtime.railSet(info.name) ?? []);

  const reloadOnce = async (): Promise<ReloadResult> => {
    const serving = servingSets();
    // Off the event loop: a big rail file's parse would stall every request meanwhile.
    const { sets, issues } = await validateRailsOffThread(root, {
      ...options.load,
      serving: new Map(serving.map((set) => [set.name, set.dir])),
    });
    let next = sets;
    let kept: string[] = [];
    if (issues.length > 0) {
      const partial = partialReload(path.resolve(root), serving, sets, issues);
      for (const issue of issues) logger.error({ issue }, `${notReloaded(issue, partial)}: ${formatIssue(issue)}`);
      if (!partial) return 'failed';
      next = partial.sets;
      kept = partial.kept.map((set) => set.name);
    }
    const before = runtime.defaultRailSet;
    const hashes = new Map(runtime.list().map((set) => [set.name, set.hash]));
    try {
      await runtime.replace(next);
    } catch (error) {
      // A shutdown closed what the compile was reading: nothing went wrong with the rails.
      if (error instanceof LoadCancelled) {
        logger.info('rails not reloaded: railgate is shutting down');
        return 'failed';
      }
      // A configuration mistake (the pinned default set removed) is the operator's to read, not a stack.
      if (error instanceof RailgateError && error.code === 'RG_ERR_CONFIG_INVALID')
        logger.error({ code: error.code }, `rails not reloaded: ${error.message}; the old rails keep serving`);
      else
        logger.error({ err: error }, 'rails not reloaded: building the new rails failed; the old rails keep serving');
      return 'failed';
    }
    const rails = runtime.list();
    if (runtime.defaultRailSet !== before)
      logger.warn(
        { from: before, to: runtime.defaultRailSet },
        `the default rail set is now "${runtime.defaultRailSet}": "${before}" is gone; ` +
          'pin one with defaultRailSet (RAILGATE_DEFAULT_RAILS)',
      );
    // Sets unchanged kept their index: their warning was given when they were built.
    warnOfExactFallbacks(
      rails.filter((set) => hashes.get(set.name) !== set.hash),
      logger,
    );
    if (issues.length === 0) {
      logger.info({ rails }, 'rails reloaded');
      return 'ok';
    }
    logger.warn(
      { rails, kept },
      kept.length > 0
        ? `rails reloaded but for ${kept.join(', ')}, whose previous version serves until its issues are fixed`
        : 'rails reloaded; a new set folder with issues is not served',
    );
    return 'partial';
  };

  // One reload at a time; changes during a reload schedule exactly one more.
  const reload = (): Promise<boolean> => {
    if (again) return running;
    again = true;
    running = running.then(async () => {
      again = false;
      // A throw (a folder that became unreadable) must not break the chain: every later reload hangs on it.
      const result = await reloadOnce().catch((error: unknown): ReloadResult => {
        logger.error({ err: error }, 'rails not reloaded: reading the rails failed; the old rails keep serving');
        return 'failed';
      });
      options.onReload?.(result);
      return result !== 'failed';
    });
    return running;
  };

  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), options.debounceMs ?? 150);
  };
  const folders =
    options.watch === false
      ? undefined
      : new FolderWatchers(root, schedule, (error) =>
          logger.warn({ err: error }, 'cannot watch the rails folder; hot reload is off'),
        );
  // An edit made after the rails were read, while they compiled and before this watch began, was
  // heard by no one: when the rails on disk are not the ones serving, reload now.
  if (folders) void railsDiffer(root, servingSets()).then((differ) => differ && schedule(), schedule);

  return {
    reload,
    close() {
      clearTimeout(timer);
      folders?.close();
    },
  };
}
