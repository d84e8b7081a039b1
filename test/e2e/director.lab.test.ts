// End to end: the real `sluice run` daemon in its own process, serving real Linux kernels in
// network namespaces (tools/lab) over VXLAN. A client namespace's curl, wrk and Node reach two
// real servers' HTTP through the VIPs; the replies go straight back (direct server return). The
// suite drives the daemon only as an operator would: its config file, its REST API with the
// bearer token, /metrics, and signals (SIGHUP, SIGTERM).
//
// The tests share one lab and one daemon and run in order; each leaves the director as it found
// it (reals active and up) except the last, SIGHUP, which changes the scheduler.
//
// A machine that cannot build the lab (not root, no netns or vxlan, a binary missing) makes
// every test FAIL with the precise reason (checkLabPrerequisites' message): a skipped e2e suite
// would pass CI while proving nothing.
import { type ChildProcess, execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ConfigFile, LiveConfig } from '@sluice/config';
import { probeAgent } from '@sluice/health';
import {
  checkLabPrerequisites,
  DirectorFiles,
  DirectorProcess,
  freeTcpPort,
  HOME_ROUTER_TABLE,
  homeRouterRuleset,
  Lab,
  type LabNode,
} from '@sluice/lab';
import { AGENT_PORT, BOTS_SCRIPT, endChild, startAgent } from '@sluice/lab-eval';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { Api, type ApiResponse } from './api.ts';
import { curl, curlMany, HeldConnection, tally, wrk } from './client.ts';
import { parseSamples, promtoolCheck, type Sample, select, value } from './metrics.ts';
import { sleep, until } from './wait.ts';

const execFileP = promisify(execFile);
/**
 * `python3 -c BURST_CLIENT host n`: n HTTP GETs to host:80 whose connects start in the same
 * millisecond (non-blocking sockets, one process), each body printed on its own line.
 */
const BURST_CLIENT = `
import select, socket, sys, time
host, n = sys.argv[1], int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket(); s.setblocking(False); s.connect_ex((host, 80)); socks.append(s)
deadline = time.time() + 5
pending = set(socks)
while pending and time.time() < deadline:
    _, w, _ = select.select([], list(pending), [], 0.5)
    for s in w:
        pending.discard(s)
for s in socks:
    s.setblocking(True); s.settimeout(3)
    try:
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        print(data.split(b"\\r\\n\\r\\n", 1)[-1].decode().strip())
    except OSError as e:
        print("error", e)
`;

/**
 * `python3 -c SLOW_READER vip from`: from address `from`, GET 16 MB from vip:80 and take it 1448
 * bytes every 0.3 s through the smallest receive buffer: its server writes faster than it reads,
 * so the server's kernel holds data not yet sent, and sends within every second (never quiet).
 */
const SLOW_READER = `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind((sys.argv[2], 0))
s.connect((sys.argv[1], 80))
s.sendall(b"GET /?bytes=16000000 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
print("connected", flush=True)
while s.recv(1448):
    time.sleep(0.3)
`;

const LAB_NAME = 'e2e';
// Fixed and outside 20..219, the range of defaultSubnet(name): a lab named by anyone else's test
// with the default subnet cannot take this underlay.
const SUBNET = 231;

interface RealView {
  id: string;
  state: 'active' | 'draining';
  weight: number;
  status: { health: 'up' | 'down' | 'unknown' | 'unchecked'; activeConnections: number } | null;
}

interface ConnectionItem {
  id: string;
  state: string;
  client: { address: string; port: number };
  real: { address: string; port: number } | null;
  priority?: number;
  priorityReasons?: string[];
  packets?: number;
  idleSeconds?: number;
}

interface ErrorBody {
  error: string;
  code: string;
  message: string;
  field?: string;
}

interface Env {
  lab: Lab;
  client: LabNode;
  files: DirectorFiles;
  daemon: DirectorProcess;
  api: Api;
  url4: string;
  url6: string;
  /** web4's real ids (`10.n.0.11:80`), index i is lab.reals[i] (label rs{i+1}). */
  web4Ids: string[];
}

let env: Env | null = null;
let setupError: unknown = null;
// Kept apart from `env` so afterAll can clean up whatever a failed setup managed to build.
let lab: Lab | undefined;
let files: DirectorFiles | undefined;
let daemon: DirectorProcess | undefined;

/** The suite's environment, or the reason there is none, thrown so the calling test FAILS. */
function ready(): Env {
  if (setupError !== null) {
    const reason = setupError instanceof Error ? setupError.message : String(setupError);
    throw new Error(`e2e setup failed, so this test cannot run: ${reason}`, { cause: setupError });
  }
  if (env === null) throw new Error('e2e setup did not run');
  return env;
}

/**
 * Runs `body` with a fresh address (host `host` of the client's /24, never seen by the director)
 * on the client's vx0, under `verify: always` with an hour's verification; removes the address
 * and restores the verification settings after.
 */
async function onFreshAddressVerifying(
  host: number,
  body: (address: string) => Promise<void>,
): Promise<void> {
  const { api, client } = ready();
  const address = client.overlay4.replace(/\.\d+$/, `.${host}`);
  const settings = await api.get<{ verification: Record<string, unknown> }>('/v1/defense');
  try {
    await client.exec(['ip', 'addr', 'add', `${address}/24`, 'dev', 'vx0']);
    const patch = await api.request('PATCH', '/v1/defense', {
      body: { verification: { mode: 'always', ttlSeconds: 3600 } },
    });
    expect(patch.status, patch.text).toBe(200);
    await body(address);
  } finally {
    await api.request('PATCH', '/v1/defense', { body: { verification: settings.verification } });
    await client.exec(['ip', 'addr', 'del', `${address}/24`, 'dev', 'vx0']);
  }
}

const realPath = (service: string, id: string): string =>
  `/v1/services/${service}/reals/${encodeURIComponent(id)}`;

async function reals(api: Api, service: string): Promise<RealView[]> {
  return (await api.get<{ items: RealView[] }>(`/v1/services/${service}/reals`)).items;
}

async function realOf(api: Api, service: string, id: string): Promise<RealView> {
  const found = (await reals(api, service)).find((r) => r.id === id);
  if (found === undefined) throw new Error(`service ${service} lists no real ${id}`);
  return found;
}

