import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import { flow4, specOf } from './test-helpers.ts';

const f = flow4(0x0a000001);
const picks = (s: { pick: (x: typeof f) => number }, k: number) => Array.from({ length: k }, () => s.pick(f));

describe('rr (ip_vs_rr.c)', () => {
  it('starts at the first member and cycles through the available ones', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('rr', specOf([1, 0, 1, 1]), c);
    expect(picks(s, 6)).toEqual([0, 2, 3, 0, 2, 3]); // weight 0 never
    c.setDown(2, true);
    expect(picks(s, 3)).toEqual([0, 3, 0]);
    c.bind(3, false, 1, 0); // overloaded
    expect(picks(s, 2)).toEqual([0, 0]);
    c.setDown(0, true);
    expect(s.pick(f)).toBe(-1);
    c.setDown(2, false); // the cursor stayed on 0: 2 is next
    expect(picks(s, 2)).toEqual([2, 2]);
  });

  it('returns -1 for a service with no members', () => {
    expect(createScheduler('rr', specOf([]), RealServerCounters.create(1)).pick(f)).toBe(-1);
  });
});

/**
 * ip_vs_wrr_schedule() as the kernel writes it (a list walk from the cursor, cw dropping by di at
 * the head, the last_pass/restarted/stop rules), with no shortcut. The scheduler under test must
 * produce the same picks.
 */
class KernelWrr {
  cl = -1;
  cw: number;
  readonly di: number;
  readonly mw: number;
  readonly weights: number[];
  readonly avail: (i: number) => boolean;
  constructor(weights: number[], avail: (i: number) => boolean) {
    this.weights = weights;
    this.avail = avail;
    let g = 0;
    for (const w of weights) if (w > 0) g = g > 0 ? gcdOf(w, g) : w;
    this.di = g || 1;
    this.mw = Math.max(0, ...weights) - (this.di - 1);
    this.cw = this.mw;
  }
  pick(): number {
    const n = this.weights.length;
    let dest = this.cl;
    if (this.mw === 0) return -1;
    const last = dest;
    let stop: number | null = null;
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (dest = dest + 1; dest < n; dest++) {
        if (this.avail(dest) && this.weights[dest] >= this.cw) {
          this.cl = dest;
          return dest;
        }
        if (dest === stop) {
          this.cl = dest;
          return -1;
        }
      }
      dest = -1; // the head
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || last === -1) {
          this.cl = -1;
          return -1;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  }
}

function gcdOf(a: number, b: number): number {
  return b === 0 ? a : gcdOf(b, a % b);
}

describe('wrr (ip_vs_wrr.c)', () => {
  it('hand-computed kernel sequences', () => {
    const cases: [number[], number[]][] = [
      // gcd 1, mw 4. cw 4: a | cw 3: a b | cw 2: a b c | cw 1: a b c | back to cw 4.
      [
        [4, 3, 2],
        [0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1],
      ],
      // gcd 2, mw = 6 - (2 - 1) = 5, levels 5, 3, 1. cw 5: a | cw 3: a b | cw 1: a b.
      [
        [6, 4],
        [0, 0, 1, 0, 1, 0, 0, 1],
      ],
      // gcd 1, mw 5. cw 5: a | 4: a | 3: a | 2: a d | 1: a b d (c has weight 0).
      [
        [5, 1, 0, 2],
        [0, 0, 0, 0, 3, 0, 1, 3, 0],
      ],
      // equal weights: plain round robin.
      [
        [3, 3, 3],
        [0, 1, 2, 0, 1, 2],
      ],
    ];
    for (const [weights, expected] of cases) {
      const s = createScheduler('wrr', specOf(weights), RealServerCounters.create(8));
      expect(picks(s, expected.length)).toEqual(expected);
    }
  });

  it('gives every member exactly its weight over whole cycles', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 8 }), (weights) => {
        const s = createScheduler('wrr', specOf(weights), RealServerCounters.create(8));
        const total = weights.reduce((a, b) => a + b, 0);
        if (total === 0) {
          expect(s.pick(f)).toBe(-1);
          return;
        }
        const counts = new Array(weights.length).fill(0);
        for (let i = 0; i < total * 3; i++) counts[s.pick(f)]++;
        expect(counts).toEqual(weights.map((w) => w * 3));
      }),
    );
  });

  it("equals the kernel's walk while members go down and come back", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 7 }),
        fc.array(fc.tuple(fc.nat(6), fc.boolean(), fc.integer({ min: 1, max: 12 })), { maxLength: 30 }),
        (weights, steps) => {
          const c = RealServerCounters.create(8);
          const s = createScheduler('wrr', specOf(weights), c);
          const model = new KernelWrr(weights, (i) => !c.isDown(i) && !c.isOverloaded(i));
          for (const [who, down, k] of steps) {
            if (who < weights.length) c.setDown(who, down);
            for (let i = 0; i < k; i++) expect(s.pick(f)).toBe(model.pick());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('skips fruitless levels: weights 65535 and 1 with the heavy one down still pick the light one', () => {
    // The kernel would walk 65535 levels per pick here; the result must be the same.
    const c = RealServerCounters.create(2);
    const s = createScheduler('wrr', specOf([65535, 1]), c);
    const model = new KernelWrr([65535, 1], (i) => !c.isDown(i));
    expect(s.pick(f)).toBe(model.pick());
    c.setDown(0, true);
    for (let i = 0; i < 5; i++) expect(s.pick(f)).toBe(model.pick());
    expect(s.pick(f)).toBe(1);
    c.setDown(1, true);
    expect(s.pick(f)).toBe(-1);
    expect(model.pick()).toBe(-1);
  });

  it('returns -1 when every weight is 0', () => {
    expect(createScheduler('wrr', specOf([0, 0]), RealServerCounters.create(2)).pick(f)).toBe(-1);
  });
});
