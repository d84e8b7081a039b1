import { describe, expect, it } from 'vitest';
import { DefenseError, formatCidr, parseCidr } from './index.ts';

const u = (w: readonly number[]) => w.map((x) => x >>> 0);

describe('parseCidr', () => {
  it('parses IPv4 into the v4-mapped 128-bit space', () => {
    const c = parseCidr('198.51.100.0/24');
    expect(u(c.words)).toEqual([0, 0, 0xffff, 0xc6336400]);
    expect(c.length).toBe(120);
    expect(c.family).toBe(4);
    expect(parseCidr('0.0.0.0/0').length).toBe(96);
    expect(parseCidr('255.255.255.255').length).toBe(128);
  });

  it('parses IPv6, with :: anywhere and a dotted-quad tail', () => {
    expect(u(parseCidr('2001:db8::/32').words)).toEqual([0x20010db8, 0, 0, 0]);
    expect(parseCidr('::/0').length).toBe(0);
    expect(u(parseCidr('::1').words)).toEqual([0, 0, 0, 1]);
    expect(u(parseCidr('fe80::/10').words)).toEqual([0xfe800000, 0, 0, 0]);
    expect(u(parseCidr('::ffff:10.0.0.0/104').words)).toEqual([0, 0, 0xffff, 0x0a000000]);
    expect(u(parseCidr('1:2:3:4:5:6:7:8').words)).toEqual([0x10002, 0x30004, 0x50006, 0x70008]);
    expect(u(parseCidr('1::8').words)).toEqual([0x10000, 0, 0, 8]);
    expect(u(parseCidr('FC00::/7').words)).toEqual([0xfc000000, 0, 0, 0]);
  });

  it.each([
    ['10.1.2.3/8', 'host bits'],
    ['10/8', 'bad IPv4'],
    ['010.0.0.0/8', 'bad IPv4'],
    ['256.0.0.0/8', 'bad IPv4'],
    ['1.2.3.4/33', 'at most 32'],
    ['::/129', 'at most 128'],
    ['1.2.3.4/08', 'decimal'],
    ['1.2.3.4/', 'decimal'],
    ['1::2::3', 'bad IPv6'],
    ['1:2:3:4:5:6:7:8:9', 'bad IPv6'],
    ['fe80::1%eth0', 'bad IPv6'],
    ['12345::', 'bad IPv6'],
    ['', 'bad IPv4'],
  ])('rejects %s (%s)', (text, why) => {
    let err: unknown;
    try {
      parseCidr(text, 7);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DefenseError);
    const de = err as DefenseError;
    expect(de.code).toBe('SLUICE_ERR_DEFENSE_CIDR');
    expect(de.index).toBe(7);
    expect(de.message).toContain('entry 7');
    expect(de.message).toContain(why);
  });

  it('formats back', () => {
    for (const t of ['10.0.0.0/8', '2001:db8::/32', '::/0', '::1/128', 'fe80::/10', '1:0:0:2::/64']) {
      expect(formatCidr(parseCidr(t))).toBe(t);
    }
  });
});
