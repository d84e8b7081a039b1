import { validateConfigFile } from '@sluice/config';
import { describe, expect, it } from 'vitest';
import {
  addresses,
  BOT_SCENARIOS,
  defenseFor,
  directorConfig,
  type LabForConfig,
  natAddresses,
  planRuns,
  type RunSpec,
  SCENARIOS,
  STRATEGIES,
  type Strategy,
  WORKERS,
} from './plan.ts';

describe('planRuns', () => {
  it('--quick is priority against none on the kernel-shaped spoofer', () => {
    expect(
      planRuns({ quick: true }).map((r) => `${r.strategy}/${r.scenario}/${r.attack}/${r.durationS}`),
    ).toEqual(['priority/spoof-kernel/2000/6', 'none/spoof-kernel/2000/6']);
  });

  it("levels, when given, replace every scenario's own", () => {
    expect(
      planRuns({
        quick: true,
        scenarios: ['syn-flood-real'],
        strategies: ['priority'],
        levels: ['flood', 10],
      }).map((r) => `${r.scenario}/${r.attack}`),
    ).toEqual(['syn-flood-real/flood', 'syn-flood-real/10']);
  });

  it('the full grid runs every arm at every level of every scenario, arms side by side', () => {
    const runs = planRuns();
    for (const scenario of SCENARIOS) {
      for (const strategy of STRATEGIES) {
        expect(
          runs.some((r) => r.scenario === scenario && r.strategy === strategy),
          `${scenario}/${strategy}`,
        ).toBe(true);
      }
    }
    // The arms of one level are adjacent, so a level's comparison shares the machine's state.
    expect(runs.slice(0, STRATEGIES.length).map((r) => r.strategy)).toEqual([...STRATEGIES]);
    expect(new Set(runs.filter((r) => r.scenario === 'syn-flood').map((r) => r.attack))).toEqual(
      new Set([1000, 100, 'flood']),
    );
  });

  it('the bot scenarios are the ones with real-address bots', () => {
    expect([...BOT_SCENARIOS].sort()).toEqual([
      'header-churn',
      'http-flood',
      'idle-hold',
      'mixed',
      'slow-forged',
      'slow-header',
      'slow-link',
      'slow-link-above',
      'slow-read',
      'slow-read-reopen',
      'slow-read-under',
      'slowhttptest-B',
      'slowhttptest-H',
      'slowhttptest-X',
      'spread',
      'spread-renew',
    ]);
  });
});

describe('addresses', () => {
  it('places 256 valid clients in 16 /24s and 64 spread bots in 64 /24s, all distinct', () => {
    const a = addresses(241);
    expect(a.valid).toHaveLength(256);
    expect(new Set(a.valid.map((x) => x.split('.').slice(0, 3).join('.'))).size).toBe(16);
    expect(new Set(a.spread.map((x) => x.split('.').slice(0, 3).join('.'))).size).toBe(64);
    const all = [...a.valid, ...a.partners, ...a.bots, ...a.spread];
    expect(new Set(all).size).toBe(all.length);
    expect(a.partners.every((x) => x.startsWith('10.241.200.'))).toBe(true);
  });
});

describe('natAddresses', () => {
  it('translates each private address to its own public one, or the valid clients to N shared ones', () => {
    const a = addresses(241);
    const one = natAddresses(a);
    expect(new Set(one.toPublic.values()).size).toBe(a.valid.length + a.partners.length);
    expect(one.toPublic.get(one.inside.valid[7])).toBe(a.valid[7]);
    const cg = natAddresses(a, 4);
    expect(cg.inside.valid).toEqual(one.inside.valid);
    const shared = cg.inside.valid.map((x) => cg.toPublic.get(x));
    expect(new Set(shared)).toEqual(new Set(a.valid.slice(0, 4)));
    expect(shared.filter((x) => x === a.valid[0])).toHaveLength(a.valid.length / 4);
    // the partners stay 1:1, inside their rule's prefix
    expect(cg.inside.partners.map((x) => cg.toPublic.get(x))).toEqual(a.partners);
  });
});

describe('director config', () => {
  const lab: LabForConfig = {
    directorUnderlay: '192.168.241.1',
    directorConfig: () => ({
      overlay: { vni: 100, directorMac: '02:53:4c:00:f1:01' },
      services: [
        {
          name: 'web4',
          vip: '10.241.0.100',
          port: 80,
          protocol: 'tcp',
          scheduler: 'rr',
          persistence: null,
          reals: [
            {
              address: '10.241.0.11',
              port: 80,
              vtep: '192.168.241.11',
              mac: '02:00:00:00:00:11',
              weight: 1,
              upperThreshold: 0,
              lowerThreshold: 0,
              state: 'active',
              healthCheck: null,
            },
          ],
        },
      ],
    }),
  };
  const a = addresses(241);
  const spec = (strategy: Strategy): RunSpec => ({
    scenario: 'no-attack',
    strategy,
    attack: 0,
    durationS: 1,
  });

  it('priority is the defaults: only the strategy, the partner rule and the checks the lab needs off', () => {
    expect(defenseFor('priority', a.partnerCidr)).toEqual({
      strategy: 'priority',
      rules: [{ cidr: a.partnerCidr, priority: 0 }],
      sourceChecks: { enabled: false, action: 'lowest' },
    });
  });

  it('none has no thresholds; priority the worker count; none-thresholds and the LVS arms count inactive with room for it', () => {
    expect(directorConfig(lab, spec('none'), a, 1, '/t').services[0].reals[0].upperThreshold).toBe(0);
    expect(directorConfig(lab, spec('priority'), a, 1, '/t').services[0].reals[0].upperThreshold).toBe(
      WORKERS,
    );
    for (const s of ['none-thresholds', 'drop_entry', 'drop_packet', 'secure_tcp'] as const) {
      const cfg = directorConfig(lab, spec(s), a, 1, '/t');
      // the workers, plus 22 connections/s over 2 reals for FIN_WAIT's 120 s
      expect(cfg.services[0].reals[0].upperThreshold).toBe(WORKERS + 1320);
      expect(cfg.defense?.countInactive).toBe(true);
      expect(cfg.defense?.strategy).toBe(s === 'none-thresholds' ? 'none' : s);
    }
    expect(defenseFor('drop_entry', a.partnerCidr).lvs).toMatchObject({
      dropEntry: 3,
      dropPacket: 0,
      secureTcp: 0,
    });
    expect(directorConfig(lab, spec('priority'), a, 1, '/t').services[0].scheduler).toBe('wlc');
  });

  it('every arm is a config the daemon accepts, priority filled with the defaults', () => {
    for (const s of STRATEGIES)
      expect(() => validateConfigFile(directorConfig(lab, spec(s), a, 9180, '/t'))).not.toThrow();
    const d = validateConfigFile(directorConfig(lab, spec('priority'), a, 9180, '/t')).defense;
    expect(d?.countInactive).toBe(false);
    expect(d?.highWatermark).toBe(0.98);
    expect(d?.verification).toEqual({
      mode: 'auto',
      watermark: 0.75,
      holdSeconds: 10,
      ttlSeconds: 3600,
      probeIntervalMs: 1000,
      probeNewSources: true,
      probesPerSecond: 1000,
    });
    expect(d?.weights).toEqual({});
  });
});
