import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealFlag, RealServerCounters } from './counters.ts';

function runWorker(sab: SharedArrayBuffer, ops: number, upper: number, lower: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./counters.fixture.ts', import.meta.url), {
      workerData: { sab, ops, upper, lower },
    });
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
  });
}

describe('RealServerCounters across threads', () => {
  it('ends with exact counts when four workers bind, establish and unbind the same servers at once', async () => {
    const c = RealServerCounters.create(4);
    const workers = 4;
    await Promise.all(Array.from({ length: workers }, () => runWorker(c.sab, 200_000, 3000, 0)));
    for (let r = 0; r < 4; r++) {
      expect(c.active[r]).toBe(1000 * workers);
      expect(c.inactive[r]).toBe(500 * workers);
    }
    // 6000 connections >= upper 3000: whatever order the flag updates landed in, the next
    // evaluation sees the true total.
    for (let r = 0; r < 4; r++) {
      c.updateOverload(r, 3000, 0);
      expect(c.isOverloaded(r)).toBe(true);
    }
  });
});

describe('RealServerCounters', () => {
  it('lays out active, inactive, flags, held, unheld and halfOpenBound one after the other, and attaches to the same memory', () => {
    const c = RealServerCounters.create(3);
    expect(c.sab.byteLength).toBe(RealServerCounters.byteLength(3));
    expect(RealServerCounters.byteLength(3)).toBe(72);
    const d = RealServerCounters.attach(c.sab);
    d.bind(2, true, 0, 0);
    d.bind(2, false, 0, 0);
    d.setDown(1, true);
    d.addHeld(0, 2);
    d.addHeld(0, -1);
    d.noteHalfOpenBound(2);
    expect(c.halfOpenBoundCount(2)).toBe(1);
    expect([c.active[2], c.inactive[2], c.flags[1], c.held[0], c.held[2]]).toEqual([
      1,
      1,
      RealFlag.down,
      1,
      2,
    ]);
    d.resetSlot(0);
    expect(c.held[0]).toBe(0);
    expect(c.capacity).toBe(3);
  });

  it('rejects a bad capacity or buffer', () => {
    expect(() => RealServerCounters.create(0)).toThrow(/capacity/);
    expect(() => RealServerCounters.create(1.5)).toThrow(/capacity/);
    expect(() => RealServerCounters.attach(new SharedArrayBuffer(13))).toThrow(/multiple of 24/);
  });

  it('moves a connection between InActConn and ActiveConn without changing the total', () => {
    const c = RealServerCounters.create(1);
    c.bind(0, false, 0, 0);
    c.establish(0);
    expect([c.active[0], c.inactive[0]]).toEqual([1, 0]);
    c.unestablish(0);
    expect([c.active[0], c.inactive[0]]).toEqual([0, 1]);
    c.unbind(0, false, 0, 0);
    expect([c.active[0], c.inactive[0]]).toEqual([0, 0]);
  });

  it('down and overloaded are independent bits', () => {
    const c = RealServerCounters.create(1);
    c.setDown(0, true);
    c.bind(0, false, 1, 0);
    expect([c.isDown(0), c.isOverloaded(0)]).toEqual([true, true]);
    c.setDown(0, false);
    expect([c.isDown(0), c.isOverloaded(0)]).toEqual([false, true]);
    c.resetSlot(0);
    expect([c.active[0], c.inactive[0], c.flags[0]]).toEqual([0, 0, 0]);
  });
});

