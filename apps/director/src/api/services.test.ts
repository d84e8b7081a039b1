import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, type Harness, harness, sampleConfig } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

const api = { name: 'api', vip: '10.10.0.101', port: 443 };

describe('services: reads', () => {
  it('GET /v1/services lists every service with the ETag', async () => {
    const res = await h.app.inject({ url: '/v1/services' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toEqual({ items: sampleConfig().services });
  });

  it('GET /v1/services/:name answers one service, 404 for none', async () => {
    const res = await h.app.inject({ url: '/v1/services/dns6' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(sampleConfig().services[1]);
    const missing = await h.app.inject({ url: '/v1/services/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not_found', code: 'SLUICE_ERR_CONFIG_NOT_FOUND' });
  });

  it('400 names the path parameter when a name cannot be a service name', async () => {
    const res = await h.app.inject({ url: '/v1/services/Not_A_Name' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid', field: 'name' });
  });
});

describe('POST /v1/services', () => {
  it('adds a service with the schema defaults: 201, Location, the new ETag', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/services', headers: AUTH, payload: api });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/v1/services/api');
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    const expected = { ...api, protocol: 'tcp', scheduler: 'wlc', persistence: null, reals: [] };
    expect(res.json()).toEqual(expected);
    expect(h.control.getConfig().config.services.at(-1)).toEqual(expected);
  });

  it('409 when the name exists, config untouched', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services',
      headers: AUTH,
      payload: { ...api, name: 'web' },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: 'conflict', code: 'SLUICE_ERR_CONFIG_CONFLICT' });
    expect(h.control.getConfig()).toEqual(before);
  });

  it('409 when another service serves that VIP, port and protocol (in any IPv6 spelling)', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services',
      headers: AUTH,
      payload: { name: 'dns6b', vip: '2001:DB8:0::53', port: 53, protocol: 'udp' },
    });
    expect(res.statusCode).toBe(409);
    const tcp = await h.app.inject({
      method: 'POST',
      url: '/v1/services',
      headers: AUTH,
      payload: { name: 'dns6tcp', vip: '2001:db8::53', port: 53, protocol: 'tcp' },
    });
    expect(tcp.statusCode).toBe(201);
  });

  it('400 names a bad field and the change never reaches the director', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services',
      headers: AUTH,
      payload: { ...api, scheduler: 'fastest' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid', field: '/scheduler' });
    expect(h.control.getConfig()).toEqual(before);
    expect(h.control.applyCalls).toBe(0);
  });

  it('redoes the change on the new config when someone else changed it meanwhile (no If-Match)', async () => {
    // Between the handler's read and its apply, another client changes the overlay VNI.
    h.control.beforeApply = () => {
      const other = h.control.getConfig().config;
      other.overlay.vni = 77;
      h.control.setConfigDirectly(other);
    };
    const res = await h.app.inject({ method: 'POST', url: '/v1/services', headers: AUTH, payload: api });
    expect(res.statusCode).toBe(201);
    const after = h.control.getConfig().config;
    expect(after.overlay.vni).toBe(77);
    expect(after.services.map((s) => s.name)).toEqual(['web', 'dns6', 'api']);
    expect(h.control.applyCalls).toBe(2);
  });

  it('412 when the client sent an If-Match that is no longer the running config', async () => {
    const etag = h.control.getConfig().etag;
    h.control.setConfigDirectly(h.control.getConfig().config);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/services',
      headers: { ...AUTH, 'if-match': etag },
      payload: api,
    });
    expect(res.statusCode).toBe(412);
    expect(h.control.getConfig().config.services).toHaveLength(2);
  });
});

