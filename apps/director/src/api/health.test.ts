import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Harness, harness } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

it('GET /healthz is 200 while the process serves', async () => {
  const res = await h.app.inject({ url: '/healthz' });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toEqual({ status: 'ok' });
});

it('GET /readyz is 200 when ready and 503 with the reasons when not', async () => {
  const ready = await h.app.inject({ url: '/readyz' });
  expect(ready.statusCode).toBe(200);
  expect(ready.json()).toEqual({ ready: true, reasons: [] });
  h.control.readinessState = { ready: false, reasons: ['no configuration published', 'port not bound'] };
  const not = await h.app.inject({ url: '/readyz' });
  expect(not.statusCode).toBe(503);
  expect(not.json()).toEqual({ ready: false, reasons: ['no configuration published', 'port not bound'] });
});

it('GET /metrics is the exposition text, as is, with its content type', async () => {
  const res = await h.app.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(res.body).toBe((await h.control.metrics()).body);
  expect(res.body).toContain('sluice_config_version 1\n');
});
