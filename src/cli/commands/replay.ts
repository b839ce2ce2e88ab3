/**
 * `railgate replay`: re-decides logged messages with the rails on disk and lists every decision that
 * would change, so a rails edit can be judged on real traffic before it ships.
 */
import path from 'node:path';
import { quotedLine, writeLine } from '../io.js';
import {
  CommandFailure,
  defineCommand,
  numberOption,
  progress,
  relativePath,
  similarity,
  UsageError,
} from '../../authoring/cli.js';
import { withWorkbench } from '../../authoring/workbench.js';
import { replay, type DecisionBrief } from '../../authoring/replay.js';
import { parseSince } from '../../decisions/duration.js';
import { DecisionReader } from '../../decisions/reader.js';
import type { CompiledRailSet } from '../../matching/compile.js';

const HELP = `usage: railgate replay [--since 7d] [--db PATH] [--rails DIR] [--set NAME] [--limit N] [--json]

Re-decides the logged messages with the rails on disk now and lists every decision that would change
(before -> after: action, intent, score), then how many changed and how many did not. A changed score
alone is no change. Rows of a rail set that is no longer on disk are counted as skipped.

  --since WHEN   30s, 15m, 1h, 7d, 2w ago, or an ISO date (a time without an offset is UTC; default 7d)
  --db PATH      decision log (default: the \`db\` setting, RAILGATE_DB or data/railgate.db)
  --rails DIR    rails folder (default: the \`rails\` setting, RAILGATE_RAILS or ./rails)
  --set NAME     only decisions of this rail set
  --limit N      replay at most N decisions (the oldest first)
  --json         print { replayed, unchanged, changed, skipped, changes } as JSON
  -h, --help     show this help`;

function describe(d: DecisionBrief): string {
  const what = d.intent
    ? `${d.action} ${d.intent}`
    : `${d.action} (no match${d.candidate ? `, best ${d.candidate}` : ''})`;
  return `${what} ${similarity(d.score)}`;
}

const MESSAGE_WIDTH = 80;

export const run = defineCommand({
  name: 'replay',
  help: HELP,
  options: {
    since: { type: 'string' },
    db: { type: 'string' },
    rails: { type: 'string' },
    set: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  body: async ({ values }, io) => {
    let since: number;
    try {
      since = parseSince(values.since ?? '7d', Date.now());
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    // At most 2^53 - 1: past it the number is not the one typed.
    const limit =
      values.limit === undefined ? undefined : numberOption('limit', values.limit, 0, 1, Number.MAX_SAFE_INTEGER);
    if (limit !== undefined && !Number.isInteger(limit))
      throw new UsageError(`--limit must be a whole number, got "${values.limit}"`);

    return withWorkbench(io, values.rails, async (workbench) => {
      // Only a set on disk can be re-decided: another name is a typo, not "0 replayed". One set named
      // is replayed while another has issues, as the other commands work on one named set.
      if (values.set !== undefined && !workbench.valid.some((s) => s.name === values.set)) {
        const known = workbench.sets.map((s) => s.name).join(', ') || 'none';
        throw new CommandFailure(
          `--set: no rail set "${values.set}" in ${relativePath(io, workbench.railsDir)} (sets: ${known})`,
        );
      }
      const sets = values.set === undefined ? workbench.sets : [workbench.pick(values.set)];
      const dbPath = path.resolve(io.cwd, values.db ?? workbench.settings.db);
      let reader: DecisionReader;
      try {
        reader = DecisionReader.openReadOnly(dbPath);
      } catch (error) {
        throw new CommandFailure((error as Error).message);
      }
      try {
        const query = { since, ...(values.set && { railSet: values.set }), ...(limit !== undefined && { limit }) };
        const bar = progress(io, 'replaying', reader.count(query));
        const compiled = new Map<string, Promise<CompiledRailSet | undefined>>();
        const summary = await replay(reader.scan(query), {
          compiledFor: (name) => {
            let entry = compiled.get(name);
            if (!entry) {
              const set = sets.find((s) => s.name === name);
              entry = set ? workbench.compile(set, { progress: false }) : Promise.resolve(undefined);
              compiled.set(name, entry);
            }
            return entry;
          },
          onProgress: (done) => bar.update(done),
        }).finally(() => bar.stop());

        if (values.json) {
          writeLine(io.stdout, JSON.stringify(summary, null, 2));
          return 0;
        }
        for (const c of summary.changes) {
          writeLine(
            io.stdout,
            `#${c.id} ${new Date(c.time).toISOString()} [${c.rail_set}] ${quotedLine(c.message, MESSAGE_WIDTH)}`,
          );
          writeLine(io.stdout, `  ${describe(c.before)} -> ${describe(c.after)}`);
        }
        if (summary.changes.length) writeLine(io.stdout);
        const skipped = Object.entries(summary.skipped);
        const skippedText = skipped.length
          ? `; ${skipped.reduce((n, [, k]) => n + k, 0)} skipped (rail set not in ${relativePath(io, workbench.railsDir)}: ${skipped.map(([name]) => name).join(', ')})`
          : '';
        writeLine(
          io.stdout,
          `${summary.replayed} replayed: ${summary.changed} changed, ${summary.unchanged} unchanged${skippedText}`,
        );
        return 0;
      } finally {
        reader.close();
      }
    });
  },
});
