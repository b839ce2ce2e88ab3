/**
 * `railgate add-example`: turns a logged message into an example (or not_example) of an intent, in
 * the rail file that defines the intent, comments and layout kept. The reviewer's step from "this was
 * decided wrong" (`railgate logs`) to a rail that decides it right (`railgate test`, `railgate replay`).
 */
import path from 'node:path';
import { quotedForTerminal, writeLine } from '../io.js';
import { CommandFailure, defineCommand, relativePath, UsageError } from '../../authoring/cli.js';
import { withWorkbench } from '../../authoring/workbench.js';
import { addExample } from '../../authoring/yaml-examples.js';
import { DecisionReader } from '../../decisions/reader.js';
import type { LoggedDecision } from '../../decisions/types.js';

const HELP = `usage: railgate add-example REQUEST_ID --intent ID [--not] [--chunk] [--dry-run] [--db PATH] [--rails DIR] [--json]
       railgate add-example --text TEXT --intent ID [--not] [--dry-run] [--set NAME] [--rails DIR] [--json]

Adds a logged message to an intent's examples (with --not, to its not_examples: near-misses that must
not match it), in the rail file that defines the intent, keeping every comment and the file's layout.
The set is checked with the new example before the file is written; a proxy watching the rails picks
the change up. Then run \`railgate test\`, and \`railgate replay\` to see what else it changes.

  REQUEST_ID     the request's id (x-request-id, as \`railgate logs\` prints it), or #N for log row N
  --intent ID    the intent that should (or, with --not, should not) match the message (required)
  --not          add it to the intent's not_examples
  --chunk        add the part of a long message that decided it (the logged chunk), not the whole message
  --text TEXT    add this text instead of a logged message (--text=TEXT when it starts with "-")
  --dry-run      check and show where it would go, without writing
  --set NAME     rail set (default: the set that decided the request; with --text, the default set)
  --db PATH      decision log (default: the \`db\` setting, RAILGATE_DB or data/railgate.db)
  --rails DIR    rails folder (default: the \`rails\` setting, RAILGATE_RAILS or ./rails)
  --json         print { rail_set, intent, list, text, file, line, request_id, written } as JSON
  -h, --help     show this help`;

/** The logged decision named by a request id (the newest, if a client reused it) or by `#N`. */
function findLogged(db: string, ref: string): { row: LoggedDecision; sharedBy: number } {
  let reader: DecisionReader;
  try {
    reader = DecisionReader.openReadOnly(db);
  } catch (error) {
    throw new CommandFailure((error as Error).message);
  }
  try {
    const logId = /^#(\d+)$/.exec(ref)?.[1];
    if (logId !== undefined) {
      const row = reader.get(Number(logId));
      if (!row) throw new CommandFailure(`no logged decision #${logId} in ${db}`);
      return { row, sharedBy: 1 };
    }
    const rows = reader.query({ requestId: ref, limit: 2 });
    if (!rows[0]) throw new CommandFailure(`no logged decision with request id "${ref}" in ${db}`);
    return { row: rows[0], sharedBy: reader.count({ requestId: ref }) };
  } finally {
    reader.close();
  }
}

export const run = defineCommand({
  name: 'add-example',
  help: HELP,
  positionals: true,
  options: {
    intent: { type: 'string' },
    not: { type: 'boolean' },
    chunk: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    text: { type: 'string' },
    set: { type: 'string' },
    db: { type: 'string' },
    rails: { type: 'string' },
    json: { type: 'boolean' },
  },
  body: async ({ values, positionals }, io) => {
    const [ref, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (!values.intent) throw new UsageError('--intent is required');
    if ((ref === undefined) === (values.text === undefined))
      throw new UsageError('give either a REQUEST_ID (or #N) or --text');
    if (values.chunk && values.text !== undefined) throw new UsageError('--chunk needs a logged message');
    const intent = values.intent;

    return withWorkbench(io, values.rails, async (workbench) => {
      const notes: string[] = [];
      let text = values.text ?? '';
      let setName = values.set;
      let requestId: string | null = null;
      if (ref !== undefined) {
        const db = path.resolve(io.cwd, values.db ?? workbench.settings.db);
        const { row, sharedBy } = findLogged(db, ref);
        requestId = row.requestId;
        setName ??= row.decision.railSet;
        const chunk = row.decision.chunk;
        if (values.chunk) {
          if (chunk?.text === undefined)
            throw new CommandFailure(`decision #${row.id} was not made by a chunk of a long message`);
          text = chunk.text;
        } else {
          text = row.message;
          if (chunk?.text !== undefined)
            notes.push(
              `decision #${row.id} was made by chunk ${chunk.index + 1}/${chunk.count}; --chunk adds only that part`,
            );
        }
        // The log holds the earlier message that refused the request, not the request's last one: a
        // reviewer who thinks the refusal wrong must not teach a passthrough intent the refused text.
        if (row.decision.reason === 'earlier_message')
          notes.push(
            `decision #${row.id} refused the request for an earlier user message: this is that message, not the request's last one`,
          );
        if (sharedBy > 1) notes.push(`${sharedBy} decisions have request id "${ref}"; used the newest, #${row.id}`);
      }
      const dryRun = values['dry-run'] === true;
      const added = await addExample(workbench.pick(setName), intent, text, values.not ? 'not_examples' : 'examples', {
        dryRun,
      });

      if (values.json) {
        const { railSet, ...rest } = added;
        writeLine(
          io.stdout,
          JSON.stringify({ rail_set: railSet, ...rest, request_id: requestId, written: !dryRun, notes }, null, 2),
        );
        return 0;
      }
      writeLine(
        io.stdout,
        `${dryRun ? 'would add' : 'added'} to ${added.list} of intent ${added.intent} (rail set ${added.railSet}) at ${relativePath(io, added.file)}:${added.line}:`,
      );
      writeLine(io.stdout, `  ${quotedForTerminal(added.text)}`);
      for (const note of notes) writeLine(io.stdout, `note: ${note}`);
      if (dryRun) {
        writeLine(io.stdout, 'nothing written (--dry-run)');
        return 0;
      }
      const rails = relativePath(io, workbench.railsDir);
      const set = `--set ${added.railSet}`;
      writeLine(
        io.stdout,
        `next: railgate test --rails ${rails} ${set}; railgate replay --rails ${rails} ${set} --since 7d`,
      );
      return 0;
    });
  },
});
