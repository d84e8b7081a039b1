import {
  ConfigValidationError,
  DEFAULT_DEFENSE,
  DEMO_CONFIG,
  type LiveConfig,
  realKey,
  SCHEDULERS,
  validateLiveConfig,
} from '@sluice/config';
import { liveFixture, quicConfig } from '@sluice/config/testing';
import { CompiledConfig, decodeSnapshot, encodeSnapshot } from '@sluice/dataplane';
import { RealServerCounters } from '@sluice/schedulers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealIndexAllocator, toSnapshot, UNKNOWN_MAC } from './snapshot.ts';

/** A live config from `{ service: [last octets of its real servers] }`, all on port 80. */
function live(spec: Record<string, number[]>): LiveConfig {
  return validateLiveConfig({
    overlay: { vni: 1, directorMac: '02:00:00:00:00:01' },
    services: Object.entries(spec).map(([name, reals], i) => ({
      name,
      vip: '10.0.0.100',
      port: i + 1,
      reals: reals.map((n) => ({ address: `10.0.1.${n}`, port: 80, vtep: `192.0.2.${n}` })),
    })),
  });
}

const key = (service: string, n: number) => realKey(service, `10.0.1.${n}`, 80);

function indices(a: RealIndexAllocator, config: LiveConfig): Record<string, number> {
  return Object.fromEntries(a.assign(config).reals);
}

describe('realKey', () => {
  it('is service/realId', () => {
    expect(realKey('web', '10.0.0.2', 80)).toBe('web/10.0.0.2:80');
    expect(realKey('web', '2001:db8::2', 80)).toBe('web/[2001:db8::2]:80');
  });
});