describe('thresholds (ipvsadm -x upper, -y lower)', () => {
  it('overloaded at upper; taking connections again only below lower', () => {
    const c = RealServerCounters.create(1);
    for (let i = 0; i < 9; i++) c.bind(0, false, 10, 5);
    expect(c.isOverloaded(0)).toBe(false);
    c.bind(0, true, 10, 5); // 10 >= 10
    expect(c.isOverloaded(0)).toBe(true);
    for (let i = 0; i < 5; i++) c.unbind(0, false, 10, 5); // 5: not below 5
    expect(c.isOverloaded(0)).toBe(true);
    c.bind(0, false, 10, 5); // 6: still between the marks, still overloaded
    expect(c.isOverloaded(0)).toBe(true);
    c.unbind(0, false, 10, 5);
    c.unbind(0, false, 10, 5); // 4 < 5
    expect(c.isOverloaded(0)).toBe(false);
  });

  it('with no lower threshold, clears when total * 4 < upper * 3 (the kernel rounds 3/4 up)', () => {
    // upper 10: 3/4 is 7.5, so 8 stays overloaded and 7 clears (a floor of 7 would wrongly keep 7).
    const c = RealServerCounters.create(1);
    for (let i = 0; i < 10; i++) c.bind(0, true, 10, 0);
    expect(c.isOverloaded(0)).toBe(true);
    c.unbind(0, true, 10, 0);
    c.unbind(0, true, 10, 0);
    expect(c.isOverloaded(0)).toBe(true); // 8
    c.unbind(0, true, 10, 0);
    expect(c.isOverloaded(0)).toBe(false); // 7
    // upper 8: exactly 6 is not below 3/4; 5 is.
    for (let i = 0; i < 1; i++) c.bind(0, false, 8, 0);
    expect(c.isOverloaded(0)).toBe(true); // 8
    c.unbind(0, false, 8, 0);
    c.unbind(0, true, 8, 0);
    expect(c.isOverloaded(0)).toBe(true); // 6
    c.unbind(0, true, 8, 0);
    expect(c.isOverloaded(0)).toBe(false); // 5
  });

  it('upper 0 means no limit, and clears a flag left by an earlier limit', () => {
    const c = RealServerCounters.create(1);
    for (let i = 0; i < 3; i++) c.bind(0, false, 2, 0);
    expect(c.isOverloaded(0)).toBe(true);
    c.updateOverload(0, 0, 0);
    expect(c.isOverloaded(0)).toBe(false);
    for (let i = 0; i < 1000; i++) c.bind(0, false, 0, 0);
    expect(c.isOverloaded(0)).toBe(false);
  });

  it('matches the kernel (bind sets, unbind clears, ip_vs_conn.c) on any sequence of operations', () => {
    // The model is the kernel's own split: only ip_vs_bind_dest sets, only ip_vs_unbind_dest
    // clears. Sluice evaluates both edges on both paths (for threads); alone they must agree.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('bind' as const), established: fc.boolean() }),
      fc.record({ kind: fc.constant('unbind' as const), established: fc.boolean() }),
      fc.record({ kind: fc.constant('establish' as const) }),
      fc.record({ kind: fc.constant('unestablish' as const) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(op, { maxLength: 200 }),
        (upper, lowerRaw, ops) => {
          const lower = upper > 0 ? lowerRaw % upper : lowerRaw; // a lower at or above upper is a misconfiguration
          const c = RealServerCounters.create(1);
          let active = 0;
          let inactive = 0;
          let over = false;
          for (const o of ops) {
            if (o.kind === 'bind') {
              if (o.established) active++;
              else inactive++;
              if (upper !== 0 && active + inactive >= upper) over = true;
              c.bind(0, o.established, upper, lower);
            } else if (o.kind === 'unbind') {
              // Only remove what exists, as the dataplane does.
              if (o.established ? active === 0 : inactive === 0) continue;
              if (o.established) active--;
              else inactive--;
              const total = active + inactive;
              if (lower !== 0) {
                if (total < lower) over = false;
              } else if (upper !== 0) {
                if (total * 4 < upper * 3) over = false;
              } else over = false;
              c.unbind(0, o.established, upper, lower);
            } else if (o.kind === 'establish') {
              if (inactive === 0) continue;
              inactive--;
              active++;
              c.establish(0);
            } else {
              if (active === 0) continue;
              active--;
              inactive++;
              c.unestablish(0);
            }
            expect([c.active[0], c.inactive[0], c.isOverloaded(0)]).toEqual([active, inactive, over]);
          }
        },
      ),
    );
  });
});

describe('RealServerCounters: what the thresholds count', () => {
  it('counts held connections by default and active + inactive with countInactive (IPVS)', () => {
    const c = RealServerCounters.create(1);
    c.bind(0, false, 3, 0);
    c.bind(0, false, 3, 0);
    c.addHeld(0, -1); // closed by its client: IPVS still counts it, the servers do not hold it
    c.bind(0, false, 3, 0);
    c.updateOverload(0, 3, 0);
    expect([c.load(0), c.isOverloaded(0)]).toEqual([2, false]);
    c.setCountInactive(0, true);
    c.updateOverload(0, 3, 0);
    expect([c.load(0), c.isOverloaded(0)]).toEqual([3, true]);
    c.setCountInactive(0, false);
    c.updateOverload(0, 3, 0);
    expect(c.isOverloaded(0)).toBe(false); // 2 × 4 < 3 × 3: below the hysteresis mark
    c.unbind(0, false, 3, 0, false); // a closed one leaves: held unchanged
    expect(c.held[0]).toBe(2);
    c.unbind(0, false, 3, 0);
    expect([c.held[0], c.inactive[0]]).toEqual([1, 1]);
  });

  it("a load agent's report takes what the server does not hold out of the count, until cleared", () => {
    const c = RealServerCounters.create(1);
    for (let i = 0; i < 10; i++) c.bind(0, true, 10, 0);
    expect(c.isOverloaded(0)).toBe(true);
    // The server holds 4 of the 10 the director counts (6 ghosts); 2 more opened during the exchange.
    const heldAtProbe = c.held[0];
    c.bind(0, true, 10, 0);
    c.bind(0, true, 10, 0);
    expect(c.correctHeld(0, heldAtProbe, 4, 10, 0)).toBe(6);
    expect([c.load(0), c.isReported(0), c.isOverloaded(0)]).toEqual([6, true, false]);
    // Connections closing in the exchange: the smaller count is the one compared.
    expect(c.correctHeld(0, 20, 4, 10, 0)).toBe(8);
    // A server holding more than this director counts (another director feeds it): no correction.
    expect(c.correctHeld(0, 12, 30, 0, 0)).toBe(0);
    expect(c.load(0)).toBe(12);
    // A server that says it is full keeps the director's count (the shedder counts its resets off it).
    expect(c.correctHeld(0, 12, 10, 10, 0)).toBe(0);
    expect([c.load(0), c.isReported(0)]).toEqual([12, true]);
    // Unheld never takes the count below 0, and IPVS's count is never corrected.
    c.correctHeld(0, 12, 0, 10, 0);
    for (let i = 0; i < 12; i++) c.unbind(0, true, 10, 0);
    expect(c.load(0)).toBe(0);
    c.bind(0, true, 10, 0);
    c.setCountInactive(0, true);
    expect(c.load(0)).toBe(1);
    c.setCountInactive(0, false);
    c.clearReport(0, 10, 0);
    expect([c.unheld[0], c.isReported(0), c.load(0)]).toEqual([0, false, 1]);
  });
});
