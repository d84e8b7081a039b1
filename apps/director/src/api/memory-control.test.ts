import { DEFAULT_DEFENSE, type DefenseConfig } from '@sluice/config';
import { describe, expect, it } from 'vitest';
import { MemoryDirectorControl } from './memory-control.ts';
import { sampleConfig } from './test-support.ts';

describe('MemoryDirectorControl (the test double keeps the director contract)', () => {
  it('applies a valid config: new version, new ETag', async () => {
    const control = new MemoryDirectorControl(sampleConfig());
    const before = control.getConfig();
    const next = sampleConfig();
    next.overlay.vni = 1;
    const view = await control.applyConfig(next, before.etag);
    expect(view.version).toBe(2);
    expect(view.etag).not.toBe(before.etag);
    expect(control.getConfig().config.overlay.vni).toBe(1);
  });

  it('refuses invalid configs naming the field, and stale If-Match, changing nothing', async () => {
    const control = new MemoryDirectorControl(sampleConfig());
    const before = control.getConfig();
    const badPort = sampleConfig();
    (badPort.services[1].reals[0] as { port: unknown }).port = 0;
    await expect(control.applyConfig(badPort)).rejects.toMatchObject({
      code: 'SLUICE_ERR_CONFIG_INVALID',
      field: '/services/1/reals/0/port',
    });
    const twice = sampleConfig();
    twice.services[0].reals.push({ ...twice.services[0].reals[0], vtep: '192.168.53.99' });
    await expect(control.applyConfig(twice)).rejects.toMatchObject({ field: '/services/0/reals/2' });
    const sameListener = sampleConfig();
    sameListener.services[1] = { ...sameListener.services[0], name: 'web2' };
    await expect(control.applyConfig(sameListener)).rejects.toMatchObject({ field: '/services/1' });
    await expect(control.applyConfig(sampleConfig(), '"v0-x"')).rejects.toMatchObject({
      code: 'SLUICE_ERR_CONFIG_PRECONDITION',
    });
    expect(control.getConfig()).toEqual(before);
  });

  it('hands out copies', () => {
    const control = new MemoryDirectorControl(sampleConfig());
    control.getConfig().config.services.length = 0;
    expect(control.getConfig().config.services).toHaveLength(2);
  });

  it('checks the defense section as the director does, naming the field', async () => {
    const control = new MemoryDirectorControl(sampleConfig());
    const before = control.getConfig();
    const cases: [Partial<DefenseConfig>, string][] = [
      [{ lowWatermark: 0.99 }, '/defense/lowWatermark'],
      [{ weights: { nope: 1 } }, '/defense/weights/nope'],
      [{ rules: [{ cidr: '10.0.0.1/8', priority: 0 }] }, '/defense/rules/0/cidr'],
      [
        {
          rules: [
            { cidr: '10.0.0.0/8', priority: 0 },
            { cidr: '::ffff:10.0.0.0/104', priority: 1 },
          ],
        },
        '/defense/rules/1/cidr',
      ],
      [{ rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: [] }] }, '/defense/rules/0/pool'],
      [{ rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: ['10.10.1.9:80'] }] }, '/defense/rules/0/pool/0'],
      [
        { rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: ['10.10.1.1:80', '10.10.1.1:80'] }] },
        '/defense/rules/0/pool/1',
      ],
      [
        { sourceChecks: { enabled: true, action: 'drop', prefixes: ['x'] } },
        '/defense/sourceChecks/prefixes/0',
      ],
    ];
    for (const [defense, field] of cases) {
      const next = sampleConfig();
      next.defense = { ...DEFAULT_DEFENSE, ...defense };
      await expect(control.applyConfig(next), field).rejects.toMatchObject({
        code: 'SLUICE_ERR_CONFIG_INVALID',
        field,
      });
    }
    expect(control.getConfig()).toEqual(before);
    const good = sampleConfig();
    good.defense = {
      ...DEFAULT_DEFENSE,
      rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: ['10.10.1.1:80'] }],
    };
    await expect(control.applyConfig(good)).resolves.toMatchObject({ version: 2 });
  });

  it('ranks its source table by concurrent connections and hands out copies', () => {
    const control = new MemoryDirectorControl(sampleConfig());
    const row = (source: string, concurrentConnections: number) => ({
      source,
      concurrentConnections,
      handshakesCompleted: 0,
      connectionsTotal: concurrentConnections,
      averagePriority: null,
      idleSeconds: 0,
      verified: false,
      verifiedExpiresInSeconds: null,
    });
    control.sources = [
      row('10.0.0.1/32', 2),
      row('10.0.0.2/32', 9),
      row('10.0.0.3/32', 2),
      row('10.0.0.4/32', 5),
    ];
    expect(control.topSources(3).map((s) => s.source)).toEqual(['10.0.0.2/32', '10.0.0.4/32', '10.0.0.1/32']);
    expect(control.topSources(10)).toHaveLength(4);
    control.topSources(1)[0].concurrentConnections = 0;
    expect(control.topSources(1)[0].concurrentConnections).toBe(9);
  });
});
