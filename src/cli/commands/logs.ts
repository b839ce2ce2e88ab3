/**
 * `railgate logs`: what the proxy decided, newest first, for review — which requests were refused and
 * why (intent, score against threshold, runner-up and margin), with the message to turn into an example.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSince } from '../../decisions/duration.js';
import { DEFAULT_QUERY_LIMIT, DecisionReader } from '../../decisions/reader.js';
import { DECISION_ENDPOINTS, type DecisionQuery } from '../../decisions/types.js';
import { DECISION_REASONS } from '../../matching/decision.js';
import { INTENT_ACTIONS } from '../../rails/types.js';
import { isRailgateError } from '../../errors.js';
import { closest } from '../../rails/reader.js';
import { usageErrorAsJson, writeLine, type CliCommand, type CliIO } from '../io.js';
import { printRows, printSummary } from './logs-view.js';
import { snakeCaseKeys } from '../snake-case.js';
import { loadSettings } from '../../settings.js';

const HELP = `usage: railgate logs [options]

Prints logged decisions, newest first.

  --db PATH           decision log (default: $RAILGATE_DB, the config file's db, or data/railgate.db)
  --decision ACTION   only ${INTENT_ACTIONS.join(', ')}
  --rails SET         only this rail set (also --set SET)
  --intent ID         only decisions that matched this intent
  --reason REASON     only ${DECISION_REASONS.join(', ')}
  --request-id ID     the decision for one request (its x-request-id), or #N for log row N
  --endpoint DOOR     only chat (the proxy) or guard (the dry-run /v1/guard)
  --since WHEN        30s, 15m, 1h, 7d, 2w ago, or an ISO date (2024-05-01, 2024-05-01T12:00:00Z;
                      a time without an offset is UTC, as printed)
  --until WHEN        only decisions before then (same forms as --since)
  --text TEXT         only messages containing TEXT (ASCII letters in any case)
  --limit N           at most N decisions (default ${DEFAULT_QUERY_LIMIT})
  --before #N         the next page: decisions logged before row N (as the last page's end says)
  --json              one JSON object per line: the full logged record (snake_case keys)
  --summary           counts per decision, and per decision, rail set and intent, instead of the rows
  -v, --verbose       the whole message as logged, top neighbours, latency and upstream status
  -h, --help          this help`;

export const run: CliCommand = async (args, io) => {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(args);
  } catch (error) {
    // Anything wrong with the arguments (unknown flag, bad --since or --limit) is a usage error.
    writeLine(io.stderr, `railgate logs: ${(error as Error).message}`);
    writeLine(io.stderr, 'run `railgate logs --help` for the options');
    usageErrorAsJson(io, args, (error as Error).message, { options: LOGS_OPTIONS, oneLine: true });
    return 2;
  }
  if (options === 'help') {
    writeLine(io.stdout, HELP);
    return 0;
  }
  const { json } = options;
  // A script reading --json gets JSON on stdout whatever happens, as from the other commands.
  const failed = (error: { message: string; code?: string }): number => {
    writeLine(io.stderr, `railgate logs: ${error.message}`);
    if (json) writeLine(io.stdout, JSON.stringify({ error }));
    return 1;
  };
  let db: string;
  try {
    db = logPath(options.db, io);
  } catch (error) {
    // A bad config file is no usage error: the options were right, as `check` and `explain` say.
    if (!isRailgateError(error)) throw error;
    return failed({ message: error.message, code: error.code });
  }
  let reader: DecisionReader;
  try {
    reader = DecisionReader.openReadOnly(db);
  } catch (error) {
    return failed({ message: (error as Error).message });
  }
  try {
    let query = options.query;
    if (options.before !== undefined) {
      const row = reader.get(options.before);
      if (row === undefined) return failed({ message: `--before: no row #${options.before} in ${db}` });
      query = { ...query, before: { time: row.time, id: row.id } };
    }
    let found: number;
    if (options.summary) {
      const summary = reader.summary(query);
      printSummary(io, summary, json);
      found = summary.total;
    } else {
      const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
      // One row past the page says whether there are more, without counting them all.
      const page = reader.query({ ...query, limit: Math.min(limit + 1, Number.MAX_SAFE_INTEGER) });
      const rows = page.slice(0, limit);
      if (json) for (const row of rows) writeLine(io.stdout, JSON.stringify(snakeCaseKeys(row)));
      else printRows(io, rows, options.verbose, page.length > limit);
      found = rows.length;
    }
    // On stderr, so it never mixes into --json output.
    if (found === 0) {
      hintRailSets(io, reader, options.query.railSet);
      hintIntent(io, reader, options.query.intent, options.query.railSet);
    }
    return 0;
  } catch (error) {
    return failed({ message: `cannot read ${db}: ${(error as Error).message}` });
  } finally {
    reader.close();
  }
};

/** `--request-id`: a client's request id, or `#N` for log row N (as printed, and as add-example takes it). */
function requestRef(ref: string | undefined): Pick<DecisionQuery, 'requestId' | 'id'> {
  if (ref === undefined) return {};
  const row = /^#(\d+)$/.exec(ref)?.[1];
  return row === undefined ? { requestId: ref } : { id: Number(row) };
}

