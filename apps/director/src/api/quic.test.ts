// The REST side of QUIC routing: a QUIC service is added and read back with its IDs in canonical
// hex, its routing view says which real server owns which ID (and whether its MAC is known), and
// a service without `quic`, or none at all, is a 404 that says which.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, type Harness, harness } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

const h3 = {
  name: 'h3',
  vip: '10.10.0.103',
  port: 443,
  protocol: 'udp',
  scheduler: 'rr',
  quic: { quicLb: { configId: 1, serverIdLength: 2, nonceLength: 15, lengthSelfEncoded: true } },
  reals: [
    { address: '10.10.1.1', port: 443, vtep: '192.168.53.11', mac: '02:53:4c:00:01:01', quicServerId: 2561 },
    { address: '10.10.1.2', port: 443, vtep: '192.168.53.12', quicServerId: '0x0a02' },
  ],
};

describe('QUIC services over REST', () => {
  it('POST takes the layout and the IDs; GET /quic shows the table the dataplane builds', async () => {
    const add = await h.app.inject({ method: 'POST', url: '/v1/services', headers: AUTH, payload: h3 });
    expect(add.statusCode).toBe(201);
    expect(add.json().reals.map((r: { quicServerId: string }) => r.quicServerId)).toEqual(['0a01', '0a02']);
    const res = await h.app.inject({ url: '/v1/services/h3/quic' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      service: 'h3',
      layout: {
        algorithm: 'quic-lb-draft-20',
        serverIdOffset: 1,
        serverIdLength: 2,
        cidLength: 18,
        configId: 1,
        lengthSelfEncoded: true,
      },
      servers: [
        { serverId: '0a01', real: '10.10.1.1:443', routable: true },
        { serverId: '0a02', real: '10.10.1.2:443', routable: false },
      ],
      counters: { longHeader: 0, cidRouted: 0, unknownServerId: 0, unroutable: 0, newPaths: 0, repointed: 0 },
    });
  });

  it('400 names the field of a bad server ID; 404 for a service without quic or none', async () => {
    const bad = structuredClone(h3);
    bad.reals[1].quicServerId = '0a0203';
    const res = await h.app.inject({ method: 'POST', url: '/v1/services', headers: AUTH, payload: bad });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'SLUICE_ERR_CONFIG_INVALID',
      field: '/reals/1/quicServerId',
    });
    const plain = await h.app.inject({ url: '/v1/services/web/quic' });
    expect(plain.statusCode).toBe(404);
    expect(plain.json().message).toMatch(/does not route QUIC/);
    const none = await h.app.inject({ url: '/v1/services/nope/quic' });
    expect(none.statusCode).toBe(404);
    expect(none.json().message).toMatch(/no service named nope/);
  });
});
