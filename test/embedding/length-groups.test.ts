import { describe, expect, it } from 'vitest';
import { lengthGroups } from '../../src/embedding/length-groups.js';

/** What a plan costs in the model's terms: a call's fixed cost plus every padded position. */
const planCost = (lengths: readonly number[], groups: number[][], callCost: number) =>
  groups.reduce((sum, g) => sum + callCost + g.length * Math.max(...g.map((i) => lengths[i]!)), 0);

describe('lengthGroups (one batch cut into model calls of similar lengths)', () => {
  it('keeps texts of similar length in one call', () => {
    expect(lengthGroups([20, 18, 22, 19], 40)).toEqual([[1, 3, 0, 2]]);
  });

  it('gives one long text its own call rather than padding fifteen short ones to its length', () => {
    const lengths = [...Array.from({ length: 15 }, () => 3), 25];
    const groups = lengthGroups(lengths, 40);
    expect(groups).toEqual([Array.from({ length: 15 }, (_, i) => i), [15]]);
    expect(planCost(lengths, groups, 40)).toBeLessThan(planCost(lengths, [lengths.map((_, i) => i)], 40));
  });

  it('finds the cheapest plan, every text in exactly one call', () => {
    const lengths = [2, 40, 3, 38, 2, 12, 41, 11, 3, 13];
    for (const callCost of [0, 5, 40, 1000]) {
      const groups = lengthGroups(lengths, callCost);
      expect(groups.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
      // No plan of contiguous runs of the sorted lengths is cheaper (brute force over the 2^9 cut sets).
      const sorted = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
      let cheapest = Infinity;
      for (let mask = 0; mask < 1 << (sorted.length - 1); mask++) {
        const plan: number[][] = [[sorted[0]!]];
        for (let i = 1; i < sorted.length; i++) {
          if (mask & (1 << (i - 1))) plan.push([]);
          plan.at(-1)!.push(sorted[i]!);
        }
        cheapest = Math.min(cheapest, planCost(lengths, plan, callCost));
      }
      expect(planCost(lengths, groups, callCost)).toBe(cheapest);
    }
    // A free call: one call per distinct length; a dear one: everything in one call.
    expect(lengthGroups(lengths, 0)).toHaveLength(new Set(lengths).size);
    expect(lengthGroups(lengths, 1000)).toHaveLength(1);
  });

  it('handles no texts and one text', () => {
    expect(lengthGroups([], 40)).toEqual([]);
    expect(lengthGroups([7], 40)).toEqual([[0]]);
  });
});
