// End to end: QUIC connection-ID routing proven with a real QUIC client and real QUIC servers.
// The `sluice run` daemon serves the namespace lab (tools/lab); each of its two real servers runs
// Debian's ngtcp2 example server (gtlsserver) issuing connection IDs that carry its QUIC-LB server
// ID (tools/lab/quic/cid-prefix.c preloaded), and the client namespace runs ngtcp2's example client
// (gtlsclient), which downloads a file and changes its address mid-connection in three ways:
//   port migration   --change-local-addr: a new socket (new port), with path validation;
//   NAT rebinding    --change-local-addr --nat-rebinding: a new port the client does not validate;
//   address change   an nft SNAT rule added in the client's namespace once the handshake is done,
//                    so its datagrams leave from another address; the client itself sees nothing.
// Each time the download must complete, and the kernels' own counts (nft on the client after NAT,
// nft on each real's input) must show every datagram of the flow reaching one real server, over
// two paths; the director's QUIC counters must show one new path, nothing unroutable.
//
// The control is the same service without `quic` (port 4434, same servers, same scheduler lc): it
// routes by 5-tuple, so the migrated client's new path is a new connection, which lc sends to the
// real server without the first path's entry. That it does shows the routing test can fail. (lc
// rather than rr: each worker keeps its own rr rotation, and the new path may reach either worker;
// lc reads the shared per-real counters, so its pick does not depend on which.)
//
// A machine that cannot build the lab or lacks the ngtcp2 examples FAILS every test with the reason.
import type { ConfigFile, ServiceConfig } from '@sluice/config';
import { checkLabPrerequisites, Lab, type LabNode, RunningDirector } from '@sluice/lab';
import { missingPackages, preflight, QUIC_LAB_TEST, SYSTEM_TOOLS } from '@sluice/preflight';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { parseSamples, value } from './metrics.ts';
import {
  type ClientRun,
  clientSent,
  countOnClient,
  countOnReal,
  nft,
  nftDrop,
  QuicFiles,
  realCount,
  runQuicClient,
  startQuicServer,
} from './quic.ts';
import { until } from './wait.ts';

const LAB_NAME = 'quic';
// Fixed and outside 20..219 (defaultSubnet's range) and apart from the other suites' (231, 241, 242).
const SUBNET = 236;
const QUIC_PORT = 4433;
const PLAIN_PORT = 4434;
/** QUIC-LB (draft-ietf-quic-load-balancers-20) first octet: config rotation 1, 17 more bytes. */
const FIRST_OCTET = '31';
const SERVER_IDS = ['0a01', '0a02'];
/** The client's download: large enough that most of the connection runs after the change. */
const BLOB_BYTES = 256 * 1024;

interface QuicCounters {
  longHeader: number;
  cidRouted: number;
  unknownServerId: number;
  unroutable: number;
  newPaths: number;
  repointed: number;
}

interface QuicView {
  layout: { algorithm: string; serverIdLength: number; cidLength: number; configId: number | null };
  servers: { serverId: string; real: string; routable: boolean }[];
  counters: QuicCounters;
}

interface ConnectionItem {
  client: { address: string; port: number };
  real: { address: string; port: number } | null;
}

interface Env {
  lab: Lab;
  client: LabNode;
  director: RunningDirector;
  files: QuicFiles;
}

let env: Env | null = null;
let setupError: unknown = null;
let lab: Lab | undefined;
let director: RunningDirector | undefined;
let files: QuicFiles | undefined;

function ready(): Env {
  if (setupError !== null) {
    const reason = setupError instanceof Error ? setupError.message : String(setupError);
    throw new Error(`QUIC lab setup failed, so this test cannot run: ${reason}`, { cause: setupError });
  }
  if (env === null) throw new Error('QUIC lab setup did not run');
  return env;
}

/** The ngtcp2 examples, nft, openssl and cc: installed from Debian as root when missing. */
function requireQuicTools(): void {
  const tools = SYSTEM_TOOLS.filter((t) => t.neededBy.includes(QUIC_LAB_TEST));
  const plan = preflight(tools, (line) => {
    if (!line.startsWith('preflight: found')) process.stderr.write(`${line}\n`);
  });
  const missing = plan.decisions.filter((d) => d.status === 'missing').map((d) => d.tool.binary);
  if (missing.length > 0) {
    throw new Error(
      `binary not found on PATH: ${missing.join(', ')} (apt-get install -y ${missingPackages(plan).join(' ')})`,
    );
  }
}

