// CompiledConfig's hand-off to the schedulers: a real server quiesced to weight 0 (draining, down,
// MAC not yet known) keeps its place in Maglev's table through `lastWeight`, as the kernel's
// last_weight does, so no other real server's flows move when one is drained; lblc's table
// outlives a config change, as the kernel keeps it while real servers are edited.
import { RealServerCounters, type SchedulerName } from '@sluice/schedulers';
import { describe, expect, it } from 'vitest';
import { CompiledConfig } from './compile.ts';
import type { ConfigSnapshot } from './snapshot.ts';
import { exampleSnapshot } from './testing.ts';

function snapshot(
  weights: number[],
  lastWeights: (number | undefined)[],
  scheduler: SchedulerName = 'mh',
): ConfigSnapshot {
  const s = exampleSnapshot({ reals: weights.length, scheduler, vni: 1, vtep: (i) => `192.0.2.${i + 1}` });
  s.services[0].reals.forEach((r, i) => {
    r.weight = weights[i];
    r.lastWeight = lastWeights[i];
  });
  return s;
}

function picks(cfg: CompiledConfig): number[] {
  const flow = {
    src0: 0,
    src1: 0,
    src2: 0xffff,
    src3: 0,
    srcPort: 0,
    dst0: 0,
    dst1: 0,
    dst2: 0xffff,
    dst3: 0x0a000064,
    dstPort: 80,
  };
  const out: number[] = [];
  for (let i = 0; i < 5000; i++) {
    flow.src3 = (0x0b000000 + i * 7919) | 0;
    out.push(cfg.schedulers[0].pick(flow));
  }
  return out;
}

describe('CompiledConfig with mh and quiesced real servers', () => {
  const limits = { maxServices: 4, maxReals: 8 };

  it('keeps every other flow in place when one real server is drained (lastWeight)', () => {
    const counters = RealServerCounters.create(8);
    const before = picks(new CompiledConfig(snapshot([1, 1, 1, 1], [1, 1, 1, 1]), limits, counters));
    const after = picks(new CompiledConfig(snapshot([1, 0, 1, 1], [1, 1, 1, 1]), limits, counters));
    let moved = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] !== 1 && after[i] !== before[i]) moved++;
      if (before[i] === 1) expect(after[i]).not.toBe(1);
    }
    expect(moved).toBe(0);
  });

  it('without lastWeight the table is rebuilt and other flows move', () => {
    const counters = RealServerCounters.create(8);
    const before = picks(new CompiledConfig(snapshot([1, 1, 1, 1], [1, 1, 1, 1]), limits, counters));
    const after = picks(new CompiledConfig(snapshot([1, 0, 1, 1], [1, 0, 1, 1]), limits, counters));
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== 1 && after[i] !== before[i]) moved++;
    expect(moved).toBeGreaterThan(0);
  });
});

describe('CompiledConfig with lblc across versions', () => {
  const limits = { maxServices: 4, maxReals: 8 };
  const flow = {
    src0: 0,
    src1: 0,
    src2: 0xffff,
    src3: 1,
    srcPort: 1,
    dst0: 0,
    dst1: 0,
    dst2: 0xffff,
    dst3: 0x0a000064,
    dstPort: 80,
  };

  it('a version compiled with the previous one keeps its destination table', () => {
    const counters = RealServerCounters.create(8);
    const v1 = new CompiledConfig(snapshot([1, 1, 1], [], 'lblc'), limits, counters);
    expect(v1.schedulers[0].pick(flow)).toBe(0);
    counters.inactive[0] = 5; // wlc alone would now pick 1
    const v2 = new CompiledConfig(snapshot([1, 2, 1], [], 'lblc'), limits, counters, v1);
    expect(v2.schedulers[0].pick(flow)).toBe(0);
    const fresh = new CompiledConfig(snapshot([1, 2, 1], [], 'lblc'), limits, counters);
    expect(fresh.schedulers[0].pick(flow)).toBe(1);
  });
});

describe('CompiledConfig hands ipvsadm -b flags to the scheduler', () => {
  const limits = { maxServices: 4, maxReals: 8 };
  const withFlags = (flags: string[] | undefined, weights = [1, 1, 1, 1]): ConfigSnapshot => {
    const s = snapshot(weights, [1, 1, 1, 1]);
    if (flags !== undefined) s.services[0].schedulerFlags = flags;
    return s;
  };
  /** One client address, many source ports. */
  const portPicks = (cfg: CompiledConfig): Set<number> => {
    const flow = { src0: 0, src1: 0, src2: 0xffff, src3: 0x0b000001, srcPort: 0, dst0: 0, dst1: 0 };
    const out = new Set<number>();
    for (let p = 1024; p < 1124; p++) {
      out.add(cfg.schedulers[0].pick({ ...flow, srcPort: p, dst2: 0xffff, dst3: 0x0a000064, dstPort: 80 }));
    }
    return out;
  };

  it('mh-port spreads one client over the real servers by source port; without it one server takes all', () => {
    const counters = RealServerCounters.create(8);
    expect(portPicks(new CompiledConfig(withFlags(undefined), limits, counters)).size).toBe(1);
    expect(portPicks(new CompiledConfig(withFlags(['mh-port']), limits, counters)).size).toBe(4);
  });

  it('mh-fallback sends the flows of a quiesced member elsewhere; without it they find no server', () => {
    const counters = RealServerCounters.create(8);
    const plain = picks(new CompiledConfig(withFlags(undefined, [1, 0, 1, 1]), limits, counters));
    const fallback = picks(new CompiledConfig(withFlags(['mh-fallback'], [1, 0, 1, 1]), limits, counters));
    expect(plain.filter((r) => r === -1).length).toBeGreaterThan(0);
    expect(fallback.filter((r) => r === -1).length).toBe(0);
    expect(fallback.filter((r) => r === 1).length).toBe(0);
  });
});

describe('CompiledConfig refuses what would throw later on a timer', () => {
  it('an LVS amemthresh past 2^31-1 is a ConfigError (SLUICE_ERR_DATAPLANE_CONFIG) at compile', () => {
    const s = snapshot([1], [undefined], 'rr');
    s.defense = {
      strategy: 'drop_entry',
      highWatermark: 0.98,
      lowWatermark: 0.95,
      verification: {
        mode: 'auto',
        watermark: 0.75,
        holdSeconds: 10,
        ttlSeconds: 3600,
        probeIntervalMs: 1000,
      },
      countInactive: false,
      lvs: { dropEntry: 1, dropPacket: 1, secureTcp: 1, amemthresh: 2 ** 53, amDroprate: 10 },
      weights: {},
      rules: [],
      sourceChecks: { enabled: false, action: 'lowest' },
    };
    const reals = RealServerCounters.create(8);
    const limits = { maxServices: 4, maxReals: 8 };
    expect(() => new CompiledConfig(s, limits, reals)).toThrow(
      expect.objectContaining({
        code: 'SLUICE_ERR_DATAPLANE_CONFIG',
        message: expect.stringMatching(/amemthresh/),
      }),
    );
    s.defense.lvs.amemthresh = 1024;
    expect(() => new CompiledConfig(s, limits, reals)).not.toThrow();
  });
});
