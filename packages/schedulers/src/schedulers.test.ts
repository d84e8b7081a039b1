import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createScheduler,
  type FlowView,
  MaglevHashing,
  RealServerCounters,
  type SchedulingSpec,
} from './index.ts';

function spec(weights: number[], upper: number[] = [], lower: number[] = []): SchedulingSpec {
  return {
    members: Int32Array.from(weights.map((_, i) => i)),
    weights: Int32Array.from(weights),
    upper: Int32Array.from(weights.map((_, i) => upper[i] ?? 0)),
    lower: Int32Array.from(weights.map((_, i) => lower[i] ?? 0)),
    memberKeys: weights.map((_, i) => `10.0.0.${i + 1}:80`),
  };
}

function flow(src: number, port = 1000, dst = 0x0a000064): FlowView {
  return {
    src0: 0,
    src1: 0,
    src2: 0xffff,
    src3: src | 0,
    srcPort: port,
    dst0: 0,
    dst1: 0,
    dst2: 0xffff,
    dst3: dst,
    dstPort: 80,
  };
}

const f0 = flow(1);

describe('rr', () => {
  it('cycles through available members and skips weight 0, overloaded and down ones', () => {
    const c = RealServerCounters.create(8);
    const s = createScheduler('rr', spec([1, 0, 1, 1]), c);
    expect([0, 1, 2, 3, 4, 5].map(() => s.pick(f0))).toEqual([0, 2, 3, 0, 2, 3]);
    c.setDown(2, true);
    expect([0, 1, 2].map(() => s.pick(f0))).toEqual([0, 3, 0]);
    c.setDown(0, true);
    c.setDown(3, true);
    expect(s.pick(f0)).toBe(-1);
  });
});

describe('wrr', () => {
  it("follows ip_vs_wrr.c's interleaved sequence (weights 4,3,2: a a b a b c a b c)", () => {
    // cw starts at mw = 4: only a; cw 3: a, b; cw 2: a, b, c; cw 1: a, b, c; then wraps to 4.
    const s = createScheduler('wrr', spec([4, 3, 2]), RealServerCounters.create(4));
    const seq = Array.from({ length: 18 }, () => s.pick(f0));
    expect(seq).toEqual([0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2]);
  });

  it('gives each member exactly its weight share over a full cycle', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 8 }), (weights) => {
        const s = createScheduler('wrr', spec(weights), RealServerCounters.create(8));
        const total = weights.reduce((a, b) => a + b, 0);
        const counts = new Array(weights.length).fill(0);
        for (let i = 0; i < total * 3; i++) {
          const p = s.pick(f0);
          if (total === 0) expect(p).toBe(-1);
          else counts[p]++;
        }
        if (total > 0) expect(counts).toEqual(weights.map((w) => w * 3));
      }),
    );
  });
});

describe('lc, wlc, sed, nq', () => {
  it('lc picks the least active*256 + inactive; ties go to the first', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('lc', spec([1, 1, 1]), c);
    c.active[0] = 1; // overhead 256
    c.inactive[1] = 300; // overhead 300
    c.inactive[2] = 10; // overhead 10
    expect(s.pick(f0)).toBe(2);
    c.inactive[2] = 256;
    expect(s.pick(f0)).toBe(0);
  });

  it('wlc compares overhead per weight by cross-multiplication', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('wlc', spec([1, 3]), c);
    c.active[0] = 1; // 256 / 1
    c.active[1] = 2; // 512 / 3 = 170.7: better
    expect(s.pick(f0)).toBe(1);
    c.active[1] = 4; // 1024 / 3 = 341: worse
    expect(s.pick(f0)).toBe(0);
  });

  it('sed uses (active + 1) / weight and ignores inactive connections', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('sed', spec([1, 2]), c);
    c.inactive[1] = 1000;
    expect(s.pick(f0)).toBe(1); // (0+1)/1 vs (0+1)/2
    c.active[1] = 2; // 3/2 vs 1/1
    expect(s.pick(f0)).toBe(0);
  });

  it('nq takes the first idle member at once, else behaves as sed', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('nq', spec([1, 5, 1]), c);
    c.active[0] = 3;
    c.active[1] = 1;
    expect(s.pick(f0)).toBe(2); // idle, though sed would pick 1
    c.active[2] = 1;
    expect(s.pick(f0)).toBe(1); // sed: 2/5 beats 4/1 and 2/1
  });

  it('never picks weight 0 and returns -1 when nothing is available', () => {
    const c = RealServerCounters.create(4);
    for (const name of ['lc', 'wlc', 'sed', 'nq'] as const) {
      const s = createScheduler(name, spec([0, 0]), c);
      expect(s.pick(f0)).toBe(-1);
      const s2 = createScheduler(name, spec([0, 1]), c);
      c.active[1] = 100;
      expect(s2.pick(f0)).toBe(1);
      c.active[1] = 0;
    }
  });
});

