/** How `railgate logs` prints logged decisions for people: one row each, details, or a summary. */
import type { DecisionSummary } from '../../decisions/reader.js';
import type { LoggedDecision } from '../../decisions/types.js';
import { quotedForTerminal, quotedLine, writeLine, type CliIO } from '../io.js';
import { snakeCaseKeys } from '../snake-case.js';

/** Longest message shown on the summary line; --verbose and --json give it whole. */
const MESSAGE_WIDTH = 100;
const TOP_NEIGHBOURS = 5;

export function printRows(io: CliIO, rows: readonly LoggedDecision[], verbose: boolean, more: boolean): void {
  if (rows.length === 0) {
    writeLine(io.stdout, 'no logged decisions match');
    return;
  }
  const railWidth = Math.max(...rows.map((row) => row.decision.railSet.length));
  const intentWidth = Math.min(60, Math.max(...rows.map((row) => intentText(row).length)));
  for (const row of rows) {
    const d = row.decision;
    const fields = [
      new Date(row.time).toISOString(),
      d.action.padEnd(11),
      d.railSet.padEnd(railWidth),
      intentText(row).padEnd(intentWidth),
      `${score(d.score)} ${d.score >= d.threshold ? '>=' : '< '} ${score(d.threshold)}`,
      d.runnerUp
        ? `runner-up ${d.runnerUp.intent} ${score(d.runnerUp.score)} margin ${score(d.margin)}`
        : 'no runner-up',
      // The row id too: `railgate add-example #N` takes it, and request ids may repeat.
      `request ${row.requestId} #${row.id}`,
    ];
    if (row.errorCode) fields.push(`error ${row.errorCode}`);
    // An upstream that failed the request (a 500, a 429) must not read as a passthrough that worked.
    else if (row.upstreamStatus !== null && row.upstreamStatus >= 400) fields.push(`upstream ${row.upstreamStatus}`);
    // A dry run asked through /v1/guard: no client was answered by it.
    if (row.endpoint === 'guard') fields.push('via /v1/guard');
    writeLine(io.stdout, fields.join('  '));
    // Verbose: the message as logged, its line breaks escaped, not folded (add-example takes it so).
    writeLine(io.stdout, `    ${verbose ? quotedForTerminal(row.message) : quotedLine(row.message, MESSAGE_WIDTH)}`);
    if (verbose) printDetails(io, row);
    // The head of a long message rarely shows what decided it: the chunk that did.
    else if (d.chunk?.text !== undefined)
      writeLine(
        io.stdout,
        `    decided by chunk ${d.chunk.index + 1}/${d.chunk.count}: ${quotedLine(d.chunk.text, MESSAGE_WIDTH)}`,
      );
  }
  // Older rows left out: say so, or a reviewer reads "100 decisions" as all of them, and say how to
  // page on (by row: a time alone skips the rows sharing the last one's millisecond).
  const next = more ? `; older ones: add --before '#${rows.at(-1)!.id}'` : '';
  writeLine(io.stdout, `${rows.length} decision${rows.length === 1 ? '' : 's'}${next}`);
}

function printDetails(io: CliIO, row: LoggedDecision): void {
  const d = row.decision;
  for (const n of d.neighbours.slice(0, TOP_NEIGHBOURS)) {
    writeLine(
      io.stdout,
      `      ${score(n.score)}  ${n.intent}${n.negative ? ' (not example)' : ''}  ${quotedLine(n.example, 80)}`,
    );
  }
  const l = row.latency;
  const details = [
    `endpoint ${row.endpoint}${row.stream ? ' (stream)' : ''}`,
    `upstream ${row.upstreamStatus ?? '-'}`,
    `embed ${ms(l.embedMs)} search ${ms(l.searchMs)} upstream ${ms(l.upstreamMs)} total ${ms(l.totalMs)}`,
    `rails ${d.railsHash}`,
    `log #${row.id}`,
  ];
  if (d.chunk) details.push(`chunk ${d.chunk.index + 1}/${d.chunk.count}`);
  writeLine(io.stdout, `      ${details.join('  ')}`);
  if (d.chunk?.text !== undefined) writeLine(io.stdout, `      decided by chunk: ${quotedForTerminal(d.chunk.text)}`);
}

export function printSummary(io: CliIO, summary: DecisionSummary, json: boolean): void {
  if (json) {
    writeLine(io.stdout, JSON.stringify(snakeCaseKeys(summary)));
    return;
  }
  if (summary.total === 0 || summary.first === null || summary.last === null) {
    writeLine(io.stdout, 'no logged decisions match');
    return;
  }
  const span = `${new Date(summary.first).toISOString()} … ${new Date(summary.last).toISOString()}`;
  writeLine(io.stdout, `${summary.total} decisions, ${span}`);
  for (const [decision, count] of Object.entries(summary.byDecision)) {
    writeLine(io.stdout, `  ${decision.padEnd(11)}  ${String(count).padStart(8)}  ${percent(count, summary.total)}`);
  }
  writeLine(io.stdout, 'by rail set and intent:');
  const setWidth = Math.max(...summary.byIntent.map((group) => group.railSet.length));
  for (const group of summary.byIntent) {
    const intent = group.intent ?? '(no match)';
    writeLine(
      io.stdout,
      `  ${group.decision.padEnd(11)}  ${group.railSet.padEnd(setWidth)}  ${intent.padEnd(24)}  ${String(group.count).padStart(8)}`,
    );
  }
}

function intentText(row: LoggedDecision): string {
  const d = row.decision;
  if (d.intent !== null) return d.reason === 'earlier_message' ? `${d.intent} (an earlier message)` : d.intent;
  return d.candidate === null ? `no match (${d.reason})` : `no match (best ${d.candidate}, ${d.reason})`;
}

function score(value: number | null): string {
  return value === null || Number.isNaN(value) ? 'n/a' : value.toFixed(3);
}

function ms(value: number | null): string {
  return value === null || Number.isNaN(value) ? '-' : `${Math.round(value * 10) / 10}ms`;
}

function percent(part: number, total: number): string {
  return `${((100 * part) / total).toFixed(1).padStart(5)}%`;
}
