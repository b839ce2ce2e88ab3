/**
 * `railgate calibrate`: chooses the set threshold (and per-intent thresholds where the data supports
 * them) from labelled data, and with `--write` saves them into the rail files, comments and all.
 */
import { writeLine } from '../io.js';
import { calibrate, MIN_INTENT_SUPPORT, parseTarget } from '../../authoring/calibrate.js';
import { renderCalibration, renderEdits } from '../../authoring/calibrate-report.js';
import { defineCommand, UsageError } from '../../authoring/cli.js';
import { LABELLED_DATA_FLAGS, labelledDataFile, withLabelledScores } from '../../authoring/labelled.js';
import { writeThresholds } from '../../authoring/yaml-thresholds.js';

const HELP = `usage: railgate calibrate --data FILE [--rails DIR] [--set NAME] [--target balanced|fpr=0.01] [--per-intent fit|share] [--write] [--json]

Chooses thresholds from labelled data (the same format as \`railgate eval\`): first match.threshold,
then a threshold of its own for each intent with at least ${MIN_INTENT_SUPPORT} labelled items (others keep
their own threshold or follow the set's). Prints the figures before -> after.

  --target balanced     maximise (in-scope accuracy + out-of-scope recall) / 2 (default)
  --target fpr=X        the lowest set threshold whose out-of-scope false-match rate is <= X; per intent,
                        the best accuracy that keeps the rate <= X
  --per-intent fit      each intent's threshold chosen on its own for the target (default)
  --per-intent share    every intent's threshold turns away the same share of its own labelled messages,
                        the share chosen for the target: out-of-scope items only pick the share, so the
                        thresholds do not learn the out-of-scope topics the data happens to hold
  Thresholds the data scores no better than the current ones are not proposed: nothing moves.
  --write               write the thresholds into the rail files where they are defined (comments kept)
  --data FILE           labelled data (.jsonl / .csv); labels that are not intent ids mean "must not match"
  --rails DIR           rails folder (default: the \`rails\` setting, RAILGATE_RAILS or ./rails)
  --set NAME            rail set (default: the default set)
  --text-column NAME    the message column / key (default text)
  --label-column NAME   the label column / key (default label)
  --json                print { target, per_intent, share, before, after, intents, feasible, written } as JSON
  -h, --help            show this help`;

export const run = defineCommand({
  name: 'calibrate',
  help: HELP,
  options: {
    ...LABELLED_DATA_FLAGS,
    target: { type: 'string' },
    'per-intent': { type: 'string' },
    write: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  body: async ({ values }, io) => {
    const data = labelledDataFile(values);
    let target;
    try {
      target = parseTarget(values.target ?? 'balanced');
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const perIntent = values['per-intent'] ?? 'fit';
    if (perIntent !== 'fit' && perIntent !== 'share')
      throw new UsageError(`invalid --per-intent "${perIntent}": use fit or share`);
    return withLabelledScores(io, values, data, async (compiled, { items, scored }) => {
      const result = calibrate(compiled.set, items, scored, target, { perIntent });
      // An unmet fpr target is a failure: writing the least bad threshold would hide it.
      const edits = values.write && result.feasible ? await writeThresholds(compiled.set, result.after.plan) : null;
      const code = result.feasible ? 0 : 1;

      if (values.json) {
        const plan = (p: typeof result.after.plan) => ({ set: p.set, intents: Object.fromEntries(p.intents) });
        const report = {
          rail_set: compiled.set.name,
          target: result.target,
          per_intent: result.per_intent,
          share: result.share,
          feasible: result.feasible,
          n: items.length,
          before: { ...result.before.figures, thresholds: plan(result.before.plan) },
          after: { ...result.after.figures, thresholds: plan(result.after.plan) },
          intents: result.intents,
          written: edits,
        };
        writeLine(io.stdout, JSON.stringify(report, null, 2));
        return code;
      }
      const inScope = result.intents.reduce((n, i) => n + i.support, 0);
      writeLine(
        io.stdout,
        `rail set ${compiled.set.name}: ${items.length} items (${inScope} in scope, ${items.length - inScope} out of scope), ` +
          `target ${result.target}\n`,
      );
      for (const line of renderCalibration(result, MIN_INTENT_SUPPORT)) writeLine(io.stdout, line);
      writeLine(io.stdout);
      if (edits) for (const line of renderEdits(io, edits)) writeLine(io.stdout, line);
      else if (!result.feasible) writeLine(io.stdout, `target ${result.target} not met; nothing written`);
      else writeLine(io.stdout, 'run again with --write to save these thresholds in the rail files');
      return code;
    });
  },
});
