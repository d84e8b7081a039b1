// The control plane on a real socket: what `inject` cannot show (HTTP/1.1 framing, header
// casing, percent-encoded paths off the wire, a real client's If-Match). Real fetch, and real
// curl when the machine has it.
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import type { LiveConfig } from '@sluice/config';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { harness, sampleConfig, TOKEN } from './test-support.ts';

const run = promisify(execFile);
const h = harness();
let base = '';

beforeAll(async () => {
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = h.app.server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await h.app.close();
});

async function hasCurl(): Promise<boolean> {
  try {
    await run('curl', ['--version']);
    return true;
  } catch {
    return false;
  }
}

it('fetch: GET the config, PUT it back changed with If-Match, then a stale If-Match is 412', async () => {
  const got = await fetch(`${base}/v1/config`);
  expect(got.status).toBe(200);
  const etag = got.headers.get('etag')!;
  const config = (await got.json()) as LiveConfig;
  expect(config).toEqual(sampleConfig());

  config.services[0].reals[1].state = 'draining';
  const put = await fetch(`${base}/v1/config`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'if-match': etag },
    body: JSON.stringify(config),
  });
  expect(put.status).toBe(200);
  const newEtag = put.headers.get('etag');
  expect(newEtag).toBe(h.control.getConfig().etag);
  expect(newEtag).not.toBe(etag);
  expect(h.control.getConfig().config.services[0].reals[1].state).toBe('draining');

  const stale = await fetch(`${base}/v1/config`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'if-match': etag },
    body: JSON.stringify(sampleConfig()),
  });
  expect(stale.status).toBe(412);
  expect(h.control.getConfig().etag).toBe(newEtag);
});

it('fetch: an IPv6 real server by its percent-encoded id off the wire', async () => {
  const res = await fetch(`${base}/v1/services/dns6/reals/${encodeURIComponent('[2001:db8:1::1]:53')}`);
  expect(res.status).toBe(200);
  expect(((await res.json()) as { id: string }).id).toBe('[2001:db8:1::1]:53');
});

it('fetch: a priority rule by its percent-encoded CIDR off the wire, and the defense settings', async () => {
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const post = await fetch(`${base}/v1/defense/rules`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ cidr: '2001:db8:77::/48', priority: 0 }),
  });
  expect(post.status).toBe(201);
  const location = post.headers.get('location')!;
  expect(location).toBe('/v1/defense/rules/2001%3Adb8%3A77%3A%3A%2F48');
  const got = await fetch(`${base}${location}`);
  expect(got.status).toBe(200);
  expect(await got.json()).toMatchObject({ id: '2001:db8:77::/48', priority: 0 });
  const patched = await fetch(`${base}/v1/defense`, {
    method: 'PATCH',
    headers: { ...auth, 'if-match': got.headers.get('etag')! },
    body: JSON.stringify({ lvs: { dropEntry: 3 } }),
  });
  expect(patched.status).toBe(200);
  expect(((await patched.json()) as { lvs: { dropEntry: number } }).lvs.dropEntry).toBe(3);
  // Colons may go unencoded; the slash may not.
  const removed = await fetch(`${base}/v1/defense/rules/2001:db8:77::%2F48`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(removed.status).toBe(204);
  expect(h.control.getConfig().config.defense?.rules).toEqual([]);
});

it('curl: PUT with If-Match, then GET', async () => {
  // curl is a test dependency (.ci/run installs it): missing, this fails rather than skips.
  expect(await hasCurl(), 'curl not found: apt-get install curl').toBe(true);
  const etag = h.control.getConfig().etag;
  const next = sampleConfig();
  next.overlay.vni = 31337;
  const put = await run('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %header{etag}',
    '-X',
    'PUT',
    '-H',
    `Authorization: Bearer ${TOKEN}`,
    '-H',
    'Content-Type: application/json',
    '-H',
    `If-Match: ${etag}`,
    '--data-binary',
    JSON.stringify(next),
    `${base}/v1/config`,
  ]);
  const [status, newEtag] = put.stdout.split(' ');
  expect(status).toBe('200');
  expect(newEtag).toBe(h.control.getConfig().etag);

  const get = await run('curl', ['-sS', '-i', `${base}/v1/config`]);
  expect(get.stdout).toMatch(/^HTTP\/1\.1 200/);
  expect(get.stdout.toLowerCase()).toContain(`etag: ${newEtag.toLowerCase()}`);
  const body = JSON.parse(get.stdout.slice(get.stdout.indexOf('\r\n\r\n') + 4));
  expect(body.overlay.vni).toBe(31337);

  const denied = await run('curl', [
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-X',
    'DELETE',
    `${base}/v1/services/web`,
  ]);
  expect(denied.stdout).toBe('401');
});
