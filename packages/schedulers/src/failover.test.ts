import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealFlag, RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import { changeLiveState, flow4, type KernelDest, kernelDests, specOf } from './test-helpers.ts';

const f = flow4(0x0a000001);

/** ip_vs_fo_schedule(), line for line. */
function kernelFo(dests: KernelDest[]): number {
  let hweight = -1;
  let hw = 0;
  for (let i = 0; i < dests.length; i++) {
    const dest = dests[i];
    if (!dest.overloaded && dest.weight > hw) {
      hweight = i;
      hw = dest.weight;
    }
  }
  return hweight;
}

/** ip_vs_ovf_schedule(), line for line. */
function kernelOvf(dests: KernelDest[]): number {
  let h = -1;
  let hw = 0;
  for (let i = 0; i < dests.length; i++) {
    const dest = dests[i];
    const w = dest.weight;
    if (dest.overloaded || dest.active > w || w === 0) continue;
    if (h === -1 || w > hw) {
      h = i;
      hw = w;
    }
  }
  return h;
}

describe('fo (ip_vs_fo.c)', () => {
  it('sends everything to the heaviest available member; the first of equals; then fails over', () => {
    const c = RealServerCounters.create(4);
    const s = createScheduler('fo', specOf([2, 5, 5, 1]), c);
    expect(s.pick(f)).toBe(1);
    c.active[1] = 1000; // load does not matter
    expect(s.pick(f)).toBe(1);
    c.setDown(1, true);
    expect(s.pick(f)).toBe(2);
    c.flags[2] |= RealFlag.overloaded;
    expect(s.pick(f)).toBe(0);
    c.setDown(0, true);
    expect(s.pick(f)).toBe(3);
    c.setDown(3, true);
    expect(s.pick(f)).toBe(-1);
    expect(createScheduler('fo', specOf([0, 0]), c).pick(f)).toBe(-1);
  });
});

describe('ovf (ip_vs_ovf.c)', () => {
  it('fills the heaviest member up to its weight in active connections, then overflows', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('ovf', specOf([3, 2, 1]), c);
    expect(s.pick(f)).toBe(0);
    c.active[0] = 3; // equal to its weight: still taken (the kernel skips only active > weight)
    expect(s.pick(f)).toBe(0);
    c.active[0] = 4;
    expect(s.pick(f)).toBe(1);
    c.inactive[1] = 500; // inactive connections do not count
    expect(s.pick(f)).toBe(1);
    c.active[1] = 3;
    expect(s.pick(f)).toBe(2);
    c.active[2] = 2;
    expect(s.pick(f)).toBe(-1);
    c.active[0] = 0;
    c.flags[0] |= RealFlag.overloaded;
    expect(s.pick(f)).toBe(-1);
  });
});

describe('fo and ovf against the kernel walks', () => {
  it('pick what the C would on random weights, flags and connection counts', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('fo' as const, 'ovf' as const),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 8 }),
        fc.array(
          fc.record({
            who: fc.nat(7),
            what: fc.constantFrom('down', 'overload', 'active', 'pick'),
            value: fc.integer({ min: 0, max: 8 }),
          }),
          { maxLength: 60 },
        ),
        (name, weights, steps) => {
          const c = RealServerCounters.create(8);
          const s = createScheduler(name, specOf(weights), c);
          const kernel = name === 'fo' ? kernelFo : kernelOvf;
          for (const { who, what, value } of steps) {
            if (what !== 'pick') changeLiveState(c, who % weights.length, what, value);
            expect(s.pick(f)).toBe(kernel(kernelDests(weights, c)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
