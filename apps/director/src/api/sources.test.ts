import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SourceView } from '../control.ts';
import { type Harness, harness } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

function source(i: number, concurrentConnections: number): SourceView {
  return {
    source: `198.51.100.${i}/32`,
    concurrentConnections,
    handshakesCompleted: i,
    connectionsTotal: concurrentConnections + i,
    averagePriority: concurrentConnections === 0 ? null : 7.5,
    idleSeconds: 0.5,
    verified: i % 2 === 0,
    verifiedExpiresInSeconds: i % 2 === 0 ? 3000 : null,
  };
}

describe('GET /v1/sources', () => {
  it('answers an empty list for an empty table', async () => {
    const res = await h.app.inject({ url: '/v1/sources' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [] });
  });

  it('lists the sources holding the most connections, most first, 20 by default', async () => {
    // 30 sources, source i holding (i * 7) % 31 connections: all different, in no order.
    h.control.sources = Array.from({ length: 30 }, (_, i) => source(i, (i * 7) % 31));
    const res = await h.app.inject({ url: '/v1/sources' });
    expect(res.statusCode).toBe(200);
    const items = res.json().items as SourceView[];
    expect(items).toHaveLength(20);
    const counts = items.map((s) => s.concurrentConnections);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
    expect(counts[0]).toBe(30);
    expect(items[0]).toEqual(source(22, 30));
  });

  it('honours limit; an IPv6 /64 and a source without live connections come through as they are', async () => {
    h.control.sources = [
      source(1, 0),
      {
        source: '2001:db8:0:1::/64',
        concurrentConnections: 3,
        handshakesCompleted: 0,
        connectionsTotal: 40,
        averagePriority: 14.33,
        idleSeconds: 12,
        verified: null,
        verifiedExpiresInSeconds: null,
      },
    ];
    let res = await h.app.inject({ url: '/v1/sources?limit=1' });
    expect(res.json().items.map((s: SourceView) => s.source)).toEqual(['2001:db8:0:1::/64']);
    res = await h.app.inject({ url: '/v1/sources?limit=1000' });
    expect(res.json().items[1]).toEqual(source(1, 0));
  });

  it('400 naming the parameter for a limit out of 1..1000, not an integer, or a misspelt one', async () => {
    for (const query of ['limit=0', 'limit=1001', 'limit=5.5', 'limit=', 'limit=abc', 'limt=5']) {
      const res = await h.app.inject({ url: `/v1/sources?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().field, query).toBe(query.startsWith('limt') ? 'limt' : 'limit');
    }
  });
});

describe('GET /v1/sources/verified', () => {
  it('lists the verified sources, most recently verified first, bounded by limit, with the total', async () => {
    h.control.verified = [
      {
        address: '198.51.100.1',
        verifiedSecondsAgo: 30,
        expiresInSeconds: 3570,
        answers: 1,
        perConnection: false,
        roundTripMs: 38,
        roundTripCut: false,
      },
      {
        address: '2001:db8::7',
        verifiedSecondsAgo: 2,
        expiresInSeconds: 3598,
        answers: 3,
        perConnection: true,
        roundTripMs: null,
        roundTripCut: false,
      },
      {
        address: '198.51.100.2',
        verifiedSecondsAgo: 10,
        expiresInSeconds: 3590,
        answers: 1,
        perConnection: false,
        roundTripMs: 40,
        roundTripCut: true,
      },
    ];
    const res = await h.app.inject({ url: '/v1/sources/verified?limit=2' });
    expect(res.statusCode).toBe(200);
    expect(res.json().total).toBe(3);
    expect(res.json().items.map((v: { address: string }) => v.address)).toEqual([
      '2001:db8::7',
      '198.51.100.2',
    ]);
    // the round trip its probes showed, null when none was timed, and whether it was cut
    expect(
      res
        .json()
        .items.map((v: { roundTripMs: number | null; roundTripCut: boolean }) => [
          v.roundTripMs,
          v.roundTripCut,
        ]),
    ).toEqual([
      [null, false],
      [40, true],
    ]);
    expect((await h.app.inject({ url: '/v1/sources/verified?limit=0' })).statusCode).toBe(400);
  });
});
