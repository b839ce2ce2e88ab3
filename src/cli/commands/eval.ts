/**
 * `railgate eval`: how well a rail set does on labelled data, and what other set thresholds would do,
 * computed from one embedding pass.
 */
import { writeLine } from '../io.js';
import { defineCommand, numberOption, UsageError } from '../../authoring/cli.js';
import { renderEvalReport } from '../../authoring/eval-report.js';
import { LABELLED_DATA_FLAGS, labelledDataFile, withLabelledScores } from '../../authoring/labelled.js';
import { evaluate } from '../../authoring/metrics.js';
import { thresholdsOf } from '../../authoring/scored.js';

const HELP = `usage: railgate eval --data FILE [--rails DIR] [--set NAME] [--mistakes N] [--json]

Measures a rail set on labelled data: JSON lines {"text": ..., "label": ...} or CSV with a header row.
A label that is not an intent id of the set (e.g. "oos") means the message must match nothing.

Reports in-scope accuracy (right intent and above its threshold), top-1 accuracy (right best intent,
thresholds aside), out-of-scope recall (matched nothing), per-intent precision and recall, the most
confused intent pairs, the items decided wrongly (file line, what matched, the score) and a sweep of
match.threshold from 0.30 to 0.90 (no re-embedding).

  --data FILE           labelled data (.jsonl / .ndjson / .json: JSON lines; .csv: CSV)
  --rails DIR           rails folder (default: the \`rails\` setting, RAILGATE_RAILS or ./rails)
  --set NAME            rail set (default: the default set)
  --text-column NAME    the message column / key (default text)
  --label-column NAME   the label column / key (default label)
  --mistakes N          wrongly decided items to list (default 10; 0: none; --json lists all)
  --json                print the metrics as JSON
  -h, --help            show this help`;

export const run = defineCommand({
  name: 'eval',
  help: HELP,
  options: { ...LABELLED_DATA_FLAGS, mistakes: { type: 'string' }, json: { type: 'boolean' } },
  body: async ({ values }, io) => {
    const data = labelledDataFile(values);
    const mistakes = numberOption('mistakes', values.mistakes, 10, 0);
    if (!Number.isInteger(mistakes))
      throw new UsageError(`--mistakes must be a whole number, got "${values.mistakes}"`);
    return withLabelledScores(io, values, data, async (compiled, { items, scored }) => {
      const report = evaluate(compiled.set, items, scored, thresholdsOf(compiled.set));
      if (values.json) writeLine(io.stdout, JSON.stringify(report, null, 2));
      else for (const line of renderEvalReport(report, 10, mistakes)) writeLine(io.stdout, line);
      return 0;
    });
  },
});
