import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, type Harness, harness, sampleConnections } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

async function ids(query: string): Promise<string[]> {
  const res = await h.app.inject({ url: `/v1/connections${query}` });
  expect(res.statusCode, query).toBe(200);
  return res.json().items.map((c: { id: string }) => c.id);
}

describe('GET /v1/connections', () => {
  it('answers a page with every field of each entry, the cursor and the table count', async () => {
    const res = await h.app.inject({ url: '/v1/connections' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: sampleConnections(), nextCursor: null, tableCount: 5 });
  });

  it('filters by service, real server (IPv6 in any spelling), client address or CIDR, state', async () => {
    expect(await ids('?service=dns6')).toEqual(['0004-0d']);
    expect(await ids('?real=10.10.1.2:80')).toEqual(['0003-0c']);
    expect(await ids(`?real=${encodeURIComponent('[2001:DB8:1:0::1]:53')}`)).toEqual(['0004-0d']);
    expect(await ids('?client=198.51.100.7')).toEqual(['0001-0a', '0005-0e']);
    expect(await ids(`?client=${encodeURIComponent('198.51.100.0/24')}`)).toEqual([
      '0001-0a',
      '0002-0b',
      '0005-0e',
    ]);
    expect(await ids(`?client=${encodeURIComponent('2001:db8:ff::/48')}`)).toEqual(['0004-0d']);
    expect(await ids('?state=SYN_RECV&service=web')).toEqual(['0002-0b', '0005-0e']);
  });

  it('pages with limit and cursor', async () => {
    const first = (await h.app.inject({ url: '/v1/connections?limit=2' })).json();
    expect(first.items.map((c: { id: string }) => c.id)).toEqual(['0001-0a', '0002-0b']);
    expect(first.nextCursor).not.toBeNull();
    const second = (
      await h.app.inject({ url: `/v1/connections?limit=2&cursor=${encodeURIComponent(first.nextCursor)}` })
    ).json();
    expect(second.items.map((c: { id: string }) => c.id)).toEqual(['0003-0c', '0004-0d']);
    const third = (
      await h.app.inject({ url: `/v1/connections?limit=2&cursor=${encodeURIComponent(second.nextCursor)}` })
    ).json();
    expect(third).toMatchObject({ nextCursor: null, tableCount: 5 });
    expect(third.items).toHaveLength(1);
  });

  it('400 names the parameter: limit out of range or not an integer, unknown filters, bad real/client', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=5.5', 'limit'],
      ['limit=', 'limit'],
      ['limit=1e2', 'limit'],
      ['servce=web', 'servce'],
      ['service=Web!', 'service'],
      ['real=10.10.1.1', 'real'],
      ['client=not-an-address', 'client'],
      ['client=10.0.0.0%2F33', 'client'],
    ]) {
      const res = await h.app.inject({ url: `/v1/connections?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json(), query).toMatchObject({ error: 'invalid', code: 'SLUICE_ERR_API_INVALID', field });
    }
  });
});

describe('one connection', () => {
  it('GET /v1/connections/:id answers the entry, 404 when there is none', async () => {
    const res = await h.app.inject({ url: '/v1/connections/0004-0d' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(sampleConnections()[3]);
    const missing = await h.app.inject({ url: '/v1/connections/ffff-ff' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not_found', code: 'SLUICE_ERR_API_NOT_FOUND' });
  });

  it('DELETE resets it: 204, the director reset it; 404 the second time', async () => {
    const res = await h.app.inject({ method: 'DELETE', url: '/v1/connections/0002-0b', headers: AUTH });
    expect(res.statusCode).toBe(204);
    expect(h.control.resets).toEqual(['0002-0b']);
    expect(h.control.getConnection('0002-0b')).toBeNull();
    const again = await h.app.inject({ method: 'DELETE', url: '/v1/connections/0002-0b', headers: AUTH });
    expect(again.statusCode).toBe(404);
  });

  it('DELETE needs the token', async () => {
    const res = await h.app.inject({ method: 'DELETE', url: '/v1/connections/0002-0b' });
    expect(res.statusCode).toBe(401);
    expect(h.control.resets).toEqual([]);
  });
});