describe('PUT /v1/services/:name', () => {
  it('replaces the service and keeps its reals when the body leaves them out', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/services/web',
      headers: AUTH,
      payload: { vip: '10.10.0.100', port: 8080, scheduler: 'sh' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    const web = h.control.getConfig().config.services[0];
    expect(web).toMatchObject({ name: 'web', port: 8080, scheduler: 'sh', protocol: 'tcp' });
    expect(web.reals).toEqual(sampleConfig().services[0].reals);
    expect(res.json()).toEqual(web);
  });

  it('replaces the reals when the body has them', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/services/web',
      headers: AUTH,
      payload: { name: 'web', vip: '10.10.0.100', port: 80, reals: [] },
    });
    expect(res.statusCode).toBe(200);
    expect(h.control.getConfig().config.services[0].reals).toEqual([]);
  });

  it('400 on /name when the body names another service; 404 for an unknown one', async () => {
    const before = h.control.getConfig();
    const other = await h.app.inject({
      method: 'PUT',
      url: '/v1/services/web',
      headers: AUTH,
      payload: { name: 'dns6', vip: '10.10.0.100', port: 80 },
    });
    expect(other.statusCode).toBe(400);
    expect(other.json()).toMatchObject({ error: 'invalid', field: '/name' });
    const missing = await h.app.inject({
      method: 'PUT',
      url: '/v1/services/nope',
      headers: AUTH,
      payload: { vip: '10.10.0.9', port: 80 },
    });
    expect(missing.statusCode).toBe(404);
    expect(h.control.getConfig()).toEqual(before);
  });

  it('409 when the replacement takes the listener of another service', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/services/web',
      headers: AUTH,
      payload: { vip: '2001:db8::53', port: 53, protocol: 'udp' },
    });
    expect(res.statusCode).toBe(409);
  });
});

describe('DELETE /v1/services/:name', () => {
  it('removes the service: 204 with the new ETag; 404 the second time', async () => {
    const res = await h.app.inject({ method: 'DELETE', url: '/v1/services/dns6', headers: AUTH });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(h.control.getConfig().config.services.map((s) => s.name)).toEqual(['web']);
    const again = await h.app.inject({ method: 'DELETE', url: '/v1/services/dns6', headers: AUTH });
    expect(again.statusCode).toBe(404);
  });
});

describe('a 400 a person can act on', () => {
  it('an enumeration names its allowed values, an unknown property the known ones', async () => {
    const post = (payload: object) =>
      h.app.inject({ method: 'POST', url: '/v1/services', headers: AUTH, payload });
    const scheduler = await post({ ...api, scheduler: 'bogus' });
    expect(scheduler.statusCode).toBe(400);
    expect(scheduler.json()).toMatchObject({ code: 'SLUICE_ERR_API_INVALID', field: '/scheduler' });
    expect(scheduler.json().message).toBe(
      '/scheduler must be one of "rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh", "lblc", ' +
        '"lblcr", "fo", "ovf", "twos" (got "bogus")',
    );
    const unknown = await post({ ...api, colour: 'red' });
    expect(unknown.json()).toMatchObject({ field: '/colour' });
    expect(unknown.json().message).toMatch(
      /^\/colour is an unknown property \(expected one of: name, vip, port/,
    );
    const mode = await h.app.inject({
      method: 'PATCH',
      url: '/v1/defense',
      headers: AUTH,
      payload: {
        verification: {
          mode: 'sometimes',
          watermark: 0.5,
          holdSeconds: 1,
          ttlSeconds: 10,
          probeIntervalMs: 100,
        },
      },
    });
    expect(mode.json()).toMatchObject({
      field: '/verification/mode',
      message: '/verification/mode must be one of "auto", "always", "off" (got "sometimes")',
    });
  });

  it('a semantic refusal of a posted service or real server points into the body sent', async () => {
    const badVip = await h.app.inject({
      method: 'POST',
      url: '/v1/services',
      headers: AUTH,
      payload: { ...api, vip: 'not-an-address' },
    });
    expect(badVip.statusCode).toBe(400);
    expect(badVip.json()).toMatchObject({ code: 'SLUICE_ERR_CONFIG_INVALID', field: '/vip' });
    const badVtep = await h.app.inject({
      method: 'POST',
      url: '/v1/services/web/reals',
      headers: AUTH,
      payload: { address: '10.10.1.9', port: 80, vtep: 'nowhere' },
    });
    expect(badVtep.json()).toMatchObject({ code: 'SLUICE_ERR_CONFIG_INVALID', field: '/vtep' });
    const patched = await h.app.inject({
      method: 'PATCH',
      url: '/v1/services/web/reals/10.10.1.1:80',
      headers: AUTH,
      payload: { upperThreshold: 10, lowerThreshold: 20 },
    });
    expect(patched.json()).toMatchObject({ code: 'SLUICE_ERR_CONFIG_INVALID', field: '/lowerThreshold' });
  });
});
