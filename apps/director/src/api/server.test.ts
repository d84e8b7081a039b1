import { SCHEDULER_NAMES } from '@sluice/schedulers';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigView } from '../control.ts';
import { MemoryDirectorControl } from './memory-control.ts';
import { buildControlPlane } from './server.ts';
import { AUTH, harness, sampleConfig, TOKEN } from './test-support.ts';

const apps: { close(): Promise<unknown> }[] = [];
function track<T extends { close(): Promise<unknown> }>(app: T): T {
  apps.push(app);
  return app;
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('auth', () => {
  const mutations = [
    { method: 'PUT', url: '/v1/config', payload: sampleConfig() },
    { method: 'POST', url: '/v1/services', payload: { name: 'api', vip: '10.0.0.1', port: 80 } },
    { method: 'PUT', url: '/v1/services/web', payload: { vip: '10.0.0.1', port: 80 } },
    { method: 'DELETE', url: '/v1/services/web' },
    {
      method: 'POST',
      url: '/v1/services/web/reals',
      payload: { address: '10.0.0.2', port: 80, vtep: '10.0.0.3' },
    },
    { method: 'PUT', url: '/v1/services/web/reals/10.10.1.1:80', payload: { vtep: '10.0.0.3' } },
    { method: 'PATCH', url: '/v1/services/web/reals/10.10.1.1:80', payload: { weight: 0 } },
    { method: 'DELETE', url: '/v1/services/web/reals/10.10.1.1:80' },
    { method: 'DELETE', url: '/v1/connections/0001-0a' },
    { method: 'PUT', url: '/v1/defense', payload: { strategy: 'none' } },
    { method: 'PATCH', url: '/v1/defense', payload: { strategy: 'none' } },
    { method: 'POST', url: '/v1/defense/rules', payload: { cidr: '10.1.0.0/16', priority: 0 } },
    { method: 'PUT', url: '/v1/defense/rules/10.1.0.0%2F16', payload: { priority: 1 } },
    { method: 'DELETE', url: '/v1/defense/rules/10.1.0.0%2F16' },
  ] as const;

  it('401 with WWW-Authenticate: Bearer for every mutation without a bearer token', async () => {
    const { app, control } = harness();
    track(app);
    for (const m of mutations) {
      for (const headers of [
        {},
        { authorization: `Basic ${btoa('admin:admin')}` },
        { authorization: 'Bearer' },
      ]) {
        const res = await app.inject({ ...m, headers });
        expect(res.statusCode, `${m.method} ${m.url}`).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer\b/);
        expect(res.json()).toMatchObject({ error: 'unauthorized', code: 'SLUICE_ERR_API_UNAUTHORIZED' });
      }
    }
    expect(control.applyCalls).toBe(0);
    expect(control.resets).toEqual([]);
  });

  it('403 for a wrong token (also one that is a prefix of the right one)', async () => {
    const { app, control } = harness();
    track(app);
    for (const m of mutations) {
      for (const token of ['wrong', TOKEN.slice(0, -1), `${TOKEN}x`]) {
        const res = await app.inject({ ...m, headers: { authorization: `Bearer ${token}` } });
        expect(res.statusCode, `${m.method} ${m.url}`).toBe(403);
        expect(res.json()).toMatchObject({ error: 'forbidden' });
      }
    }
    expect(control.applyCalls).toBe(0);
  });

  it('checks the token before the body: an unauthenticated invalid body is a 401, not a 400', async () => {
    const { app } = harness();
    track(app);
    const res = await app.inject({ method: 'PUT', url: '/v1/config', payload: { nonsense: true } });
    expect(res.statusCode).toBe(401);
  });

  it('accepts the scheme in any case', async () => {
    const { app } = harness();
    track(app);
    const res = await app.inject({
      method: 'PATCH',
      url: '/v1/services/web/reals/10.10.1.1:80',
      headers: { authorization: `bearer ${TOKEN}` },
      payload: { weight: 3 },
    });
    expect(res.statusCode).toBe(200);
  });

  it('leaves reads open', async () => {
    const { app } = harness();
    track(app);
    for (const url of [
      '/v1/config',
      '/v1/services',
      '/v1/services/web',
      '/v1/services/web/reals',
      '/v1/services/web/reals/10.10.1.1:80',
      '/v1/connections',
      '/v1/connections/0001-0a',
      '/v1/defense',
      '/v1/defense/rules',
      '/v1/sources',
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
    ]) {
      expect((await app.inject({ url })).statusCode, url).toBe(200);
    }
  });

  it('refuses to build with an empty token', () => {
    expect(() => buildControlPlane(new MemoryDirectorControl(sampleConfig()), { token: '' })).toThrow(
      /token/,
    );
  });
});

