/**
 * What hot reload watches (reload.ts): the rails root, its set folders, and the rail files that are
 * links, kept up to date as folders come, go and are replaced.
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { RAIL_FILE } from './load.js';

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
 *
 * A rail file that is a link to a file elsewhere (an intents file shared by several sets, a checkout
 * kept outside the rails folder) changes where it points to, which no watch in the rails hears. Each
 * such link is polled (`stat` through the whole chain of links, every LINK_POLL_MS): a folder watch on
 * the target's folder would miss a link further along the chain re-pointed, that folder replaced by a
 * rename, or the target deleted and written again.
 */
export class FolderWatchers {
  /** Each watched folder's watch, and the folder it is on (`device:inode`). */
  readonly #watchers = new Map<string, { watcher: FSWatcher; identity: string | undefined }>();
  /** The rail files that are links, and what `stat` saw through each when last polled. */
  readonly #links = new Map<string, string | undefined>();
  #poll: NodeJS.Timeout | undefined;
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

  /** A change heard: the links' targets may have moved too. */
  #changed(): void {
    this.#syncLinks();
    // The reload this schedules reads the files as they are now: the next poll must not hear the same
    // change again (a ConfigMap's `..data` swap, heard by its folder's watch, reloaded twice).
    for (const link of this.#links.keys()) this.#links.set(link, fileVersion(link));
    this.onChange();
  }

  #watchParent(): void {
    const parent = path.dirname(this.root);
    if (parent === this.root) return;
    try {
      this.#parent = watch(parent, (_event, name) => {
        if (name !== null && name !== path.basename(this.root)) return;
        this.#sync();
        this.#changed();
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
        this.#changed();
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

  /**
   * Polls every rail file that is a link in the watched folders. What a link leads to is taken when
   * the link is first seen (not at the first poll: an edit in between would be the baseline).
   */
  #syncLinks(): void {
    const links = new Set([...this.#watchers.keys()].flatMap(railFileLinks));
    for (const link of this.#links.keys()) if (!links.has(link)) this.#links.delete(link);
    for (const link of links) if (!this.#links.has(link)) this.#links.set(link, fileVersion(link));
    if (this.#links.size === 0) {
      clearInterval(this.#poll);
      this.#poll = undefined;
    } else this.#poll ??= setInterval(() => this.#pollLinks(), LINK_POLL_MS).unref();
  }

  #pollLinks(): void {
    let changed = false;
    for (const [link, seen] of this.#links) {
      const now = fileVersion(link);
      if (now === seen) continue;
      this.#links.set(link, now);
      changed = true;
    }
    if (changed) this.#changed();
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
    this.#syncLinks();
  }

  close(): void {
    this.#parent?.close();
    for (const dir of [...this.#watchers.keys()]) this.#unwatch(dir);
    clearInterval(this.#poll);
    this.#links.clear();
  }
}

/** How often a rail file that is a link is checked for a change behind it. */
export const LINK_POLL_MS = 500;

/**
 * What `stat` sees through a link (the whole chain): it changes when the file behind it is edited,
 * replaced, deleted or re-created, or a link on the way is re-pointed. Undefined while it dangles.
 */
function fileVersion(file: string): string | undefined {
  try {
    const stats = statSync(file, { throwIfNoEntry: false });
    // ctime too: an edit of the same length within the file system's mtime tick (1-2 s on some
    // network file systems), or with the mtime put back, still changes it.
    return stats ? `${stats.dev}:${stats.ino}:${stats.mtimeMs}:${stats.ctimeMs}:${stats.size}` : undefined;
  } catch (error) {
    // A loop of links, a folder on the way not readable: a state of its own, left when it is mended.
    return `unreadable: ${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

/** The rail files in `dir` that are links (dotfiles aside). */
function railFileLinks(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isSymbolicLink() && !entry.name.startsWith('.') && RAIL_FILE.test(entry.name))
      .map((entry) => path.join(dir, entry.name));
  } catch {
    return [];
  }
}

/** A folder's `device:inode` (through links), or undefined when it is not there. */
function identityOf(dir: string): string | undefined {
  const stats = statSync(dir, { throwIfNoEntry: false });
  return stats ? `${stats.dev}:${stats.ino}` : undefined;
}