/** Two UDP services on the VIP over both reals, lc: `h3` routes QUIC by server ID, `plain` does not. */
function directorConfig(l: Lab, apiPort: number, tokenFile: string): ConfigFile {
  const live = l.directorConfig({ port: QUIC_PORT, healthCheck: null });
  const [base] = live.services;
  const h3: ServiceConfig = {
    ...base,
    name: 'h3',
    protocol: 'udp',
    scheduler: 'lc',
    quic: { quicLb: { configId: 1, serverIdLength: 2, nonceLength: 15, lengthSelfEncoded: true } },
    reals: base.reals.map((r, i) => ({ ...r, quicServerId: SERVER_IDS[i] })),
  };
  const plain: ServiceConfig = {
    ...base,
    name: 'plain',
    port: PLAIN_PORT,
    protocol: 'udp',
    scheduler: 'lc',
    reals: base.reals.map((r) => ({ ...r, port: PLAIN_PORT })),
  };
  return {
    daemon: {
      vxlan: { address: l.directorUnderlay, port: 4789 },
      api: { address: '127.0.0.1', port: apiPort },
      workers: 2,
      connectionCapacity: 65536,
      tokenFile,
    },
    overlay: live.overlay,
    services: [h3, plain],
  };
}

beforeAll(async () => {
  try {
    await checkLabPrerequisites();
    requireQuicTools();
    lab = await Lab.create({ name: LAB_NAME, subnet: SUBNET, reals: 2, clients: 1, ipv6: false });
    files = await QuicFiles.create(BLOB_BYTES);
    const l = lab;
    const f = files;
    await Promise.all(
      l.reals.flatMap((r, i) => [
        startQuicServer(r, f, l.vip4, QUIC_PORT, `${FIRST_OCTET}${SERVER_IDS[i]}`),
        startQuicServer(r, f, l.vip4, PLAIN_PORT, `${FIRST_OCTET}${SERVER_IDS[i]}`),
      ]),
    );
    director = await RunningDirector.start(
      (apiPort, tokenFile) => directorConfig(l, apiPort, tokenFile),
      'sluice-quic-',
    );
    env = { lab: l, client: l.clients[0], director, files: f };
  } catch (err) {
    setupError = err;
  }
}, 180_000);

afterAll(async () => {
  try {
    await director?.stop();
  } finally {
    try {
      await lab?.destroy();
    } finally {
      await files?.cleanup();
    }
  }
}, 90_000);

interface Outcome {
  run: ClientRun;
  /** Datagrams the client sent to the service's port, after NAT. */
  sent: number;
  /** ICMP errors the client's kernel sent to the VIP (about the flow, after a socket closed). */
  icmp: number;
  /** The `address:port` pairs they left from. */
  paths: string[];
  /** Datagrams each real server's kernel received for the port (lab.reals order). */
  received: number[];
  /** The director's per-real packet counters' increase (lab.reals order). */
  forwarded: number[];
  /** The service's QUIC counters' increase (h3 only). */
  quic: QuicCounters | null;
}

async function quicCounters(d: RunningDirector): Promise<QuicCounters> {
  return (await d.get<QuicView>('/v1/services/h3/quic')).counters;
}

async function realPackets(e: Env, service: string, port: number): Promise<number[]> {
  const samples = parseSamples(await e.director.get<string>('/metrics'));
  return e.lab.reals.map((r) =>
    value(samples, 'sluice_real_server_packets_total', { service, real: `${r.overlay4}:${port}` }),
  );
}

function delta<T extends object>(after: T, before: T): T {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) out[k] = (v as number) - (before as Record<string, number>)[k];
  return out as T;
}

/**
 * One download through the director with fresh nft counters: gtlsclient with `args`, while
 * `during` (given the client's run in flight) does whatever changes the path from outside.
 */