/** A child of `node` whose stdout and stderr are gathered, for the test's error messages and waits. */
function spawnCaptured(node: LabNode, argv: string[]): { child: ChildProcess; out: () => string } {
  const child = node.spawn(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const add = (d: string) => {
    out += d;
  };
  child.stdout!.setEncoding('utf8').on('data', add);
  child.stderr!.setEncoding('utf8').on('data', add);
  return { child, out: () => out };
}

/** The established web4 entry of `client`'s address, if any. */
async function establishedEntry(api: Api, client: string): Promise<ConnectionItem | undefined> {
  const page = await api.get<{ items: ConnectionItem[] }>(
    `/v1/connections?service=web4&client=${client}&limit=1000`,
  );
  return page.items.find((c) => c.state === 'ESTABLISHED');
}

/**
 * Polls `client`'s established web4 entry every 250 ms until `pred` holds; throws after `ms`, with
 * the entry and the child's output (`out`).
 */
async function waitEntry(
  api: Api,
  client: string,
  what: string,
  ms: number,
  pred: (e: ConnectionItem | undefined) => boolean,
  out: () => string,
): Promise<ConnectionItem | undefined> {
  let seen = await establishedEntry(api, client);
  for (let waited = 0; !pred(seen); waited += 250) {
    if (waited > ms) throw new Error(`never ${what}: ${JSON.stringify(seen)}; ${out()}`);
    await sleep(250);
    seen = await establishedEntry(api, client);
  }
  return seen;
}

/** The web4 real id an entry is on (asserted to be one). */
function realIdOf(web4Ids: string[], seen: ConnectionItem | undefined): string {
  const id = web4Ids.find((r) => r.startsWith(`${seen?.real?.address}:`));
  expect(id, JSON.stringify(seen)).toBeDefined();
  return id as string;
}

/** Puts web4's real `realId` under its load agent (asked every 0.5 s), or takes it out. */
async function setAgent(api: Api, realId: string, on: boolean): Promise<void> {
  const agent = on ? { port: AGENT_PORT, intervalSeconds: 0.5, timeoutSeconds: 1 } : null;
  const r = await api.request('PATCH', realPath('web4', realId), { body: { agent } });
  expect(r.status, r.text).toBe(200);
}

/**
 * Runs `body` with the source checks off (the lab's addresses are private, bogons to them: priority
 * 15, fixed) and a real sluice-agent in each real server's namespace, on its underlay address (the
 * VTEP, where the director asks by default), started with `agentArgs`; `children` it fills are
 * killed after. Every real's agent is taken out of the config, and the checks restored, after.
 */
async function withAgents(
  agentArgs: string[],
  body: (children: ChildProcess[]) => Promise<void>,
): Promise<void> {
  const { api, web4Ids, lab } = ready();
  const settings = await api.get<{ sourceChecks: Record<string, unknown> }>('/v1/defense');
  const checksOff = await api.request('PATCH', '/v1/defense', { body: { sourceChecks: { enabled: false } } });
  expect(checksOff.status, checksOff.text).toBe(200);
  const children: ChildProcess[] = [];
  try {
    await Promise.all(
      lab.reals.map(async (real) => {
        children.push(await startAgent(real, agentArgs));
      }),
    );
    await body(children);
  } finally {
    await Promise.all(children.map((c) => endChild(c, 'SIGKILL')));
    for (const id of web4Ids) await api.request('PATCH', realPath('web4', id), { body: { agent: null } });
    await api.request('PATCH', '/v1/defense', { body: { sourceChecks: settings.sourceChecks } });
  }
}

async function scrape(api: Api): Promise<Sample[]> {
  return parseSamples(await api.text('/metrics'));
}

/** Challenges the director sent and the answers that verified a source, in a scrape. */
function challengeCounts(m: readonly Sample[]): { challenges: number; verified: number } {
  return {
    challenges: value(m, 'sluice_challenges_sent_total', {}),
    verified: value(m, 'sluice_challenge_answers_total', { result: 'verified' }),
  };
}

/** Every counter that moved since `since`, as `name{labels} +delta`: a failure's diagnosis. */
async function changedCounters(api: Api, since: readonly Sample[]): Promise<string> {
  const now = await scrape(api);
  const key = (s: Sample) => `${s.name}${JSON.stringify(s.labels)}`;
  const was = new Map(since.map((s) => [key(s), s.value]));
  return now
    .filter(
      (s) => s.name.startsWith('sluice_') && s.name.endsWith('_total') && s.value !== (was.get(key(s)) ?? 0),
    )
    .map((s) => `${key(s)} +${s.value - (was.get(key(s)) ?? 0)}`)
    .join(', ');
}

/** web4's connection counters: the service's total and each real's. */
function web4Counters(samples: Sample[], ids: string[]): { service: number; reals: number[] } {
  return {
    service: value(samples, 'sluice_service_connections_total', { service: 'web4' }),
    reals: ids.map((id) =>
      value(samples, 'sluice_real_server_connections_total', { service: 'web4', real: id }),
    ),
  };
}

/**
 * web4's counters once they stop moving: workers write them as they classify, so two equal reads
 * 300 ms apart mean no connection is still being counted.
 */
async function settledWeb4Counters(api: Api, ids: string[]): Promise<{ service: number; reals: number[] }> {
  let prev = web4Counters(await scrape(api), ids);
  for (let attempt = 0; attempt < 60; attempt++) {
    await sleep(300);
    const next = web4Counters(await scrape(api), ids);
    if (JSON.stringify(next) === JSON.stringify(prev)) return next;
    prev = next;
  }
  throw new Error(`web4's connection counters never settled (last ${JSON.stringify(prev)})`);
}

/**
 * A director left running by a crashed run keeps its UDP socket on the underlay address even
 * after the bridge is rebuilt, and with SO_REUSEPORT it would silently take half the flows of the
 * new one; refuse to start on top of it, naming the process.
 */
async function assertVxlanPortFree(address: string): Promise<void> {
  const { stdout } = await execFileP('ss', ['-Hlunp', 'src', `${address}:4789`]);
  if (stdout.trim() !== '') {
    throw new Error(`UDP ${address}:4789 is already bound (a leftover director?): ${stdout.trim()}`);
  }
}

beforeAll(async () => {
  try {
    await checkLabPrerequisites();
    lab = await Lab.create({ name: LAB_NAME, subnet: SUBNET, reals: 2, clients: 1, ipv6: true });
    await assertVxlanPortFree(lab.directorUnderlay);
    await Promise.all([lab.startHttp(0), lab.startHttp(1)]);
    files = await DirectorFiles.create('sluice-e2e-');
    const apiPort = await freeTcpPort();
    const config: ConfigFile = {
      daemon: {
        vxlan: { address: lab.directorUnderlay, port: 4789 },
        api: { address: '127.0.0.1', port: apiPort },
        workers: 2,
        connectionCapacity: 65536,
        tokenFile: files.tokenPath,
      },
      ...lab.directorConfig(),
    };
    await files.writeConfig(config);
    daemon = DirectorProcess.spawn(files.configPath);
    const api = new Api(`http://127.0.0.1:${apiPort}`, files.token, daemon);
    await daemon.waitReady(api.base);
    env = {
      lab,
      client: lab.clients[0],
      files,
      daemon,
      api,
      url4: `http://${lab.vip4}/`,
      url6: `http://[${lab.vip6}]/`,
      web4Ids: lab.reals.map((r) => `${r.overlay4}:80`),
    };
  } catch (err) {
    setupError = err;
  }
}, 180_000);

afterAll(async () => {
  // Stop the daemon, then the lab, then the files, each even if the one before failed; the
  // daemon's exit status is asserted only after everything is gone.
  let stopped: {
    wasRunning: boolean;
    exit: { code: number | null; signal: string | null };
    forced: boolean;
  } | null = null;
  try {
    if (daemon !== undefined) {
      const wasRunning = daemon.exit === null;
      stopped = { wasRunning, ...(await daemon.stop()) };
    }
  } finally {
    try {
      await lab?.destroy();
    } finally {
      await files?.cleanup();
    }
  }
  // After a failed setup the tests already carry the reason; a daemon that failed there says so.
  if (env !== null && stopped !== null && daemon !== undefined) {
    expect(stopped.wasRunning, `the daemon died during the suite\n${daemon.output()}`).toBe(true);
    expect(stopped.forced, `SIGTERM did not stop the daemon; it was killed\n${daemon.output()}`).toBe(false);
    expect(stopped.exit, `SIGTERM: the daemon should stop gracefully, exit 0\n${daemon.output()}`).toEqual({
      code: 0,
      signal: null,
    });
  }
}, 90_000);

describe('sluice run against real kernels (network-namespace lab)', () => {
  // Whatever failed, the daemon's own account (its log lines) is the first thing to read.
  beforeEach(() => {
    onTestFailed(() => {
      if (daemon !== undefined) process.stderr.write(`${daemon.output()}\n`);
    });
  });

  it('rr spreads new connections over both reals, on the IPv4 VIP (web4) and the IPv6 VIP (web6)', async () => {
    const { client, url4, url6 } = ready();
    const v4 = await curlMany(client, url4, 20);
    expect(new Set(v4), `bodies over IPv4: ${JSON.stringify(tally(v4))}`).toEqual(new Set(['rs1', 'rs2']));
    const v6 = await curlMany(client, url6, 20);
    expect(new Set(v6), `bodies over IPv6: ${JSON.stringify(tally(v6))}`).toEqual(new Set(['rs1', 'rs2']));
  }, 90_000);

  it('wrk through the VIP: every request answered, no socket errors, no error statuses', async () => {
    const { client, url4 } = ready();
    const r = await wrk(client, url4, ['-t1', '-c10', '-d3s']);
    expect(r.code, r.output).toBe(0);
    expect(r.requests, r.output).toBeGreaterThan(0);
    expect(r.socketErrors, r.output).toEqual({ connect: 0, read: 0, write: 0, timeout: 0 });
    expect(r.non2xx, r.output).toBe(0);
  }, 90_000);

  it('draining a real: new connections go to the other, a held connection carries on to it', async () => {
    const { client, url4, api, web4Ids, lab } = ready();
    const { held, first } = await HeldConnection.open(client, url4);
    let drainedId: string | null = null;
    let back: ApiResponse<RealView> | null = null;
    try {
      expect(first, 'first request on the held connection').toMatchObject({ status: 200, reused: false });
      const drained = first.real!;
      const index = lab.reals.findIndex((r) => r.label === drained);
      expect(index, `the held connection was answered by ${drained}`).toBeGreaterThanOrEqual(0);
      const other = lab.reals[1 - index].label;
      drainedId = web4Ids[index];

      const patch = await api.request<RealView>('PATCH', realPath('web4', drainedId), {
        body: { state: 'draining' },
      });
      expect(patch.status, patch.text).toBe(200);
      expect(patch.json.state).toBe('draining');

      // The change is live once PATCH answers: the very next connections avoid the drained real.
      const bodies = await curlMany(client, url4, 10);
      expect(bodies, `new connections while ${drained} drains`).toEqual(Array(10).fill(other));

      // The director still tracks the held flow, on the drained real...
      const conns = await api.get<{ items: ConnectionItem[] }>(
        `/v1/connections?service=web4&client=${client.overlay4}&real=${encodeURIComponent(drainedId)}&limit=1000`,
      );
      expect(
        conns.items.some((c) => c.client.port === first.localPort && c.state === 'ESTABLISHED'),
        `held connection (client port ${first.localPort}) in ${JSON.stringify(conns.items)}`,
      ).toBe(true);
      // ...and forwards its next request there, over the same TCP connection.
      const second = await held.request();
      expect(second, 'second request on the held connection').toMatchObject({
        status: 200,
        real: drained,
        reused: true,
        localPort: first.localPort,
      });
    } finally {
      await held.close();
      // Put it back even when an assertion failed, so the later tests see two active reals.
      if (drainedId !== null) {
        back = await api.request<RealView>('PATCH', realPath('web4', drainedId), {
          body: { state: 'active' },
        });
      }
    }
    expect(back?.status, back?.text).toBe(200);
    expect(back?.json.state).toBe('active');
    const after = await curlMany(client, url4, 10);
    expect(new Set(after), `after re-activation: ${JSON.stringify(tally(after))}`).toEqual(
      new Set(['rs1', 'rs2']),
    );
  }, 120_000);

  it('health: a real whose HTTP server dies goes down and gets no connections; restarted, it comes back', async () => {
    const { client, url4, api, web4Ids, lab } = ready();
    const id = web4Ids[1];
    const health = async (): Promise<string | undefined> => (await realOf(api, 'web4', id)).status?.health;
    // 'unknown' until the first check after a start; this test may run alone (vitest -t).
    await until(`${id} (rs2) to be reported up`, health, (h) => h === 'up');
    await lab.stopHttp(1);
    let restarted = false;
    try {
      await until(`${id} (rs2) to be reported down`, health, (h) => h === 'down');
      const bodies = await curlMany(client, url4, 10);
      expect(bodies, 'new connections while rs2 is down').toEqual(Array(10).fill('rs1'));
      const samples = await scrape(api);
      expect(value(samples, 'sluice_real_server_up', { service: 'web4', real: id })).toBe(0);

      await lab.startHttp(1);
      restarted = true;
      await until(`${id} (rs2) to be reported up again`, health, (h) => h === 'up');
    } finally {
      if (!restarted) await lab.startHttp(1);
    }
    // Back in the rotation: rr reaches it within a few new connections.
    const seen = await until(
      'a new connection to reach rs2 again',
      async () => (await curl(client, url4)).body,
      (b) => b === 'rs2',
      { timeoutMs: 20_000, intervalMs: 0 },
    );
    expect(seen).toBe('rs2');
  }, 120_000);

  it('metrics: N new connections add exactly N to the service and to its reals; promtool accepts the scrape', async () => {
    const { client, url4, api, web4Ids } = ready();
    // A fresh window: the earlier tests' connections are all counted before the first read.
    const settle = () => settledWeb4Counters(api, web4Ids);
    const before = await settle();
    const N = 12;
    await curlMany(client, url4, N);
    await until(
      `sluice_service_connections_total{service="web4"} to grow by ${N}`,
      async () => web4Counters(await scrape(api), web4Ids).service - before.service,
      (d) => d >= N,
    );
    const after = await settle();
    const realDeltas = after.reals.map((v, i) => v - before.reals[i]);
    expect(after.service - before.service, `service counter ${before.service} → ${after.service}`).toBe(N);
    expect(
      realDeltas.reduce((a, b) => a + b, 0),
      `per-real deltas ${JSON.stringify(realDeltas)}`,
    ).toBe(N);
    // Each real's counter carries its own label: both got some of the N (rr).
    for (const d of realDeltas) expect(d, `per-real deltas ${JSON.stringify(realDeltas)}`).toBeGreaterThan(0);

    const text = await api.text('/metrics');
    expect(select(parseSamples(text), 'sluice_service_connections_total', {}).length).toBeGreaterThan(0);
    const check = await promtoolCheck(text);
    expect(check.code, `promtool check metrics:\n${check.output}`).toBe(0);
  }, 90_000);

  it('config over REST: ETag, 412 on a stale If-Match, 400 naming the field, and nothing changes on error', async () => {
    const { api, files, daemon } = ready();
    // The token file made beforehand (mode 0600) is the one in use: the daemon did not mint and
    // print one of its own (and the mutations below, made with it, are accepted).
    expect(daemon.stdout).not.toContain('API token');
    const get1 = await api.request<LiveConfig>('GET', '/v1/config');
    expect(get1.status).toBe(200);
    const etag1 = get1.headers.get('etag');
    expect(etag1, 'GET /v1/config must carry a strong ETag').toMatch(/^"[^"]+"$/);
    const config = get1.json;

    // Mutations need the token: none is 401, a wrong one 403.
    expect((await api.request('PUT', '/v1/config', { body: config, auth: null })).status).toBe(401);
    expect((await api.request('PUT', '/v1/config', { body: config, auth: 'not-the-token' })).status).toBe(
      403,
    );

    // A conditional PUT on the current version succeeds and moves the version on...
    const put = await api.request<LiveConfig>('PUT', '/v1/config', {
      body: config,
      headers: { 'if-match': etag1! },
    });
    expect(put.status, put.text).toBe(200);
    const etag2 = put.headers.get('etag');
    expect(etag2).toMatch(/^"[^"]+"$/);
    expect(etag2).not.toBe(etag1);

    // ...so the first ETag is now stale: 412, whatever the body.
    const changed = structuredClone(config);
    changed.services[0].scheduler = 'lc';
    const stale = await api.request<ErrorBody>('PUT', '/v1/config', {
      body: changed,
      headers: { 'if-match': etag1! },
    });
    expect(stale.status, stale.text).toBe(412);
    expect(stale.json.error).toBe('precondition_failed');

    // A real with port "x": 400, and the body names the field as a JSON pointer.
    const bad = structuredClone(config) as unknown as { services: { reals: { port: unknown }[] }[] };
    bad.services[0].reals[0].port = 'x';
    const invalid = await api.request<ErrorBody>('PUT', '/v1/config', {
      body: bad,
      headers: { 'if-match': etag2! },
    });
    expect(invalid.status, invalid.text).toBe(400);
    expect(invalid.json.field).toBe('/services/0/reals/0/port');
    expect(invalid.json.message).toContain('/services/0/reals/0/port');

    // Neither failure changed the running config, its version, or the file it is persisted to.
    const get2 = await api.request<LiveConfig>('GET', '/v1/config');
    expect(get2.headers.get('etag')).toBe(etag2);
    expect(get2.json).toEqual(config);
    const onDisk = JSON.parse(await readFile(files.configPath, 'utf8')) as ConfigFile;
    expect({ overlay: onDisk.overlay, services: onDisk.services }).toEqual(config);
  }, 60_000);

  it('clients behind Linux NAT routers answer the challenge themselves and are served: verify always, 20 fresh challenges, then one per connection, 30 at once too, and one whose router moved its port', async () => {
    const { api, client, url4 } = ready();
    // A home router in the client's namespace: its own public address (the client's is verified
    // by the tests before), source NAT out of vx0, forward only what belongs to a connection from
    // inside, and drop invalid packets arriving for itself (so it cannot answer the challenge on
    // the client's behalf). Its client in a namespace of its own. A
    // challenge acknowledging more than the client sent never reaches it (conntrack: invalid);
    // one far behind reaches it, but its RST does not close the router's entry, and half of the
    // connections then hang (their ACK leaves untranslated): challenge.ts.
    const home = `${LAB_NAME}-home`;
    const publicAddress = client.overlay4.replace(/\.\d+$/, '.150');
    const inHome = (cmd: string[]) => execFileP('ip', ['netns', 'exec', home, ...cmd]);
    const nft = homeRouterRuleset('hm0', { publicAddress });
    const counts = async () => challengeCounts(await scrape(api));
    const settings = await api.get<{ verification: Record<string, unknown> }>('/v1/defense');
    try {
      await execFileP('ip', ['netns', 'add', home]);
      await execFileP('ip', [
        'link',
        'add',
        'hm0',
        'netns',
        client.ns,
        'type',
        'veth',
        'peer',
        'hm1',
        'netns',
        home,
      ]);
      await client.exec(['ip', 'addr', 'add', `${publicAddress}/24`, 'dev', 'vx0']);
      await client.exec(['ip', 'addr', 'add', '192.168.88.1/24', 'dev', 'hm0']);
      await client.exec(['ip', 'link', 'set', 'hm0', 'up']);
      await client.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      const loaded = await client.exec(['nft', '-f', '-'], { input: nft });
      expect(loaded.code, loaded.stderr).toBe(0);
      await inHome(['ip', 'addr', 'add', '192.168.88.2/24', 'dev', 'hm1']);
      await inHome(['ip', 'link', 'set', 'hm1', 'up']);
      await inHome(['ip', 'route', 'add', 'default', 'via', '192.168.88.1']);
      // Every SYN from an unverified source is challenged, and a verification lasts one second:
      // each connection below (a new port, a new cookie) is challenged afresh.
      const patch = await api.request('PATCH', '/v1/defense', {
        body: { verification: { mode: 'always', ttlSeconds: 1 } },
      });
      expect(patch.status, patch.text).toBe(200);
      const before = await counts();
      const failed: string[] = [];
      for (let i = 0; i < 20; i++) {
        await sleep(1050);
        // 3 s: a client that never saw the challenge would be served after its 1 s timeout too;
        // the counts below say it never needed a second challenge
        const atStart = await scrape(api);
        const r = await inHome(['curl', '-sS', '--max-time', '3', url4]).catch((e: unknown) => e);
        const body = String((r as { stdout?: string }).stdout ?? '').trim();
        if (!/^rs\d$/.test(body)) {
          // once seen in CI (a connect timeout) and never again locally: say what the director did
          // with the connection's SYNs and answers, so the next one can be traced
          failed.push(`connection ${i + 1}: ${JSON.stringify(r)}; ${await changedCounters(api, atStart)}`);
        }
      }
      expect(failed, failed.join('\n')).toEqual([]);
      const after = await counts();
      // one challenge and one answer each: the client's own (it sent its SYN again at once, and
      // the retransmission was forwarded), never a second challenge of a timed-out retry
      expect(after.challenges - before.challenges).toBe(20);
      expect(after.verified - before.verified).toBe(20);

      // The router answers no probe (another port, no connection: invalid to it), so its address
      // is verified connection by connection: with an hour's verification, each new connection is
      // still challenged (a spoofer using the address must answer for its own SYN), and served.
      const hour = await api.request('PATCH', '/v1/defense', {
        body: { verification: { mode: 'always', ttlSeconds: 3600 } },
      });
      expect(hour.status, hour.text).toBe(200);
      const listed = await api.get<{ items: { address: string; perConnection: boolean }[] }>(
        '/v1/sources/verified?limit=1000',
      );
      expect(listed.items.find((v) => v.address === publicAddress)?.perConnection).toBe(true);
      for (let i = 0; i < 5; i++) {
        const r = await inHome(['curl', '-sS', '--max-time', '3', url4]);
        expect(r.stdout.trim()).toMatch(/^rs\d$/);
      }
      const later = await counts();
      expect(later.challenges - after.challenges).toBe(5);
      expect(later.verified - after.verified).toBe(5);

      // A carrier NAT's burst: 30 connections opened in the same millisecond from behind the one
      // address (one process, non-blocking connects), more answers within their SYNs'
      // retransmission (Linux: ~10 ms) than the six ports the address's record keeps. Each SYN
      // is let through again by its own answer (AnsweredPortTable), so each is challenged once.
      const burst = await inHome(['python3', '-c', BURST_CLIENT, new URL(url4).hostname, '30']);
      const bodies = burst.stdout.trim().split(/\s+/);
      expect(
        bodies.filter((b) => /^rs\d$/.test(b)),
        burst.stdout + burst.stderr,
      ).toHaveLength(30);
      const burstCounts = await counts();
      expect(burstCounts.challenges - later.challenges).toBe(30);
      expect(burstCounts.verified - later.verified).toBe(30);

      // A second host behind the router connects from the port the first one just used: the
      // router's entry for the first (in TIME_WAIT) holds it, so the second's SYN leaves from
      // another port, its answer closes that entry, and its SYN sent again leaves from yet
      // another (the closed entry still holds the one before). Let through by the answered SYN's
      // sequence number, once (AnsweredPortTable.takeBySeq); without it, challenged on every port.
      await inHome(['ip', 'addr', 'add', '192.168.88.3/24', 'dev', 'hm1']);
      const port = '41234';
      const first = await inHome(['curl', '-sS', '--max-time', '3', '--local-port', port, url4]);
      expect(first.stdout.trim()).toMatch(/^rs\d$/);
      const moved = await inHome([
        'curl',
        '-sS',
        '--max-time',
        '3',
        '--interface',
        '192.168.88.3',
        '--local-port',
        port,
        url4,
      ]);
      expect(moved.stdout.trim()).toMatch(/^rs\d$/);
    } finally {
      await api.request('PATCH', '/v1/defense', { body: { verification: settings.verification } });
      await client.exec(['nft', 'delete', 'table', 'ip', HOME_ROUTER_TABLE]);
      await client.exec(['ip', 'link', 'del', 'hm0']);
      await client.exec(['ip', 'addr', 'del', `${publicAddress}/24`, 'dev', 'vx0']);
      await execFileP('ip', ['netns', 'del', home]).catch(() => undefined);
    }
  }, 90_000);

  it("a client whose kernel answers the probe to another port is verified by that answer's cookie, not connection by connection: one challenge, then none", async () => {
    const { api, client, url4 } = ready();
    const challenges = async () => value(await scrape(api), 'sluice_challenges_sent_total', {});
    await onFreshAddressVerifying(151, async (fresh) => {
      const before = await challenges();
      const first = await client.exec(['curl', '-sS', '--max-time', '3', '--interface', fresh, url4]);
      expect(first.stdout.trim()).toMatch(/^rs\d$/);
      // The answer to the challenge drew a probe to another port; the kernel, with no socket
      // there, answered it too (RFC 9293 §3.10.7.1), and the director knew it for a probe's by
      // its cookie (the SipHash's other word) within the round trip.
      type Listed = { address: string; perConnection: boolean; roundTripMs: number | null };
      let entry: Listed | undefined;
      for (let i = 0; i < 20 && (entry === undefined || entry.perConnection); i++) {
        await sleep(50);
        const listed = await api.get<{ items: Listed[] }>('/v1/sources/verified?limit=1000');
        entry = listed.items.find((v) => v.address === fresh);
      }
      expect(entry?.perConnection).toBe(false);
      // the probe's answer was timed: a kernel in the next namespace, a millisecond or so away
      expect(entry?.roundTripMs).toBeGreaterThanOrEqual(1);
      expect(entry?.roundTripMs).toBeLessThan(1000);
      for (let i = 0; i < 5; i++) {
        const r = await client.exec(['curl', '-sS', '--max-time', '3', '--interface', fresh, url4]);
        expect(r.stdout.trim()).toMatch(/^rs\d$/);
      }
      expect((await challenges()) - before).toBe(1);
    });
  }, 60_000);

  it('an IPv6 client answers the challenge over IPv6 and is served: verify always, a fresh address, one challenge', async () => {
    const { api, client, url6 } = ready();
    expect(client.overlay6).not.toBeNull();
    // a fresh address in the client's /64, so no earlier test verified it
    const fresh = (client.overlay6 as string).replace(/:[0-9a-f]+$/, ':6151');
    const counts = async () => challengeCounts(await scrape(api));
    const settings = await api.get<{ verification: Record<string, unknown> }>('/v1/defense');
    try {
      await client.exec(['ip', '-6', 'addr', 'add', `${fresh}/64`, 'dev', 'vx0', 'nodad']);
      const patch = await api.request('PATCH', '/v1/defense', {
        body: { verification: { mode: 'always', ttlSeconds: 3600 } },
      });
      expect(patch.status, patch.text).toBe(200);
      const atStart = await scrape(api);
      const before = challengeCounts(atStart);
      const first = await client.exec(['curl', '-sS', '--max-time', '3', '--interface', fresh, url6]);
      expect(first.stdout.trim(), `${JSON.stringify(first)}; ${await changedCounters(api, atStart)}`).toMatch(
        /^rs\d$/,
      );
      // challenged once (the wrong-ACK SYN-ACK over IPv6), answered by the kernel's RST, and the
      // SYN sent again forwarded; later connections from the address are not challenged
      for (let i = 0; i < 3; i++) {
        const r = await client.exec(['curl', '-sS', '--max-time', '3', '--interface', fresh, url6]);
        expect(r.stdout.trim()).toMatch(/^rs\d$/);
      }
      const after = await counts();
      expect(after.challenges - before.challenges).toBe(1);
      expect(after.verified - before.verified).toBeGreaterThanOrEqual(1);
      const listed = await api.get<{ items: { address: string }[] }>('/v1/sources/verified?limit=1000');
      expect(listed.items.map((v) => v.address)).toContain(fresh);
    } finally {
      await api.request('PATCH', '/v1/defense', { body: { verification: settings.verification } });
      await client.exec(['ip', '-6', 'addr', 'del', `${fresh}/64`, 'dev', 'vx0']);
    }
  }, 60_000);

  it("a spoofer flooding a new client's address with SYNs (hping3 -a) does not lock it out, though the client's kernel answers every challenge the flood draws", async () => {
    const { client, lab, url4 } = ready();
    await onFreshAddressVerifying(152, async (victim) => {
      // SYNs from the victim's address, a new source port each, 20k a second: every one is
      // challenged, and the victim's kernel resets every challenge (no socket for the port), far
      // more answers than the director remembers ports for.
      const flood = client.spawn(['hping3', '-q', '-S', '-p', '80', '-i', 'u50', '-a', victim, lab.vip4], {
        stdio: 'ignore',
      });
      try {
        await sleep(500);
        // Before the probe's cookie told its answer apart (605c1a6), one of four runs had a
        // connection time out here and three passed: the probe's answer came back within the lab's
        // sub-millisecond round trip, before the flood pushed out the port it was sent for. With a
        // longer round trip, or a stack that waits for its timeout, it did not (simulator, §4 of
        // docs/DEFENSE.md); this kernel has no netem to make one.
        const failed: string[] = [];
        for (let i = 0; i < 10; i++) {
          const r = await client
            .exec(['curl', '-sS', '--max-time', '3', '--interface', victim, url4])
            .catch((e: unknown) => e);
          const body = String((r as { stdout?: string }).stdout ?? '').trim();
          if (!/^rs\d$/.test(body)) failed.push(`connection ${i + 1}: ${JSON.stringify(r)}`);
        }
        expect(failed, failed.join('\n')).toEqual([]);
      } finally {
        flood.kill('SIGKILL');
      }
    });
  }, 60_000);

  it('at a full real, a keep-alive connection idle a second after its answer is shed (weights.servedIdleMs); with the rule off it is kept', async () => {
    const { client, url4, api, web4Ids, lab } = ready();
    const settings = await api.get<{
      weights: Record<string, number>;
      sourceChecks: Record<string, unknown>;
    }>('/v1/defense');
    // The lab's addresses are private, bogons to the source checks (priority 15, fixed): this
    // test is about how a client's own connection ranks.
    const checksOff = await api.request('PATCH', '/v1/defense', {
      body: { sourceChecks: { enabled: false } },
    });
    expect(checksOff.status, checksOff.text).toBe(200);
    const shedSoFar = async (): Promise<number> =>
      (await scrape(api))
        .filter((m) => m.name === 'sluice_connections_shed_total' && m.labels.reason === 'shed')
        .reduce((sum, m) => sum + m.value, 0);
    const { held, first } = await HeldConnection.open(client, url4);
    let fullId: string | null = null;
    try {
      expect(first, 'first request on the held connection').toMatchObject({ status: 200, reused: false });
      const index = lab.reals.findIndex((r) => r.label === first.real);
      expect(index, `the held connection was answered by ${first.real}`).toBeGreaterThanOrEqual(0);
      const entry = async (): Promise<ConnectionItem | undefined> =>
        (
          await api.get<{ items: ConnectionItem[] }>(
            `/v1/connections?service=web4&client=${client.overlay4}&limit=1000`,
          )
        ).items.find((c) => c.client.port === first.localPort && c.state === 'ESTABLISHED');
      // Its source answered the director's probe (a kernel resets a SYN-ACK it did not ask for):
      // verified (the re-scorer joins a connection whose source was verified after its SYN),
      // answered, it ranks as a client being served, which nothing sheds.
      let seen = await entry();
      for (let waited = 0; !seen?.priorityReasons?.includes('verified') && waited < 3000; waited += 100) {
        await sleep(100);
        seen = await entry();
      }
      expect(seen?.priorityReasons, JSON.stringify(seen)).toContain('verified');
      // The rule off, its real server full (the held connection alone fills a threshold of 1):
      // the shedder runs and finds nothing it may take.
      const off = await api.request('PATCH', '/v1/defense', { body: { weights: { servedIdleMs: 0 } } });
      expect(off.status, off.text).toBe(200);
      fullId = web4Ids[index];
      const full = await api.request('PATCH', realPath('web4', fullId), { body: { upperThreshold: 1 } });
      expect(full.status, full.text).toBe(200);
      const before = await shedSoFar();
      const keepAliveClosed = async (): Promise<number> =>
        value(await scrape(api), 'sluice_keepalive_connections_closed_total', {});
      const closedBefore = await keepAliveClosed();
      const idleFrom = await entry();
      await sleep(2500);
      expect(await shedSoFar(), 'shed with servedIdleMs 0').toBe(before);
      // Node's agent turns on the kernel's TCP keepalive at 1 s (keepAliveMsecs; libuv probes
      // every second after that): empty ACKs arrive while the connection idles, and the idle
      // clock runs on through them (before 8bd2df1 each one restarted it, and the rule below
      // could only catch the connection in the moment before the next probe).
      const idled = await entry();
      expect(
        idled?.packets,
        `keepalive probes arrived: ${JSON.stringify([idleFrom, idled])}`,
      ).toBeGreaterThan(idleFrom?.packets ?? Number.POSITIVE_INFINITY);
      expect(idled?.idleSeconds, JSON.stringify(idled)).toBeGreaterThanOrEqual(2);
      const kept = await held.request();
      expect(kept, 'the idle connection, kept').toMatchObject({
        status: 200,
        reused: true,
        localPort: first.localPort,
      });
      // The rule on: idle a second after that answer, it ranks below a new client, and the
      // shedder takes it (an RST to its real server, as the client's).
      const on = await api.request('PATCH', '/v1/defense', { body: { weights: { servedIdleMs: 1000 } } });
      expect(on.status, on.text).toBe(200);
      let shed = await shedSoFar();
      // Generous: the lab layer's files run side by side, and a neighbour's flood can take both
      // cores from this director for seconds.
      for (let waited = 0; shed === before && waited < 15_000; waited += 250) {
        await sleep(250);
        shed = await shedSoFar();
      }
      expect(shed - before, `shed with servedIdleMs 1000; the entry: ${JSON.stringify(await entry())}`).toBe(
        1,
      );
      expect((await keepAliveClosed()) - closedBefore, 'counted as a keep-alive connection closed').toBe(1);
      expect(await entry(), 'the shed connection is gone from the table').toBeUndefined();
      // Its server no longer holds it: the next request on it fails, and a new connection is served.
      const after = await held.request();
      expect(after.error, `the held connection after it was shed: ${JSON.stringify(after)}`).toBeDefined();
    } finally {
      await held.close();
      if (fullId !== null) {
        await api.request('PATCH', realPath('web4', fullId), { body: { upperThreshold: 0 } });
      }
      await api.request('PATCH', '/v1/defense', {
        body: {
          weights: { servedIdleMs: settings.weights.servedIdleMs },
          sourceChecks: settings.sourceChecks,
        },
      });
    }
    const bodies = await curlMany(client, url4, 4);
    expect(new Set(bodies), `after: ${JSON.stringify(tally(bodies))}`).toEqual(new Set(['rs1', 'rs2']));
  }, 120_000);

  it("a bot that forges its server's progress looks served to the director; its server's load agent says the server sent nothing: the entry is marked server-quiet, then judged forged", async () => {
    const { client, api, web4Ids, lab } = ready();
    await withAgents([], async (children) => {
      // The renewing bot (tools/lab-eval/src/bots.py --mode renew): its response read, then every
      // 0.35-0.65 s a byte of a request head it never finishes and a raw ACK 1000 bytes further
      // past what its server really sent (the server drops it; the director cannot tell).
      const bot = spawnCaptured(client, [
        '/usr/bin/python3',
        BOTS_SCRIPT,
        '--host',
        lab.vip4,
        '--addrs',
        client.overlay4,
        '--per',
        '1',
        '--mode',
        'renew',
        '--interval-s',
        '0.5',
      ]);
      children.push(bot.child);
      const until = (what: string, ms: number, pred: (e: ConnectionItem | undefined) => boolean) =>
        waitEntry(api, client.overlay4, what, ms, pred, bot.out);
      // Without the agent's word: served by its acknowledgements, never idle a second.
      let seen = await until('looked served', 15_000, (e) =>
        Boolean(e?.priorityReasons?.includes('served') && /"forged": ([3-9]|\d\d)/.test(bot.out())),
      );
      expect(seen?.idleSeconds, JSON.stringify(seen)).toBeLessThan(1);
      const realId = realIdOf(web4Ids, seen);
      // The agent on: its server has sent nothing since the response; the entry is marked.
      await setAgent(api, realId, true);
      seen = await until('marked server-quiet', 10_000, (e) =>
        Boolean(e?.priorityReasons?.includes('server-quiet')),
      );
      // Still active by its own packets, so ranked as forged: no 'served', and below a new client.
      expect(seen?.priorityReasons, JSON.stringify(seen)).not.toContain('served');
      expect(seen?.idleSeconds, JSON.stringify(seen)).toBeLessThan(1);
      // Its acknowledgements came inside its server's silence, before the agent looked: forged, for
      // good (ServerQuietMarks' judgement, as for an acknowledgement gone backward).
      seen = await until('judged forged', 10_000, (e) => Boolean(e?.priorityReasons?.includes('ack-forged')));
      const status = (await realOf(api, 'web4', realId)) as RealView & {
        status: { agentQuiet: number | null; agentHeld: number | null };
      };
      expect(status.status?.agentQuiet, JSON.stringify(status)).toBeGreaterThanOrEqual(1);
      expect(status.status?.agentHeld, JSON.stringify(status)).toBeGreaterThanOrEqual(1);
      expect(
        value(await scrape(api), 'sluice_real_server_quiet_connections', { service: 'web4', real: realId }),
      ).toBeGreaterThanOrEqual(1);
      // The agent gone from the config: no word from the server, the mark is cleared; the
      // forgery it proved stays with the connection.
      const forgedId = seen?.id;
      await setAgent(api, realId, false);
      seen = await until(
        'unmarked without an agent',
        5000,
        (e) => !e?.priorityReasons?.includes('server-quiet'),
      );
      if (seen?.id === forgedId) expect(seen?.priorityReasons, JSON.stringify(seen)).toContain('ack-forged');
    });
  }, 90_000);

  it("a reader taking a large answer slowly looks served to the director; its server's load agent lists it slow: the entry is marked server-quiet, never judged forged", async () => {
    const { client, api, web4Ids, lab } = ready();
    // Agents whose floor is far above this reader's 5 kB/s and whose grace is half a second: the
    // test is the path from the server's kernel to the director's ranking, not the floor's level.
    await withAgents(['--slow-bps', '1000000', '--slow-grace-ms', '500'], async (children) => {
      const reader = spawnCaptured(client, [
        '/usr/bin/python3',
        '-c',
        SLOW_READER,
        lab.vip4,
        client.overlay4,
      ]);
      children.push(reader.child);
      const until = (what: string, ms: number, pred: (e: ConnectionItem | undefined) => boolean) =>
        waitEntry(api, client.overlay4, what, ms, pred, reader.out);
      let seen = await until(
        'connected',
        10_000,
        (e) => reader.out().includes('connected') && e?.real != null,
      );
      const realId = realIdOf(web4Ids, seen);
      const underlay = lab.reals[web4Ids.indexOf(realId)].underlay;
      // The agent itself lists the connection slow, and not quiet (its server sends every 0.3 s),
      // as the director's probe reads it.
      const mine = (list: { client: string }[] | null | undefined) =>
        (list ?? []).some((c) => c.client === client.overlay4);
      let probe = await probeAgent(underlay, AGENT_PORT, 1000);
      for (let waited = 0; !mine(probe.slow); waited += 250) {
        if (waited > 10_000)
          throw new Error(`the agent never listed it slow: ${JSON.stringify(probe)}; ${reader.out()}`);
        await sleep(250);
        probe = await probeAgent(underlay, AGENT_PORT, 1000);
      }
      expect(mine(probe.quiet), JSON.stringify(probe)).toBe(false);
      await setAgent(api, realId, true);
      seen = await until('marked', 10_000, (e) => Boolean(e?.priorityReasons?.includes('server-quiet')));
      expect(seen?.priorityReasons, JSON.stringify(seen)).not.toContain('served');
      const status = (await realOf(api, 'web4', realId)) as RealView & {
        status: { agentQuiet: number | null; agentSlow: number | null };
      };
      expect(status.status?.agentQuiet, JSON.stringify(status)).toBeGreaterThanOrEqual(1);
      expect(status.status?.agentSlow, JSON.stringify(status)).toBeGreaterThanOrEqual(1);
      // Its server is sending: a slow connection's acknowledgements are real, never judged forged.
      await sleep(1500);
      seen = await establishedEntry(api, client.overlay4);
      expect(seen?.priorityReasons, JSON.stringify(seen)).not.toContain('ack-forged');
      await setAgent(api, realId, false);
      await until('unmarked without an agent', 5000, (e) => !e?.priorityReasons?.includes('server-quiet'));
    });
  }, 90_000);

  it('SIGHUP re-reads the file; a corrupt file is refused, logged, and the running config stays', async () => {
    const { api, daemon, files, client, url4, web4Ids } = ready();
    // Counters must survive reloads (a reset would read as a burst of rate() noise at best).
    const countersBefore = await settledWeb4Counters(api, web4Ids);
    const file = JSON.parse(await readFile(files.configPath, 'utf8')) as ConfigFile;
    const web4 = file.services.find((s) => s.name === 'web4')!;
    expect(web4.scheduler).toBe('rr');
    web4.scheduler = 'wlc';
    web4.reals[1].weight = 3;
    const goodText = `${JSON.stringify(file, null, 2)}\n`;
    await writeFile(files.configPath, goodText);
    daemon.signal('SIGHUP');
    const reloaded = await until(
      'GET /v1/config to show web4 with wlc after SIGHUP',
      () => api.get<LiveConfig>('/v1/config'),
      (c) => c.services.find((s) => s.name === 'web4')?.scheduler === 'wlc',
    );
    expect(reloaded.services.find((s) => s.name === 'web4')!.reals.map((r) => r.weight)).toEqual([1, 3]);
    const etag = (await api.request('GET', '/v1/config')).headers.get('etag');

    // Corrupt: an unquoted word on the scheduler's line, so the error has a line to name.
    const lines = goodText.split('\n');
    const at = lines.findIndex((l) => l.includes('"scheduler": "wlc"'));
    lines[at] = lines[at].replace('"wlc"', 'wlc');
    await writeFile(files.configPath, lines.join('\n'));
    const logFrom = daemon.stderr.length;
    daemon.signal('SIGHUP');
    const logged = await until(
      'the daemon to log the SIGHUP error',
      async () => daemon.stderr.slice(logFrom),
      (s) => s.includes('SIGHUP'),
    );
    expect(logged).toMatch(/ error /);
    expect(logged, 'the error names the file and line').toContain(`${files.configPath}:${at + 1}`);

    // Still up, still on the config it had.
    expect(daemon.exit, daemon.output()).toBeNull();
    expect((await api.request('GET', '/readyz')).status).toBe(200);
    const running = await api.request<LiveConfig>('GET', '/v1/config');
    expect(running.headers.get('etag')).toBe(etag);
    expect(running.json).toEqual(reloaded);
    const bodies = await curlMany(client, url4, 4);
    for (const b of bodies) expect(['rs1', 'rs2']).toContain(b);
    await until(
      'the 4 connections to be counted',
      async () => web4Counters(await scrape(api), web4Ids).service,
      (v) => v >= countersBefore.service + 4,
    );
    const countersAfter = await settledWeb4Counters(api, web4Ids);
    expect(countersAfter.service - countersBefore.service, 'web4 connections across two reloads').toBe(4);

    await writeFile(files.configPath, goodText);
  }, 60_000);
});
