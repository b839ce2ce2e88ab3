/**
 * Replaying logged decisions against the rails on disk: which messages would now be decided
 * differently. Rows are read oldest first in pages and decided in embedding batches, so a week of
 * traffic never sits in memory at once.
 */
import type { LoggedDecision } from '../decisions/types.js';
import type { CompiledRailSet } from '../matching/compile.js';
import type { Decision } from '../matching/decision.js';
import { decideScored, EMBED_BATCH, scoreTexts } from './scored.js';

export interface DecisionBrief {
  readonly action: string;
  readonly intent: string | null;
  readonly reason: string;
  readonly score: number;
  readonly threshold: number;
  readonly candidate: string | null;
  readonly rails_hash: string;
}

export interface ReplayChange {
  readonly id: number;
  readonly time: number;
  readonly request_id: string;
  readonly rail_set: string;
  readonly message: string;
  readonly before: DecisionBrief;
  readonly after: DecisionBrief;
}

export interface ReplaySummary {
  readonly replayed: number;
  readonly unchanged: number;
  readonly changed: number;
  /** Rows whose rail set is no longer on disk, per set name. */
  readonly skipped: Record<string, number>;
  readonly changes: ReplayChange[];
}

export function brief(d: Decision): DecisionBrief {
  return {
    action: d.action,
    intent: d.intent,
    reason: d.reason,
    score: d.score,
    threshold: d.threshold,
    candidate: d.candidate,
    rails_hash: d.railsHash,
  };
}

/** A decision changes when the action or the matched intent does; a moved score alone is no change. */
export function changed(before: Decision, after: Decision): boolean {
  return before.action !== after.action || before.intent !== after.intent;
}

export interface ReplayOptions {
  /** The compiled set by name, or undefined when no set of that name is on disk now. */
  readonly compiledFor: (name: string) => Promise<CompiledRailSet | undefined>;
  readonly onProgress?: (done: number) => void;
}

export async function replay(rows: Iterable<LoggedDecision>, options: ReplayOptions): Promise<ReplaySummary> {
  const summary = {
    replayed: 0,
    unchanged: 0,
    changed: 0,
    skipped: {} as Record<string, number>,
    changes: [] as ReplayChange[],
  };
  let batch: LoggedDecision[] = [];

  const flush = async (): Promise<void> => {
    const bySet = new Map<string, LoggedDecision[]>();
    for (const row of batch) bySet.set(row.decision.railSet, [...(bySet.get(row.decision.railSet) ?? []), row]);
    batch = [];
    for (const [name, group] of bySet) {
      const compiled = await options.compiledFor(name);
      if (!compiled) {
        summary.skipped[name] = (summary.skipped[name] ?? 0) + group.length;
        continue;
      }
      const scored = await scoreTexts(
        compiled,
        group.map((row) => row.message),
      );
      group.forEach((row, i) => {
        const after = decideScored(compiled.set, scored[i]!);
        summary.replayed++;
        if (!changed(row.decision, after)) {
          summary.unchanged++;
          return;
        }
        summary.changed++;
        summary.changes.push({
          id: row.id,
          time: row.time,
          request_id: row.requestId,
          rail_set: name,
          message: row.message,
          before: brief(row.decision),
          after: brief(after),
        });
      });
    }
    options.onProgress?.(summary.replayed + Object.values(summary.skipped).reduce((a, b) => a + b, 0));
  };

  // Rows are scored set by set within a batch; the changes are listed in the order the rows came.
  const position = new Map<number, number>();
  for (const row of rows) {
    position.set(row.id, position.size);
    batch.push(row);
    if (batch.length >= EMBED_BATCH) await flush();
  }
  if (batch.length) await flush();
  summary.changes.sort((a, b) => position.get(a.id)! - position.get(b.id)!);
  return summary;
}
