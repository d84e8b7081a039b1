import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import type { SchedulerName } from './spec.ts';
import { flow4, specOf } from './test-helpers.ts';

const f = flow4(0x0a000001);

function counters(active: number[], inactive: number[]): RealServerCounters {
  const c = RealServerCounters.create(Math.max(1, active.length));
  c.active.set(active);
  c.inactive.set(inactive);
  // Every connection held by its server (none closed), so thresholds see them all.
  c.held.set(active.map((a, i) => a + (inactive[i] ?? 0)));
  return c;
}

describe('lc (ip_vs_lc.c)', () => {
  it('picks the least active * 256 + inactive; the first of equals wins', () => {
    const c = counters([1, 0, 0], [0, 300, 10]); // overheads 256, 300, 10
    const s = createScheduler('lc', specOf([1, 1, 1]), c);
    expect(s.pick(f)).toBe(2);
    c.inactive[2] = 256; // 256, 300, 256: member 0 comes first
    expect(s.pick(f)).toBe(0);
  });

  it('ignores weights other than 0', () => {
    const c = counters([0, 1], [0, 0]);
    expect(createScheduler('lc', specOf([1, 100]), c).pick(f)).toBe(0);
    expect(createScheduler('lc', specOf([0, 100]), c).pick(f)).toBe(1);
  });
});

describe('wlc (ip_vs_wlc.c)', () => {
  it('compares overhead / weight by cross-multiplication', () => {
    const c = counters([1, 2], [0, 0]);
    const s = createScheduler('wlc', specOf([1, 3]), c);
    expect(s.pick(f)).toBe(1); // 256 / 1 against 512 / 3 = 170.7
    c.active[1] = 4; // 1024 / 3 = 341.3
    expect(s.pick(f)).toBe(0);
    c.active[1] = 3; // 768 / 3 = 256: a tie, the first wins
    expect(s.pick(f)).toBe(0);
  });

  it('counts inactive connections at 1/256 of an active one', () => {
    const c = counters([0, 0], [257, 0]);
    c.active[1] = 1; // 257 against 256
    expect(createScheduler('wlc', specOf([1, 1]), c).pick(f)).toBe(1);
  });
});

describe('sed (ip_vs_sed.c)', () => {
  it('picks the least (active + 1) / weight and ignores inactive connections', () => {
    const c = counters([0, 0], [0, 1000]);
    const s = createScheduler('sed', specOf([1, 2]), c);
    expect(s.pick(f)).toBe(1); // 1/1 against 1/2
    c.active[1] = 2; // 1/1 against 3/2
    expect(s.pick(f)).toBe(0);
  });
});

describe('nq (ip_vs_nq.c)', () => {
  it('takes the first member with no active connection at once, else behaves as sed', () => {
    const c = counters([3, 1, 0], [0, 0, 50]);
    const s = createScheduler('nq', specOf([1, 5, 1]), c);
    expect(s.pick(f)).toBe(2); // idle (inactive ones do not count), though sed would take 1
    c.active[2] = 1;
    expect(s.pick(f)).toBe(1); // sed: 2/5 beats 4/1 and 2/1
  });
});

describe('the availability rule, for lc, wlc, sed and nq', () => {
  const names: SchedulerName[] = ['lc', 'wlc', 'sed', 'nq'];

  it('never picks weight 0, overloaded or down members; -1 when none is left', () => {
    for (const name of names) {
      const c = counters([9, 9, 0, 0], [0, 0, 0, 0]);
      const s = createScheduler(name, specOf([1, 1, 0, 1]), c);
      c.setDown(3, true);
      expect(s.pick(f)).toBe(0);
      c.bind(0, false, 10, 0); // 10 connections: overloaded at upper 10
      expect(s.pick(f)).toBe(1);
      c.setDown(1, true);
      expect(s.pick(f)).toBe(-1);
      for (let k = 0; k < 3; k++) c.unbind(0, true, 10, 0); // 7 * 4 < 10 * 3: available again
      expect(s.pick(f)).toBe(0);
    }
  });

  it('always picks a least-loaded available member (property, against a division-based oracle)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            w: fc.integer({ min: 0, max: 50 }),
            a: fc.integer({ min: 0, max: 2000 }),
            i: fc.integer({ min: 0, max: 2000 }),
            down: fc.boolean(),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.constantFrom(...names),
        (ms, name) => {
          const c = counters(
            ms.map((m) => m.a),
            ms.map((m) => m.i),
          );
          ms.forEach((m, k) => {
            c.setDown(k, m.down);
          });
          const got = createScheduler(name, specOf(ms.map((m) => m.w)), c).pick(f);
          const ok = ms.map((m) => m.w > 0 && !m.down);
          if (!ok.includes(true)) {
            expect(got).toBe(-1);
            return;
          }
          expect(ok[got]).toBe(true);
          const cost = (m: (typeof ms)[number]) =>
            name === 'lc' ? m.a * 256 + m.i : name === 'wlc' ? (m.a * 256 + m.i) / m.w : (m.a + 1) / m.w;
          if (name === 'nq' && ms.some((m, k) => ok[k] && m.a === 0)) {
            expect(got).toBe(ms.findIndex((m, k) => ok[k] && m.a === 0));
            return;
          }
          const best = Math.min(...ms.filter((_, k) => ok[k]).map(cost));
          expect(cost(ms[got])).toBeCloseTo(best, 9);
          // ...and the first such member in list order.
          expect(got).toBe(ms.findIndex((m, k) => ok[k] && Math.abs(cost(m) - best) < 1e-9));
        },
      ),
    );
  });
});
