/** `railgate eval`'s report for a terminal: the headline rates, per-intent figures, confusions and the sweep. */
import { percent, similarity, table } from './cli.js';
import type { EvalReport, Mistake } from './metrics.js';
import { closest } from '../rails/reader.js';
import { quotedLine } from '../cli/io.js';

function fraction(part: number, whole: number): string {
  return `${part}/${whole}`;
}

function describeMistake(m: Mistake): string {
  const expected = m.expected === null ? 'nothing' : m.expected;
  const got =
    m.matched !== null
      ? `matched ${m.matched} (${similarity(m.score)})`
      : `matched nothing (best ${m.candidate ?? 'none'} ${similarity(m.score)})`;
  return `line ${m.line}: ${quotedLine(m.text, 60)} expected ${expected}, ${got}`;
}

export function renderEvalReport(r: EvalReport, maxConfusions = 10, maxMistakes = 10): string[] {
  const correct = Math.round((r.in_scope_accuracy ?? 0) * r.n_in_scope);
  const top1 = Math.round((r.top1_accuracy ?? 0) * r.n_in_scope);
  const rejected = Math.round((r.oos_recall ?? 0) * r.n_oos);
  const lines = [
    `rail set ${r.rail_set} (rails ${r.rails_hash}): ${r.n} items, ${r.n_in_scope} in scope, ${r.n_oos} out of scope; ` +
      `threshold ${r.threshold}`,
    '',
    `in-scope accuracy    ${percent(r.in_scope_accuracy).padStart(6)}  ${fraction(correct, r.n_in_scope)} matched the right intent`,
    `top-1 accuracy       ${percent(r.top1_accuracy).padStart(6)}  ${fraction(top1, r.n_in_scope)} had the right best intent, thresholds aside`,
    `out-of-scope recall  ${percent(r.oos_recall).padStart(6)}  ${fraction(rejected, r.n_oos)} matched nothing`,
    `balanced             ${percent(r.balanced).padStart(6)}  (accuracy + recall) / 2`,
  ];
  lines.push(
    ...describeOosLabels(
      r.oos_labels,
      r.per_intent.map((i) => i.intent),
    ),
  );

  lines.push('', 'per intent:');
  lines.push(
    ...table(
      ['intent', 'threshold', 'support', 'matched', 'precision', 'recall'],
      r.per_intent.map((i) => [
        i.intent,
        similarity(i.threshold),
        String(i.support),
        String(i.predicted),
        percent(i.precision),
        percent(i.recall),
      ]),
    ).map((l) => '  ' + l),
  );

  lines.push('', 'most confused (expected -> best intent instead):');
  if (r.confusions.length === 0) lines.push('  none');
  for (const c of r.confusions.slice(0, maxConfusions))
    lines.push(`  ${c.expected} -> ${c.got}: ${c.count} (${c.matched} matched the wrong intent)`);

  if (maxMistakes > 0) {
    const shown = Math.min(maxMistakes, r.mistakes.length);
    lines.push(
      '',
      r.mistakes.length > shown
        ? `wrong decisions (first ${shown} of ${r.mistakes.length}; --mistakes N shows more, --json lists all):`
        : `wrong decisions (${r.mistakes.length}):`,
    );
    if (r.mistakes.length === 0) lines.push('  none');
    for (const m of r.mistakes.slice(0, shown)) lines.push(`  ${describeMistake(m)}`);
  }

  const best = Math.max(...r.sweep.map((s) => s.balanced ?? -1));
  const ownThresholds = r.per_intent.some((i) => i.threshold !== r.threshold);
  lines.push(
    '',
    `threshold sweep (match.threshold; * = best balanced${ownThresholds ? '; intents with their own threshold keep it' : ''}):`,
  );
  lines.push(
    ...table(
      ['threshold', 'in-scope acc', 'oos recall', 'balanced', ''],
      r.sweep.map((s) => [
        s.threshold.toFixed(2),
        percent(s.in_scope_accuracy),
        percent(s.oos_recall),
        percent(s.balanced),
        [Math.abs(s.threshold - r.threshold) < 1e-9 ? '(current)' : '', s.balanced === best ? '*' : '']
          .filter(Boolean)
          .join(' '),
      ]),
    ).map((l) => '  ' + l),
  );
  return lines;
}

/** Labels people use for out-of-scope items (compared lower-case, without separators). */
const OUT_OF_SCOPE_LABELS: ReadonlySet<string> = new Set([
  'oos',
  'outofscope',
  'none',
  'nomatch',
  'other',
  'unknown',
  'null',
  'na',
  'nointent',
]);

/**
 * The labels read as out of scope, most frequent first, each close to an intent id with that id: a
 * typo in an intent id (`greetng`, `Greeting`) would otherwise count its items as out of scope.
 */
export function describeOosLabels(labels: Record<string, number>, intents: readonly string[]): string[] {
  const sorted = Object.entries(labels).sort((a, b) => b[1] - a[1]);
  const shown = sorted.map(([label, n]) => {
    // Labels that say "out of scope" on purpose are not typos of an intent (`oos` is not `tos`).
    const meant = OUT_OF_SCOPE_LABELS.has(label.toLowerCase().replace(/[-_ ]/g, ''))
      ? undefined
      : closest(label, intents);
    return meant ? `${label} (${n}; did you mean ${meant}?)` : `${label} (${n})`;
  });
  return shown.length ? [`labels read as out of scope: ${shown.join(', ')}`] : [];
}