const LOGS_OPTIONS = {
  db: { type: 'string' },
  decision: { type: 'string' },
  rails: { type: 'string' },
  set: { type: 'string' },
  intent: { type: 'string' },
  reason: { type: 'string' },
  'request-id': { type: 'string' },
  endpoint: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  text: { type: 'string' },
  before: { type: 'string' },
  json: { type: 'boolean', default: false },
  summary: { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseOptions(args: readonly string[]) {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: LOGS_OPTIONS,
  });
  if (values.help) return 'help' as const;
  const decision = oneOf('decision', values.decision, INTENT_ACTIONS);
  const reason = oneOf('reason', values.reason, DECISION_REASONS);
  const endpoint = oneOf('endpoint', values.endpoint, DECISION_ENDPOINTS);
  let limit: number | undefined;
  if (values.limit !== undefined) {
    limit = Number(values.limit);
    // Past 2^53 the number is not the one typed, and SQLite's LIMIT takes no more than 2^63 - 1.
    if (!/^\d+$/.test(values.limit) || limit < 1 || limit > Number.MAX_SAFE_INTEGER)
      throw new Error(`--limit must be a positive integer (at most ${Number.MAX_SAFE_INTEGER}), got "${values.limit}"`);
  }
  // The replay and add-example commands name a rail set --set (their --rails is a folder): take both.
  if (values.rails !== undefined && values.set !== undefined && values.rails !== values.set)
    throw new Error(`--rails and --set name the same filter (a rail set); got "${values.rails}" and "${values.set}"`);
  const railSet = values.rails ?? values.set;
  let before: number | undefined;
  if (values.before !== undefined) {
    const row = /^#?(\d+)$/.exec(values.before)?.[1];
    if (row === undefined) throw new Error(`--before takes a log row as #N, got "${values.before}"`);
    before = Number(row);
  }
  if (values.text === '') throw new Error('--text must not be empty');
  const now = Date.now();
  const since = values.since === undefined ? undefined : parseSince(values.since, now);
  const until = values.until === undefined ? undefined : parseSince(values.until, now, '--until');
  if (since !== undefined && until !== undefined && until <= since)
    throw new Error(
      `--until (${new Date(until).toISOString()}) must be after --since (${new Date(since).toISOString()})`,
    );
  const query: DecisionQuery = {
    ...(decision !== undefined && { decision }),
    ...(railSet !== undefined && { railSet }),
    ...(values.intent !== undefined && { intent: values.intent }),
    ...(reason !== undefined && { reason }),
    ...requestRef(values['request-id']),
    ...(endpoint !== undefined && { endpoint }),
    ...(since !== undefined && { since }),
    ...(until !== undefined && { until }),
    ...(values.text !== undefined && { text: values.text }),
    ...(limit !== undefined && { limit }),
  };
  return {
    db: values.db,
    query,
    before,
    json: values.json,
    summary: values.summary,
    verbose: values.verbose,
  };
}

/** The log's file. Same resolution as `serve`: flag, then RAILGATE_DB / railgate.config.json, then the default. */
function logPath(flag: string | undefined, io: CliIO): string {
  const db = flag ?? loadSettings(io.env, io.cwd).db;
  return db === ':memory:' ? db : resolve(io.cwd, db);
}

/** A flag's value when it is one of `allowed` (undefined when not given); anything else is a usage error. */
function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || (allowed as readonly string[]).includes(value)) return value as T | undefined;
  throw new Error(`--${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
}

/** A --rails name the log has never seen is most often a typo: say which sets it does hold. */
function hintRailSets(io: CliIO, reader: DecisionReader, railSet: string | undefined): void {
  if (railSet === undefined) return;
  const known = reader.railSets();
  if (known.includes(railSet)) return;
  writeLine(
    io.stderr,
    `railgate logs: no decision of rail set "${railSet}" is logged; the log holds ${known.length ? known.join(', ') : 'none yet'}`,
  );
}

/** `--intent` naming no logged intent: most often a typo (`card_lots`), or an intent never matched yet. */
function hintIntent(io: CliIO, reader: DecisionReader, intent: string | undefined, railSet: string | undefined): void {
  if (intent === undefined) return;
  const known = reader.intents(railSet);
  if (known.includes(intent)) return;
  const meant = closest(intent, known);
  writeLine(
    io.stderr,
    `railgate logs: no logged decision matched intent "${intent}"${meant ? `; did you mean ${meant}?` : ''}`,
  );
}
