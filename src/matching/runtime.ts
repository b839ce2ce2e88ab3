/**
 * The Guard implementation: the loaded, compiled rail sets and the embedders they use. Rail sets are
 * swapped in whole (`replace`), so a request in flight keeps deciding on the rails it started with.
 */
import { RailgateError } from '../errors.js';
import type { Embedder } from '../embedding/embedder.js';
import type { EmbeddingConfig, RailSet } from '../rails/types.js';
import { chunksOf, compileRailSet, decideVector, type CompileOptions, type CompiledRailSet } from './compile.js';
import { foldForMatching } from './fold.js';
import type { Decision } from './decision.js';
import type { Guard, GuardResult, LoadedRailSetInfo } from './guard.js';

export interface GuardOptions {
  readonly sets: readonly RailSet[];
  /**
   * The embedder for a set's `embedding:` block, called once per distinct block; `setDir` is what a
   * relative model folder is resolved against.
   */
  readonly embedderFor: (config: EmbeddingConfig, setDir: string) => Promise<Embedder>;
  /** Defaults to the only set, or a set named `default`, else the first by name. */
  readonly defaultRailSet?: string | undefined;
  readonly compile?: CompileOptions;
  readonly now?: () => number;
}

/**
 * Which loaded model serves a set's `embedding:` block. A transformers model may be a folder relative
 * to the set, so the same text in two sets can name two models: its set folder is part of the key.
 */
export function embedderKey(config: EmbeddingConfig, setDir: string): string {
  const folder = config.provider === 'transformers' ? `|${setDir}` : '';
  return `${config.provider}|${config.model ?? ''}|${config.quantized ? 'q' : ''}${folder}`;
}

function pickDefault(sets: readonly RailSet[], wanted: string | undefined): string {
  if (wanted) {
    if (!sets.some((s) => s.name === wanted)) {
      throw new RailgateError(
        'RG_ERR_CONFIG_INVALID',
        `default rail set "${wanted}" (RAILGATE_DEFAULT_RAILS / defaultRailSet) is not loaded; ` +
          `the sets are: ${sets.map((s) => s.name).join(', ') || 'none'}`,
      );
    }
    return wanted;
  }
  return (sets.find((s) => s.name === 'default') ?? sets[0])?.name ?? '';
}

export class RailsRuntime implements Guard {
  #compiled = new Map<string, CompiledRailSet>();
  #default = '';
  readonly #embedders = new Map<string, Promise<Embedder>>();
  /** Decisions in flight per model: a model no set uses any more is closed once its last one ends. */
  readonly #deciding = new Map<Embedder, number>();
  /** Models no set uses any more, waiting for their decisions in flight to end. */
  readonly #retired = new Set<Embedder>();
  /** The replacement running, if any (see replace). */
  #replacing: Promise<void> = Promise.resolve();

  private constructor(private readonly options: GuardOptions) {}

  static async create(options: GuardOptions): Promise<RailsRuntime> {
    const runtime = new RailsRuntime(options);
    try {
      await runtime.replace(options.sets, options.defaultRailSet);
    } catch (error) {
      // The models loaded so far (worker threads among them) would otherwise outlive the failure.
      await runtime.close();
      throw error;
    }
    return runtime;
  }

  get defaultRailSet(): string {
    return this.#default;
  }

  /**
   * Compiles the given sets and swaps them in atomically; on failure the old sets keep serving. One
   * replacement at a time: another's clean-up must not close a model this one is still loading.
   */
  replace(sets: readonly RailSet[], defaultRailSet = this.options.defaultRailSet): Promise<void> {
    const turn = this.#replacing.then(() => this.#replace(sets, defaultRailSet));
    this.#replacing = turn.catch(() => undefined);
    return turn;
  }

