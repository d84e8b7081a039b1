import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, type Harness, harness, sampleConfig } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

const V6_REAL = `/v1/services/dns6/reals/${encodeURIComponent('[2001:db8:1::1]:53')}`;
const newReal = { address: '10.10.1.3', port: 80, vtep: '192.168.53.13' };

describe('GET reals', () => {
  it('merges each configured real server with its live status', async () => {
    h.control.health.set('web/10.10.1.2:80', 'up');
    const res = await h.app.inject({ url: '/v1/services/web/reals' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    const [first, second] = res.json().items;
    expect(first).toEqual({
      id: '10.10.1.1:80',
      ...sampleConfig().services[0].reals[0],
      status: {
        health: 'unchecked',
        mac: '02:53:4c:00:01:01',
        macSource: 'configured',
        neighbor: null,
        // 0001 is ESTABLISHED, 0002 SYN_RECV (connections 0005 has no real server yet).
        activeConnections: 1,
        inactiveConnections: 1,
        load: 2,
        agentHeld: null,
        agentQuiet: null,
        agentSlow: null,
        overloaded: false,
      },
    });
    expect(second.id).toBe('10.10.1.2:80');
    expect(second.status).toMatchObject({
      health: 'up',
      mac: null,
      macSource: null,
      neighbor: { state: 'incomplete', mac: null },
      activeConnections: 1,
    });
  });

  it('reports a learned MAC and an IPv6 real server by its bracketed, URL-encoded id', async () => {
    h.control.learnedMacs.set('dns6/[2001:db8:1::1]:53', '02:53:4c:00:02:01');
    const res = await h.app.inject({ url: V6_REAL });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id: '[2001:db8:1::1]:53',
      mac: null,
      status: { mac: '02:53:4c:00:02:01', macSource: 'learned', inactiveConnections: 1 },
    });
    // Another spelling of the same address names the same real server.
    const other = await h.app.inject({
      url: `/v1/services/dns6/reals/${encodeURIComponent('[2001:DB8:1:0::1]:53')}`,
    });
    expect(other.statusCode).toBe(200);
  });

  it('404 for an unknown service or real server; 400 naming `real` for a malformed id', async () => {
    expect((await h.app.inject({ url: '/v1/services/nope/reals' })).statusCode).toBe(404);
    expect((await h.app.inject({ url: '/v1/services/web/reals/10.10.1.9:80' })).statusCode).toBe(404);
    for (const bad of ['10.10.1.1', '10.10.1.1:0', '2001:db8::1:80', '[10.0.0.1]:80', '10.10.1.1:x']) {
      const res = await h.app.inject({ url: `/v1/services/web/reals/${encodeURIComponent(bad)}` });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid', field: 'real' });
    }
  });
});

describe('POST reals', () => {
  it('adds a real server with defaults: 201, Location, ETag, the view', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services/web/reals',
      headers: AUTH,
      payload: newReal,
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(`/v1/services/web/reals/${encodeURIComponent('10.10.1.3:80')}`);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toMatchObject({ id: '10.10.1.3:80', weight: 1, state: 'active', mac: null });
    expect(h.control.getConfig().config.services[0].reals).toHaveLength(3);
  });

  it('409 for an address:port the service already has, in any spelling', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services/dns6/reals',
      headers: AUTH,
      payload: { address: '2001:DB8:1:0:0::1', port: 53, vtep: '192.168.53.22' },
    });
    expect(res.statusCode).toBe(409);
    expect(h.control.getConfig()).toEqual(before);
  });

  it('400 naming the field, nothing applied', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services/web/reals',
      headers: AUTH,
      payload: { ...newReal, weight: -1 },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid', field: '/weight' });
    expect(h.control.applyCalls).toBe(0);
  });
});

