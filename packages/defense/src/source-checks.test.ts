import { describe, expect, it } from 'vitest';
import {
  BogonAction,
  DEFAULT_BOGON_PREFIXES,
  type DefenseError,
  parseCidr,
  SourceChecks,
  SourceVerdict,
} from './index.ts';

function check(c: SourceChecks, text: string): number {
  const [a0, a1, a2, a3] = parseCidr(text).words;
  return c.check(a0, a1, a2, a3);
}

describe('SourceChecks', () => {
  const defaults = SourceChecks.compile();

  it('defaults: every listed range is a bogon, at both ends', () => {
    expect(defaults.enabled).toBe(true);
    expect(defaults.action).toBe(BogonAction.lowest);
    for (const text of DEFAULT_BOGON_PREFIXES) {
      const c = parseCidr(text);
      const [a0, a1, a2, a3] = c.words;
      expect(defaults.check(a0, a1, a2, a3), text).toBe(SourceVerdict.bogon);
      // last address of the range
      const last = c.words.map((w, i) => {
        const bits = c.length - 32 * i;
        const host = bits <= 0 ? -1 : bits >= 32 ? 0 : -1 >>> bits;
        return w | host | 0;
      });
      expect(defaults.check(last[0], last[1], last[2], last[3]), `${text} end`).toBe(SourceVerdict.bogon);
    }
  });

  it.each([
    ['10.99.0.1', 1],
    ['127.0.0.1', 1],
    ['100.64.0.1', 1],
    ['100.128.0.1', 0],
    ['172.15.255.255', 0],
    ['172.16.0.0', 1],
    ['172.31.255.255', 1],
    ['172.32.0.0', 0],
    ['192.0.2.77', 1],
    ['192.0.3.1', 0],
    ['198.18.0.1', 1],
    ['198.20.0.1', 0],
    ['8.8.8.8', 0],
    ['1.1.1.1', 0],
    ['224.0.0.1', 1],
    ['239.255.255.255', 1],
    ['255.255.255.255', 1],
    ['223.255.255.255', 0],
    ['::', 1],
    ['::1', 1],
    ['::2', 0],
    ['fe80::1', 1],
    ['fd00::1', 1],
    ['ff02::1', 1],
    ['2001:db8::1', 1],
    ['2001:db9::1', 0],
    ['2a00:1450:4001::1', 0],
    ['64:ff9b::808:808', 0],
    ['100::1', 1],
    ['100:0:0:1::1', 0],
  ])('%s → %i', (text, verdict) => {
    expect(check(defaults, text)).toBe(verdict);
  });

  it('IPv4-mapped IPv6 is checked as the IPv4 address it carries', () => {
    expect(check(defaults, '::ffff:10.0.0.1')).toBe(SourceVerdict.bogon);
    expect(check(defaults, '::ffff:8.8.8.8')).toBe(SourceVerdict.ok);
  });

  it('disabled (the lab, a private deployment): everything is ok', () => {
    const off = SourceChecks.compile({ enabled: false });
    expect(check(off, '10.99.0.1')).toBe(SourceVerdict.ok);
    expect(check(SourceChecks.disabled(), '127.0.0.1')).toBe(SourceVerdict.ok);
  });

  it('allow carves a hole (longest prefix wins); prefixes replace the list; action drop', () => {
    const c = SourceChecks.compile({ allow: ['10.99.0.0/16'], action: 'drop' });
    expect(c.action).toBe(BogonAction.drop);
    expect(check(c, '10.99.3.4')).toBe(SourceVerdict.ok);
    expect(check(c, '10.98.3.4')).toBe(SourceVerdict.bogon);
    const own = SourceChecks.compile({ prefixes: ['192.0.2.0/24'] });
    expect(check(own, '10.0.0.1')).toBe(SourceVerdict.ok);
    expect(check(own, '192.0.2.1')).toBe(SourceVerdict.bogon);
  });

  it('rejects bad configuration with typed errors', () => {
    const bad = (cfg: unknown) => {
      try {
        SourceChecks.compile(cfg as never);
      } catch (e) {
        return e as DefenseError;
      }
      throw new Error('did not throw');
    };
    expect(bad({ action: 'reject' }).code).toBe('SLUICE_ERR_DEFENSE_CHECKS');
    expect(bad({ enabled: 'no' }).field).toBe('enabled');
    const cidr = bad({ allow: ['10.99.0.0/16', '10.0.0.0/33'] });
    expect([cidr.code, cidr.index, cidr.field]).toEqual(['SLUICE_ERR_DEFENSE_CIDR', 1, 'allow']);
    expect(cidr.message).toContain('allow[1]');
    const dup = bad({ allow: ['10.0.0.0/8'] });
    expect(dup.code).toBe('SLUICE_ERR_DEFENSE_CHECKS');
    expect(dup.message).toContain('prefixes[1]');
  });
});
