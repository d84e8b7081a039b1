// The statistics behind `sluice list --stats / --rate`: the estimator against a model of
// ip_vs_est.c written in the kernel's own integer arithmetic (BigInt: u64 differences, s64 casts,
// arithmetic shifts), and the totals per service and real server against the shared counter
// block, including what a service added later, or an index handed to another real server, reads.
import { type ConfigSnapshot, CounterBlock, Per } from '@sluice/dataplane';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Estimator, ServiceStatistics } from './stats.ts';

/** estimation_timer + ip_vs_read_estimator for conns (and packets), in 64-bit kernel arithmetic. */
class KernelModel {
  last = 0n;
  avg = 0n;
  step(total: bigint, shift: bigint): void {
    const rate = (total - this.last) << shift;
    this.last = total;
    this.avg += BigInt.asIntN(64, rate - this.avg) >> 2n;
  }
  read(round: bigint, shift: bigint): number {
    return Number((this.avg + round) >> shift);
  }
}

const totals = (conns: number, inPkts: number, inBytes: number) => ({
  conns,
  inPkts,
  outPkts: 0,
  inBytes,
  outBytes: 0,
});

describe('Estimator (ip_vs_est.c)', () => {
  it('matches the kernel arithmetic step for step on random traffic', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            conns: fc.integer({ min: 0, max: 200_000 }),
            pkts: fc.integer({ min: 0, max: 2_000_000 }),
            bytes: fc.integer({ min: 0, max: 100_000_000 }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        (steps) => {
          const est = new Estimator(totals(0, 0, 0));
          const cps = new KernelModel();
          const pps = new KernelModel();
          const bps = new KernelModel();
          let c = 0;
          let p = 0;
          let b = 0;
          for (const s of steps) {
            c += s.conns;
            p += s.pkts;
            b += s.bytes;
            est.step(totals(c, p, b));
            cps.step(BigInt(c), 9n);
            pps.step(BigInt(p), 9n);
            bps.step(BigInt(b), 4n);
            const got = est.read();
            expect(got.cps).toBe(cps.read(0x1ffn, 10n));
            expect(got.inPps).toBe(pps.read(0x1ffn, 10n));
            expect(got.inBps).toBe(bps.read(0xfn, 5n));
            expect(got.outPps).toBe(0);
            expect(got.outBps).toBe(0);
          }
        },
      ),
    );
  });

  it('settles on a steady rate and decays by a quarter per step when traffic stops', () => {
    const est = new Estimator(totals(0, 0, 0));
    let c = 0;
    for (let i = 0; i < 40; i++) {
      c += 200;
      est.step(totals(c, c * 10, c * 1000));
    }
    const steady = est.read();
    expect(steady).toMatchObject({ cps: 100, inPps: 1000, outPps: 0, outBps: 0 });
    // The floor shift settles a hair under the rate, as the kernel's does (the model test above).
    expect(steady.inBps).toBeGreaterThanOrEqual(99_990);
    expect(steady.inBps).toBeLessThanOrEqual(100_000);
    est.step(totals(c, c * 10, c * 1000));
    expect(est.read().cps).toBe(75);
  });
});

function snapshot(
  services: { index: number; reals: { index: number; address: string }[] }[],
): ConfigSnapshot {
  return {
    version: 1,
    vni: 1,
    directorMac: '02:00:00:00:00:01',
    services: services.map((s) => ({
      index: s.index,
      vip: '10.0.0.100',
      port: 80 + s.index,
      protocol: 'tcp',
      scheduler: 'rr',
      persistence: null,
      reals: s.reals.map((r) => ({
        index: r.index,
        address: r.address,
        port: 80,
        mac: '02:00:00:00:01:01',
        vtep: '192.0.2.1',
        weight: 1,
        upperThreshold: 0,
        lowerThreshold: 0,
      })),
    })),
  };
}

describe('ServiceStatistics', () => {
  const setup = () => {
    const block = CounterBlock.create({ maxWorkers: 2, maxServices: 4, maxReals: 8 });
    const l = block.layout;
    /** Counts one forwarded packet (and optionally a new connection) as a worker does. */
    const count = (worker: number, svc: number, real: number, bytes: number, newConn = false) => {
      const r = block.region(worker);
      r[l.services + svc * Per.words + Per.packets] += 1;
      r[l.services + svc * Per.words + Per.bytes] += bytes;
      r[l.reals + real * Per.words + Per.packets] += 1;
      r[l.reals + real * Per.words + Per.bytes] += bytes;
      if (newConn) {
        r[l.services + svc * Per.words + Per.connections] += 1;
        r[l.reals + real * Per.words + Per.connections] += 1;
      }
    };
    return { block, count, stats: new ServiceStatistics(block) };
  };

  it('sums every worker region per service and real server', () => {
    const { count, stats } = setup();
    stats.track(snapshot([{ index: 0, reals: [{ index: 0, address: '10.0.1.1' }] }]), new Map([[0, 'web']]));
    count(0, 0, 0, 100, true);
    count(1, 0, 0, 60);
    const [web] = stats.read();
    expect(web.name).toBe('web');
    expect(web.totals).toEqual(totals(1, 2, 160));
    expect(web.reals[0].totals).toEqual(totals(1, 2, 160));
  });

  it('a service added later, and an index handed to another real server, start from zero', () => {
    const { count, stats } = setup();
    stats.track(snapshot([{ index: 0, reals: [{ index: 0, address: '10.0.1.1' }] }]), new Map([[0, 'web']]));
    count(0, 0, 0, 100, true);
    count(0, 1, 1, 40, true); // service 1 / real 1 are not configured yet
    stats.track(
      snapshot([
        { index: 0, reals: [{ index: 2, address: '10.0.1.2' }] },
        { index: 1, reals: [{ index: 1, address: '10.0.1.9' }] },
      ]),
      new Map([
        [0, 'web'],
        [1, 'api'],
      ]),
    );
    count(0, 1, 1, 10, true);
    const [web, api] = stats.read();
    expect(web.totals).toEqual(totals(1, 1, 100)); // kept
    expect(web.reals.map((r) => r.address)).toEqual(['10.0.1.2']);
    expect(web.reals[0].totals).toEqual(totals(0, 0, 0));
    expect(api.totals).toEqual(totals(1, 1, 10));
    expect(api.reals[0].totals).toEqual(totals(1, 1, 10));
    // The same index under another name is another service: zero again.
    stats.track(snapshot([{ index: 1, reals: [] }]), new Map([[1, 'dns']]));
    expect(stats.read()[0]).toMatchObject({ name: 'dns', totals: totals(0, 0, 0) });
  });

  it('rates step with tick() from the totals since tracking', () => {
    const { count, stats } = setup();
    count(0, 0, 0, 1000, true); // before tracking: not this service's
    stats.track(snapshot([{ index: 0, reals: [{ index: 0, address: '10.0.1.1' }] }]), new Map([[0, 'web']]));
    for (let i = 0; i < 30; i++) {
      for (let k = 0; k < 4; k++) count(k % 2, 0, 0, 50, k % 2 === 0);
      stats.tick();
    }
    const [web] = stats.read();
    // 2 connections, 4 packets, 200 bytes per 2-second step.
    expect(web.rates).toMatchObject({ cps: 1, inPps: 2, outPps: 0, outBps: 0 });
    expect(web.rates.inBps).toBeGreaterThanOrEqual(99);
    expect(web.rates.inBps).toBeLessThanOrEqual(100);
    expect(web.reals[0].rates).toEqual(web.rates);
  });
});
