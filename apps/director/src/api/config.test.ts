import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, type Harness, harness, sampleConfig } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

/** Asserts the running config is exactly what it was and nothing reached applyConfig. */
function expectUntouched(before: ReturnType<Harness['control']['getConfig']>): void {
  const after = h.control.getConfig();
  expect(after.version).toBe(before.version);
  expect(after.etag).toBe(before.etag);
  expect(after.config).toEqual(before.config);
}

describe('GET /v1/config', () => {
  it('answers the live config with its ETag', async () => {
    const res = await h.app.inject({ url: '/v1/config' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toEqual(sampleConfig());
  });
});

describe('PUT /v1/config', () => {
  it('replaces the config when If-Match is the running ETag, and answers the new ETag', async () => {
    const before = h.control.getConfig();
    const next = sampleConfig();
    next.services[0].scheduler = 'rr';
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'if-match': before.etag },
      payload: next,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(next);
    const after = h.control.getConfig();
    expect(after.version).toBe(before.version + 1);
    expect(res.headers.etag).toBe(after.etag);
    expect(after.etag).not.toBe(before.etag);
    expect(after.config.services[0].scheduler).toBe('rr');
  });

  it('replaces unconditionally without If-Match, filling the schema defaults', async () => {
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: AUTH,
      payload: {
        overlay: { vni: 7, directorMac: '02:00:00:00:00:07' },
        services: [
          {
            name: 'mail',
            vip: '10.0.0.25',
            port: 25,
            reals: [{ address: '10.0.1.1', port: 25, vtep: '192.0.2.1', healthCheck: { type: 'tcp' } }],
          },
        ],
      },
    });
    expect(res.statusCode).toBe(200);
    const service = h.control.getConfig().config.services[0];
    expect(service).toMatchObject({ protocol: 'tcp', scheduler: 'wlc', persistence: null });
    expect(service.reals[0]).toMatchObject({ mac: null, weight: 1, state: 'active' });
    expect(service.reals[0].healthCheck).toEqual({
      type: 'tcp',
      intervalSeconds: 2,
      timeoutSeconds: 1,
      rise: 1,
      fall: 1,
    });
  });

  it('answers 412 to a stale If-Match and keeps the running config', async () => {
    const stale = h.control.getConfig().etag;
    const moved = sampleConfig();
    moved.overlay.vni = 99;
    h.control.setConfigDirectly(moved);
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'if-match': stale },
      payload: sampleConfig(),
    });
    expect(res.statusCode).toBe(412);
    expect(res.json()).toMatchObject({
      error: 'precondition_failed',
      code: 'SLUICE_ERR_CONFIG_PRECONDITION',
    });
    expectUntouched(before);
  });

  it('compares If-Match strongly: a weak tag of the running version is stale', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'if-match': `W/${before.etag}` },
      payload: sampleConfig(),
    });
    expect(res.statusCode).toBe(412);
    expectUntouched(before);
  });

  it('accepts an If-Match list that names the running ETag, and If-Match: *', async () => {
    const etag = h.control.getConfig().etag;
    const listed = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'if-match': `"v0-old", ${etag}` },
      payload: sampleConfig(),
    });
    expect(listed.statusCode).toBe(200);
    const any = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'if-match': '*' },
      payload: sampleConfig(),
    });
    expect(any.statusCode).toBe(200);
    expect(h.control.getConfig().version).toBe(3);
  });

  it('400 names a nested real whose port is a string, and changes nothing', async () => {
    const before = h.control.getConfig();
    const next = sampleConfig() as unknown as { services: { reals: { port: unknown }[] }[] };
    next.services[0].reals[1].port = '80';
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'if-match': before.etag },
      payload: next,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'invalid',
      code: 'SLUICE_ERR_API_INVALID',
      field: '/services/0/reals/1/port',
      message: expect.stringContaining('integer'),
    });
    expectUntouched(before);
    expect(h.control.applyCalls).toBe(0);
  });

  it('400 names an unknown property instead of dropping it, and changes nothing', async () => {
    const before = h.control.getConfig();
    const next = sampleConfig() as unknown as { services: Record<string, unknown>[] };
    next.services[1].sheduler = 'rr';
    const res = await h.app.inject({ method: 'PUT', url: '/v1/config', headers: AUTH, payload: next });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid', field: '/services/1/sheduler' });
    expectUntouched(before);
    expect(h.control.applyCalls).toBe(0);
  });

  it('400 names a missing required property', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: AUTH,
      payload: { services: [] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid', field: '/overlay' });
    expectUntouched(before);
  });

  it('400 names the field of a semantic error found by the director, and changes nothing', async () => {
    const before = h.control.getConfig();
    const next = sampleConfig();
    next.services[1].name = 'web';
    const res = await h.app.inject({ method: 'PUT', url: '/v1/config', headers: AUTH, payload: next });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: 'invalid',
      code: 'SLUICE_ERR_CONFIG_INVALID',
      field: '/services/1/name',
    });
    expectUntouched(before);
    // It reached the director, which refused it whole.
    expect(h.control.applyCalls).toBe(1);
  });

  it('400 on a body that is not JSON, without touching the config', async () => {
    const before = h.control.getConfig();
    const res = await h.app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: '{"overlay":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad_request', code: 'SLUICE_ERR_API_BAD_REQUEST', field: '' });
    expectUntouched(before);
  });
});
