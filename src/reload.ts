/**
 * Hot reload: watch the rails folder; on a change, validate, recompile the sets whose files changed
 * (examples come from the persistent cache, so only new ones are embedded; unchanged sets are kept as
 * compiled) and swap the rail sets in atomically. Requests
 * in flight finish on the rails they started with. An invalid edit keeps the old rails serving and
 * logs every `file:line:column` problem: the old version of the set it broke, while the other sets'
 * valid edits go live (rails/partial-reload.ts says when that cannot be told set by set).
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { RailgateError } from './errors.js';
import { warnOfExactFallbacks } from './matching/index-recall.js';
import type { RailsRuntime } from './matching/runtime.js';
import { formatIssue, RAIL_FILE, validateRails } from './rails/load.js';
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

  const reloadOnce = async (): Promise<ReloadResult> => {
    const { sets, issues } = await validateRails(root, options.load);
    let next = sets;
    let kept: string[] = [];
    if (issues.length > 0) {
      const serving = runtime.list().flatMap((info) => runtime.railSet(info.name) ?? []);
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

  return {
    reload,
    close() {
      clearTimeout(timer);
      folders?.close();
    },
  };
}

function isFile(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

/**
 * Watches the rails root and each folder directly in it (where rail sets live), each without
 * recursion: a folder's watch reports its files edited, created, deleted and renamed over. Node 20's
 * recursive watch on Linux does not: it watches files, and stops reporting one once an editor,
 * `sed -i` or `git checkout` has replaced it by a rename. A change in the root may add or remove a
 * set folder, so the folder watches are brought up to date on each.
 *
 * A watch follows the folder it was given, not its name: a set folder replaced by a rename (`mv
 * shop.new shop`), or the root itself (a release's symlink swapped, `mv` of the whole folder), would
 * leave it on the old folder, deaf to the new one. So each folder's identity (device and inode) is
 * kept and a folder found replaced is watched anew, and the root's parent folder is watched for the
 * root's own name.
 */
class FolderWatchers {
  /** Each watched folder's watch, and the folder it is on (`device:inode`). */
  readonly #watchers = new Map<string, { watcher: FSWatcher; identity: string | undefined }>();
  #parent: FSWatcher | undefined;

  constructor(
    private readonly root: string,
    private readonly onChange: () => void,
    private readonly onFail: (error: unknown) => void,
  ) {
    this.#watch(root);
    this.#sync();
    this.#watchParent();
  }

  #watchParent(): void {
    const parent = path.dirname(this.root);
    if (parent === this.root) return;
    try {
      this.#parent = watch(parent, (_event, name) => {
        if (name !== null && name !== path.basename(this.root)) return;
        this.#sync();
        this.onChange();
      });
      // Without it, only a swapped root goes unnoticed; everything else is watched.
      this.#parent.on('error', () => this.#parent?.close());
    } catch {
      this.#parent = undefined;
    }
  }

  #watch(dir: string): void {
    try {
      const identity = identityOf(dir);
      const watcher = watch(dir, (_event, name) => {
        if (dir === this.root) this.#sync();
        if (name && !this.#mayBeRails(dir, name)) return;
        this.onChange();
      });
      // A set folder that is deleted or renamed ends its watch; the root's watch notices the change.
      watcher.on('error', (error) => {
        this.#unwatch(dir);
        if (dir === this.root) this.onFail(error);
      });
      this.#watchers.set(dir, { watcher, identity });
    } catch (error) {
      if (dir === this.root) this.onFail(error);
    }
  }

  /**
   * Editor backups and lock files are dotfiles; Kubernetes updates a mounted ConfigMap by renaming its
   * `..data` link, under which the rail files are links. In the root, a name that is not a file may be
   * a set folder.
   */
  #mayBeRails(dir: string, name: string): boolean {
    if (name === '..data') return true;
    if (name.startsWith('.')) return false;
    if (RAIL_FILE.test(name)) return true;
    return dir === this.root && !isFile(path.join(dir, name));
  }

  #unwatch(dir: string): void {
    this.#watchers.get(dir)?.watcher.close();
    this.#watchers.delete(dir);
  }

  /** Whether `dir` is watched, and the watch is on the folder now at that path. */
  #watching(dir: string): boolean {
    const watched = this.#watchers.get(dir);
    return watched !== undefined && watched.identity === identityOf(dir);
  }

  /** One watch per folder directly in the root, no more, no fewer, each on the folder there now. */
  #sync(): void {
    if (!this.#watching(this.root) && identityOf(this.root) !== undefined) {
      this.#unwatch(this.root);
      this.#watch(this.root);
    }
    let folders: string[];
    try {
      folders = readdirSync(this.root, { withFileTypes: true })
        .filter((entry) => !entry.name.startsWith('.'))
        .map((entry) => path.join(this.root, entry.name))
        .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory());
    } catch {
      return;
    }
    for (const dir of this.#watchers.keys()) if (dir !== this.root && !folders.includes(dir)) this.#unwatch(dir);
    for (const dir of folders)
      if (!this.#watching(dir)) {
        this.#unwatch(dir);
        this.#watch(dir);
      }
  }

  close(): void {
    this.#parent?.close();
    for (const dir of [...this.#watchers.keys()]) this.#unwatch(dir);
  }
}

/** A folder's `device:inode` (through links), or undefined when it is not there. */
function identityOf(dir: string): string | undefined {
  const stats = statSync(dir, { throwIfNoEntry: false });
  return stats ? `${stats.dev}:${stats.ino}` : undefined;
}
