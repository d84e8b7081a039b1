import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalAddress, parseRealId, realId } from './address.ts';

describe('canonicalAddress', () => {
  it('gives one spelling per address and folds v4-mapped IPv6 into IPv4', () => {
    expect(canonicalAddress('2001:DB8:0:0::1')).toEqual({ text: '2001:db8::1', v4: false });
    expect(canonicalAddress('::ffff:10.0.0.1')).toEqual({ text: '10.0.0.1', v4: true });
    expect(canonicalAddress('192.0.2.1')).toEqual({ text: '192.0.2.1', v4: true });
    expect(() => canonicalAddress('fe80::1%eth0')).toThrow(/zone/);
    expect(() => canonicalAddress('010.0.0.1')).toThrow();
  });
});

describe('realId / parseRealId', () => {
  it('brackets IPv6 only', () => {
    expect(realId('10.0.0.2', 80)).toBe('10.0.0.2:80');
    expect(realId('2001:db8::2', 443)).toBe('[2001:db8::2]:443');
  });

  it('parses what realId formats, back to the canonical address', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), (addr, port) => {
        const canon = canonicalAddress(addr).text;
        expect(parseRealId(realId(canon, port))).toEqual({ address: canon, port });
        expect(parseRealId(realId(addr, port))).toEqual({ address: canon, port });
      }),
    );
  });

  it('rejects anything else', () => {
    for (const id of [
      '10.0.0.1',
      '10.0.0.1:',
      '10.0.0.1:0',
      '10.0.0.1:65536',
      '10.0.0.1:080',
      '10.0.0.1:+80',
      '10.0.0.1:8 0',
      ':80',
      'example.com:80',
      '[10.0.0.1]:80',
      '2001:db8::1:80',
      '[2001:db8::1]80',
      '[2001:db8::1]:',
      '[2001:db8::1',
      '[fe80::1%eth0]:80',
      '',
    ]) {
      expect(parseRealId(id), id).toBeNull();
    }
  });
});