async function download(
  e: Env,
  service: 'h3' | 'plain',
  args: readonly string[],
  during?: () => Promise<void>,
): Promise<Outcome> {
  const port = service === 'h3' ? QUIC_PORT : PLAIN_PORT;
  await Promise.all([
    countOnClient(e.client, e.lab.vip4, port),
    ...e.lab.reals.map((r) => countOnReal(r, e.lab.vip4, [port])),
  ]);
  const quicBefore = service === 'h3' ? await quicCounters(e.director) : null;
  const packetsBefore = await realPackets(e, service, port);
  const running = runQuicClient(e.client, e.files, e.lab.vip4, port, args);
  if (during !== undefined) await during();
  const run = await running;
  const { sent, icmp, paths } = await clientSent(e.client);
  const received = await Promise.all(e.lab.reals.map((r) => realCount(r, port)));
  // The workers count as they forward; wait until the director has counted what the reals got.
  const packetsAfter = await until(
    'the director counting what the reals received',
    () => realPackets(e, service, port),
    (p) => p.reduce((a, b) => a + b, 0) - packetsBefore.reduce((a, b) => a + b, 0) >= sent + icmp,
    { timeoutMs: 5_000 },
  ).catch(() => realPackets(e, service, port));
  const quic = quicBefore === null ? null : delta(await quicCounters(e.director), quicBefore);
  return {
    run,
    sent,
    icmp,
    paths,
    received,
    forwarded: packetsAfter.map((v, i) => v - packetsBefore[i]),
    quic,
  };
}

/**
 * The address change, loaded before the client starts: the client's datagrams to vip:QUIC_PORT
 * leave from `second` once they are tracked, and until the chain `hold` is flushed they are not.
 * So the change is one atomic rule removal with conntrack already running: the client's first
 * datagram after it makes the flow's entry, translated. (Loading the nat table mid-connection
 * instead starts conntrack before its rules apply, and a datagram in that window makes an
 * untranslated entry.) The server's datagrams to the old address stay untracked throughout:
 * tracked, one arriving first would make the entry in its direction, untranslated as well.
 */