describe('RealIndexAllocator', () => {
  it('plan() takes nothing until commit(): a change refused after planning leaves every index', () => {
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    indices(a, live({ web: [1, 2] }));
    const refused = a.plan(live({ other: [7, 8, 9] }));
    expect(Object.fromEntries(refused.assignment.reals)).toEqual({
      [key('other', 7)]: 2,
      [key('other', 8)]: 3,
      [key('other', 9)]: 4,
    });
    expect(a.realIndex(key('web', 1))).toBe(0);
    expect(a.realIndex(key('other', 7))).toBeUndefined();
    // The next change is planned from the running one, as if the refused one never happened.
    expect(indices(a, live({ web: [1, 2, 3] }))).toEqual({
      [key('web', 1)]: 0,
      [key('web', 2)]: 1,
      [key('web', 3)]: 2,
    });
    refused.commit();
    expect(a.realIndex(key('other', 7))).toBe(2);
  });

  it('numbers services and real servers in order at first', () => {
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    const got = a.assign(live({ web: [1, 2], api: [3] }));
    expect(Object.fromEntries(got.services)).toEqual({ web: 0, api: 1 });
    expect(Object.fromEntries(got.reals)).toEqual({
      [key('web', 1)]: 0,
      [key('web', 2)]: 1,
      [key('api', 3)]: 2,
    });
    expect(a.serviceIndex('api')).toBe(1);
    expect(a.realIndex(key('web', 2))).toBe(1);
    expect(a.realIndex(key('web', 9))).toBeUndefined();
  });

  it('keeps every index while its real server exists, whatever else is added or removed', () => {
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    indices(a, live({ web: [1, 2, 3] }));
    expect(indices(a, live({ web: [4, 1, 3] }))).toEqual({
      [key('web', 4)]: 3,
      [key('web', 1)]: 0,
      [key('web', 3)]: 2,
    });
    // 9 may take 2's index: 2 left in an earlier change.
    expect(indices(a, live({ api: [9], web: [3] }))).toEqual({ [key('api', 9)]: 1, [key('web', 3)]: 2 });
    expect(a.serviceIndex('web')).toBe(0);
    expect(a.serviceIndex('api')).toBe(1);
  });

  it('never gives a just-freed index to another real server in the same change; does in a later one', () => {
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    indices(a, live({ web: [1, 2, 3] }));
    // 2 leaves (index 1) as 4 arrives: 4 must not get 1.
    expect(indices(a, live({ web: [1, 3, 4] }))[key('web', 4)]).toBe(3);
    // The next change may reuse it, lowest first.
    expect(indices(a, live({ web: [1, 3, 4, 5] }))[key('web', 5)]).toBe(1);
  });

  it('gives a real server that comes back its old index if no other took it', () => {
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    indices(a, live({ web: [1, 2, 3] }));
    indices(a, live({ web: [1, 3] }));
    expect(indices(a, live({ web: [1, 2, 3] }))[key('web', 2)]).toBe(1);
    indices(a, live({ web: [1, 3] }));
    indices(a, live({ web: [1, 3] }));
    // Its index is free for anyone by now, but returning keys are served first.
    expect(indices(a, live({ web: [7, 1, 2, 3] }))).toMatchObject({ [key('web', 2)]: 1, [key('web', 7)]: 3 });
    // Removed again, and this time its index goes to another before it returns.
    indices(a, live({ web: [1, 3, 7] }));
    indices(a, live({ web: [1, 3, 7, 8] }));
    expect(a.realIndex(key('web', 8))).toBe(1);
    expect(indices(a, live({ web: [1, 2, 3, 7, 8] }))[key('web', 2)]).toBe(4);
  });

  it('a real server moved to another service is another key, with another index', () => {
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    indices(a, live({ web: [1], api: [2] }));
    expect(indices(a, live({ web: [], api: [2, 1] }))).toEqual({ [key('api', 2)]: 1, [key('api', 1)]: 2 });
  });

  it('service indices follow the same rules', () => {
    const a = new RealIndexAllocator({ maxServices: 3, maxReals: 16 });
    a.assign(live({ a: [], b: [], c: [] }));
    expect(Object.fromEntries(a.assign(live({ a: [], c: [] })).services)).toEqual({ a: 0, c: 2 });
    expect(Object.fromEntries(a.assign(live({ d: [], a: [], c: [] })).services)).toEqual({
      d: 1,
      a: 0,
      c: 2,
    });
  });

  it('past maxReals or maxServices: ConfigValidationError naming the first that does not fit', () => {
    const a = new RealIndexAllocator({ maxServices: 2, maxReals: 3 });
    a.assign(live({ web: [1, 2] }));
    const tooMany = (() => {
      try {
        a.assign(live({ web: [1], api: [3, 4, 5] }));
      } catch (e) {
        return e;
      }
    })();
    // 2 is cooling, so only index 2 is free for the newcomers: 3 takes it, 4 does not fit.
    expect(tooMany).toBeInstanceOf(ConfigValidationError);
    expect(tooMany).toMatchObject({ field: '/services/1/reals/1' });
    expect((tooMany as Error).message).toMatch(/maxReals/);
    expect(() =>
      new RealIndexAllocator({ maxServices: 2, maxReals: 3 }).assign(live({ a: [], b: [], c: [] })),
    ).toThrow(
      expect.objectContaining({ field: '/services/2', message: expect.stringMatching(/maxServices/) }),
    );
  });

  it('a change that does not fit changes nothing', () => {
    const history = [live({ web: [1, 2, 3] }), live({ web: [1, 3] }), live({ web: [1, 3, 4] })];
    const failing = live({ web: [5, 6, 7, 8], api: [9, 10, 11] });
    const later = [live({ web: [3, 5] }), live({ web: [2, 3, 5, 6] }), live({ api: [1], web: [6] })];
    const plain = new RealIndexAllocator({ maxServices: 4, maxReals: 6 });
    const failed = new RealIndexAllocator({ maxServices: 4, maxReals: 6 });
    for (const c of history) expect(indices(failed, c)).toEqual(indices(plain, c));
    expect(() => failed.assign(failing)).toThrow(ConfigValidationError);
    expect(failed.serviceIndex('api')).toBeUndefined();
    expect(failed.realIndex(key('web', 4))).toBe(plain.realIndex(key('web', 4)));
    for (const c of later) expect(failed.assign(c)).toEqual(plain.assign(c));
  });

  it('property: stable while present, unique, bounded, no same-change reuse', () => {
    const universe = Array.from({ length: 12 }, (_, i) => i + 1);
    const change = fc.subarray(universe).chain((rs) => fc.shuffledSubarray(rs, { minLength: rs.length }));
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 30 }), (changes) => {
        const a = new RealIndexAllocator({ maxServices: 1, maxReals: 24 });
        let prev = new Map<string, number>();
        for (const reals of changes) {
          const got = a.assign(live({ web: reals })).reals;
          const values = [...got.values()];
          expect(new Set(values).size).toBe(values.length);
          for (const v of values) expect(v).toBeLessThan(24);
          for (const [k, v] of got) {
            const before = prev.get(k);
            if (before !== undefined) expect(v).toBe(before);
          }
          const justFreed = new Set([...prev].filter(([k]) => !got.has(k)).map(([, v]) => v));
          for (const [k, v] of got) if (!prev.has(k)) expect(justFreed.has(v)).toBe(false);
          prev = got;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => new RealIndexAllocator({ maxServices: 0, maxReals: 1 })).toThrow(RangeError);
    expect(() => new RealIndexAllocator({ maxServices: 1, maxReals: 1.5 })).toThrow(RangeError);
  });
});

