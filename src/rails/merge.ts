/**
 * One set from several files: intents and tests are concatenated (in file-name order); set-level keys
 * may come from one file only. Rules that need the whole set are checked here: duplicate intent ids,
 * duplicate examples, and tests expecting an intent that does not exist.
 */
import path from 'node:path';
import { issueAt } from './positions.js';
import { closest } from './reader.js';
import { bundledReadsNothing } from '../embedding/bundled-vocabulary.js';
import { missingModelFolder } from '../embedding/model-location.js';
import type { FileContribution, LocatedText } from './schema.js';
import {
  DEFAULT_EMBEDDING,
  DEFAULT_MATCH,
  DEFAULT_ON_NO_MATCH,
  DEFAULT_REFUSAL,
  DEFAULT_UPSTREAM,
  SET_KEYS,
  type SetKey,
  type SetLevel,
} from './set-level.js';
import { NO_MATCH, type Intent, type RailIssue, type RailSet, type RailTest, type SourceLocation } from './types.js';

export type RailSetBody = Omit<RailSet, 'dir' | 'files' | 'hash' | 'loadedAt'>;

/** `support.yml:12:7`: files of one set share a folder, so the base name is enough. */
function shortPlace(location: SourceLocation): string {
  return `${path.basename(location.file)}:${location.line}:${location.column}`;
}

/** Where a set-level key is set (by the one file that may set it), or undefined when no file does. */
export function setKeyLocation(contributions: readonly FileContribution[], key: SetKey): SourceLocation | undefined {
  return contributions.map((c) => c.setKeys.get(key)).find((l) => l !== undefined);
}

/** Examples are compared the way a reader would: ignoring case and spacing. */
export function normalizeExample(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}

/** What the rails are checked against besides themselves. */
export interface LoadOptions {
  /** The configured upstreams' names: a set's `upstream` must be one of them (unchecked when absent). */
  readonly upstreams?: readonly string[];
  /**
   * Whether an OpenAI-compatible embeddings server is configured (`embedding.openaiUrl`), which a set
   * embedding with `provider: openai` needs (unchecked when absent).
   */
  readonly embeddingsServer?: boolean;
  /**
   * The folders of the sets serving now, by set name (a reload's): where two folders claim one name,
   * the set serving under it keeps it and the other is the one reported.
   */
  readonly serving?: ReadonlyMap<string, string>;
}

/**
 * Merges the files of one set, in folder `dir` (its name unless it gives one; what a model folder is
 * relative to). `complete` is false when some file could not be read at all (YAML syntax error): then
 * checks that need every intent id are skipped rather than reporting false alarms.
 */
export function mergeSet(
  dir: string,
  contributions: readonly FileContribution[],
  complete: boolean,
  options: LoadOptions = {},
): { body: RailSetBody | undefined; issues: RailIssue[] } {
  const issues: RailIssue[] = contributions.flatMap((c) => c.issues);
  const setLevel = mergeSetLevel(contributions, issues);
  const { upstreams } = options;
  // `default` without a configured upstream is the documented no-upstream mode (forwards answer 503).
  if (upstreams && setLevel.upstream !== undefined && setLevel.upstream !== DEFAULT_UPSTREAM) {
    const location = setKeyLocation(contributions, 'upstream');
    if (location && !upstreams.includes(setLevel.upstream)) {
      const suggestion = closest(setLevel.upstream, upstreams);
      issues.push(
        issueAt(
          location,
          `upstream "${setLevel.upstream}" is not configured (${upstreams.length ? `configured: ${upstreams.join(', ')}` : 'none is'}); ` +
            (suggestion ? `did you mean \`${suggestion}\`? ` : '') +
            "name one of the config file's `upstreams`, or add it there",
        ),
      );
    }
  }

  const intents: Intent[] = [];
  const firstById = new Map<string, SourceLocation>();
  for (const entry of contributions.flatMap((c) => c.intents)) {
    if (entry.id !== undefined) {
      const first = firstById.get(entry.id);
      if (first)
        issues.push(
          issueAt(entry.idLocation, `duplicate intent id \`${entry.id}\`; first defined at ${shortPlace(first)}`),
        );
      else firstById.set(entry.id, entry.idLocation);
    }
    if (entry.intent) intents.push(entry.intent);
  }
  checkExamples(contributions, issues);
  // An `embedding` block that did not parse says nothing of the model: no guess that it is the bundled one.
  const embeddingLocation = setKeyLocation(contributions, 'embedding');
  const provider =
    setLevel.embedding?.provider ?? (embeddingLocation !== undefined ? undefined : DEFAULT_EMBEDDING.provider);
  if (provider === 'bundled') checkReadable(contributions, issues);
  // Said here, at the set's `embedding` key, so that a reload keeps this set's previous version
  // while the other sets' edits go live, rather than failing whole when the model cannot be made.
  if (provider === 'openai' && options.embeddingsServer === false && embeddingLocation)
    issues.push(
      issueAt(
        embeddingLocation,
        'embedding provider "openai" needs the embeddings server URL, and none is configured: set ' +
          'RAILGATE_EMBEDDINGS_URL (or embedding.openaiUrl in the config file), e.g. https://api.openai.com/v1',
      ),
    );
  // A model folder that is not there (a path, not a hub id), relative to the set's folder.
  const model = setLevel.embedding?.model;
  const missing = provider === 'transformers' && model !== undefined ? missingModelFolder(model, dir) : undefined;
  if (missing && embeddingLocation) issues.push(issueAt(embeddingLocation, missing));
  const matchLocation = setKeyLocation(contributions, 'match');
  if (complete && setLevel.match?.scoring === 'classifier' && intents.length < 2 && matchLocation)
    issues.push(
      issueAt(matchLocation, '`scoring: classifier` needs at least two intents to tell apart; use `similarity`'),
    );

  const tests: RailTest[] = [];
  const ids = [...firstById.keys()];
  for (const { test, expect } of contributions.flatMap((c) => c.tests)) {
    if (complete && expect && expect.value !== NO_MATCH && !firstById.has(expect.value)) {
      const suggestion = closest(expect.value, [...ids, NO_MATCH]);
      const hint = suggestion ? `; did you mean \`${suggestion}\`?` : '';
      issues.push(
        issueAt(
          expect.location,
          `\`expect\` "${expect.value}" is not an intent of this set nor \`${NO_MATCH}\`${hint}`,
        ),
      );
    }
    if (test) tests.push(test);
  }

  if (issues.length > 0) return { body: undefined, issues };
  return {
    issues,
    body: {
      name: setLevel.name ?? path.basename(dir),
      description: setLevel.description,
      embedding: setLevel.embedding ?? DEFAULT_EMBEDDING,
      match: setLevel.match ?? DEFAULT_MATCH,
      onNoMatch: setLevel.onNoMatch ?? DEFAULT_ON_NO_MATCH,
      refusal: setLevel.refusal ?? DEFAULT_REFUSAL,
      upstream: setLevel.upstream ?? DEFAULT_UPSTREAM,
      intents,
      tests,
    },
  };
}

