/**
 * Relaying an upstream event stream to the client as it arrives. Whole events are passed on as soon as
 * they are complete (a half-written event is held back, so a failure can never splice our error into
 * the middle of one); backpressure comes from the stream machinery: nothing is read from the upstream
 * faster than the client takes it. A failure mid-stream ends the client's stream with an explicit
 * error event and no `[DONE]`, so no client mistakes a cut-off answer for a complete one; so does an
 * upstream stream that ends cleanly but before its answer did (no finish_reason, no `[DONE]`, or no
 * usage chunk where the client asked for one).
 */
import { Readable } from 'node:stream';
import { RailgateError, toOpenAIError } from '../errors.js';
import { sseEvent } from './synthesize.js';

const BOUNDARIES = [Buffer.from('\n\n'), Buffer.from('\r\n\r\n'), Buffer.from('\r\r')];

/** The offset just past the last complete event in `buffer` (looking at `from` onwards), or 0. */
export function lastEventEnd(buffer: Buffer, from = 0): number {
  const tail = buffer.subarray(from);
  let end = 0;
  for (const boundary of BOUNDARIES) {
    const at = tail.lastIndexOf(boundary);
    if (at >= 0) end = Math.max(end, from + at + boundary.length);
  }
  return end;
}

/** The longest boundary, less one: how far back into held bytes a boundary split by a chunk can start. */
const BOUNDARY_OVERLAP = 3;

export interface RelayOptions {
  /** Maps a failure of the source to the error the client is told about; returns undefined to end silently (client gone). */
  readonly onFailure: (error: unknown) => RailgateError | undefined;
  /** The most bytes one event may take; an upstream that sends more without a boundary is failed. */
  readonly maxEventBytes: number;
  /**
   * The error for a stream that ended without anything saying the answer was over: a `[DONE]`, a
   * `finish_reason` for each choice (and the usage chunk, if `expectUsage`), or an error event of the
   * upstream's own.
   */
  readonly onIncomplete: () => RailgateError;
  /** The client asked for a usage chunk (`stream_options.include_usage`): it comes after the finish_reasons. */
  readonly expectUsage?: boolean;
  /** Masks secrets in the events passed on (an upstream's error event quoting the operator's key). */
  readonly redact?: (events: string) => string;
  /** The upstream ended its stream with an error event of its own (passed on as it came). */
  readonly onUpstreamError?: () => void;
  /**
   * Gives the source up at once: destroys the upstream body, which cancels its request (ending its
   * iterator would not do: a source waiting for data only notices that once data comes).
   */
  readonly cut: () => void;
}

/** An event's data: its `data:` lines joined, as the event-stream standard reads them; undefined without any. */
function eventData(lines: readonly string[]): string | undefined {
  const data = lines.flatMap((line) => (line.startsWith('data:') ? [line.slice(5).replace(/^ /, '')] : []));
  return data.length > 0 ? data.join('\n') : undefined;
}

/**
 * Whether an upstream's stream said its answer was over: a `[DONE]`, an error event of its own, or a
 * finish_reason for every choice it streamed (n > 1 streams several). Read from whole events with
 * their data parsed as JSON, so no generated text can fake an ending, whatever characters it holds.
 */
class AnswerEnd {
  #closed = false;
  #errored = false;
  #usage = false;
  readonly #choices = new Set<number>();
  readonly #finished = new Set<number>();

  constructor(private readonly expectUsage: boolean) {}

  read(events: string): void {
    for (const event of events.split(/\r\n\r\n|\n\n|\r\r/)) {
      const lines = event.split(/\r\n|\r|\n/);
      if (lines.some((line) => /^event: ?error$/.test(line))) this.#closed = this.#errored = true;
      const data = eventData(lines);
      if (data !== undefined) this.#readData(data);
    }
  }

  #readData(data: string): void {
    if (data.trim() === '[DONE]') {
      this.#closed = true;
      return;
    }
    let parsed: { error?: unknown; choices?: unknown; usage?: unknown } | null;
    try {
      parsed = JSON.parse(data) as typeof parsed;
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    // `"error": null` beside a chunk's content is no error; `"usage": null` is on every chunk but the last.
    if (parsed.error !== undefined && parsed.error !== null) this.#closed = this.#errored = true;
    if (typeof parsed.usage === 'object' && parsed.usage !== null) this.#usage = true;
    if (!Array.isArray(parsed.choices)) return;
    for (const choice of parsed.choices as { index?: unknown; finish_reason?: unknown }[]) {
      const index = typeof choice?.index === 'number' ? choice.index : 0;
      this.#choices.add(index);
      if (typeof choice?.finish_reason === 'string' && choice.finish_reason !== '') this.#finished.add(index);
    }
  }

  /** A `[DONE]` or an error event came: nothing more belongs to this answer. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The upstream's own error event came. */
  get errored(): boolean {
    return this.#errored;
  }

