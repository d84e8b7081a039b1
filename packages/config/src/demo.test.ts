import { describe, expect, it } from 'vitest';
import { DEMO_CONFIG } from './demo.ts';
import { validateConfigFile } from './validate.ts';

describe('DEMO_CONFIG', () => {
  it('is valid and already fully defaulted', () => {
    expect(validateConfigFile(DEMO_CONFIG)).toEqual(DEMO_CONFIG);
  });

  it('is what the daemon is documented to start with', () => {
    expect(DEMO_CONFIG.daemon).toEqual({
      vxlan: { address: '0.0.0.0', port: 4789 },
      api: { address: '127.0.0.1', port: 9180 },
      workers: 1,
      io: 'auto',
      connectionCapacity: 1 << 18,
    });
    expect(DEMO_CONFIG.overlay).toEqual({ vni: 42, directorMac: '02:5c:00:00:00:01' });
    const [web] = DEMO_CONFIG.services;
    expect(DEMO_CONFIG.services).toHaveLength(1);
    expect(web).toMatchObject({
      name: 'web',
      vip: '10.42.0.100',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wlc',
    });
    expect(web.reals.map((r) => [r.address, r.port, r.vtep, r.mac, r.healthCheck?.type])).toEqual([
      ['10.42.0.11', 80, '192.0.2.11', null, 'tcp'],
      ['10.42.0.12', 80, '192.0.2.12', null, 'tcp'],
    ]);
  });

  it('cannot be changed by accident; a validated copy can', () => {
    expect(Object.isFrozen(DEMO_CONFIG.services[0].reals[0])).toBe(true);
    expect(() => {
      (DEMO_CONFIG.services as unknown[]).push({});
    }).toThrow(TypeError);
    const copy = validateConfigFile(DEMO_CONFIG);
    copy.services[0].reals[0].weight = 3;
    expect(DEMO_CONFIG.services[0].reals[0].weight).toBe(1);
  });
});
