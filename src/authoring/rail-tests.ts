/**
 * The rails' own test cases (`tests:` in the YAML): each input must match the expected intent, or
 * nothing (`no_match`). A passing case that only just passes is a near miss: worth a look before a
 * small change to the examples tips it over.
 */
import type { Decision } from '../matching/decision.js';
import { NO_MATCH, type RailSet, type RailTest } from '../rails/types.js';
import { decideScored, type ScoredText } from './scored.js';

export interface CaseResult {
  readonly set: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly input: string;
  /** An intent id, or `no_match`. */
  readonly expect: string;
  /** The matched intent, or `no_match`. */
  readonly got: string;
  readonly pass: boolean;
  readonly reason: Decision['reason'];
  /** The best intent (matched or not), its score and threshold. */
  readonly candidate: string | null;
  readonly score: number;
  readonly threshold: number;
  readonly runner_up: { readonly intent: string; readonly score: number } | null;
  /** The expected intent's own score and threshold (null for no_match, or when none of its examples was retrieved). */
  readonly expected_score: { readonly score: number; readonly threshold: number } | null;
  /** Why a passing case is a near miss, or null. */
  readonly near_miss: string | null;
  /**
   * `limits.messageChars` when the input is longer: the proxy decides nothing for it (a 400), so the
   * case fails whatever the rails would say.
   */
  readonly over_limit: number | null;
}

export function judgeCase(
  set: RailSet,
  test: RailTest,
  scored: ScoredText,
  nearMiss: number,
  messageChars = Number.POSITIVE_INFINITY,
): CaseResult {
  const decision = decideScored(set, scored);
  const got = decision.intent ?? NO_MATCH;
  const overLimit = test.input.length > messageChars ? messageChars : null;
  const pass = got === test.expect && overLimit === null;
  return {
    set: set.name,
    file: test.source.file,
    line: test.source.line,
    column: test.source.column,
    input: test.input,
    expect: test.expect,
    got,
    pass,
    reason: decision.reason,
    candidate: decision.candidate,
    score: decision.score,
    threshold: decision.threshold,
    runner_up: decision.runnerUp,
    expected_score: expectedScore(scored, test.expect),
    near_miss: pass ? nearMissOf(decision, scored, set.match.margin, nearMiss) : null,
    over_limit: overLimit,
  };
}

function expectedScore(scored: ScoredText, expect: string): CaseResult['expected_score'] {
  const own = scored.scores.find((s) => s.intent.id === expect);
  return own ? { score: own.score, threshold: own.threshold } : null;
}

/** How close a passing case came to deciding otherwise, when closer than `within`. */
function nearMissOf(d: Decision, scored: ScoredText, margin: number, within: number): string | null {
  const f = (v: number): string => v.toFixed(3);
  if (d.intent === null) return closestToMatching(d, scored, margin, within);
  const reasons: string[] = [];
  const above = d.score - d.threshold;
  if (above < within) reasons.push(`score ${f(d.score)} is only ${f(above)} above the threshold ${f(d.threshold)}`);
  // The lead over the runner-up decides once it falls under match.margin (0: once it is gone).
  if (d.runnerUp && d.margin !== null && d.margin - margin < within)
    reasons.push(
      `runner-up ${d.runnerUp.intent} ${f(d.runnerUp.score)} is only ${f(d.margin)} behind` +
        (margin > 0 ? ` (match.margin ${f(margin)})` : ''),
    );
  return reasons.length ? reasons.join('; ') : null;
}

/**
 * Nothing matched, as expected: which intent came closest, and what held it off. An intent matches when
 * its score reaches its threshold and beats its best not_example, so the distance to matching is the
 * larger of the two gaps; a match held off by `match.margin` alone is as close as its missing lead.
 */
function closestToMatching(d: Decision, scored: ScoredText, margin: number, within: number): string | null {
  const f = (v: number): string => v.toFixed(3);
  if (d.reason === 'low_margin' && d.margin !== null && margin - d.margin < within)
    return `${d.candidate} cleared its threshold and was held off only by match.margin (lead ${f(d.margin)} < ${f(margin)})`;
  let closest: { text: string; distance: number } | null = null;
  for (const s of scored.scores) {
    const belowThreshold = s.threshold - s.score;
    const vetoedBy = s.vetoGap;
    const distance = Math.max(belowThreshold, vetoedBy);
    if (distance >= within || (closest && closest.distance <= distance)) continue;
    const text =
      vetoedBy >= belowThreshold
        ? `${s.intent.id} scored ${f(s.score)} (threshold ${f(s.threshold)}) and was held off by a not_example ` +
          `only ${f(vetoedBy)} closer`
        : `${s.intent.id} scored ${f(s.score)}, only ${f(belowThreshold)} below its threshold ${f(s.threshold)}`;
    closest = { text, distance };
  }
  return closest?.text ?? null;
}

/** What a failing case got instead, in words. */
export function describeFailure(c: CaseResult): string {
  const f = (v: number): string => v.toFixed(3);
  if (c.over_limit !== null)
    return (
      `the input is ${c.input.length} characters, over limits.messageChars (${c.over_limit}): the proxy decides ` +
      'nothing and answers 400 RG_ERR_MESSAGE_TOO_LONG'
    );
  const own = c.expected_score
    ? ` (its score ${f(c.expected_score.score)}, threshold ${f(c.expected_score.threshold)})`
    : c.expect === NO_MATCH
      ? ''
      : ' (none of its examples was among the nearest)';
  const expected = c.expect === NO_MATCH ? 'no match' : `${c.expect}${own}`;
  const runner = c.runner_up ? `; runner-up ${c.runner_up.intent} ${f(c.runner_up.score)}` : '';
  if (c.got !== NO_MATCH)
    return `expected ${expected}, matched ${c.got} (score ${f(c.score)} >= threshold ${f(c.threshold)}${runner})`;
  const why =
    c.reason === 'below_threshold'
      ? `score ${f(c.score)} < threshold ${f(c.threshold)}`
      : c.reason === 'low_margin'
        ? `score ${f(c.score)} led the runner-up by less than match.margin`
        : c.reason === 'not_example'
          ? `closer to a not_example of ${c.candidate}`
          : c.reason;
  return `expected ${expected}, got no match (best ${c.candidate ?? 'none'}: ${why}${runner})`;
}
