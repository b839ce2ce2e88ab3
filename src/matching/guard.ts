/**
 * The one decision function behind every door: the proxy, `/v1/guard`, and the CLI's explain, test,
 * eval, calibrate and replay all call `Guard.decide`, so what is measured is what serves traffic.
 */
import type { RecallVerdict } from './index-recall.js';
import type { RailSet } from '../rails/types.js';
import type { Decision, DecisionTimings } from './decision.js';

export interface GuardResult {
  readonly decision: Decision;
  readonly timings: DecisionTimings;
  /**
   * The rail set as loaded when it decided. A hot reload may swap the set while a message is being
   * embedded; what follows (prompt, canned answer, upstream) must come from the version that decided.
   */
  readonly set: RailSet;
  /** When an earlier message refused the passthrough: its index in the `earlier` texts decided. */
  readonly earlierIndex?: number;
}

export interface LoadedRailSetInfo {
  readonly name: string;
  readonly hash: string;
  readonly loadedAt: Date;
  readonly intents: number;
  readonly examples: number;
  readonly embeddingModel: string;
  /**
   * The example index: exact scan or HNSW graph, whether the graph was read from disk, and the
   * graph's recall check where a graph was built (on an exact index: why the graph is not used).
   */
  readonly index: {
    readonly kind: 'exact' | 'hnsw';
    readonly vectors: number;
    readonly fromDisk: boolean;
    readonly hnswCheck?: RecallVerdict;
  };
}

export interface Guard {
  /** The set used when a request names none. */
  readonly defaultRailSet: string;
  /** The rail set by name, or undefined. */
  railSet(name: string): RailSet | undefined;
  /** What is loaded now (for `GET /v1/rails` and `/v1/models`). */
  list(): readonly LoadedRailSetInfo[];
  /**
   * Decides one message against a rail set (default set when `railSet` is omitted). `earlier`: the
   * conversation's earlier user messages, oldest first; a passthrough is refused when one of them
   * matches a `refuse` intent (unless the set's `match.check_earlier_messages` is false).
   * Throws RailgateError RG_ERR_UNKNOWN_RAIL_SET for an unknown set name. `signal`: the client left;
   * texts still waiting for the model are dropped and the call fails with RG_ERR_CLIENT_CLOSED (one
   * whose texts are all with the model already finishes).
   */
  decide(text: string, railSet?: string, earlier?: readonly string[], signal?: AbortSignal): Promise<GuardResult>;
}
