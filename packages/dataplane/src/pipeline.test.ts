// The pipeline in this thread (no workers): hostile bytes never throw and are counted; IPVS
// thresholds and persistence through the real packet path; entries leaving keep counts exact.
import { ConnectionTable, PersistenceTable, SourceTable, Src } from '@sluice/conntrack';
import { RealServerCounters, SCHEDULER_NAMES, type SchedulerName } from '@sluice/schedulers';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Batch,
  CompiledConfig,
  type ConfigSnapshot,
  CounterBlock,
  DEFAULT_PIPELINE_OPTIONS,
  DropReason,
  Pipeline,
  Verdict,
} from './index.ts';

const MAC = '02:00:00:00:00:01';
const traffic = new TrafficFrames({ vni: 7, clientMac: '02:00:00:00:09:09', directorMac: MAC });
const VIP = addressBytes('10.0.0.100');

function config(
  opts: {
    upper?: number;
    lower?: number;
    persistence?: boolean;
    reals?: number;
    scheduler?: SchedulerName;
  } = {},
): ConfigSnapshot {
  return {
    version: 1,
    vni: 7,
    directorMac: MAC,
    services: [
      {
        index: 0,
        vip: '10.0.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: opts.scheduler ?? 'rr',
        persistence: opts.persistence ? { timeoutSeconds: 300, prefixLength: 120 } : null,
        reals: Array.from({ length: opts.reals ?? 2 }, (_, i) => ({
          index: i,
          address: `10.0.1.${i + 1}`,
          port: 80,
          mac: `02:00:00:00:01:0${i + 1}`,
          vtep: `192.168.0.${i + 1}`,
          weight: 1,
          upperThreshold: opts.upper ?? 0,
          lowerThreshold: opts.lower ?? 0,
        })),
      },
    ],
  };
}

function setup(snapshot: ConfigSnapshot) {
  const limits = { maxServices: 4, maxReals: 8 };
  const reals = RealServerCounters.create(8);
  const tables = {
    connections: ConnectionTable.create(4096),
    sources: SourceTable.create(1024),
    persistence: PersistenceTable.create(256),
    reals,
  };
  const counters = CounterBlock.create({ maxWorkers: 1, ...limits });
  const pipe = new Pipeline(
    tables,
    counters.region(0),
    counters.layout,
    new CompiledConfig(snapshot, limits, reals),
    DEFAULT_PIPELINE_OPTIONS,
  );
  const batch = Batch.create({ maxFrames: 64, dataBytes: 64 * 1600 });
  const run = (frames: Uint8Array[]) => {
    batch.reset();
    for (const f of frames) expect(batch.push(f, 0, f.length, 0)).toBe(true);
    pipe.processBatch(batch);
    return Array.from({ length: batch.count }, (_, i) => [batch.verdictOf(i), batch.argOf(i)]);
  };
  return { pipe, tables, counters, run };
}

const syn = (c: number, port = 1000) =>
  traffic.tcp({
    src: addressBytes(`198.51.100.${c}`),
    dst: VIP,
    srcPort: port,
    dstPort: 80,
    flags: TCP.syn,
    seq: 1,
  });

