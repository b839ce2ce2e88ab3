/**
 * Rails on disk → validated, deep-frozen RailSets. A rail set is a folder of `*.yml` / `*.yaml` files;
 * a rails root holds one set per subfolder (or is itself one set). Everything is validated once, here,
 * and every problem found is reported with its `file:line:column`, all at once.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { RailsInvalidError, sortIssues } from './issues.js';
import { mergeSet, setKeyLocation, type LoadOptions } from './merge.js';
import { issueAt, issueForPath, parseYamlFile } from './positions.js';
import { readRailFile, type FileContribution } from './schema.js';
import type { RailIssue, RailSet, SourceLocation } from './types.js';
import { deepFreeze } from '../deep-freeze.js';

export { displayPath, formatIssue, RailsInvalidError } from './issues.js';
export { renderPrompt } from './prompt.js';

/** A rail file's name (the watcher reloads on changes to these). */
export const RAIL_FILE = /\.ya?ml$/i;

/**
 * The entries of `dir` of one kind, by name, sorted; dotfiles (editor backups, `.#lock` files,
 * Kubernetes' `..data`) are never rails. Symbolic links count as what they point to: a ConfigMap
 * mounted as the rails folder is made of them.
 */
async function entriesIn(dir: string, kind: 'file' | 'directory'): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const kept = await Promise.all(
    entries
      .filter((e) => !e.name.startsWith('.'))
      .map(async (e) => {
        const target = e.isSymbolicLink() ? await stat(path.join(dir, e.name)).catch(() => undefined) : e;
        const matches = kind === 'file' ? target?.isFile() : target?.isDirectory();
        return matches ? e.name : null;
      }),
  );
  return kept
    .filter((name): name is string => name !== null)
    .sort()
    .map((name) => path.join(dir, name));
}

/** Rail files directly in `dir`, sorted. */
async function railFilesIn(dir: string): Promise<string[]> {
  return (await entriesIn(dir, 'file')).filter((file) => RAIL_FILE.test(file));
}

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** sha256 over the sorted file names and their bytes, first 16 hex chars: names which rails decided. */
function hashFiles(files: readonly { name: string; bytes: Buffer }[]): string {
  const hash = createHash('sha256');
  for (const { name, bytes } of files) hash.update(name).update('\0').update(bytes).update('\0');
  return hash.digest('hex').slice(0, 16);
}

interface SetResult {
  readonly set: RailSet | undefined;
  readonly issues: RailIssue[];
  /** Where `name:` is set, for naming clashes between sets. */
  readonly nameLocation: SourceLocation | undefined;
}

async function readSet(dir: string, options: LoadOptions = {}): Promise<SetResult> {
  if (!(await isDirectory(dir)))
    return { set: undefined, issues: [issueForPath(dir, 'not a folder')], nameLocation: undefined };
  const files = await railFilesIn(dir);
  if (files.length === 0)
    return {
      set: undefined,
      issues: [issueForPath(dir, 'no rail files (*.yml or *.yaml) in this folder')],
      nameLocation: undefined,
    };

  const issues: RailIssue[] = [];
  const contents: { name: string; bytes: Buffer }[] = [];
  const contributions: FileContribution[] = [];
  let complete = true;
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      issues.push(issueForPath(file, `cannot read the file: ${(error as Error).message}`));
      complete = false;
      continue;
    }
    contents.push({ name: path.basename(file), bytes });
    const text = utf8Text(file, bytes);
    if (typeof text !== 'string') {
      issues.push(text);
      complete = false;
      continue;
    }
    const { source, issues: syntaxIssues } = parseYamlFile(file, text);
    if (source.doc.errors.length > 0) {
      // A file YAML cannot read says nothing reliable about its keys: report only its syntax errors.
      issues.push(...syntaxIssues);
      complete = false;
      continue;
    }
    issues.push(...syntaxIssues);
    contributions.push(readRailFile(source));
  }

  const { body, issues: setIssues } = mergeSet(dir, contributions, complete, options);
  issues.push(...setIssues);
  const nameLocation = setKeyLocation(contributions, 'name');
  if (!body || issues.length > 0) return { set: undefined, issues, nameLocation };
  const set: RailSet = { ...body, dir, files, hash: hashFiles(contents), loadedAt: new Date() };
  return { set: deepFreeze(set), issues, nameLocation };
}

