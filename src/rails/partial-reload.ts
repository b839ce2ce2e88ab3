/**
 * Which rail sets a reload that found issues can still swap in. Sets are owned separately (a team's
 * deny-list, another's support set): one set's broken edit must not hold back another's fix. So the
 * sets that validated are taken, and a set whose folder has issues keeps its previous version.
 * Where that cannot be said set by set, nothing is swapped: an issue outside every serving set's
 * folder (the rails folder itself), a set kept whose name a new set now uses, or a set gone while a
 * new folder has issues (it may be that set, moved); nor when nothing but the broken sets changed.
 */
import path from 'node:path';
import { within } from './issues.js';
import type { RailIssue, RailSet } from './types.js';

export interface PartialReload {
  /** What serves after the reload: the sets that validated, and the previous version of the others. */
  readonly sets: RailSet[];
  /** The sets whose previous version keeps serving. */
  readonly kept: RailSet[];
}

/**
 * The sets to serve after a reload under `root` that found `issues`, or undefined when the previous
 * rails must keep serving whole. `serving`: the sets serving now; `valid`: the sets that validated.
 */
export function partialReload(
  root: string,
  serving: readonly RailSet[],
  valid: readonly RailSet[],
  issues: readonly RailIssue[],
): PartialReload | undefined {
  // The rails folder is itself the one set: there is nothing to keep apart.
  if (serving.some((set) => set.dir === root)) return undefined;
  const failing = new Set<RailSet>();
  let inNewFolder = false;
  for (const issue of issues) {
    const owner = serving.find((set) => within(set.dir, issue.file));
    if (owner) {
      failing.add(owner);
      continue;
    }
    // A new set folder that is broken is simply not served yet. An issue of the rails folder itself
    // (a stray file beside the set folders) or of a whole folder cannot be pinned on one set's files.
    const relative = path.relative(root, issue.file);
    if (!within(root, issue.file) || relative === '' || !relative.includes(path.sep)) return undefined;
    inNewFolder = true;
  }
  const validDirs = new Set(valid.map((set) => set.dir));
  const kept = [...failing].filter((set) => !validDirs.has(set.dir));
  const names = new Set(valid.map((set) => set.name));
  if (kept.some((set) => names.has(set.name))) return undefined;
  const gone = serving.filter((set) => !failing.has(set) && !validDirs.has(set.dir));
  // A set gone while a folder new to the reload has issues may be that set, moved: keep it serving.
  if (gone.length > 0 && inNewFolder) return undefined;
  // Nothing but the broken sets changed: that is a failed reload, not a partial one.
  const changed = gone.length > 0 || valid.some((set) => serving.find((s) => s.dir === set.dir)?.hash !== set.hash);
  if (!changed) return undefined;
  return { sets: [...valid, ...kept], kept };
}