describe('PUT reals', () => {
  it('replaces a real server; the path names it, so address and port may be left out', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/services/web/reals/10.10.1.2:80',
      headers: AUTH,
      payload: { vtep: '192.168.53.99', weight: 5 },
    });
    expect(res.statusCode).toBe(200);
    const real = h.control.getConfig().config.services[0].reals[1];
    // A replacement: the health check the body did not repeat is gone (null, the default).
    expect(real).toEqual({
      address: '10.10.1.2',
      port: 80,
      vtep: '192.168.53.99',
      mac: null,
      weight: 5,
      upperThreshold: 0,
      lowerThreshold: 0,
      state: 'active',
      healthCheck: null,
    });
  });

  it('400 on /address or /port when the body names another real server', async () => {
    const before = h.control.getConfig();
    for (const [payload, field] of [
      [{ address: '10.10.1.9', vtep: '192.168.53.12' }, '/address'],
      [{ port: 81, vtep: '192.168.53.12' }, '/port'],
    ] as const) {
      const res = await h.app.inject({
        method: 'PUT',
        url: '/v1/services/web/reals/10.10.1.2:80',
        headers: AUTH,
        payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid', field });
    }
    expect(h.control.getConfig()).toEqual(before);
  });
});

describe('PATCH reals', () => {
  it('drains: { state: draining } changes the state and nothing else', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'PATCH',
      url: '/v1/services/web/reals/10.10.1.2:80',
      headers: AUTH,
      payload: { state: 'draining' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    const expected = structuredClone(before.config);
    expected.services[0].reals[1].state = 'draining';
    expect(h.control.getConfig().config).toEqual(expected);
    expect(res.json()).toMatchObject({ id: '10.10.1.2:80', state: 'draining', weight: 2 });
  });

  it('quiesces: { weight: 0 } changes the weight only', async () => {
    const res = await h.app.inject({
      method: 'PATCH',
      url: V6_REAL,
      headers: AUTH,
      payload: { weight: 0 },
    });
    expect(res.statusCode).toBe(200);
    const expected = sampleConfig().services[1].reals[0];
    expect(h.control.getConfig().config.services[1].reals[0]).toEqual({ ...expected, weight: 0 });
  });

  it('a new health check in a patch gets its own defaults (the director adds expectStatus)', async () => {
    const res = await h.app.inject({
      method: 'PATCH',
      url: '/v1/services/web/reals/10.10.1.1:80',
      headers: AUTH,
      payload: { healthCheck: { type: 'http', path: '/health' } },
    });
    expect(res.statusCode).toBe(200);
    expect(h.control.getConfig().config.services[0].reals[0].healthCheck).toEqual({
      type: 'http',
      path: '/health',
      expectStatus: 200,
      intervalSeconds: 2,
      timeoutSeconds: 1,
      rise: 1,
      fall: 1,
    });
  });

  it('rejects unknown fields, identity fields and bad values, naming them, nothing applied', async () => {
    const before = h.control.getConfig();
    for (const [payload, field] of [
      [{ state: 'draining', colour: 'blue' }, '/colour'],
      [{ address: '10.10.1.7' }, '/address'],
      [{ weight: 'heavy' }, '/weight'],
      [{ state: 'sleeping' }, '/state'],
      [{ healthCheck: { type: 'tcp', rise: 0 } }, '/healthCheck/rise'],
      [{ agent: { port: 0 } }, '/agent/port'],
      [{ agent: { port: 5555, timeoutSeconds: -1 } }, '/agent/timeoutSeconds'],
    ] as const) {
      const res = await h.app.inject({
        method: 'PATCH',
        url: '/v1/services/web/reals/10.10.1.1:80',
        headers: AUTH,
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid', field });
    }
    expect(h.control.getConfig()).toEqual(before);
    expect(h.control.applyCalls).toBe(0);
  });

  it('404 for a real server the service does not have', async () => {
    const res = await h.app.inject({
      method: 'PATCH',
      url: '/v1/services/web/reals/10.10.1.9:80',
      headers: AUTH,
      payload: { weight: 0 },
    });
    expect(res.statusCode).toBe(404);
  });
});

describe('DELETE reals', () => {
  it('removes the real server: 204, new ETag; 404 after', async () => {
    const res = await h.app.inject({ method: 'DELETE', url: V6_REAL, headers: AUTH });
    expect(res.statusCode).toBe(204);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(h.control.getConfig().config.services[1].reals).toEqual([]);
    expect((await h.app.inject({ url: V6_REAL })).statusCode).toBe(404);
  });
});