function snatTable(vip: string, first: string, second: string): string {
  return [
    'table ip sluiceqnat {',
    '  chain hold {',
    '    type filter hook output priority raw; policy accept;',
    `    ip daddr ${vip} udp dport ${QUIC_PORT} notrack`,
    '  }',
    '  chain pre {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    ip saddr ${vip} udp sport ${QUIC_PORT} ip daddr ${first} notrack`,
    '  }',
    '  chain post {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip daddr ${vip} udp dport ${QUIC_PORT} snat to ${second}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** One JSON line per download, so a run's log carries its figures. */
function log(scenario: string, o: Outcome): void {
  const { run, ...figures } = o;
  process.stdout.write(
    `${JSON.stringify({ suite: 'quic-lab', scenario, exit: run.code, downloaded: run.downloaded, ...figures })}\n`,
  );
}

/** The assertions shared by the three ways of changing address with `quic` on. */
async function expectOneServer(e: Env, o: Outcome): Promise<void> {
  const report = JSON.stringify({ ...o, run: { ...o.run, output: undefined } });
  expect(o.run.code, `gtlsclient failed: ${o.run.output}\n${report}`).toBe(0);
  expect(o.run.downloaded, report).toBe(BLOB_BYTES);
  expect(o.paths, `the client should have used two paths: ${report}`).toHaveLength(2);
  const owner = o.received.findIndex((n) => n > 0);
  expect(owner, report).toBeGreaterThanOrEqual(0);
  // Every datagram the client sent reached the owner's kernel, none the other's.
  const expected = e.lab.reals.map((_, i) => (i === owner ? o.sent : 0));
  expect(o.received, report).toEqual(expected);
  // The director's count for the owner may be higher: it also forwards the client's ICMP errors
  // about the flow there (a datagram for a socket the client closed; two runs in eight had one).
  expect(
    o.forwarded.filter((_, i) => i !== owner),
    report,
  ).toEqual(expected.filter((_, i) => i !== owner));
  expect(o.forwarded[owner], report).toBeGreaterThanOrEqual(o.sent);
  // Each datagram counted in one route; the second path is recorded once, on the owner.
  expect(o.quic, report).toMatchObject({ unknownServerId: 0, unroutable: 0, newPaths: 1, repointed: 0 });
  const q = o.quic as QuicCounters;
  expect(q.longHeader, report).toBeGreaterThan(0);
  expect(q.cidRouted, report).toBeGreaterThan(0);
  expect(q.longHeader + q.cidRouted, report).toBe(o.sent);
  // Both paths are connection entries of the owner.
  const conns = await e.director.get<{ items: ConnectionItem[] }>('/v1/connections?service=h3&limit=1000');
  const ownerAddress = e.lab.reals[owner].overlay4;
  for (const path of o.paths) {
    const entry = conns.items.find((c) => `${c.client.address}:${c.client.port}` === path);
    expect(entry?.real?.address, `entry of ${path}: ${JSON.stringify(conns.items)}`).toBe(ownerAddress);
  }
}

describe('QUIC through the director: a real client changing address stays on its real server', () => {
  beforeEach(() => {
    onTestFailed(() => {
      if (director !== undefined) process.stderr.write(`${director.process.output()}\n`);
    });
  });

  it('lists the server IDs of both reals as routable', async () => {
    const { director: d, lab: l } = ready();
    const view = await d.get<QuicView>('/v1/services/h3/quic');
    expect(view.layout).toMatchObject({
      algorithm: 'quic-lb-draft-20',
      configId: 1,
      serverIdLength: 2,
      cidLength: 18,
    });
    expect(view.servers).toEqual(
      l.reals.map((r, i) => ({
        serverId: SERVER_IDS[i],
        real: `${r.overlay4}:${QUIC_PORT}`,
        routable: true,
      })),
    );
  });

  it('port migration (gtlsclient --change-local-addr): one real server gets every datagram', async () => {
    const e = ready();
    const o = await download(e, 'h3', ['--change-local-addr=300ms', '--delay-stream=1s']);
    log('port-migration', o);
    await expectOneServer(e, o);
  }, 60_000);

  it('NAT rebinding (--change-local-addr --nat-rebinding): one real server gets every datagram', async () => {
    const e = ready();
    const o = await download(e, 'h3', ['--change-local-addr=300ms', '--nat-rebinding', '--delay-stream=1s']);
    log('nat-rebinding', o);
    await expectOneServer(e, o);
  }, 60_000);

  it('address change by an nft SNAT rule in the client namespace mid-connection: one real server gets every datagram', async () => {
    const e = ready();
    const { client, lab: l, director: d } = e;
    const second = `10.${l.plan.subnet}.0.201`;
    await client.exec(['ip', 'addr', 'add', `${second}/32`, 'dev', 'vx0']);
    try {
      await nft(client, snatTable(l.vip4, client.overlay4, second));
      const before = await quicCounters(d);
      const o = await download(e, 'h3', ['--delay-stream=2s'], async () => {
        // A short header means the handshake is done; the request waits 2 s after it, by
        // which time the hold is lifted and the client's datagrams leave translated.
        await until(
          'the handshake (a short header at the director)',
          () => quicCounters(d),
          (c) => c.cidRouted > before.cidRouted,
          { timeoutMs: 10_000, intervalMs: 20 },
        );
        await nft(client, 'flush chain ip sluiceqnat hold\n');
      });
      log('nft-snat', o);
      expect(new Set(o.paths.map((p) => p.split(':')[0]))).toEqual(new Set([client.overlay4, second]));
      await expectOneServer(e, o);
    } finally {
      await nftDrop(client, 'ip', 'sluiceqnat');
      await client.exec(['ip', 'addr', 'del', `${second}/32`, 'dev', 'vx0']);
    }
  }, 60_000);

  it('control: the same service without `quic` routes by 5-tuple, so the migrated path lands on the other real', async () => {
    const e = ready();
    const o = await download(e, 'plain', ['--change-local-addr=300ms', '--delay-stream=1s']);
    log('control-5-tuple', o);
    const report = JSON.stringify({ ...o, run: { ...o.run, output: undefined } });
    expect(o.paths, report).toHaveLength(2);
    // The request went out on the new path, to a server that does not know the connection.
    expect(o.run.downloaded, report).toBeLessThan(BLOB_BYTES);
    // lc: the first path's entry on one real, the new path's on the other.
    expect(
      o.received.every((n) => n > 0),
      report,
    ).toBe(true);
    expect(
      o.forwarded.every((n) => n > 0),
      report,
    ).toBe(true);
    const conns = await e.director.get<{ items: ConnectionItem[] }>(
      '/v1/connections?service=plain&limit=1000',
    );
    const reals = o.paths.map(
      (path) => conns.items.find((c) => `${c.client.address}:${c.client.port}` === path)?.real?.address,
    );
    expect(new Set(reals), `${JSON.stringify(reals)} ${report}`).toEqual(
      new Set(e.lab.reals.map((r) => r.overlay4)),
    );
  }, 60_000);
});
