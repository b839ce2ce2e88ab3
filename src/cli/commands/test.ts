/**
 * `railgate test`: runs every rail set's own `tests:` cases and exits 1 on any failure, so a rails
 * repository can gate changes in CI. Near misses (cases that pass by a hair) are listed too.
 */
import { writeLine } from '../io.js';
import { CommandFailure, defineCommand, numberOption, progress, relativePath } from '../../authoring/cli.js';
import { withWorkbench } from '../../authoring/workbench.js';
import { describeFailure, judgeCase, type CaseResult } from '../../authoring/rail-tests.js';
import { scoreTexts } from '../../authoring/scored.js';
import type { CompiledRailSet } from '../../matching/compile.js';

const HELP = `usage: railgate test [--rails DIR] [--set NAME] [--near-miss 0.05] [--json]

Runs the \`tests:\` cases of every rail set: each input must match its expected intent (or nothing, for
\`expect: no_match\`). Prints each failure as file:line:column with what was expected and what matched
instead, then near misses, then "N passed, M failed". Exits 1 when any case fails.

  --rails DIR        rails folder (default: the \`rails\` setting, RAILGATE_RAILS or ./rails)
  --set NAME         only this rail set
  --near-miss X      flag passing cases within X of the threshold or of the runner-up (default 0.05; 0 = off)
  --json             print { passed, failed, near_misses, cases } as JSON
  -h, --help         show this help`;

export const run = defineCommand({
  name: 'test',
  help: HELP,
  options: {
    rails: { type: 'string' },
    set: { type: 'string' },
    'near-miss': { type: 'string' },
    json: { type: 'boolean' },
  },
  body: async ({ values }, io) => {
    const nearMiss = numberOption('near-miss', values['near-miss'], 0.05, 0, 1);
    return withWorkbench(io, values.rails, async (workbench) => {
      const chosen = values.set ? [workbench.pick(values.set)] : workbench.sets;
      const sets = chosen.filter((s) => s.tests.length > 0);
      const withoutTests = chosen.filter((s) => s.tests.length === 0).map((s) => s.name);
      if (withoutTests.length)
        writeLine(io.stderr, `no tests in rail set${withoutTests.length > 1 ? 's' : ''}: ${withoutTests.join(', ')}`);
      // A rails repo's CI that runs nothing must not pass as if it had.
      if (sets.length === 0) throw new CommandFailure('no test cases to run (add `tests:` to a rail file)');
      // Compiled first, each with its own embedding bar, then tested under one bar.
      const compiledSets: CompiledRailSet[] = [];
      for (const set of sets) compiledSets.push(await workbench.compile(set));
      const total = sets.reduce((n, s) => n + s.tests.length, 0);
      const bar = progress(io, 'testing', total);
      const cases: CaseResult[] = [];
      try {
        for (const [index, set] of sets.entries()) {
          const compiled = compiledSets[index]!;
          const done = cases.length;
          const scored = await scoreTexts(
            compiled,
            set.tests.map((t) => t.input),
            (n) => bar.update(done + n),
          );
          const limit = workbench.settings.limits.messageChars;
          set.tests.forEach((test, i) => cases.push(judgeCase(set, test, scored[i]!, nearMiss, limit)));
        }
      } finally {
        bar.stop();
      }
      const failed = cases.filter((c) => !c.pass);
      const near = cases.filter((c) => c.near_miss !== null);
      const passed = cases.length - failed.length;

      if (values.json) {
        const report = { passed, failed: failed.length, near_misses: near.length, cases };
        writeLine(io.stdout, JSON.stringify(report, null, 2));
        return failed.length ? 1 : 0;
      }
      const where = (c: CaseResult): string => `${relativePath(io, c.file)}:${c.line}:${c.column}`;
      const setLabel = (c: CaseResult): string => (sets.length > 1 ? ` [${c.set}]` : '');
      for (const c of failed) {
        writeLine(io.stdout, `${where(c)}: FAIL${setLabel(c)} ${JSON.stringify(c.input)}`);
        writeLine(io.stdout, `  ${describeFailure(c)}`);
      }
      if (near.length) {
        if (failed.length) writeLine(io.stdout);
        writeLine(io.stdout, `near misses (within ${nearMiss}):`);
        for (const c of near)
          writeLine(io.stdout, `${where(c)}: near miss${setLabel(c)} ${JSON.stringify(c.input)}: ${c.near_miss}`);
      }
      if (failed.length || near.length) writeLine(io.stdout);
      writeLine(io.stdout, `${passed} passed, ${failed.length} failed`);
      return failed.length ? 1 : 0;
    });
  },
});
