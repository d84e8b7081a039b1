import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealFlag, RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import { type RandomSource, Xoshiro128 } from './random.ts';
import { changeLiveState, flow4, type KernelDest, kernelDests, specOf } from './test-helpers.ts';

const f = flow4(0x0a000001);

/** ip_vs_twos_schedule() as written in C, drawing from `random` (get_random_u32_below). */
function kernelTwos(dests: KernelDest[], random: RandomSource): number {
  let choice1 = -1;
  let choice2 = -1;
  let weight1 = -1;
  let weight2 = -1;
  let overhead1 = 0;
  let overhead2 = 0;
  let totalWeight = 0;
  const overhead = (d: KernelDest) => d.active * 256 + d.inactive; // ip_vs_dest_conn_overhead()
  for (let i = 0; i < dests.length; i++) {
    if (!dests[i].overloaded) {
      const weight = dests[i].weight;
      if (weight > 0) {
        totalWeight += weight;
        choice1 = i;
      }
    }
  }
  if (choice1 === -1) return -1;
  totalWeight += 1;
  let rweight1 = random.below(totalWeight);
  let rweight2 = random.below(totalWeight);
  for (let i = 0; i < dests.length; i++) {
    if (dests[i].overloaded) continue;
    const weight = dests[i].weight;
    if (weight <= 0) continue;
    rweight1 -= weight;
    rweight2 -= weight;
    if (rweight1 <= 0 && weight1 === -1) {
      choice1 = i;
      weight1 = weight;
      overhead1 = overhead(dests[i]);
    }
    if (rweight2 <= 0 && weight2 === -1) {
      choice2 = i;
      weight2 = weight;
      overhead2 = overhead(dests[i]);
    }
    if (weight1 !== -1 && weight2 !== -1) break;
  }
  if (choice2 !== -1 && weight2 * overhead1 > weight1 * overhead2) choice1 = choice2;
  return choice1;
}

/** A source that replays fixed draws, to steer the two choices. */
function draws(...values: number[]): RandomSource {
  let k = 0;
  return {
    below(bound: number) {
      const v = values[k++ % values.length];
      if (v >= bound) throw new Error(`draw ${v} is not below ${bound}`);
      return v;
    },
  };
}

describe('twos (ip_vs_twos.c)', () => {
  it('walks each draw down by the weights: 0..w0 land on the first member, then w1 values each', () => {
    // weights 2, 3: total + 1 = 6; draws 0, 1, 2 → member 0; 3, 4, 5 → member 1.
    const c = RealServerCounters.create(2);
    for (const [r, want] of [
      [0, 0],
      [2, 0],
      [3, 1],
      [5, 1],
    ]) {
      const s = createScheduler('twos', specOf([2, 3]), c, { random: draws(r, r) });
      expect(s.pick(f)).toBe(want);
    }
  });

  it('takes the second choice only when its overhead per weight is strictly lower', () => {
    const c = RealServerCounters.create(2);
    const s = createScheduler('twos', specOf([1, 2]), c, { random: draws(0, 3) }); // choices 0, 1
    c.active[0] = 1; // 256 / 1 against 0 / 2
    expect(s.pick(f)).toBe(1);
    c.active[1] = 2; // 256 / 1 against 512 / 2: equal, the first choice stays
    expect(s.pick(f)).toBe(0);
    c.inactive[1] = 1; // 513 / 2 is higher
    expect(s.pick(f)).toBe(0);
    c.active[1] = 1; // 257 / 2 is lower: inactive connections count, at 1/256 of an active one
    expect(s.pick(f)).toBe(1);
  });

  it('never picks weight 0, overloaded or down members; -1 when none is left', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('twos', specOf([1, 0, 1, 1]), c, { random: new Xoshiro128(1) });
    c.setDown(3, true);
    c.flags[0] |= RealFlag.overloaded;
    for (let i = 0; i < 200; i++) expect(s.pick(f)).toBe(2);
    c.setDown(2, true);
    expect(s.pick(f)).toBe(-1);
  });

  it('spreads idle servers by weight, the first member with one share more (seeded, statistical)', () => {
    // With no connections the two choices tie and the first stands: member i is chosen with
    // odds wi / (W + 1), member 0 with (w0 + 1) / (W + 1). Bounds of 5 standard deviations.
    const weights = [1, 2, 3, 4];
    const c = RealServerCounters.create(4);
    const s = createScheduler('twos', specOf(weights), c, { random: new Xoshiro128(2024) });
    const picks = 200_000;
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < picks; i++) counts[s.pick(f)]++;
    const total = 1 + weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, i) => {
      const p = (w + (i === 0 ? 1 : 0)) / total;
      const sd = Math.sqrt(picks * p * (1 - p));
      expect(Math.abs(counts[i] - picks * p)).toBeLessThan(5 * sd);
    });
  });

  it('with load, steers away from the busier of two choices: the busy member gets far less', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('twos', specOf([1, 1, 1]), c, { random: new Xoshiro128(99) });
    c.active[1] = 50;
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[s.pick(f)]++;
    // Member 1 wins only when both draws land on it: (1/4)^2 of the picks.
    const p = 1 / 16;
    expect(Math.abs(counts[1] - 30_000 * p)).toBeLessThan(5 * Math.sqrt(30_000 * p * (1 - p)));
  });

  it('picks what the C would, draw for draw, over random weights, flags and counts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 8 }),
        fc.integer(),
        fc.array(
          fc.record({
            who: fc.nat(7),
            what: fc.constantFrom('down', 'overload', 'active', 'inactive', 'pick'),
            value: fc.integer({ min: 0, max: 40 }),
            picks: fc.integer({ min: 1, max: 4 }),
          }),
          { maxLength: 50 },
        ),
        (weights, seed, steps) => {
          const c = RealServerCounters.create(8);
          const s = createScheduler('twos', specOf(weights), c, { random: new Xoshiro128(seed) });
          const modelRandom = new Xoshiro128(seed);
          for (const { who, what, value, picks } of steps) {
            if (what !== 'pick') changeLiveState(c, who % weights.length, what, value);
            for (let k = 0; k < picks; k++) {
              expect(s.pick(f)).toBe(kernelTwos(kernelDests(weights, c), modelRandom));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
