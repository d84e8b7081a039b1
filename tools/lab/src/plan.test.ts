// Names and addresses, without root: what `create`, `destroy` and the CLI all rely on.
import { describe, expect, it } from 'vitest';
import { defaultSubnet, ownsName, planLab } from './plan.ts';

describe('planLab', () => {
  it('derives every name and address from the name and subnet', () => {
    const p = planLab({ name: 'sl1', subnet: 77, reals: 2, clients: 2 });
    expect(p.bridge).toBe('sl1-br');
    expect(p.directorUnderlay).toBe('192.168.77.1');
    expect(p.vip4).toBe('10.77.0.100');
    expect(p.vip6).toBe('fd4d::100');
    expect(p.directorMac).toBe('02:53:4c:00:4d:01');
    expect(p.overlayMtu).toBe(1450);
    expect(p.reals.map((r) => [r.label, r.ns, r.underlay, r.overlay4, r.overlay6])).toEqual([
      ['rs1', 'sl1-rs1', '192.168.77.11', '10.77.0.11', 'fd4d::11'],
      ['rs2', 'sl1-rs2', '192.168.77.12', '10.77.0.12', 'fd4d::12'],
    ]);
    expect(p.clients.map((c) => [c.label, c.ns, c.underlay, c.overlay4, c.overlay6])).toEqual([
      ['c1', 'sl1-c1', '192.168.77.101', '10.77.0.101', 'fd4d::101'],
      ['c2', 'sl1-c2', '192.168.77.102', '10.77.0.102', 'fd4d::102'],
    ]);
  });

  it('puts the director in a namespace of its own on request, the bridge one address aside', () => {
    const shared = planLab({ name: 'sl1', subnet: 77 });
    expect([shared.directorNs, shared.bridgeAddress]).toEqual([null, '192.168.77.1']);
    const own = planLab({ name: 'sl1', subnet: 77, directorNamespace: true });
    expect([own.directorNs, own.directorUnderlay, own.bridgeAddress]).toEqual([
      'sl1-d',
      '192.168.77.1',
      '192.168.77.2',
    ]);
    expect(ownsName('sl1', 'sl1-d')).toBe(true);
    expect(ownsName('sl1', 'sl1-dx')).toBe(false);
  });

  it('keeps the longest device name within 15 bytes', () => {
    const p = planLab({ name: 'abcdefghi', reals: 89, clients: 99 });
    for (const n of [p.bridge, ...p.reals.map((r) => r.ns), ...p.clients.map((c) => c.ns)]) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(15);
    }
  });

  it('applies defaults and takes given VIPs and MAC', () => {
    const p = planLab({
      name: 'x',
      vni: 5,
      vip4: '198.51.100.1',
      vip6: '2001:db8::1',
      directorMac: '02:AA:00:00:00:01',
    });
    expect(p.reals).toHaveLength(2);
    expect(p.clients).toHaveLength(1);
    expect(p.ipv6).toBe(true);
    expect(p.subnet).toBe(defaultSubnet('x'));
    expect([p.vni, p.vip4, p.vip6, p.directorMac]).toEqual([
      5,
      '198.51.100.1',
      '2001:db8::1',
      '02:aa:00:00:00:01',
    ]);
    expect(planLab({ name: 'x', ipv6: false }).reals[0].overlay6).toBeNull();
  });

  it('rejects what cannot be a lab with SLUICE_ERR_LAB_OPTIONS', () => {
    for (const bad of [
      { name: 'Sl1' },
      { name: 'toolongname' },
      { name: '1x' },
      { name: 'x', reals: 0 },
      { name: 'x', reals: 90 },
      { name: 'x', clients: 100 },
      { name: 'x', vni: 1 << 24 },
      { name: 'x', subnet: 255 },
      { name: 'x', vip4: '10.0.0.300' },
      { name: 'x', vip6: '10.0.0.1' },
      { name: 'x', directorMac: '01:00:5e:00:00:01' },
      { name: 'x', subnet: 9, vip4: '10.9.0.11' },
    ]) {
      expect(() => planLab(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'SLUICE_ERR_LAB_OPTIONS' }),
      );
    }
  });

  it('defaultSubnet is stable and in range', () => {
    expect(defaultSubnet('sl1')).toBe(defaultSubnet('sl1'));
    for (const n of ['a', 'sl1', 'sl2', 'sllab', 'zzzzzzzzz']) {
      expect(defaultSubnet(n)).toBeGreaterThanOrEqual(20);
      expect(defaultSubnet(n)).toBeLessThan(220);
    }
  });

  it('ownsName matches only this lab’s names (sl1 never claims sl10’s)', () => {
    expect(ownsName('sl1', 'sl1-br')).toBe(true);
    expect(ownsName('sl1', 'sl1-rs12')).toBe(true);
    expect(ownsName('sl1', 'sl1-c3')).toBe(true);
    expect(ownsName('sl1', 'sl10-rs1')).toBe(false);
    expect(ownsName('sl1', 'sl1-foo')).toBe(false);
    expect(ownsName('sl1', 'eth0')).toBe(false);
  });
});