describe('Pipeline', () => {
  it('never throws on hostile datagrams and counts every one as a verdict', () => {
    const { run, counters } = setup(config());
    const valid = syn(1);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          fc
            .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
            .map((muts) => {
              const b = valid.slice();
              for (const [i, v] of muts) b[i] = v;
              return b;
            }),
        ),
        (bytes) => {
          run([bytes]);
        },
      ),
      { numRuns: 3000 },
    );
    const total = counters.sum(Verdict.drop) + counters.sum(Verdict.forward) + counters.sum(Verdict.reply);
    expect(total).toBe(3000);
  });

  it('a real server past its upper threshold takes no new connections until under the lower one', () => {
    const { run, tables } = setup(config({ upper: 3, lower: 1, reals: 1 }));
    const first = run([syn(1), syn(2), syn(3), syn(4)]);
    expect(first.map(([v]) => v)).toEqual([Verdict.forward, Verdict.forward, Verdict.forward, Verdict.drop]);
    expect(first[3][1]).toBe(DropReason.noRealServer);
    expect(tables.reals.isOverloaded(0)).toBe(true);
    // RSTs from two clients close their entries (CLOSE, 10 s); expiry removes them later, so
    // reset them through the table as the control plane would, and watch the flag clear at < 1.
    run([
      traffic.tcp({
        src: addressBytes('198.51.100.1'),
        dst: VIP,
        srcPort: 1000,
        dstPort: 80,
        flags: TCP.rst,
        seq: 2,
      }),
    ]);
    expect(tables.reals.inactive[0]).toBe(3);
    const now = 10 ** 9;
    let removed = 0;
    for (let i = 0; i < tables.connections.capacity / 256; i++)
      removed += tables.connections.expireStep(now, 256);
    expect(removed).toBe(3);
    expect(tables.reals.inactive[0]).toBe(0);
    expect(tables.reals.isOverloaded(0)).toBe(false);
  });

  it('persistence sends every client of a netmask to the same real server', () => {
    const { run, tables } = setup(config({ persistence: true, reals: 3 }));
    const v = run([syn(1, 1), syn(2, 2), syn(3, 3), syn(4, 4)]);
    const reals = new Set(v.map(([, r]) => r));
    expect(reals.size).toBe(1);
    expect(tables.persistence.count()).toBe(1);
    const other = run([
      traffic.tcp({
        src: addressBytes('203.0.113.9'),
        dst: VIP,
        srcPort: 9,
        dstPort: 80,
        flags: TCP.syn,
        seq: 1,
      }),
    ]);
    expect(other[0][0]).toBe(Verdict.forward);
    expect(tables.persistence.count()).toBe(2);
  });

  it('serves a service with each of the 14 IPVS schedulers', () => {
    for (const scheduler of SCHEDULER_NAMES) {
      const { run, tables } = setup(config({ scheduler, reals: 3 }));
      const v = run(Array.from({ length: 12 }, (_, c) => syn(c + 1, 2000 + c)));
      for (const [verdict, real] of v) {
        expect(verdict, scheduler).toBe(Verdict.forward);
        expect([0, 1, 2], scheduler).toContain(real);
      }
      const counted = [0, 1, 2].map((r) => tables.reals.inactive[r]);
      expect(
        counted.reduce((a, b) => a + b, 0),
        scheduler,
      ).toBe(12);
    }
  });

  it('keeps source counts exact: connections, SYNs, handshakes', () => {
    const { run, tables } = setup(config());
    const src = addressBytes('198.51.100.7');
    const pkt = (port: number, flags: number, seq: number) =>
      traffic.tcp({ src, dst: VIP, srcPort: port, dstPort: 80, flags, seq });
    run([pkt(1, TCP.syn, 1), pkt(2, TCP.syn, 1), pkt(1, TCP.ack, 2), pkt(1, TCP.syn, 1)]);
    const slot = tables.sources.acquire(0, 0, 0xffff, 0xc6336407 | 0, false, 0);
    const b = tables.sources.recordBase(slot);
    expect(tables.sources.i32[b + Src.concurrent]).toBe(2);
    expect(tables.sources.i32[b + Src.connectionsTotal]).toBe(2);
    expect(tables.sources.i32[b + Src.handshakes]).toBe(1);
    tables.sources.release(slot);
  });
});

describe("Pipeline and the director's own overlay address (overlay health checks)", () => {
  const withOwn = (): ConfigSnapshot => ({ ...config(), directorAddress: '10.0.0.2' });
  const realFrames = new TrafficFrames({ vni: 7, clientMac: '02:00:00:00:01:01', directorMac: MAC });

  it('answers ARP for it like ARP for a VIP, and only with an own address configured', () => {
    const ask = realFrames.arpRequest(addressBytes('10.0.1.1'), addressBytes('10.0.0.2'));
    expect(setup(withOwn()).run([ask.slice()])).toEqual([[Verdict.reply, 0]]);
    expect(setup(config()).run([ask.slice()])).toEqual([[Verdict.drop, DropReason.notForUs]]);
  });

  it("hands a frame to it to the control plane (not-for-us: punted); another address is no service's", () => {
    const synAck = (dst: string) =>
      realFrames.tcp({
        src: addressBytes('10.0.1.1'),
        dst: addressBytes(dst),
        srcPort: 80,
        dstPort: 50000,
        flags: TCP.syn | TCP.ack,
        seq: 7,
        ack: 2,
      });
    const { run } = setup(withOwn());
    expect(run([synAck('10.0.0.2'), synAck('10.0.0.3')])).toEqual([
      [Verdict.drop, DropReason.notForUs],
      [Verdict.drop, DropReason.noService],
    ]);
  });

  it('refuses an own address that is not unicast IPv4', () => {
    const reals = RealServerCounters.create(8);
    for (const bad of ['2001:db8::2', '0.0.0.0']) {
      expect(
        () =>
          new CompiledConfig({ ...config(), directorAddress: bad }, { maxServices: 4, maxReals: 8 }, reals),
      ).toThrow(expect.objectContaining({ code: 'SLUICE_ERR_DATAPLANE_CONFIG' }));
    }
  });
});