describe('toSnapshot', () => {
  const limits = { maxServices: 8, maxReals: 64 };

  it('maps the live config, indexing through the allocator', () => {
    const config = validateLiveConfig(liveFixture());
    config.services[0].reals[0].mac = '02:00:00:00:01:01';
    config.services[0].persistence = { timeoutSeconds: 300, netmask: 24 };
    config.services[1].persistence = { timeoutSeconds: 60, netmask: 64 };
    Object.assign(config.services[0].reals[0], { weight: 5, upperThreshold: 100, lowerThreshold: 80 });
    const before = structuredClone(config);
    const snap = toSnapshot(config, 3, new RealIndexAllocator(limits), { learnedMacs: new Map() });
    expect(config).toEqual(before);
    // A config without a defense section gets the default defense.
    expect(snap.defense).toEqual({ ...DEFAULT_DEFENSE, rules: [] });
    expect({ ...snap, defense: undefined }).toEqual({
      defense: undefined,
      version: 3,
      vni: 7,
      directorMac: '02:00:00:00:00:01',
      services: [
        {
          index: 0,
          vip: '10.0.0.100',
          port: 80,
          protocol: 'tcp',
          scheduler: 'wlc',
          persistence: { timeoutSeconds: 300, prefixLength: 96 + 24 },
          reals: [
            {
              index: 0,
              address: '10.0.1.1',
              port: 8080,
              mac: '02:00:00:00:01:01',
              vtep: '192.0.2.1',
              weight: 5,
              lastWeight: 5,
              upperThreshold: 100,
              lowerThreshold: 80,
            },
            {
              index: 1,
              address: '10.0.1.2',
              port: 8080,
              mac: UNKNOWN_MAC,
              vtep: '192.0.2.2',
              weight: 0,
              lastWeight: 1,
              upperThreshold: 0,
              lowerThreshold: 0,
            },
          ],
        },
        {
          index: 1,
          vip: '2001:db8::53',
          port: 53,
          protocol: 'udp',
          scheduler: 'wlc',
          persistence: { timeoutSeconds: 60, prefixLength: 64 },
          reals: [
            {
              index: 2,
              address: '2001:db8:1::1',
              port: 53,
              mac: UNKNOWN_MAC,
              vtep: '192.0.2.3',
              weight: 0,
              lastWeight: 1,
              upperThreshold: 0,
              lowerThreshold: 0,
            },
          ],
        },
      ],
    });
  });

  it('a persistent IPv4 service with netmask 0 groups every client: prefix 96', () => {
    const config = validateLiveConfig(liveFixture());
    config.services[0].persistence = { timeoutSeconds: 1, netmask: 0 };
    const snap = toSnapshot(config, 1, new RealIndexAllocator(limits), { learnedMacs: new Map() });
    expect(snap.services[0].persistence?.prefixLength).toBe(96);
    expect(snap.services[1].persistence).toBeNull();
  });

  it('weight 0 for draining, down and MAC-less real servers; the configured weight otherwise', () => {
    const config = validateLiveConfig(liveFixture());
    for (const r of config.services[0].reals) r.weight = 7;
    const k0 = realKey('web', '10.0.1.1', 8080);
    const k1 = realKey('web', '10.0.1.2', 8080);
    const allocator = new RealIndexAllocator(limits);
    const weights = (opts: Parameters<typeof toSnapshot>[3], c = config) =>
      toSnapshot(c, 1, allocator, opts).services[0].reals.map((r) => [r.weight, r.mac]);

    expect(weights({ learnedMacs: new Map() })).toEqual([
      [0, UNKNOWN_MAC],
      [0, UNKNOWN_MAC],
    ]);
    const learned = new Map([
      [k0, '02:00:00:00:00:10'],
      [k1, '02:00:00:00:00:11'],
    ]);
    expect(weights({ learnedMacs: learned })).toEqual([
      [7, '02:00:00:00:00:10'],
      [7, '02:00:00:00:00:11'],
    ]);
    expect(weights({ learnedMacs: learned, down: new Set([k1]) })).toEqual([
      [7, '02:00:00:00:00:10'],
      [0, '02:00:00:00:00:11'],
    ]);
    const draining = structuredClone(config);
    draining.services[0].reals[0].state = 'draining';
    expect(weights({ learnedMacs: learned }, draining)).toEqual([
      [0, '02:00:00:00:00:10'],
      [7, '02:00:00:00:00:11'],
    ]);
    expect(draining.services[0].reals[0].weight).toBe(7);
    // A configured MAC is used as configured, learned or not.
    const configured = structuredClone(config);
    configured.services[0].reals[1].mac = '02:00:00:00:00:99';
    expect(weights({ learnedMacs: learned }, configured)[1]).toEqual([7, '02:00:00:00:00:99']);
  });

  it('what it builds the dataplane compiles, and survives the mailbox encoding', () => {
    const config = validateLiveConfig(liveFixture());
    config.services[0].persistence = { timeoutSeconds: 300, netmask: 24 };
    config.services[1].persistence = { timeoutSeconds: 300, netmask: 48 };
    const allocator = new RealIndexAllocator(limits);
    for (const c of [
      config,
      validateLiveConfig({ overlay: DEMO_CONFIG.overlay, services: DEMO_CONFIG.services }),
    ]) {
      const snap = toSnapshot(c, 9, allocator, { learnedMacs: new Map() });
      const compiled = new CompiledConfig(snap, limits, RealServerCounters.create(limits.maxReals));
      expect(compiled.version).toBe(9);
      expect(decodeSnapshot(encodeSnapshot(snap))).toEqual(snap);
    }
  });

  it('every scheduler the schema allows validates, snapshots and compiles', () => {
    const allocator = new RealIndexAllocator(limits);
    for (const scheduler of SCHEDULERS) {
      const raw = liveFixture();
      raw.services[0].scheduler = scheduler;
      const snap = toSnapshot(validateLiveConfig(raw), 1, allocator, { learnedMacs: new Map() });
      expect(snap.services[0].scheduler).toBe(scheduler);
      const compiled = new CompiledConfig(snap, limits, RealServerCounters.create(limits.maxReals));
      expect(compiled.schedulers[snap.services[0].index].name).toBe(scheduler);
    }
  });
});