  async #replace(sets: readonly RailSet[], defaultRailSet: string | undefined): Promise<void> {
    // Without a configured default, the one picked at start stays while its set is there: a new set
    // folder (say `aaa/`, sorted first) must not silently become every request's policy.
    const kept = this.#default && sets.some((s) => s.name === this.#default) ? this.#default : undefined;
    // Checked first: a missing default set must fail before minutes of embedding, not after.
    const nextDefault = pickDefault(sets, defaultRailSet ?? kept);
    const compiled = new Map<string, CompiledRailSet>();
    const fresh = new Set<string>();
    try {
      for (const set of sets) {
        // Same files, same bytes (embedding config included): what it compiled to still holds, so a
        // reload re-embeds, re-indexes and refits only the sets that changed. Its load time stays when
        // this version went live (`GET /v1/rails`), not when some other set's edit was reloaded.
        const current = this.#compiled.get(set.name);
        if (current?.set.hash === set.hash) {
          compiled.set(
            set.name,
            Object.freeze({ ...current, set: Object.freeze({ ...set, loadedAt: current.set.loadedAt }) }),
          );
          continue;
        }
        const embedder = await this.embedderFor(set.embedding, set.dir);
        compiled.set(set.name, await compileRailSet(set, embedder, this.options.compile));
        fresh.add(set.name);
      }
      // A new version's load time is when it goes live, now, not when its files were read (before
      // its new examples were embedded, minutes ago for a large edit).
      const liveAt = new Date();
      for (const name of fresh) {
        const entry = compiled.get(name)!;
        compiled.set(name, Object.freeze({ ...entry, set: Object.freeze({ ...entry.set, loadedAt: liveAt }) }));
      }
      this.#compiled = compiled;
      this.#default = nextDefault;
    } finally {
      // After a failure too: the models loaded for this attempt alone (new `embedding:` blocks) go with it.
      await this.#releaseUnused();
    }
  }

  /**
   * Closes the models that no loaded set uses any more (a reload that changed or removed a set's
   * `embedding:` block): a worker thread, a transformers session and its memory stay otherwise until
   * the process ends, one more for every such edit. A model still deciding a request that started on
   * the old rails is closed when that decision ends.
   */
  async #releaseUnused(): Promise<void> {
    const inUse = new Set([...this.#compiled.values()].map((c) => c.embedder));
    for (const [key, loading] of this.#embedders) {
      const embedder = await loading.catch(() => undefined);
      if (!embedder || inUse.has(embedder) || this.#embedders.get(key) !== loading) continue;
      this.#embedders.delete(key);
      if (this.#deciding.has(embedder)) this.#retired.add(embedder);
      else await embedder.close().catch(() => undefined);
    }
  }

  embedderFor(config: EmbeddingConfig, setDir: string): Promise<Embedder> {
    const key = embedderKey(config, setDir);
    let embedder = this.#embedders.get(key);
    if (!embedder) {
      embedder = this.options.embedderFor(config, setDir);
      // A failed load must not be cached forever: the next reload tries again.
      embedder.catch(() => this.#embedders.delete(key));
      this.#embedders.set(key, embedder);
    }
    return embedder;
  }

  railSet(name: string): RailSet | undefined {
    return this.#compiled.get(name)?.set;
  }

  compiled(name: string = this.#default): CompiledRailSet {
    const compiled = this.#compiled.get(name);
    if (!compiled) {
      const known = [...this.#compiled.keys()].join(', ') || 'none';
      throw new RailgateError('RG_ERR_UNKNOWN_RAIL_SET', `unknown rail set "${name}" (loaded: ${known})`, {
        param: 'x-railgate-rails',
      });
    }
    return compiled;
  }

  list(): LoadedRailSetInfo[] {
    return [...this.#compiled.values()].map(({ set, embedder, index }) => ({
      name: set.name,
      hash: set.hash,
      loadedAt: set.loadedAt,
      intents: set.intents.length,
      examples: set.intents.reduce((n, i) => n + i.examples.length, 0),
      embeddingModel: embedder.modelId,
      index: {
        kind: index.kind,
        vectors: index.size,
        fromDisk: index.fromDisk,
        ...(index.hnswCheck ? { hnswCheck: index.hnswCheck } : {}),
      },
    }));
  }

  /**
   * A message longer than `match.chunk_words` words is split into chunks (sentence windows and single
   * sentences, chunk.ts), embedded in one call and decided chunk by chunk (see `pickChunkDecision`);
   * a short one is decided whole. `embedMs` covers all chunks. A passthrough sends the whole
   * conversation upstream, so the `earlier` user messages are decided too (in the same model calls,
   * by the micro-batcher; mostly cache hits, as each was once the last message), and one that
   * matches a `refuse` intent refuses it: the most recent such message decides.
   */
  async decide(
    text: string,
    railSet?: string,
    earlier: readonly string[] = [],
    signal?: AbortSignal,
  ): Promise<GuardResult> {
    const compiled = this.compiled(railSet ?? this.#default);
    const { embedder } = compiled;
    this.#deciding.set(embedder, (this.#deciding.get(embedder) ?? 0) + 1);
    try {
      return await this.#decide(compiled, text, earlier, signal);
    } finally {
      const left = this.#deciding.get(embedder)! - 1;
      if (left > 0) this.#deciding.set(embedder, left);
      else {
        this.#deciding.delete(embedder);
        if (this.#retired.delete(embedder)) void embedder.close().catch(() => undefined);
      }
    }
  }

  async #decide(
    compiled: CompiledRailSet,
    text: string,
    earlier: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<GuardResult> {
    const now = this.#now;
    const t0 = now();
    const last = await this.#decideText(compiled, foldForMatching(text), compiled.maxChunks, signal);
    let embedMs = last.embedMs;
    const result = (decision: Decision, vetoedBy?: number): GuardResult => ({
      decision,
      timings: { embedMs, searchMs: now() - t0 - embedMs },
      set: compiled.set,
      ...(vetoedBy !== undefined && { earlierIndex: vetoedBy }),
    });
    const checksEarlier = compiled.set.match.checkEarlierMessages ?? true;
    if (last.decision.action !== 'passthrough' || !checksEarlier || earlier.length === 0) return result(last.decision);
    // One chunk budget for all earlier messages together: a client writes its history, and 16 long
    // ones must not cost the model 16 times what the longest last message may.
    const folded = earlier.map(foldForMatching);
    const caps = chunkShares(
      folded.map((t) => chunksOf(compiled, t, Infinity).length),
      compiled.maxChunks,
    );
    const before = await Promise.all(
      folded.map((t, i) => (caps[i]! > 0 ? this.#decideText(compiled, t, caps[i]!, signal) : undefined)),
    );
    embedMs += Math.max(0, ...before.map((d) => d?.embedMs ?? 0));
    const veto = before.findLastIndex((d) => d?.decision.action === 'refuse' && d.decision.intent !== null);
    if (veto < 0) return result(last.decision);
    return result({ ...before[veto]!.decision, reason: 'earlier_message' }, veto);
  }

  async #decideText(
    compiled: CompiledRailSet,
    /** The text as matching reads it (foldForMatching). */
    folded: string,
    maxChunks: number,
    signal: AbortSignal | undefined,
  ): Promise<{ decision: Decision; embedMs: number }> {
    const now = this.#now;
    const chunks = chunksOf(compiled, folded, maxChunks);
    const t0 = now();
    const vectors = await compiled.embedder.embed(chunks, signal);
    const embedMs = now() - t0;
    const decision =
      chunks.length === 1
        ? decideVector(compiled, vectors[0]!, null, folded)
        : pickChunkDecision(
            chunks.map((chunk, index) =>
              decideVector(compiled, vectors[index]!, { index, count: chunks.length, text: chunk }, chunk),
            ),
          );
    return { decision, embedMs };
  }

  get #now(): () => number {
    return this.options.now ?? performance.now.bind(performance);
  }

  async close(): Promise<void> {
    const embedders = await Promise.allSettled(this.#embedders.values());
    for (const e of embedders) if (e.status === 'fulfilled') await e.value.close();
    for (const retired of this.#retired) await retired.close().catch(() => undefined);
    this.#retired.clear();
  }
}

/**
 * How many chunks each of several texts may be split into, out of one budget: newest (last) first,
 * each what it needs while the older ones keep one each; what a short text leaves goes to the others.
 * Texts past the budget get none (0: not decided).
 */
export function chunkShares(needs: readonly number[], budget: number): number[] {
  const caps = needs.map(() => 0);
  let remaining = budget;
  for (let i = needs.length - 1; i >= 0 && remaining > 0; i--) {
    const olderWithin = Math.min(i, remaining - 1);
    caps[i] = Math.max(1, Math.min(needs[i]!, remaining - olderWithin));
    remaining -= caps[i]!;
  }
  return caps;
}

/**
 * One decision for a chunked message. A refuse intent matched in ANY chunk wins (the highest-scoring
 * such chunk), so a harmful request buried in a long harmless text is still refused. Otherwise the
 * best-scoring matched chunk decides, and when no chunk matched, the best-scoring chunk's no-match.
 */
export function pickChunkDecision(decisions: readonly Decision[]): Decision {
  const best = (list: readonly Decision[]): Decision | undefined =>
    list.reduce<Decision | undefined>((top, d) => (!top || d.score > top.score ? d : top), undefined);
  const matched = decisions.filter((d) => d.intent !== null);
  // Among no-matches, a chunk the model could read says more than one it could not (score 0 by default).
  const read = decisions.filter((d) => d.reason !== 'unreadable');
  const decision = best(matched.filter((d) => d.action === 'refuse')) ?? best(matched) ?? best(read) ?? best(decisions);
  if (!decision) throw new Error('pickChunkDecision needs at least one decision');
  return decision;
}

export function createGuard(options: GuardOptions): Promise<RailsRuntime> {
  return RailsRuntime.create(options);
}