describe('thresholds (IPVS -x/-y hysteresis)', () => {
  it('overloaded at upper, back under lower', () => {
    const c = RealServerCounters.create(2);
    const s = createScheduler('rr', spec([1]), c);
    for (let i = 0; i < 10; i++) c.bind(0, false, 10, 5);
    expect(c.isOverloaded(0)).toBe(true);
    expect(s.pick(f0)).toBe(-1);
    for (let i = 0; i < 5; i++) c.unbind(0, false, 10, 5);
    expect(c.isOverloaded(0)).toBe(true); // 5 is not below 5
    c.unbind(0, false, 10, 5);
    expect(c.isOverloaded(0)).toBe(false);
    expect(s.pick(f0)).toBe(0);
  });

  it('without a lower threshold, 3/4 of the upper one', () => {
    const c = RealServerCounters.create(2);
    for (let i = 0; i < 8; i++) c.bind(0, true, 8, 0);
    expect(c.isOverloaded(0)).toBe(true);
    c.unbind(0, true, 8, 0);
    c.unbind(0, true, 8, 0);
    expect(c.isOverloaded(0)).toBe(true); // 6 = 3/4 of 8, not below
    c.unbind(0, true, 8, 0);
    expect(c.isOverloaded(0)).toBe(false);
    c.establish(0);
    expect([c.active[0], c.inactive[0]]).toEqual([6, -1]);
  });
});

describe('sh and dh', () => {
  it('sh: a source always lands on the same member; weights replicate buckets', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('sh', spec([1, 2, 1]), c);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) {
      const f = flow(0x0a000000 + i * 7919);
      const p = s.pick(f);
      expect(s.pick(f)).toBe(p);
      counts[p]++;
    }
    expect(counts[1] / 20000).toBeGreaterThan(0.4);
    expect(counts[1] / 20000).toBeLessThan(0.6);
  });

  it('sh: when a member goes down only its flows move (with fallback), others stay', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { minLength: 50, maxLength: 200 }),
        fc.integer({ min: 0, max: 3 }),
        (srcs, gone) => {
          const c = RealServerCounters.create(4);
          const s = createScheduler('sh', spec([1, 1, 1, 1]), c, { shFallback: true });
          const before = srcs.map((x) => s.pick(flow(x)));
          c.setDown(gone, true);
          srcs.forEach((x, i) => {
            const after = s.pick(flow(x));
            if (before[i] === gone) expect(after).not.toBe(gone);
            else expect(after).toBe(before[i]);
          });
        },
      ),
    );
  });

  it('sh without fallback returns -1 for flows of a down member', () => {
    const c = RealServerCounters.create(2);
    const s = createScheduler('sh', spec([1]), c);
    c.setDown(0, true);
    expect(s.pick(f0)).toBe(-1);
  });

  it('dh: keyed by the destination address', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('dh', spec([1, 1, 1, 1]), c);
    const a = s.pick(flow(1, 1, 0x0a000001));
    for (let i = 0; i < 100; i++) expect(s.pick(flow(i * 31, i, 0x0a000001))).toBe(a);
  });
});

describe('mh (Maglev)', () => {
  it('fills the whole prime table with shares close to the weights', () => {
    const m = MaglevHashing.populate(spec([1, 1, 2, 4]), 65537);
    const counts = [0, 0, 0, 0];
    for (const x of m) counts[x]++;
    expect(counts.reduce((a, b) => a + b)).toBe(65537);
    const shares = counts.map((x) => x / 65537);
    for (const [i, w] of [1 / 8, 1 / 8, 2 / 8, 4 / 8].entries()) {
      expect(Math.abs(shares[i] - w)).toBeLessThan(0.01);
    }
  });

  it('rejects a table size that is not prime', () => {
    expect(() =>
      createScheduler('mh', spec([1]), RealServerCounters.create(1), { mhTableSize: 65536 }),
    ).toThrow(/prime/);
  });

  it('removing one of N members moves little beyond its own entries (Maglev paper, §3.4)', () => {
    // Removing a member must move its 1/N of the table; the paper's point is that little else
    // moves. Measured here with M = 65537: see the figure in docs/BENCHMARKS.md.
    for (const n of [10, 100]) {
      const weights = new Array(n).fill(1);
      const before = MaglevHashing.populate(spec(weights), 65537);
      const s2 = spec(weights);
      // The same members but the last one, with the same identities.
      const after = MaglevHashing.populate(
        {
          ...s2,
          members: s2.members.slice(0, n - 1),
          weights: s2.weights.slice(0, n - 1),
          memberKeys: s2.memberKeys.slice(0, n - 1),
        },
        65537,
      );
      let changed = 0;
      let changedOthers = 0;
      for (let i = 0; i < 65537; i++) {
        if (before[i] !== after[i]) {
          changed++;
          if (before[i] !== n - 1) changedOthers++;
        }
      }
      const ideal = 1 / n;
      const extra = changedOthers / 65537;
      expect(changed / 65537).toBeGreaterThanOrEqual(ideal * 0.9);
      // Entries of surviving members that moved: a small fraction (the paper reports a few %).
      expect(extra).toBeLessThan(ideal);
      console.log(
        `maglev M=65537 N=${n}: removed one member, ${((changed / 65537) * 100).toFixed(2)}% of entries changed (ideal ${(ideal * 100).toFixed(2)}%), of which ${(extra * 100).toFixed(2)}% belonged to surviving members`,
      );
    }
  });

  it('the same flow always maps to the same member; a down member falls back when asked', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('mh', spec([1, 1, 1]), c, { mhFallback: true });
    const a = s.pick(flow(42));
    expect(s.pick(flow(42))).toBe(a);
    c.setDown(a, true);
    const b = s.pick(flow(42));
    expect(b).not.toBe(a);
    expect(b).toBeGreaterThanOrEqual(0);
  });
});
