/**
 * A reload that finds issues swaps in the sets that validated and keeps the previous version of the
 * sets with issues, unless that cannot be told set by set.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { partialReload } from '../../src/rails/partial-reload.js';
import type { RailIssue, RailSet } from '../../src/rails/types.js';
import { makeIntent, makeRailSet } from '../helpers/rail-set.js';

const root = path.resolve('/srv/rails');

function set(name: string, hash: string, folder = name): RailSet {
  return { ...makeRailSet(name, [makeIntent('hello', 'respond', ['hi'])]), dir: path.join(root, folder), hash };
}

const issueIn = (...parts: string[]): RailIssue => ({
  file: path.join(root, ...parts),
  line: 3,
  column: 5,
  message: 'unknown key `bogus`',
});

const names = (sets: readonly RailSet[] | undefined) => sets?.map((s) => `${s.name}@${s.hash}`).sort();

describe('partialReload', () => {
  const bank = set('bank', 'b1');
  const assistant = set('assistant', 'a1');

  it("swaps in a valid set's edit while a broken set keeps its previous version", () => {
    const edited = set('bank', 'b2');
    const result = partialReload(root, [bank, assistant], [edited], [issueIn('assistant', 'rail.yml')]);
    expect(result?.kept.map((s) => s.name)).toEqual(['assistant']);
    expect(names(result?.sets)).toEqual(['assistant@a1', 'bank@b2']);
  });

  it('adds a new valid set and removes a deleted one beside a broken set; a new broken set is not served', () => {
    const added = set('cards', 'c1');
    const result = partialReload(root, [bank, assistant], [added], [issueIn('assistant', 'rail.yml')]);
    expect(names(result?.sets)).toEqual(['assistant@a1', 'cards@c1']);
    const edited = set('bank', 'b2');
    const withDraft = partialReload(root, [bank, assistant], [edited, assistant], [issueIn('drafts', 'rail.yml')]);
    expect(names(withDraft?.sets)).toEqual(['assistant@a1', 'bank@b2']);
    expect(withDraft?.kept).toEqual([]);
  });

  it('is a failed reload when nothing but the broken sets changed', () => {
    expect(partialReload(root, [bank, assistant], [bank], [issueIn('assistant', 'rail.yml')])).toBeUndefined();
    expect(partialReload(root, [bank, assistant], [bank, assistant], [issueIn('drafts', 'rail.yml')])).toBeUndefined();
  });

  it('keeps everything when an issue cannot be pinned on one set, or a kept set would clash by name', () => {
    const edited = set('bank', 'b2');
    // A stray file beside the set folders, the rails folder itself, a file outside it.
    for (const issue of [issueIn('stray.yml'), issueIn(), { ...issueIn(), file: '/elsewhere/x.yml' }])
      expect(partialReload(root, [bank, assistant], [edited], [issue])).toBeUndefined();
    // The rails folder is the one set.
    const single = { ...bank, dir: root };
    expect(partialReload(root, [single], [], [issueIn('rail.yml')])).toBeUndefined();
    // bank moved to banking/ with an issue there: bank is not dropped.
    expect(partialReload(root, [bank, assistant], [assistant], [issueIn('banking', 'rail.yml')])).toBeUndefined();
    // Folder "assistant" is broken, and another folder now uses its name.
    const renamed = set('assistant', 'x1', 'bank');
    expect(partialReload(root, [bank, assistant], [renamed], [issueIn('assistant', 'rail.yml')])).toBeUndefined();
  });
});
