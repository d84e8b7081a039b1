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
    await expect(control.applyConfig(twice)).rejects.toMatchObject({ field: '/services/0/reals/2/port' });
    const sameListener = sampleConfig();
    sameListener.services[1] = { ...sameListener.services[0], name: 'web2' };
    await expect(control.applyConfig(sameListener)).rejects.toMatchObject({ field: '/services/1/port' });
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
});
