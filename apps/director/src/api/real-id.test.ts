import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalAddress, parseRealId, realId, sameReal } from './real-id.ts';

describe('real ids', () => {
  it('formats IPv4 as address:port and IPv6 in brackets', () => {
    expect(realId('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(realId('2001:db8::1', 443)).toBe('[2001:db8::1]:443');
  });

  it('parses what it formats, for any address and port', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), (address, port) => {
        expect(parseRealId(realId(address, port))).toEqual({ address, port });
      }),
    );
  });

  it('refuses ids that are not address:port', () => {
    for (const bad of [
      '',
      '10.0.0.1',
      ':80',
      '10.0.0.1:',
      '10.0.0.1:0',
      '10.0.0.1:65536',
      '10.0.0.1:+80',
      '2001:db8::1:80',
      '[2001:db8::1]80',
      '[10.0.0.1]:80',
      '[2001:db8::1',
    ]) {
      expect(parseRealId(bad), bad).toBeNull();
    }
  });

  it('compares addresses in canonical form', () => {
    expect(canonicalAddress('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(canonicalAddress('10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalAddress('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(sameReal({ address: '2001:db8::1', port: 80 }, { address: '2001:DB8::0:1', port: 80 })).toBe(true);
    expect(sameReal({ address: '2001:db8::1', port: 80 }, { address: '2001:db8::1', port: 81 })).toBe(false);
  });
});
