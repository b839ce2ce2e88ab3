/**
 * Which folders hot reload watches (reload.ts): the rails root, its set folders, and the folders of
 * linked rail files' targets, kept up to date as folders come, go and are replaced.
 */
import { readdirSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
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
 * kept outside the rails folder) changes where it points to, which no watch in the rails hears: the
 * folder of each link's target is watched too, for the target's name.
 */
export class FolderWatchers {
  /** Each watched folder's watch, and the folder it is on (`device:inode`). */
  readonly #watchers = new Map<string, { watcher: FSWatcher; identity: string | undefined }>();
  /** Folders outside the rails holding linked rail files' targets: their watch, and the targets' names. */
  readonly #targets = new Map<string, { watcher: FSWatcher; names: Set<string> }>();
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
    this.#syncLinkTargets();
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

  /** One watch per folder outside the watched ones that holds a linked rail file's target. */
  #syncLinkTargets(): void {
    const wanted = new Map<string, Set<string>>();
    for (const dir of this.#watchers.keys()) {
      for (const target of linkedRailFiles(dir)) {
        const folder = path.dirname(target);
        if (this.#watchers.has(folder)) continue;
        const names = wanted.get(folder) ?? new Set<string>();
        wanted.set(folder, names.add(path.basename(target)));
      }
    }
    for (const [folder, watched] of this.#targets) {
      if (wanted.has(folder)) continue;
      watched.watcher.close();
      this.#targets.delete(folder);
    }
    for (const [folder, names] of wanted) {
      const known = this.#targets.get(folder);
      if (known) {
        known.names = names;
        continue;
      }
      try {
        const watcher = watch(folder, (_event, name) => {
          if (name === null || this.#targets.get(folder)?.names.has(name)) this.#changed();
        });
        watcher.on('error', () => {
          watcher.close();
          this.#targets.delete(folder);
        });
        this.#targets.set(folder, { watcher, names });
      } catch {
        // A target folder that cannot be watched: its links' edits reload on SIGHUP.
      }
    }
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
    this.#syncLinkTargets();
  }

  close(): void {
    this.#parent?.close();
    for (const dir of [...this.#watchers.keys()]) this.#unwatch(dir);
    for (const { watcher } of this.#targets.values()) watcher.close();
    this.#targets.clear();
  }
}

/** Where the rail files in `dir` that are links point to, resolved (links to missing files left out). */
function linkedRailFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isSymbolicLink() && !entry.name.startsWith('.') && RAIL_FILE.test(entry.name))
      .flatMap((entry) => {
        try {
          return [realpathSync(path.join(dir, entry.name))];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

/** A folder's `device:inode` (through links), or undefined when it is not there. */
function identityOf(dir: string): string | undefined {
  const stats = statSync(dir, { throwIfNoEntry: false });
  return stats ? `${stats.dev}:${stats.ino}` : undefined;
}