/** One rail set from its folder. Throws RailsInvalidError listing every issue. */
export async function loadRailSet(dir: string): Promise<RailSet> {
  const { set, issues } = await readSet(path.resolve(dir));
  if (!set || issues.length > 0) throw new RailsInvalidError(issues);
  return set;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A rail file's text, or the issue with it: YAML files are UTF-8, and any other encoding decoded as
 * UTF-8 would put U+FFFD into answers and examples ("café" → "caf�") with nothing said.
 */
function utf8Text(file: string, bytes: Buffer): string | RailIssue {
  const bom = bytes.subarray(0, 2).toString('hex');
  if (bom === 'fffe' || bom === 'feff')
    return issueForPath(file, 'is UTF-16 text: save it as UTF-8, the encoding YAML files use');
  try {
    return UTF8.decode(bytes);
  } catch {
    const before = bytes.subarray(0, firstInvalidUtf8(bytes)).toString('utf8').split('\n');
    return {
      file,
      line: before.length,
      column: before.at(-1)!.length + 1,
      message: 'is not UTF-8 text here (Latin-1 or Windows-1252, perhaps): save it as UTF-8',
    };
  }
}

/** The offset of the first byte that breaks UTF-8 (a stray byte, a sequence cut short or overlong). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i]!;
    const length =
      lead < 0x80
        ? 1
        : lead >= 0xc2 && lead < 0xe0
          ? 2
          : lead >= 0xe0 && lead < 0xf0
            ? 3
            : lead >= 0xf0 && lead < 0xf5
              ? 4
              : 0;
    if (length === 0 || i + length > bytes.length) return i;
    const sequence = bytes.subarray(i, i + length);
    if (length > 1 && !decodesWhole(sequence)) return i;
    i += length;
  }
  return bytes.length;
}

/** A multi-byte sequence is valid when the strict decoder takes it whole. */
function decodesWhole(sequence: Uint8Array): boolean {
  try {
    UTF8.decode(sequence);
    return true;
  } catch {
    return false;
  }
}

/**
 * The set folders under a rails root: the root itself when it holds rail files, else its subfolders
 * that do. Both at once is an issue: a stray file in the root (a copy, a new "common.yml") would
 * otherwise silently make the root one set and drop every set folder, on the next reload too.
 */
async function setFolders(root: string): Promise<{ folders: string[]; issue?: RailIssue }> {
  const rootFiles = await railFilesIn(root);
  const folders = await entriesIn(root, 'directory');
  const withRails = (
    await Promise.all(folders.map(async (dir) => ((await railFilesIn(dir)).length > 0 ? dir : null)))
  ).filter((dir): dir is string => dir !== null);
  if (rootFiles.length === 0) return { folders: withRails };
  if (withRails.length === 0) return { folders: [root] };
  const names = (paths: readonly string[]) => paths.map((p) => path.basename(p)).join(', ');
  return {
    folders: [],
    issue: issueForPath(
      root,
      `holds both rail files (${names(rootFiles)}) and set folders (${names(withRails)}): a rails folder is ` +
        'one set (files only) or a folder of sets (subfolders only); move the files into a set folder',
    ),
  };
}

/**
 * Whether the rails under `root` differ from `sets` (the sets serving): another set folder, or a set
 * whose files are not those it was read from (by the hash `readSet` gives). Reads the files, parses
 * nothing: a cheap check that the rails on disk are still the ones serving.
 */
export async function railsDiffer(root: string, sets: readonly RailSet[]): Promise<boolean> {
  const { folders, issue } = await setFolders(path.resolve(root));
  if (issue || folders.length !== sets.length) return true;
  const hashOf = new Map(sets.map((set) => [set.dir, set.hash]));
  for (const dir of folders) {
    const contents = await Promise.all(
      (await railFilesIn(dir)).map(async (file) => ({ name: path.basename(file), bytes: await readFile(file) })),
    );
    if (hashOf.get(dir) !== hashFiles(contents)) return true;
  }
  return false;
}

/** Every set under `root` and every issue found; never throws for invalid rails. */
export async function validateRails(
  root: string,
  options: LoadOptions = {},
): Promise<{ sets: RailSet[]; issues: RailIssue[] }> {
  const absolute = path.resolve(root);
  const kind = await stat(absolute).then(
    (s) => (s.isDirectory() ? 'folder' : 'other'),
    () => 'missing',
  );
  if (kind === 'other')
    return {
      sets: [],
      issues: [
        issueForPath(
          absolute,
          `is a file, not a rails folder: give the folder that holds it (${path.dirname(absolute)})`,
        ),
      ],
    };
  if (kind === 'missing')
    return {
      sets: [],
      // Relative paths resolve against the working folder, which a service manager may not set.
      issues: [issueForPath(absolute, `rails folder not found (looked for ${absolute})`)],
    };
  const { folders, issue } = await setFolders(absolute);
  if (issue) return { sets: [], issues: [issue] };
  if (folders.length === 0)
    return {
      sets: [],
      issues: [issueForPath(absolute, 'no rail sets here: expected *.yml files, or subfolders holding them')],
    };

  const results = await Promise.all(folders.map((dir) => readSet(dir, options)));
  const issues = results.flatMap((r) => r.issues);
  // Two sets of one name: the one serving under it keeps it (on a reload), else the one in the folder
  // of that name, else the first in folder order. A folder copied from a set with its name left
  // unchanged is the one at fault, wherever it sorts.
  const rank = (set: RailSet | undefined) =>
    !set ? 0 : options.serving?.get(set.name) === set.dir ? 2 : path.basename(set.dir) === set.name ? 1 : 0;
  const owner = new Map<string, string>();
  for (const { set } of [...results].sort((a, b) => rank(b.set) - rank(a.set)))
    if (set && !owner.has(set.name)) owner.set(set.name, set.dir);
  const sets: RailSet[] = [];
  results.forEach((result, i) => {
    const set = result.set;
    if (!set) return;
    const other = owner.get(set.name)!;
    if (other === set.dir) {
      sets.push(set);
      return;
    }
    const used = `is already used by the set in folder ${path.relative(absolute, other) || '.'}${path.sep}`;
    // A name taken from the folder is pinned on the set's first file, so a reload can tell which set
    // it is (a folder-wide issue cannot be told apart from the rails folder's own).
    issues.push(
      result.nameLocation
        ? issueAt(result.nameLocation, `rail set name "${set.name}" ${used}`)
        : issueForPath(
            set.files[0] ?? folders[i]!,
            `rail set name "${set.name}" (the folder's name) ${used}; give this set a \`name\``,
          ),
    );
  });
  return { sets, issues: sortIssues(issues) };
}

/** Every set under `root`. Throws RailsInvalidError listing the issues of all sets. */
export async function loadRails(root: string, options: LoadOptions = {}): Promise<RailSet[]> {
  const { sets, issues } = await validateRails(root, options);
  if (issues.length > 0) throw new RailsInvalidError(issues);
  return sets;
}