  get over(): boolean {
    if (this.#closed) return true;
    const finished = this.#choices.size > 0 && [...this.#choices].every((i) => this.#finished.has(i));
    return finished && (this.#usage || !this.expectUsage);
  }
}

/**
 * The bytes after a stream's last boundary, when it ends cleanly: an event the upstream did not end
 * with a blank line (some end with a bare `data: [DONE]`). Passed on with its blank line when its data
 * is whole (`[DONE]` or JSON), so that what follows can never be spliced into it; otherwise it is a
 * half-written event and dropped, as the event-stream standard drops an event cut off by the end.
 */
export function finalEvent(tail: string): string | undefined {
  const data = eventData(tail.split(/\r\n|\r|\n/)) ?? '';
  if (data.trim() === '') return undefined;
  if (data.trim() !== '[DONE]') {
    try {
      JSON.parse(data);
    } catch {
      return undefined;
    }
  }
  return `${tail.replace(/(\r\n|\r|\n)$/, '')}\n\n`;
}

export function relayEventStream(source: AsyncIterable<Buffer | string>, options: RelayOptions): Readable {
  async function* relay(): AsyncGenerator<Buffer> {
    let pending: Buffer = Buffer.alloc(0);
    const answer = new AnswerEnd(options.expectUsage ?? false);
    // Events are passed on whole, so a secret is never split across two of them.
    const passOn = (events: Buffer) => {
      const text = events.toString('utf8');
      answer.read(text);
      const masked = options.redact?.(text) ?? text;
      return masked === text ? events : Buffer.from(masked);
    };
    // Iterated by hand: leaving a `for await` would end the source at once, and an answer that is over
    // gives its upstream a moment to end its body instead (below).
    const pieces = source[Symbol.asyncIterator]();
    let state: 'reading' | 'ended' | 'over' = 'reading';
    try {
      for (let next = await pieces.next(); !next.done; next = await pieces.next()) {
        const piece = next.value;
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        // Only the new bytes (and the few before them) can hold a boundary not already found.
        const from = Math.max(0, pending.length - BOUNDARY_OVERLAP);
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        const end = lastEventEnd(pending, from);
        if (end > 0) {
          yield passOn(pending.subarray(0, end));
          pending = pending.subarray(end);
          // The answer is over: the client's stream ends now (an upstream that keeps its connection
          // open after `[DONE]` held the client until the body timeout, then a timeout error came
          // after the [DONE]).
          if (answer.closed) {
            state = 'over';
            break;
          }
        }
        // Held bytes are memory and are re-copied per chunk: an event that never ends is a broken upstream.
        if (pending.length > options.maxEventBytes) {
          throw new RailgateError(
            'RG_ERR_UPSTREAM_BAD_RESPONSE',
            `the upstream stream sent ${pending.length} bytes without ending an event (limit ${options.maxEventBytes}, limits.streamEventBytes)`,
          );
        }
      }
      if (state === 'reading') state = 'ended';
      // A stream that ends without a final blank line still gets its last event, if it is whole.
      const last = pending.length > 0 && !answer.closed ? finalEvent(pending.toString('utf8')) : undefined;
      if (last !== undefined) yield passOn(Buffer.from(last));
      if (answer.errored) options.onUpstreamError?.();
      if (!answer.over) yield Buffer.from(sseEvent(toOpenAIError(options.onIncomplete())));
    } catch (error) {
      state = 'ended'; // failed: nothing more to read
      const failure = options.onFailure(error);
      if (failure) yield Buffer.from(sseEvent(toOpenAIError(failure)));
    } finally {
      // Over: the upstream's last bytes (the body's end often comes in a write after `[DONE]`) are
      // read for a moment, so its keep-alive connection is reused rather than cut. Still reading (the
      // client left): given up now, which cancels the upstream request.
      if (state === 'over') drainThenCut(pieces, options.cut);
      else if (state === 'reading') options.cut();
    }
  }
  return Readable.from(relay(), { objectMode: false });
}

/** How long an answer that is over waits for its upstream to end its body before cutting it. */
const DRAIN_MS = 1_000;

function drainThenCut(pieces: AsyncIterator<unknown>, cut: () => void): void {
  const timer = setTimeout(cut, DRAIN_MS);
  void (async () => {
    try {
      while (!(await pieces.next()).done);
    } catch {
      // Cut, or broke off after the answer was over: nothing the client is missing.
    } finally {
      clearTimeout(timer);
    }
  })();
}

/** A fixed list of events (a synthetic answer) as a stream payload. */
export function eventStream(events: readonly string[]): Readable {
  return Readable.from(
    events.map((event) => Buffer.from(event)),
    { objectMode: false },
  );
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Proxies in front of railgate (nginx) must not buffer the stream either.
  'x-accel-buffering': 'no',
} as const;