describe('errors', () => {
  it('404 with the error body for an unknown route', async () => {
    const { app } = harness();
    track(app);
    const res = await app.inject({ url: '/v2/anything?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: 'not_found',
      code: 'SLUICE_ERR_API_NOT_FOUND',
      message: 'no route GET /v2/anything',
    });
  });

  it('500 without the internals for an unexpected failure', async () => {
    class Broken extends MemoryDirectorControl {
      override getConfig(): ConfigView {
        throw new Error('EACCES: /etc/sluice/token is not readable');
      }
    }
    const app = track(buildControlPlane(new Broken(sampleConfig()), { token: TOKEN }));
    const res = await app.inject({ url: '/v1/config' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      error: 'internal',
      code: 'SLUICE_ERR_API_INTERNAL',
      message: 'internal error',
    });
    expect(res.body).not.toContain('sluice/token');
  });

  it('maps by code, not class: a structured-cloned director error keeps its status', async () => {
    class FromWorker extends MemoryDirectorControl {
      override async applyConfig(): Promise<ConfigView> {
        // What `structuredClone` of a ConflictError looks like on this side of a worker boundary.
        throw Object.assign(new Error('VIP 10.10.0.100:80 is taken'), { code: 'SLUICE_ERR_CONFIG_CONFLICT' });
      }
    }
    const app = track(buildControlPlane(new FromWorker(sampleConfig()), { token: TOKEN }));
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: AUTH,
      payload: sampleConfig(),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({
      error: 'conflict',
      code: 'SLUICE_ERR_CONFIG_CONFLICT',
      message: 'VIP 10.10.0.100:80 is taken',
    });
  });

  it('413 for a body over the limit, 415 for a content type without a parser', async () => {
    const { app } = harness();
    track(app);
    const big = await app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: `"${'x'.repeat(17 * 1024 * 1024)}"`,
    });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'payload_too_large' });
    const text = await app.inject({
      method: 'PUT',
      url: '/v1/config',
      headers: { ...AUTH, 'content-type': 'application/yaml' },
      payload: 'overlay: {}',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ error: 'unsupported_media_type' });
  });
});

describe('OpenAPI document', () => {
  it('lists every route with its schemas, and the bearer requirement on every mutation', async () => {
    const control = new MemoryDirectorControl(sampleConfig());
    const app = track(buildControlPlane(control, { token: TOKEN }));
    const routes: { method: string; url: string }[] = [];
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) {
        if (method !== 'HEAD' && r.url !== '/openapi.json') routes.push({ method, url: r.url });
      }
    });
    const res = await app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.bearer).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );

    const listed = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const expected = routes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    expect(listed.sort()).toEqual(expected.sort());
    expect(listed).toHaveLength(31);

    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, OpenApiOperation>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        expect(op.responses, where).toBeDefined();
        expect(
          Object.keys(op.responses).some((s) => s.startsWith('2')),
          where,
        ).toBe(true);
        if (['post', 'put', 'patch', 'delete'].includes(method)) {
          expect(op.security, where).toEqual([{ bearer: [] }]);
          expect(op.responses['401'], where).toBeDefined();
        } else {
          expect(op.security, where).toBeUndefined();
        }
      }
    }
    // Bodies, parameters and responses carry the real schemas.
    const put = doc.paths['/v1/config'].put;
    expect(
      put.requestBody.content['application/json'].schema.properties.services.items.properties.port,
    ).toEqual({
      type: 'integer',
      minimum: 1,
      maximum: 65535,
    });
    expect(put.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: 'if-match' }));
    // Every IPVS scheduler the dataplane builds is one a client may send (one literal each).
    const scheduler =
      put.requestBody.content['application/json'].schema.properties.services.items.properties.scheduler;
    const offered = scheduler.anyOf.map((literal: { enum: string[] }) => literal.enum[0]);
    expect(offered).toEqual([...SCHEDULER_NAMES]);
    const list = doc.paths['/v1/connections'].get;
    expect(list.parameters.map((p: { name: string }) => p.name).sort()).toEqual(
      ['client', 'cursor', 'limit', 'real', 'service', 'state'].sort(),
    );
    expect(list.responses['200'].content['application/json'].schema.properties.items.type).toBe('array');
    expect(doc.paths['/metrics'].get.responses['200'].content['text/plain']).toBeDefined();
    // The manual reset says what it does on the wire.
    expect(doc.paths['/v1/connections/{id}'].delete.summary).toMatch(/RST/);
    // The defense: settings without rules, a rule named by its CIDR, sources with their limit.
    const settings = doc.paths['/v1/defense'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(settings.properties).sort()).toEqual(
      [
        'countInactive',
        'highWatermark',
        'lowWatermark',
        'lvs',
        'sourceChecks',
        'strategy',
        'verification',
        'weights',
      ].sort(),
    );
    expect(doc.paths['/v1/defense/rules/{cidr}'].put.parameters).toContainEqual(
      expect.objectContaining({ in: 'path', name: 'cidr' }),
    );
    expect(doc.paths['/v1/sources'].get.parameters).toContainEqual(
      expect.objectContaining({ in: 'query', name: 'limit' }),
    );
    // TypeBox's private markers stay out of the document.
    expect(res.body).not.toContain('~kind');
  });
});

interface OpenApiOperation {
  responses: Record<string, unknown>;
  security?: unknown;
}