/** Set-level keys: the first file (by name) that sets a key owns it; any other file setting it is an issue. */
function mergeSetLevel(contributions: readonly FileContribution[], issues: RailIssue[]): SetLevel {
  const merged: SetLevel = {};
  const owner = new Map<string, SourceLocation>();
  for (const contribution of contributions) {
    for (const key of SET_KEYS) {
      const location = contribution.setKeys.get(key);
      if (!location) continue;
      const first = owner.get(key);
      if (first) {
        issues.push(
          issueAt(
            location,
            `\`${key}\` is already set at ${shortPlace(first)}; set-level keys (${SET_KEYS.join(', ')}) ` +
              'may appear in only one file of a set',
          ),
        );
        continue;
      }
      owner.set(key, location);
    }
    for (const [key, value] of Object.entries(contribution.setLevel) as [keyof SetLevel, unknown][]) {
      if (value !== undefined && !(key in merged)) Object.assign(merged, { [key]: value });
    }
  }
  return merged;
}

function samePlace(a: SourceLocation, b: SourceLocation): boolean {
  return a.file === b.file && a.line === b.line && a.column === b.column;
}

/**
 * The same example twice is at best noise and at worst a contradiction (two intents claiming one
 * sentence); an intent listing a sentence as both example and not_example cannot be right either.
 */
function checkExamples(contributions: readonly FileContribution[], issues: RailIssue[]): void {
  const seen = new Map<string, { intent: string; location: SourceLocation }>();
  for (const entry of contributions.flatMap((c) => c.intents)) {
    const intent = entry.id ?? '(no id)';
    for (const example of entry.examples) {
      const key = normalizeExample(example.value);
      const first = seen.get(key);
      if (!first) seen.set(key, { intent, location: example.location });
      else if (first.intent === intent)
        issues.push(issueAt(example.location, `duplicate example; already listed at ${shortPlace(first.location)}`));
      else {
        // A YAML alias reuses the anchored node: both intents then point at the same place.
        const where = samePlace(first.location, example.location)
          ? 'the same YAML node, reused through an alias'
          : shortPlace(first.location);
        issues.push(
          issueAt(
            example.location,
            `example of intent \`${intent}\` is also an example of intent \`${first.intent}\` (${where}); ` +
              'one sentence cannot mean two intents',
          ),
        );
      }
    }
    const own = new Set(entry.examples.map((e: LocatedText) => normalizeExample(e.value)));
    const negatives = new Map<string, SourceLocation>();
    for (const notExample of entry.notExamples) {
      const key = normalizeExample(notExample.value);
      const first = negatives.get(key);
      if (own.has(key))
        issues.push(issueAt(notExample.location, `not_example is also an example of intent \`${intent}\``));
      else if (first)
        issues.push(issueAt(notExample.location, `duplicate not_example; already listed at ${shortPlace(first)}`));
      else negatives.set(key, notExample.location);
    }
  }
}

/**
 * An example the bundled model reads nothing of (only characters outside its vocabulary) would embed
 * as the zero vector: it could never match (and, before that rule, matched every unreadable message
 * at score 1). Said at the example, as any other mistake in the rails.
 */
function checkReadable(contributions: readonly FileContribution[], issues: RailIssue[]): void {
  for (const entry of contributions.flatMap((c) => c.intents))
    for (const [list, texts] of [
      ['example', entry.examples],
      ['not_example', entry.notExamples],
    ] as const)
      for (const text of texts)
        if (bundledReadsNothing(text.value))
          issues.push(
            issueAt(
              text.location,
              `the bundled model reads nothing in this ${list} (no character it knows, e.g. only emoji or a ` +
                'script it was not trained on), so it could never match; write it in words the model reads, ' +
                'or use a provider whose model reads them',
            ),
          );
}