describe('toSnapshot and ipvsadm -b flags', () => {
  it("carries a service's scheduler flags to the workers, and none when it has none", () => {
    const config = live({ web: [1, 2], api: [3] });
    config.services[0].scheduler = 'sh';
    config.services[0].schedulerFlags = ['sh-fallback', 'sh-port'];
    const a = new RealIndexAllocator({ maxServices: 4, maxReals: 16 });
    const snap = decodeSnapshot(
      encodeSnapshot(toSnapshot(validateLiveConfig(config), 1, a, { learnedMacs: new Map() })),
    );
    expect(snap.services[0].schedulerFlags).toEqual(['sh-fallback', 'sh-port']);
    expect(snap.services[1]).not.toHaveProperty('schedulerFlags');
  });
});

describe('toSnapshot of a QUIC service', () => {
  it('becomes a snapshot the dataplane compiles', () => {
    const c = quicConfig({
      quicLb: { configId: 2, serverIdLength: 2, nonceLength: 6, lengthSelfEncoded: true },
    });
    const live = validateLiveConfig(c);
    const allocator = new RealIndexAllocator({ maxServices: 4, maxReals: 8 });
    const snap = toSnapshot(live, 1, allocator, { learnedMacs: new Map() });
    expect(snap.services[0].quic).toEqual({
      serverIdOffset: 1,
      serverIdLength: 2,
      cidLength: 9,
      configId: 2,
      lengthSelfEncoded: true,
    });
    expect(snap.services[0].reals.map((r) => r.quicServerId)).toEqual(['0a01', '0a02', '0a03']);
    const compiled = new CompiledConfig(snap, { maxServices: 4, maxReals: 8 }, RealServerCounters.create(8));
    expect(compiled.quicTables[snap.services[0].index]?.count).toBe(3);
    // A service without `quic` has no table and its snapshot no layout.
    const plain = validateLiveConfig(quicConfig());
    delete plain.services[0].quic;
    for (const r of plain.services[0].reals) delete r.quicServerId;
    const s2 = toSnapshot(validateLiveConfig(plain), 2, allocator, { learnedMacs: new Map() });
    expect(s2.services[0].quic).toBeUndefined();
    expect(s2.services[0].reals[0].quicServerId).toBeUndefined();
  });
});
