/** `railgate calibrate`'s report for a terminal: before → after figures and thresholds. */
import { percent, relativePath, table } from './cli.js';
import type { Calibration } from './calibrate.js';
import { describeOosLabels } from './eval-report.js';
import type { ThresholdEdit } from './yaml-thresholds.js';
import type { CliIO } from '../cli/io.js';

/** Thresholds as written in YAML: at most 3 decimals. */
function t(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

export function renderCalibration(c: Calibration, minSupport: number): string[] {
  const b = c.before.figures;
  const a = c.after.figures;
  const lines = table(
    ['', 'before', 'after'],
    [
      ['match.threshold', t(c.before.plan.set), t(c.after.plan.set)],
      ['in-scope accuracy', percent(b.in_scope_accuracy), percent(a.in_scope_accuracy)],
      ['out-of-scope recall', percent(b.oos_recall), percent(a.oos_recall)],
      ['balanced', percent(b.balanced), percent(a.balanced)],
      ['oos false-match rate', percent(b.oos_false_match_rate), percent(a.oos_false_match_rate)],
    ],
  );
  lines.push(
    ...describeOosLabels(
      c.oos_labels,
      c.intents.map((i) => i.intent),
    ),
  );
  if (!c.feasible)
    lines.push('', `no threshold meets ${c.target} on this data; kept the one with the fewest false matches`);
  lines.push(
    '',
    c.share === null
      ? 'per intent:'
      : `per intent (each threshold turns away ${percent(c.share)} of the intent's own labelled messages):`,
  );
  lines.push(
    ...table(
      ['intent', 'labelled', 'before', 'after', ''],
      c.intents.map((i) => [
        i.intent,
        String(i.support),
        t(i.before),
        t(i.after),
        i.calibrated
          ? c.after.plan.intents.has(i.intent)
            ? 'own threshold'
            : 'follows the set'
          : `${tooFew(c, i.support, minSupport)}: ${c.before.plan.intents.has(i.intent) ? 'kept' : 'follows the set'}`,
      ]),
    ).map((l) => '  ' + l),
  );
  return lines;
}

/**
 * Why an intent got no threshold of its own: `fit` counts its labelled items; `share` counts those
 * matched to it (an intent's items the set matches elsewhere say nothing of its own scores).
 */
function tooFew(c: Calibration, support: number, minSupport: number): string {
  return c.per_intent === 'share' && support >= minSupport
    ? `fewer than ${minSupport} of its labelled items matched to it`
    : `fewer than ${minSupport} labelled items`;
}

export function renderEdits(io: CliIO, edits: readonly ThresholdEdit[]): string[] {
  if (edits.length === 0) return ['the rail files already hold these thresholds; nothing written'];
  return edits.map(
    (e) =>
      `wrote ${relativePath(io, e.file)}: ${e.what === 'match.threshold' ? 'match.threshold' : `${e.what}.threshold`} ` +
      `${e.before ?? '(unset)'} -> ${e.after}`,
  );
}
