import { describe, expect, it } from 'vitest';
import { HOME_ROUTER_TABLE, homeRouterRuleset } from './home-router.ts';

describe('homeRouterRuleset', () => {
  it('one public address: source NAT out of vx0, forward only connections from inside, no answers of its own', () => {
    const r = homeRouterRuleset('hm0', { publicAddress: '10.9.0.150' });
    expect(r.startsWith(`table ip ${HOME_ROUTER_TABLE} {`)).toBe(true);
    expect(r).toContain('oifname "vx0" snat to 10.9.0.150;');
    expect(r).toContain('policy drop; ct state established,related accept; iifname "hm0" accept;');
    expect(r).toContain('iifname "vx0" ct state invalid drop;');
    expect(r).not.toContain('map public');
  });

  it('1:1: a map from each private address to its public one, for the private prefix only', () => {
    const r = homeRouterRuleset('hn0', {
      privatePrefix: '172.31.0.0/16',
      toPublic: new Map([
        ['172.31.16.1', '10.240.1.1'],
        ['172.31.16.2', '10.240.1.2'],
      ]),
    });
    expect(r).toContain('elements = { 172.31.16.1 : 10.240.1.1, 172.31.16.2 : 10.240.1.2 }');
    expect(r).toContain('oifname "vx0" ip saddr 172.31.0.0/16 snat ip to ip saddr map @public;');
    expect(r).toContain('iifname "hn0" accept;');
  });
});
