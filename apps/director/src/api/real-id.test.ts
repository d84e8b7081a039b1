import { describe, expect, it } from 'vitest';
import { canonicalRealId, canonicalText, sameReal } from './real-id.ts';

describe('real-server identity', () => {
  it('spells ids canonically: IPv4 as address:port, IPv6 in brackets', () => {
    expect(canonicalRealId('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(canonicalRealId('2001:DB8:0:0::1', 443)).toBe('[2001:db8::1]:443');
  });

  it('compares addresses in canonical form, and non-addresses as written', () => {
    expect(sameReal({ address: '2001:db8::1', port: 80 }, { address: '2001:DB8::0:1', port: 80 })).toBe(true);
    expect(sameReal({ address: '2001:db8::1', port: 80 }, { address: '2001:db8::1', port: 81 })).toBe(false);
    expect(canonicalText('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(canonicalText('not an address')).toBe('not an address');
  });
});
