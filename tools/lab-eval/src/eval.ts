// The defense measured on real kernels against an adversarial suite written against its scoring
// (issue 8, "The proof"): the real daemon (`sluice run --config`) in the namespace lab, real
// servers with a fixed number of workers and Linux's defaults, valid clients that look like the
// Internet (mostly first-time sources, real TCP stacks), and attackers that earn every credit the
// scoring gives or sit just under every threshold; every baseline in the same run.
//
//   c1  valid clients (valid-clients.ts): 20 new connections/s from 256 addresses in 16 /24s,
//       each address's first connection a first-time source; partners (2/s) from a priority-0 rule's prefix
//   c2  blind spoofers: hping3 and spoof_ack.py (raw socket)
//   c3  real-address bots (bots.py): slow-header, slow-forged, idle-hold, spread, slow-read
//   rs1, rs2  worker_server.py: 200 workers each (the reals' upperThreshold), syncookies on
//
// Per run: fresh real servers, a fresh daemon, RST watchers (tcpdump) on the reals and on c1,
// 3 s of valid traffic alone, then the attack and the measurement window; connections started in
// the window are measured and finish (at most their 4 s deadline) under the attack. Numbers come
// from the outside: each connection's own outcome and timings, the director's /metrics and
// connection listing, the reals' `ss` and their worker counts, and the RSTs the reals received.
// Nothing here asserts a performance threshold; it reports.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EvalResult } from '@sluice/eval-report';
import { homeRouterRuleset, Lab, type LabNode, labNodeBinary, RunningDirector, run } from '@sluice/lab';
import {
  type Addresses,
  addresses,
  BOT_LEAD_MS,
  BOT_SCENARIOS,
  BOTS_PER_ADDRESS,
  DEADLINE_MS,
  directorConfig,
  LAB_NAME,
  natAddresses,
  PARTNER_RATE,
  type PlanOptions,
  planRuns,
  REALS,
  RETURN_PROB,
  type RunSpec,
  type Scenario,
  SPREAD_PER_ADDRESS,
  SPREAD_SCENARIOS,
  SUBNET,
  thresholdFor,
  UDP_FLOOD_PORT,
  VALID_RATE,
  WARMUP_MS,
  WORKERS,
} from './plan.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const here = (f: string): string => fileURLToPath(new URL(`./${f}`, import.meta.url));
/** The valid clients' script (run in a client's namespace with the pinned node). */
export const VALID_SCRIPT = here('valid-clients.ts');
const SPOOF_SCRIPT = here('spoof_ack.py');
/** The real-address bots (bots.py --help). */
export const BOTS_SCRIPT = here('bots.py');
const GHOST_SCRIPT = here('ghost.py');
const GHOST_INTERVAL_S = 1.9 / 1.3;
/** sluice-agent (@sluice/agent), run in each real server's namespace with `--agent`. */
const AGENT_MAIN = fileURLToPath(new URL('../../../packages/agent/src/main.ts', import.meta.url));
/** Where each real server's load agent listens, on its underlay (VTEP) address. */
export const AGENT_PORT = 5555;
const SERVER_SCRIPT = here('worker_server.py');
/** The system's python3: the lab runs as root, whose PATH may hold another one. */
const PYTHON = '/usr/bin/python3';

/** One run: the evaluations' shared result line, and the lab's diagnostics. */
export interface LabEvalResult extends EvalResult {
  mode: 'lab';
  /** Frames/s the director classified in the window beyond the valid clients' (/metrics − c1's vx0). */
  attackPps: number;
  shedVerifiedGone: boolean | null;
  /** False when the lab itself broke (the director saw less than half the valid frames). */
  labHealthy: boolean;
  [diagnostic: string]: unknown;
}

export interface LabEvalOptions extends PlanOptions {
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
  /**
   * The valid clients and partners sit behind a Linux home router (homeRouter): private
   * addresses, each translated to its own public one, and a firewall that lets in only what
   * belongs to their connections. Results carry `validBehindNat: true`.
   */
  validBehindNat?: boolean;
  /**
   * With validBehindNat: above 0, the router translates the valid clients' private addresses to
   * this many public ones (a carrier NAT: many users behind each address, which answers the
   * director's challenge only for its own connections). Results carry `cgnatAddresses`.
   */
  cgnatAddresses?: number;
  /**
   * A load agent (sluice-agent) on each real server, in the director's config as each real
   * server's `agent`: the director counts what the servers say they hold. Results carry `agent`.
   */
  agent?: boolean;
  /**
   * The bot scenarios' bots are ghosts (ghost.py): real addresses that answer the director's
   * challenge but forge their handshake, request and progress blind, so the servers hold nothing
   * for them (the simulator's `--param ghostBots=1`). Results carry `ghostBots`.
   */
  ghostBots?: boolean;
  /**
   * No upper thresholds on the real servers in any arm (as an LVS operator who never set them
   * runs it): the defense has no capacity to measure load against. Results carry `noThresholds`.
   */
  noThresholds?: boolean;
  /** The lab's name and subnet; the test uses its own, so it cannot tear down a CLI run's lab. */
  labName?: string;
  subnet?: number;
}

// --- running things in namespaces ----------------------------------------------------------------

/** What running something in a namespace needs of a node: a lab's, or one made beside it. */
export type NsNode = Pick<LabNode, 'ns' | 'label'>;

interface NsResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs argv in a node's network namespace with `nsenter --net`, not `ip netns exec`: the latter
 * also makes a mount namespace and remounts /sys for every command, and beside a flood that
 * serialised everything. Only the network namespace matters to ss and ip.
 */
function nsExec(
  node: NsNode,
  argv: readonly string[],
  timeoutMs = 20_000,
  input?: string,
): Promise<NsResult> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=/run/netns/${node.ns}`, ...argv], {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    if (input !== undefined) {
      child.stdin?.on('error', () => {});
      child.stdin?.end(input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

async function must(node: NsNode, argv: string[], input?: string): Promise<string> {
  const r = await nsExec(node, argv, 30_000, input);
  if (r.code !== 0) throw new Error(`${node.label}: ${argv.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Starts a long-lived process in a node's namespace; its stdout lines go to `onLine`. */
export function spawnIn(node: NsNode, argv: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn('nsenter', [`--net=/run/netns/${node.ns}`, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.children.add(child);
  child.once('exit', () => live.children.delete(child));
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < 4000) err += d;
  });
  (child as ChildProcess & { errText: () => string }).errText = () => err;
  return child;
}

/**
 * The valid clients (valid-clients.ts) in `node`, or behind `nat` (its namespace, its private
 * addresses; the outcomes carry the public ones): one outcome line per connection into
 * `outcomes`. The lab evaluation and the lab benchmark run the same population.
 */
export function spawnValidClients(
  node: NsNode,
  vip: string,
  a: Addresses,
  outcomes: Outcome[],
  seed: number,
  nat: HomeRouter | null = null,
): ChildProcess {
  const clients = nat === null ? a : nat.inside;
  return spawnIn(
    nat?.node ?? node,
    [
      labNodeBinary(),
      VALID_SCRIPT,
      '--host',
      vip,
      '--addrs',
      clients.valid.join(','),
      '--rate',
      String(VALID_RATE),
      '--partners',
      clients.partners.join(','),
      '--partner-rate',
      String(PARTNER_RATE),
      '--return-prob',
      String(RETURN_PROB),
      '--deadline-ms',
      String(DEADLINE_MS),
      '--seed',
      String(seed),
    ],
    (line) => {
      let o: Outcome;
      try {
        o = JSON.parse(line) as Outcome;
      } catch {
        return; // not an outcome
      }
      // Behind the router the director (and the RST watch, and the spoofer) see the public address.
      if (nat !== null) o.addr = nat.toPublic.get(o.addr) ?? o.addr;
      outcomes.push(o);
    },
  );
}

/** The valid clients' home router: their namespace, and their private addresses' public ones. */
export interface HomeRouter {
  node: NsNode;
  /** `a` with the valid and partner addresses replaced by the private ones (same order). */
  inside: Addresses;
  toPublic: Map<string, string>;
  /** Public addresses the valid clients share (a carrier NAT), or 0: one each. */
  cgnatAddresses: number;
}

/**
 * Puts the valid clients and partners behind a Linux home router: the client namespace c1 (which
 * keeps the public addresses, and answers ARP for them) translates each private address of a new
 * namespace behind it to its own public one (1:1, so first-time and returning sources stay what
 * they are; or the valid clients to `cgnatAddresses` public ones: natAddresses), forwards only
 * what belongs to a connection from inside, and drops invalid packets arriving for itself, as a
 * router that answers nothing unsolicited. Through it, a challenge reaches a client only if
 * conntrack takes it (challenge.ts).
 */
export async function homeRouter(lab: Lab, a: Addresses, cgnatAddresses = 0): Promise<HomeRouter> {
  const [c1] = lab.clients;
  const ns = `${lab.plan.name}-home`;
  await run(['ip', 'netns', 'del', ns]).catch(() => undefined);
  await run(['ip', 'netns', 'add', ns]);
  live.namespaces.add(ns);
  await run(['ip', 'link', 'add', 'hn0', 'netns', c1.ns, 'type', 'veth', 'peer', 'hn1', 'netns', ns]);
  const node: NsNode = { ns, label: 'home' };
  const { inside, toPublic } = natAddresses(a, cgnatAddresses);
  await must(c1, ['ip', 'addr', 'add', '172.31.0.1/16', 'dev', 'hn0']);
  await must(c1, ['ip', 'link', 'set', 'hn0', 'up']);
  await must(c1, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await must(c1, ['nft', '-f', '-'], homeRouterRuleset('hn0', { privatePrefix: '172.31.0.0/16', toPublic }));
  await must(
    node,
    ['ip', '-batch', '-'],
    [
      'addr add 172.31.0.2/16 dev hn1',
      ...[...toPublic.keys()].map((x) => `addr add ${x}/32 dev hn1`),
      'link set hn1 up',
      'link set lo up',
      'route add default via 172.31.0.1 src 172.31.0.2',
    ].join('\n'),
  );
  return { node, inside, toPublic, cgnatAddresses };
}

const errText = (c: ChildProcess): string =>
  (c as ChildProcess & { errText?: () => string }).errText?.() ?? '';

/** Ends a child: `signal` (SIGINT: hping3 prints its statistics), then SIGKILL after 6 s. */
export async function endChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 6_000);
  await gone;
  clearTimeout(t);
}

// --- the lab's preparation ---------------------------------------------------------------------

/** The reals' TCP settings as the run found them (after syncookies was set explicitly). */
export interface RealSysctls {
  tcp_syncookies: number;
  tcp_max_syn_backlog: number;
  somaxconn: number;
  tcp_synack_retries: number;
}

/**
 * Client addresses (secondary /32s on vx0), and on the reals: a /32 route over vx0 for every
 * address a client namespace owns and a default route into a black hole for everything else
 * (a spoofed source must not make them ARP), and syncookies on, as Linux ships.
 */
/**
 * In the lab every client is an overlay neighbour of the reals (behind a router it would be one
 * gateway), and the ARP table's limits are the kernel's, shared by every namespace: with
 * spoof-gone's 1000 addresses beside the others the default gc_thresh3 (1024) overflows and the
 * reals cannot answer anyone. Raised (never lowered) in the host's namespace, where they live.
 */
async function roomForNeighbours(): Promise<void> {
  for (const [i, want] of [
    [1, 4096],
    [2, 8192],
    [3, 16384],
  ]) {
    const file = `/proc/sys/net/ipv4/neigh/default/gc_thresh${i}`;
    if (Number((await readFile(file, 'utf8')).trim()) < want) await writeFile(file, String(want));
  }
}

export async function prepareLab(lab: Lab, a: Addresses): Promise<RealSysctls> {
  const [c1, , c3] = lab.clients;
  await roomForNeighbours();
  const addBatch = (addrs: string[]): string => addrs.map((x) => `addr add ${x}/32 dev vx0`).join('\n');
  await must(c1, ['ip', '-batch', '-'], addBatch([...a.valid, ...a.partners]));
  await must(c3, ['ip', '-batch', '-'], addBatch([...a.bots, ...a.spread]));
  // The gone hosts' addresses are routed too (they are on the attacker's namespace while they
  // verify; verifyThenVanish adds and removes them).
  const owned = [...a.valid, ...a.partners, ...a.bots, ...a.spread, ...a.gone];
  const sub = lab.plan.subnet.toString(16).padStart(2, '0');
  const holeMac = `02:53:4c:00:${sub}:fe`;
  let sysctls: RealSysctls | null = null;
  for (const real of lab.reals) {
    await must(real, [
      'ip',
      'neigh',
      'replace',
      a.blackholeGw,
      'lladdr',
      holeMac,
      'dev',
      'vx0',
      'nud',
      'permanent',
    ]);
    await must(real, ['ip', 'route', 'replace', 'default', 'via', a.blackholeGw, 'dev', 'vx0']);
    await must(real, [
      'bridge',
      'fdb',
      'replace',
      holeMac,
      'dev',
      'vx0',
      'dst',
      `192.168.${lab.plan.subnet}.254`,
    ]);
    await must(real, ['ip', '-batch', '-'], owned.map((x) => `route replace ${x}/32 dev vx0`).join('\n'));
    // Linux's default, set explicitly: the reals are measured as a Linux host ships.
    await must(real, ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/tcp_syncookies']);
    const read = async (k: string): Promise<number> =>
      Number((await must(real, ['cat', `/proc/sys/net/${k}`])).trim());
    sysctls = {
      tcp_syncookies: await read('ipv4/tcp_syncookies'),
      tcp_max_syn_backlog: await read('ipv4/tcp_max_syn_backlog'),
      somaxconn: await read('core/somaxconn'),
      tcp_synack_retries: await read('ipv4/tcp_synack_retries'),
    };
    if (sysctls.tcp_syncookies !== 1)
      throw new Error(`${real.label}: tcp_syncookies is ${sysctls.tcp_syncookies}`);
  }
  return sysctls as RealSysctls;
}

// --- the director's numbers ------------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  let s = 0;
  for (const x of samples) {
    if (x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v)) s += x.value;
  }
  return s;
}

function byLabel(samples: Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of samples) if (x.name === name) out[x.labels[label]] = (out[x.labels[label]] ?? 0) + x.value;
  return out;
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

interface ConnItem {
  id: string;
  client: { address: string; port: number };
  real: { address: string; port: number } | null;
  state: string;
  priority: number;
  verified: boolean;
  held: boolean;
  serverProgress: boolean;
  awaitingSeconds: number | null;
}

/** Every entry whose client is in `cidr` (following the cursor). */
async function listConnections(d: RunningDirector, cidr: string): Promise<ConnItem[]> {
  const items: ConnItem[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page++) {
    const q = `/v1/connections?client=${encodeURIComponent(cidr)}&limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`;
    const r: { items: ConnItem[]; nextCursor: string | null } = await d.get(q);
    items.push(...r.items);
    cursor = r.nextCursor;
    if (cursor === null) break;
  }
  return items;
}

/**
 * A population's entries at the director in one sample: counts by priority (15: closed or reset by
 * the client), verified, held (counting toward the real's threshold).
 */
interface GroupSample {
  n: number;
  held: number;
  verified: number;
  byPriority: Record<string, number>;
}

function groupSample(items: ConnItem[]): GroupSample {
  const g: GroupSample = { n: 0, held: 0, verified: 0, byPriority: {} };
  for (const c of items) {
    if (
      c.state === 'CLOSE' ||
      c.state === 'TIME_WAIT' ||
      c.state === 'FIN_WAIT' ||
      c.state === 'CLOSE_WAIT'
    ) {
      continue;
    }
    g.n++;
    if (c.held) g.held++;
    if (c.verified) g.verified++;
    g.byPriority[c.priority] = (g.byPriority[c.priority] ?? 0) + 1;
  }
  return g;
}

/** Means over samples of each field (byPriority too). */
function meanGroup(samples: GroupSample[]): GroupSample | null {
  if (samples.length === 0) return null;
  const out: GroupSample = { n: 0, held: 0, verified: 0, byPriority: {} };
  for (const s of samples) {
    out.n += s.n / samples.length;
    out.held += s.held / samples.length;
    out.verified += s.verified / samples.length;
    for (const [p, k] of Object.entries(s.byPriority))
      out.byPriority[p] = (out.byPriority[p] ?? 0) + k / samples.length;
  }
  out.n = Math.round(out.n);
  out.held = Math.round(out.held);
  out.verified = Math.round(out.verified);
  for (const p of Object.keys(out.byPriority)) out.byPriority[p] = Math.round(out.byPriority[p]);
  return out;
}

/** Frames the node's vx0 sent (netlink statistics). */
async function txPackets(node: LabNode): Promise<number> {
  const r = await nsExec(node, ['ip', '-s', '-j', 'link', 'show', 'dev', 'vx0']);
  try {
    const [link] = JSON.parse(r.stdout) as { stats64?: { tx?: { packets?: number } } }[];
    return link.stats64?.tx?.packets ?? 0;
  } catch {
    return 0;
  }
}

/**
 * Frames the kernel's per-CPU input backlogs dropped (Σ the second column of /proc/net/softnet_stat,
 * hex): a flood that outruns the machine loses frames there, the valid clients' among them, before
 * any socket (the director's or a real's) sees them.
 */
export async function softnetDrops(): Promise<number> {
  const text = await readFile('/proc/net/softnet_stat', 'utf8');
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length > 1) n += Number.parseInt(f[1], 16) || 0;
  }
  return n;
}

/** The root namespace's UDP receive-buffer drops: frames the kernel dropped before the director read them. */
async function udpRcvbufErrors(): Promise<number> {
  const text = await readFile('/proc/net/snmp', 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return 0;
  const keys = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/);
  return Number(vals[keys.indexOf('RcvbufErrors')]) || 0;
}

interface SsEntry {
  state: string;
  peer: string;
  recvQ: number;
}

/** TCP sockets on port 80 of a real (`ss -Htan`), listening one included (its Recv-Q: the accept queue). */
async function ss(real: LabNode): Promise<SsEntry[]> {
  const r = await nsExec(real, ['ss', '-Htan', 'sport', '=', ':80']);
  const out: SsEntry[] = [];
  for (const line of r.stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    out.push({ state: f[0], recvQ: Number(f[1]) || 0, peer: f[4].replace(/^::ffff:/, '') });
  }
  return out;
}

const ipToInt = (a: string): number => a.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);

function inCidr(addr: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  return /^\d+\.\d+\.\d+\.\d+$/.test(addr) && (ipToInt(addr) & mask) >>> 0 === (ipToInt(net) & mask) >>> 0;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;
const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);
const ratio = (k: number, n: number): number | null => (n === 0 ? null : round(k / n));

// --- RSTs the reals received -------------------------------------------------------------------

/**
 * tcpdump on each real's vx0 for RSTs from the lab's client prefixes, and on c1's vx0 for the
 * RSTs the valid clients' own kernels sent: an RST a real received for a valid client's
 * connection that its kernel did not send was the director's (a shed or a displacement).
 */
class RstWatch {
  /** "addr:port" → RSTs a real received. */
  readonly atReals = new Map<string, number>();
  /** "addr:port" → RSTs c1's kernel sent to the VIP. */
  readonly fromClients = new Map<string, number>();
  private readonly procs: ChildProcess[] = [];

  constructor(lab: Lab, vip: string) {
    const net = `10.${lab.plan.subnet}.0.0/16`;
    const filter = `tcp[tcpflags] & tcp-rst != 0 and src net ${net} and dst host ${vip}`;
    const watch = (node: LabNode, into: Map<string, number>): void => {
      const p = spawnIn(node, ['tcpdump', '-i', 'vx0', '-n', '-l', '-q', '-Q', 'in', filter], (line) => {
        const m = /IP (\d+\.\d+\.\d+\.\d+)\.(\d+) >/.exec(line);
        if (m !== null) into.set(`${m[1]}:${m[2]}`, (into.get(`${m[1]}:${m[2]}`) ?? 0) + 1);
      });
      this.procs.push(p);
    };
    for (const real of lab.reals) watch(real, this.atReals);
    const c1 = lab.clients[0];
    const p = spawnIn(
      c1,
      [
        'tcpdump',
        '-i',
        'vx0',
        '-n',
        '-l',
        '-q',
        '-Q',
        'out',
        `tcp[tcpflags] & tcp-rst != 0 and dst host ${vip}`,
      ],
      (line) => {
        const m = /IP (\d+\.\d+\.\d+\.\d+)\.(\d+) >/.exec(line);
        if (m !== null)
          this.fromClients.set(`${m[1]}:${m[2]}`, (this.fromClients.get(`${m[1]}:${m[2]}`) ?? 0) + 1);
      },
    );
    this.procs.push(p);
  }

  /** Gives tcpdump time to attach its filter. */
  async ready(): Promise<void> {
    await sleep(500);
  }

  /** True when a real received an RST for addr:port that the client itself never sent. */
  resetByDirector(addr: string, port: number): boolean {
    const k = `${addr}:${port}`;
    return (this.atReals.get(k) ?? 0) > (this.fromClients.get(k) ?? 0);
  }

  async stop(): Promise<void> {
    await sleep(300); // the last lines
    await Promise.all(this.procs.map((p) => endChild(p, 'SIGINT')));
  }
}

// --- traffic -----------------------------------------------------------------------------------

export interface Outcome {
  t: number;
  kind: 'new' | 'returning' | 'partner';
  addr: string;
  port: number;
  use: number;
  outcome: string;
  http: number;
  connectMs: number | null;
  ttfbMs: number | null;
  totalMs: number;
}

/** Spawns `argv` in `node`'s namespace; resolves once it prints a line starting with `ready`. */
function spawnReady(
  node: LabNode,
  argv: string[],
  ready: string,
  what: string,
  onLine: (line: string) => void = () => {},
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    let up = false;
    const p = spawnIn(node, argv, (line) => {
      if (!up && line.startsWith(ready)) {
        up = true;
        resolve(p);
        return;
      }
      onLine(line);
    });
    p.once('exit', (code) => {
      if (!up) reject(new Error(`${node.label}: ${what} exited (${code}): ${errText(p)}`));
    });
    setTimeout(() => {
      if (!up) reject(new Error(`${node.label}: ${what} not ready after 10 s`));
    }, 10_000);
  });
}

/**
 * A sluice-agent in real server `real`'s namespace, counting port 80 and listing its quiet
 * connections, on the real's underlay address (AGENT_PORT: where the director asks by default).
 * Resolves once it listens.
 */
export function startAgent(real: LabNode, extra: readonly string[] = []): Promise<ChildProcess> {
  return spawnReady(
    real,
    [process.execPath, AGENT_MAIN, '--listen', `${real.underlay}:${AGENT_PORT}`, '--port', '80', ...extra],
    'sluice-agent: listening',
    'sluice-agent',
  );
}

/**
 * The real servers: worker_server.py in each real, fresh per run, and with `agent` a sluice-agent
 * beside it counting port 80 on the real's underlay address (AGENT_PORT).
 */
export async function startServers(
  lab: Lab,
  agent = false,
): Promise<{ procs: ChildProcess[]; busy: number[][] }> {
  const busy: number[][] = lab.reals.map(() => []);
  const starts: Promise<ChildProcess>[] = [];
  lab.reals.forEach((real, i) => {
    starts.push(
      spawnReady(
        real,
        [PYTHON, SERVER_SCRIPT, '--port', '80', '--workers', String(WORKERS), '--name', real.label],
        'listening',
        'worker_server.py',
        (line) => {
          try {
            busy[i].push((JSON.parse(line) as { busy: number }).busy);
          } catch {
            // not a status line
          }
        },
      ),
    );
    if (agent) starts.push(startAgent(real));
  });
  const settled = await Promise.allSettled(starts);
  const procs = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    for (const p of procs) p.kill('SIGKILL');
    throw (failed as PromiseRejectedResult).reason;
  }
  return { procs, busy };
}

// --- one run -----------------------------------------------------------------------------------

/** What a signal handler must stop: set while a run is in progress. */
const live = {
  daemon: null as RunningDirector | null,
  children: new Set<ChildProcess>(),
  labs: new Set<string>(),
  /** Namespaces made beside the lab's (homeRouter), removed with it. */
  namespaces: new Set<string>(),
};

/** For SIGINT/SIGTERM in the CLI: kill what a run started (no waiting) and remove the lab. */
export async function abortLabEval(): Promise<void> {
  live.daemon?.process.killNow();
  for (const c of live.children) c.kill('SIGKILL');
  for (const name of live.labs) await Lab.destroyByName(name).catch(() => {});
  for (const ns of live.namespaces) await run(['ip', 'netns', 'del', ns]).catch(() => {});
  live.namespaces.clear();
}

/**
 * slow-link: each bot connection's downlink shaped to this many bytes a second, so each
 * download is as slow as a link that slow (2G, a congested IoT uplink): the window open, every
 * segment acknowledged by the kernel as it arrives. 1610 B/s (a segment every 0.9 s) is under the
 * load agent's slow floor (2048 B/s), 3000 B/s above it.
 */
const SLOW_LINK_BYTES_PER_S: Partial<Record<Scenario, number>> = {
  'slow-link': 1610,
  'slow-link-above': 3000,
};

/**
 * Paces what reaches each bot address in the bots' namespace (the root side of its veth: egress
 * into it) to `bytesPerS`: one HTB class per address, chosen by the inner destination address of
 * the servers' VXLAN frames (offset 66 from the outer IP header: outer IP 20, UDP 8, VXLAN 8,
 * inner Ethernet 14, then the inner IP header's destination at 16), everything else unshaped.
 * (This kernel has no fq, whose per-flow maxrate would do it in one line; a shared tbf starved
 * most connections for seconds at a time, and a bot that hears nothing for 10 s reconnects.)
 */
async function shapeBotsLink(lab: Lab, addrs: readonly string[], bytesPerS: number): Promise<void> {
  const dev = lab.clients[2].ns;
  const bit = Math.round(bytesPerS * 8);
  const lines = [
    `qdisc replace dev ${dev} root handle 1: htb default 1`,
    `class add dev ${dev} parent 1: classid 1:1 htb rate 10gbit quantum 60000`,
    // Handshakes pass unshaped (the inner TCP header's flags at 83, SYN set): a slow link's
    // bottleneck is its data queue, and a SYN-ACK dropped behind it left half the bots unconnected.
    `filter add dev ${dev} parent 1: protocol ip prio 1 u32 match u8 0x02 0x02 at 83 flowid 1:1`,
  ];
  addrs.forEach((addr, i) => {
    const id = (i + 16).toString(16);
    const hex = addr
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('');
    // A burst of two frames: the class sends a segment as soon as its rate allows, no more.
    lines.push(
      `class add dev ${dev} parent 1: classid 1:${id} htb rate ${bit}bit ceil ${bit}bit burst 3000 cburst 3000 quantum 1600`,
    );
    // A short queue, as the link's own: with the default 1000 frames a SYN-ACK waited behind
    // seconds of the other connection's data, and half the bots never finished a handshake.
    lines.push(`qdisc add dev ${dev} parent 1:${id} handle ${id}: pfifo limit 3`);
    lines.push(
      // u32 reads whole words at offsets of 4 only; 66 is not one, so two halves.
      `filter add dev ${dev} parent 1: protocol ip prio 2 u32 match u16 0x${hex.slice(0, 4)} 0xffff at 66 match u16 0x${hex.slice(4)} 0xffff at 68 flowid 1:${id}`,
    );
  });
  await run(['tc', '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

async function unshapeBotsLink(lab: Lab): Promise<void> {
  await run(['tc', 'qdisc', 'del', 'dev', lab.clients[2].ns, 'root']).catch(() => {});
}

interface Attack {
  describe: string;
  procs: ChildProcess[];
  /** Bot status lines (bots.py), summed over its processes at each second. */
  botLines: BotLine[];
}

/** One status line of a bots.py process (`src`: which process). */
interface BotLine {
  src: number;
  open: number;
  forged: number;
}

/** Starts the scenario's attackers. */
/**
 * spoof-gone's setup: hosts at `a.gone` on the attacker's namespace open one connection each
 * through the director (spread over two seconds, as the probe budget allows), so the director
 * verifies them (its probe or challenge, answered by the namespace's kernel); then their addresses
 * leave the namespace, so nothing answers for them any more: not the director's probes, not the
 * servers' SYN-ACKs to the spoofs. Writes the addresses to `file` for the spoofer.
 */
const GONE_CONNECT = `
import socket, struct, sys, time
vip = sys.argv[1]
addrs = sys.stdin.read().split()
socks = []
for i, a in enumerate(addrs):
    s = socket.socket()
    s.setblocking(False)
    s.bind((a, 0))
    try:
        s.connect((vip, 80))
    except BlockingIOError:
        pass
    socks.append(s)
    if i % 50 == 49:
        time.sleep(0.1)
time.sleep(1.5)
up = 0
for s in socks:
    try:
        s.getpeername()
        up += 1
    except OSError:
        pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
print(up)
`;

async function verifyThenVanish(lab: Lab, a: Addresses, file: string): Promise<number> {
  const c3 = lab.clients[2];
  await must(c3, ['ip', '-batch', '-'], a.gone.map((x) => `addr add ${x}/32 dev vx0`).join('\n'));
  let up = 0;
  try {
    up = Number((await must(c3, [PYTHON, '-c', GONE_CONNECT, lab.vip4], a.gone.join('\n'))).trim());
  } finally {
    await vanish(lab, a);
  }
  await writeFile(file, a.gone.join('\n'));
  return up;
}

/** Removes the gone hosts' addresses from the attacker's namespace (none there: nothing to do). */
async function vanish(lab: Lab, a: Addresses): Promise<void> {
  await nsExec(
    lab.clients[2],
    ['ip', '-force', '-batch', '-'],
    30_000,
    a.gone.map((x) => `addr del ${x}/32 dev vx0`).join('\n'),
  );
}

/** Where spoof-gone's addresses are written: beside the valid addresses the attacker has seen. */
function goneFileBeside(knownFile: string): string {
  return join(dirname(knownFile), 'gone-addresses');
}

/** What a run changes beside its strategy and scenario: --agent and --ghost-bots. */
export interface LabVariant {
  agent: boolean;
  ghostBots: boolean;
  noThresholds: boolean;
}

/** The spread addresses `connections` bots use, each holding the fair share's floor. */
function spreadAddresses(a: Addresses, connections: number): string[] {
  return a.spread.slice(0, Math.ceil(connections / SPREAD_PER_ADDRESS));
}

function startAttack(lab: Lab, a: Addresses, spec: RunSpec, knownFile: string, ghosts = false): Attack {
  const [, c2, c3] = lab.clients;
  const vip = lab.vip4;
  const procs: ChildProcess[] = [];
  const botLines: BotLine[] = [];
  const out: string[] = [];
  const perAddress =
    typeof spec.attack === 'number' ? Math.max(1, Math.round(spec.attack / a.bots.length)) : BOTS_PER_ADDRESS;
  const hping = (
    level: 'flood' | number,
    from: 'random' | string = 'random',
    flag = '-S',
    port = 80,
  ): void => {
    const rate = level === 'flood' ? ['--flood'] : ['-i', `u${level}`];
    // from an address of the bots' namespace: its kernel answers every challenge and resets every
    // server's SYN-ACK, as the host of anyone running hping3 without --rand-source does
    const source = from === 'random' ? ['--rand-source'] : ['-a', from];
    procs.push(
      spawnIn(
        from === 'random' ? c2 : c3,
        ['hping3', ...rate, ...source, flag, '-p', String(port), vip],
        () => {},
      ),
    );
    out.push(`hping3 ${rate.join(' ')} ${source.join(' ')} ${flag}${port === 80 ? '' : ` -p ${port}`}`);
  };
  /** A stock tool from the bots' namespace's own address, with as many sockets as it may open. */
  const fromOneAddress = (tool: string, args: string[]): void => {
    procs.push(
      spawnIn(c3, ['sh', '-c', `ulimit -n "$(ulimit -Hn)" && exec ${tool} ${args.join(' ')}`], () => {}),
    );
    out.push(`${tool} ${args.join(' ')}`);
  };
  // The stock tool, as an operator testing a server runs it: one address (the bots' namespace's
  // own), `connections` kept open, 200 new a second, a follow-up every 10 s (its default); -X reads
  // the big response 5 bytes a second through a window of 1-512 bytes (its defaults).
  const slowhttptest = (mode: string, connections: number): void => {
    const url = `http://${vip}/${mode === 'X' ? 'big' : ''}`;
    fromOneAddress('slowhttptest', [
      `-${mode}`,
      '-c',
      String(connections),
      '-r',
      '200',
      '-i',
      '10',
      '-l',
      '600',
      '-u',
      url,
    ]);
  };
  const spoof = (rate: number, extra: string[] = []): void => {
    procs.push(
      spawnIn(
        c2,
        [
          PYTHON,
          SPOOF_SCRIPT,
          '--dst',
          vip,
          '--port',
          '80',
          '--rate',
          String(rate),
          '--mode',
          'kernel',
          ...extra,
        ],
        () => {},
      ),
    );
    out.push(`spoof_ack.py --mode kernel --rate ${rate} ${extra.join(' ')}`.trim());
  };
  const bots = (
    mode: string,
    addrs: string[],
    per: number,
    botIntervalS: number,
    extra: string[] = [],
  ): void => {
    const i = procs.length;
    // A ghost forges its progress as often as it pays to: every 1.9 s at most (±30% jitter), just
    // inside a point of idle penalty (weights.idlePenaltyPerSecond 0.5), as the simulator's ghosts
    // (TRICKLE_AFTER_MS); a slower one sinks below the valid clients and is shed.
    const intervalS = ghosts ? Math.min(botIntervalS, GHOST_INTERVAL_S) : botIntervalS;
    procs.push(
      spawnIn(
        c3,
        [
          PYTHON,
          // Ghosts stand in for every kind of bot: they hold nothing on the servers, whatever
          // they would have held.
          ghosts ? GHOST_SCRIPT : BOTS_SCRIPT,
          '--host',
          vip,
          '--addrs',
          addrs.join(','),
          '--per',
          String(per),
          ...(ghosts ? [] : ['--mode', mode, ...extra]),
          '--interval-s',
          String(intervalS),
        ],
        (line) => {
          try {
            const s = JSON.parse(line) as { open: number; forged: number };
            botLines.push({ src: i, open: s.open, forged: s.forged });
          } catch {
            // not a status line
          }
        },
      ),
    );
    out.push(
      ghosts
        ? `ghost.py (for ${mode}) ${addrs.length} addresses x ${per} (forged ACK every ~${intervalS} s)`
        : `bots.py --mode ${mode} ${addrs.length} addresses x ${per} (line every ~${intervalS} s)`,
    );
  };
  /** Bots on the spread addresses (64 /24s), each holding the fair share's floor. */
  const spreadBots = (mode: string, intervalS: number, extra: string[] = []): void =>
    bots(mode, spreadAddresses(a, spec.attack as number), SPREAD_PER_ADDRESS, intervalS, extra);
  switch (spec.scenario) {
    case 'no-attack':
      break;
    case 'syn-flood':
      hping(spec.attack as 'flood' | number);
      break;
    case 'syn-flood-real':
      hping(spec.attack as 'flood' | number, a.bots[0]);
      break;
    case 'slowhttptest-H':
    case 'slowhttptest-B':
    case 'slowhttptest-X':
      slowhttptest(spec.scenario.slice(-1), spec.attack as number);
      break;
    case 'http-flood':
      fromOneAddress('wrk', [
        '-t',
        '1',
        '-c',
        String(spec.attack),
        '-d',
        '600',
        '--timeout',
        '10s',
        `http://${vip}/`,
      ]);
      break;
    case 'udp-flood':
      // a new flow at the director per datagram (random sources): entries, not SYNs
      hping('flood', 'random', '--udp', UDP_FLOOD_PORT);
      break;
    case 'ack-flood':
      hping('flood', 'random', '-A');
      break;
    case 'rst-flood':
      // every RST for no connection is checked as a challenge's answer (a SipHash each)
      hping('flood', 'random', '-R');
      break;
    case 'spoof-kernel':
      spoof(spec.attack as number);
      break;
    case 'spoof-partner':
      spoof(spec.attack as number, ['--cidr', a.partnerCidr]);
      break;
    case 'spoof-verified':
      spoof(spec.attack as number, ['--sources-file', knownFile]);
      break;
    case 'spoof-walk':
      // the last --mode wins: the kernel-shaped SYN, then the window walk (spoof_ack.py)
      spoof(spec.attack as number, ['--sources-file', knownFile, '--mode', 'walk']);
      break;
    case 'spoof-gone':
      spoof(spec.attack as number, ['--sources-file', goneFileBeside(knownFile)]);
      break;
    case 'slow-header':
      bots('slow-header', a.bots, perAddress, 3);
      break;
    case 'slow-forged':
      bots('slow-forged', a.bots, perAddress, 3);
      break;
    case 'idle-hold':
      // A byte at most every 4.5 s (3.5 s jittered ±30%): just under the servers' 5 s keep-alive timeout.
      bots('idle-hold', a.bots, perAddress, 4.5 / 1.3);
      break;
    case 'spread':
      spreadBots('idle-hold', 4.5 / 1.3);
      break;
    case 'slow-read':
      // A read every 1.9 s (±30%) at most: its window-update and ACK keep the idle penalty off.
      spreadBots('slow-read', 1.9 / 1.3);
      break;
    case 'slow-read-reopen':
      // What sits just under the zero-window rule with nothing but a kernel: a segment's worth read
      // every 0.4-0.8 s, so each window update comes before the shut window's second is up.
      spreadBots('slow-read', 0.6, ['--read-bytes', '1448']);
      break;
    case 'slow-link':
    case 'slow-link-above':
      // Bots that read /big as fast as their link lets them, the link shaped (shapeBotsLink).
      spreadBots('download', 1);
      break;
    case 'slow-read-under':
      // The same reader a segment every 0.6-1.2 s: about 1.6 kB/s, under the load agent's slow
      // floor (2048 bytes/s), where slow-read-reopen's 2.4 kB/s sits just above it.
      spreadBots('slow-read', 0.9, ['--read-bytes', '1448']);
      break;
    case 'spread-renew':
      // The renewing bot (bots.py --mode renew): a byte of a head it never finishes and a forged
      // ACK past what the server sent, at once after its response and then every 0.5-0.9 s: never
      // idle a second, never waiting a second, by its packets; only its server knows.
      spreadBots('renew', 0.9 / 1.3);
      break;
    case 'header-churn':
      // Each head dropped after at most 4.9 s (3.77 s ±30%): under the stall's 5 s grace.
      spreadBots('header-churn', 4.9 / 1.3);
      break;
    case 'mixed':
      hping(200);
      spoof(1000);
      bots('slow-header', a.bots.slice(0, 50), BOTS_PER_ADDRESS, 3);
      bots('idle-hold', a.bots.slice(50), BOTS_PER_ADDRESS, 4.5 / 1.3);
      break;
  }
  return { describe: out.join(' + ') || 'none', procs, botLines };
}

async function runOne(
  lab: Lab,
  a: Addresses,
  spec: RunSpec,
  sysctls: RealSysctls,
  log: (s: string) => void,
  nat: HomeRouter | null = null,
  variant: LabVariant = { agent: false, ghostBots: false, noThresholds: false },
): Promise<LabEvalResult> {
  const [c1, c2, c3] = lab.clients;
  const vip = lab.vip4;
  const capacity = WORKERS * REALS;
  const t0 = Date.now();
  const phase = (what: string): void => log(`  ${what} +${Date.now() - t0} ms`);
  const tmp = await mkdtemp(join(tmpdir(), 'sluice-lab-eval-'));
  const knownFile = join(tmp, 'known-valid-addresses');
  await writeFile(knownFile, '');

  const servers = await startServers(lab, variant.agent);
  phase('servers up');
  const daemon = await RunningDirector.start(
    (port, token) =>
      directorConfig(lab, spec, a, port, token, variant.agent ? AGENT_PORT : null, variant.noThresholds),
    'sluice-lab-eval-',
  );
  live.daemon = daemon;
  phase('daemon ready');
  const rsts = new RstWatch(lab, vip);
  await rsts.ready();
  const outcomes: Outcome[] = [];
  const valid = spawnValidClients(c1, vip, a, outcomes, 1 + (t0 % 1000), nat);
  let attack: Attack | null = null;
  try {
    await sleep(WARMUP_MS);
    if (spec.scenario === 'spoof-gone') {
      const up = await verifyThenVanish(lab, a, goneFileBeside(knownFile));
      phase(`${up} of ${a.gone.length} gone hosts connected (verified), then left`);
    }
    const linkBps = SLOW_LINK_BYTES_PER_S[spec.scenario];
    if (linkBps !== undefined) {
      const addrs = spreadAddresses(a, spec.attack as number);
      await shapeBotsLink(lab, addrs, linkBps * SPREAD_PER_ADDRESS);
      phase(`bots' downlinks shaped to ${linkBps} B/s a connection (${addrs.length} addresses)`);
    }
    attack = startAttack(lab, a, spec, knownFile, variant.ghostBots);
    phase(`attack started: ${attack.describe}`);
    const leadMs = BOT_SCENARIOS.includes(spec.scenario) ? BOT_LEAD_MS : 0;
    if (leadMs > 0) await sleep(leadMs);
    const attackStart = Date.now();
    const before = {
      metrics: parseMetrics(await daemon.get<string>('/metrics')),
      tx: await Promise.all([txPackets(c1), txPackets(c2), txPackets(c3)]),
      udpDrops: await udpRcvbufErrors(),
      softnet: await softnetDrops(),
    };

    const windowEnd = attackStart + spec.durationS * 1000;
    const groups = { valid: [] as GroupSample[], partner: [] as GroupSample[], bots: [] as GroupSample[] };
    const slotSamples: number[] = [];
    const otherSamples: number[] = [];
    const heldSamples: number[] = [];
    const unheldSamples: number[] = [];
    const verifyingSamples: number[] = [];
    const realSamples = { estabAttack: [] as number[], synRecv: [] as number[], acceptQueue: [] as number[] };
    const removedBots = new Map<string, string>(); // "addr:port" → real address
    let lastBots: Map<string, ConnItem> | null = null;
    const botCidrs = SPREAD_SCENARIOS.includes(spec.scenario) ? [a.spreadCidr] : [a.botCidr];
    const botsRun = attack.botLines !== null && BOT_SCENARIOS.includes(spec.scenario);
    const isLabClient = (addr: string): boolean =>
      inCidr(addr, a.validCidr) || inCidr(addr, a.partnerCidr) || addr.startsWith('192.168.');
    // Once a second, beside the window (a sample can take a second under a flood): who holds the
    // capacity at the director (by population, priority, verified, held) and on the reals; which
    // bot connections the director let go of; and the valid addresses an attacker has seen.
    const sampler = (async (): Promise<void> => {
      while (Date.now() < windowEnd) {
        const tick = Date.now();
        try {
          const known = [
            ...new Set(outcomes.filter((o) => o.kind !== 'partner' && o.outcome === 'ok').map((o) => o.addr)),
          ];
          await writeFile(knownFile, known.join('\n'));
          const [m, validConns, partnerConns, botConns, ...onReals] = await Promise.all([
            daemon.get<string>('/metrics').then(parseMetrics),
            listConnections(daemon, a.validCidr),
            listConnections(daemon, a.partnerCidr),
            botsRun
              ? Promise.all(botCidrs.map((c) => listConnections(daemon, c))).then((x) => x.flat())
              : Promise.resolve([]),
            ...lab.reals.map((real) => ss(real)),
          ]);
          const entries =
            sum(m, 'sluice_real_server_active_connections') +
            sum(m, 'sluice_real_server_inactive_connections');
          const validPartner = validConns.length + partnerConns.length;
          slotSamples.push(Math.max(0, entries - validPartner) / capacity);
          otherSamples.push(Math.max(0, entries - validPartner - botConns.length));
          heldSamples.push(sum(m, 'sluice_real_server_held_connections'));
          unheldSamples.push(sum(m, 'sluice_real_server_unheld_connections'));
          verifyingSamples.push(sum(m, 'sluice_service_verifying'));
          groups.valid.push(groupSample(validConns));
          groups.partner.push(groupSample(partnerConns));
          if (botsRun) groups.bots.push(groupSample(botConns));
          let estab = 0;
          let synRecv = 0;
          let queue = 0;
          for (const e of onReals.flat()) {
            if (e.state === 'LISTEN') {
              queue += e.recvQ;
              continue;
            }
            const addr = e.peer.slice(0, e.peer.lastIndexOf(':'));
            if (isLabClient(addr)) continue;
            if (e.state === 'ESTAB') estab++;
            else if (e.state === 'SYN-RECV') synRecv++;
          }
          realSamples.estabAttack.push(estab / capacity);
          realSamples.synRecv.push(synRecv);
          realSamples.acceptQueue.push(queue);
          if (botsRun) {
            const now = new Map(botConns.map((c) => [c.id, c]));
            if (lastBots !== null) {
              for (const [id, c] of lastBots) {
                if (!now.has(id) && c.state === 'ESTABLISHED' && removedBots.size < 200)
                  removedBots.set(`${c.client.address}:${c.client.port}`, c.real?.address ?? '');
              }
            }
            lastBots = now;
          }
        } catch (err) {
          log(`  sample failed: ${(err as Error).message}`);
        }
        await sleep(Math.max(0, 1000 - (Date.now() - tick)));
      }
    })();
    await sleep(Math.max(0, windowEnd - Date.now()));
    phase('window over');
    // No new arrivals; the measured ones finish under the attack (at most their deadline).
    await endChild(valid, 'SIGTERM');
    await sampler;
    phase('valid drained');
    const after = {
      metrics: parseMetrics(await daemon.get<string>('/metrics')),
      tx: await Promise.all([txPackets(c1), txPackets(c2), txPackets(c3)]),
      udpDrops: await udpRcvbufErrors(),
      softnet: await softnetDrops(),
    };
    const windowS = (Date.now() - attackStart) / 1000;

    // The shed check, while the bots still run: a bot connection the director removed must be gone
    // from the real too (the bot's side stays open, so a tuple still there shows as ESTAB).
    let shed: { shedVerifiedGone: boolean | null; [k: string]: unknown } = { shedVerifiedGone: null };
    if (botsRun && removedBots.size > 0) {
      const onReals = new Set<string>();
      for (const real of lab.reals)
        for (const e of await ss(real)) if (e.state === 'ESTAB') onReals.add(e.peer);
      const stillThere = [...removedBots.keys()].filter((k) => onReals.has(k));
      const listed = (await Promise.all(botCidrs.map((c) => listConnections(daemon, c))))
        .flat()
        .filter((c) => c.state === 'ESTABLISHED');
      const controlSeen = listed.filter((c) => onReals.has(`${c.client.address}:${c.client.port}`)).length;
      shed = {
        shedVerifiedGone: stillThere.length === 0,
        shedChecked: removedBots.size,
        shedStillOnReal: stillThere.length,
        shedControlVisible: listed.length === 0 ? null : round(controlSeen / listed.length),
      };
    }
    await rsts.stop();

    // Measured: connections started once the attack was on.
    const measured = outcomes.filter((o) => o.t >= attackStart && o.t < windowEnd);
    const internet = measured.filter((o) => o.kind !== 'partner');
    const fresh = internet.filter((o) => o.kind === 'new');
    const back = internet.filter((o) => o.kind === 'returning');
    const partners = measured.filter((o) => o.kind === 'partner');
    const okOf = (xs: Outcome[]): Outcome[] =>
      xs.filter((o) => o.outcome === 'ok' && o.totalMs <= DEADLINE_MS);
    const ok = okOf(internet);
    const setups = ok.map((o) => o.connectMs ?? 0).sort((x, y) => x - y);
    const setupsNew = okOf(fresh)
      .map((o) => o.connectMs ?? 0)
      .sort((x, y) => x - y);
    const ttfbs = ok.map((o) => o.ttfbMs ?? 0).sort((x, y) => x - y);
    const resetByDirector = (o: Outcome): boolean => o.port !== 0 && rsts.resetByDirector(o.addr, o.port);
    const falselyReset = internet.filter(resetByDirector).length;
    const partnerShed = partners.filter(resetByDirector).length;
    const outcomesOf = (xs: Outcome[]): Record<string, number> => {
      const c: Record<string, number> = {};
      for (const o of xs) {
        const k = o.outcome === 'ok' && o.totalMs > DEADLINE_MS ? 'late' : o.outcome;
        c[k] = (c[k] ?? 0) + 1;
      }
      return c;
    };
    // Returning sources, split by when they were last here: before the attack (so never asked to
    // answer a challenge) or during it.
    const firstUseAt = new Map<string, number>();
    for (const o of [...outcomes].sort((x, y) => x.t - y.t))
      if (!firstUseAt.has(o.addr)) firstUseAt.set(o.addr, o.t);
    const backBefore = back.filter((o) => (firstUseAt.get(o.addr) ?? 0) < attackStart);
    const backDuring = back.filter((o) => (firstUseAt.get(o.addr) ?? 0) >= attackStart);

    const packets = sum(after.metrics, 'sluice_packets_total') - sum(before.metrics, 'sluice_packets_total');
    const validFrames = after.tx[0] - before.tx[0];
    if (packets < validFrames / 2)
      log(`  WARNING: the director classified ${packets} frames, the valid clients sent ${validFrames}`);
    const d = (name: string, match: Record<string, string> = {}): number =>
      sum(after.metrics, name, match) - sum(before.metrics, name, match);
    const removed = delta(
      byLabel(after.metrics, 'sluice_connections_removed_total', 'reason'),
      byLabel(before.metrics, 'sluice_connections_removed_total', 'reason'),
    );
    const drops = delta(
      byLabel(after.metrics, 'sluice_dropped_packets_total', 'reason'),
      byLabel(before.metrics, 'sluice_dropped_packets_total', 'reason'),
    );
    const ms = (x: number | null): number | null => (x === null ? null : round(x, 1));
    // Bots' attacks are sized in connections held (mixed's bots ride beside a flood: packets/s).
    const heldConnections = spec.scenario !== 'mixed' && BOT_SCENARIOS.includes(spec.scenario);
    const busyMean = servers.busy.map((b) => Math.round(mean(b.slice(-Math.ceil(windowS)))));
    const botOpen = attack.botLines.length === 0 ? null : attack.botLines;
    return {
      mode: 'lab',
      scenario: spec.scenario,
      strategy: spec.strategy,
      // The size of the attack: packets/s the director saw for floods and spoofers, connections
      // held for bots.
      attackRate: heldConnections
        ? Number(spec.attack)
        : Math.max(0, Math.round((packets - validFrames) / windowS)),
      attackUnit: heldConnections ? 'connections' : 'pps',
      seed: 1,
      attackPps: Math.max(0, Math.round((packets - validFrames) / windowS)),
      validSuccess: round(internet.length === 0 ? 0 : ok.length / internet.length),
      validSuccessNew: ratio(okOf(fresh).length, fresh.length),
      validSuccessReturning: ratio(okOf(back).length, back.length),
      setupP50Ms: ms(percentile(setups, 0.5)),
      setupP99Ms: ms(percentile(setups, 0.99)),
      setupP99NewMs: ms(percentile(setupsNew, 0.99)),
      validFalselyReset: round(internet.length === 0 ? 0 : falselyReset / internet.length),
      priority0Shed: partnerShed,
      attackerSlots: round(mean(slotSamples)),
      ...shed,
      challengesSent: d('sluice_challenges_sent_total'),
      sourcesVerified: d('sluice_challenge_answers_total', { result: 'verified' }),
      attack: attack.describe,
      attackLevel: spec.attack,
      attackLeadS: leadMs / 1000,
      validKernelRstsToVip: [...rsts.fromClients.values()].reduce((x, y) => x + y, 0),
      directorStrategy: spec.strategy === 'none-thresholds' ? 'none' : spec.strategy,
      upperThreshold: thresholdFor(spec.strategy, variant.noThresholds),
      countInactive: spec.strategy !== 'priority',
      labHealthy: packets >= validFrames / 2,
      validBehindNat: nat !== null,
      cgnatAddresses: nat?.cgnatAddresses ?? 0,
      agent: variant.agent,
      ghostBots: variant.ghostBots,
      noThresholds: variant.noThresholds,
      durationS: spec.durationS,
      windowS: round(windowS, 1),
      attackOfferedPps: Math.round((after.tx[1] - before.tx[1] + after.tx[2] - before.tx[2]) / windowS),
      directorPps: Math.round(packets / windowS),
      kernelUdpDropsPps: Math.round((after.udpDrops - before.udpDrops) / windowS),
      softnetDropsPps: Math.round((after.softnet - before.softnet) / windowS),
      validAttempts: internet.length,
      validAttemptsNew: fresh.length,
      validAttemptsReturning: back.length,
      validSuccessReturningSeenBeforeWindow: ratio(okOf(backBefore).length, backBefore.length),
      validSuccessReturningSeenInWindow: ratio(okOf(backDuring).length, backDuring.length),
      validOutcomesNew: outcomesOf(fresh),
      validOutcomesReturning: outcomesOf(back),
      validResetByDirector: falselyReset,
      // When (ms after the window opened) and how each of them went: the onset, or steady state.
      validResetDetails: internet
        .filter(resetByDirector)
        .slice(0, 20)
        .map((o) => ({ atMs: o.t - attackStart, kind: o.kind, outcome: o.outcome, connectMs: o.connectMs })),
      setupHistogramNew: histogram(okOf(fresh).map((o) => o.connectMs ?? 0)),
      // Per second of the window: served/started, so the onset shows apart from the steady state.
      validBySecond: Array.from({ length: Math.ceil(spec.durationS) }, (_, i) => {
        const xs = internet.filter((o) => Math.floor((o.t - attackStart) / 1000) === i);
        return `${okOf(xs).length}/${xs.length}`;
      }),
      validClientSawReset: internet.filter((o) => o.outcome === 'reset').length,
      setupP50MsNew: ms(percentile(setupsNew, 0.5)),
      setupP99MsReturning: ms(
        percentile(
          okOf(back)
            .map((o) => o.connectMs ?? 0)
            .sort((x, y) => x - y),
          0.99,
        ),
      ),
      ttfbP50Ms: ms(percentile(ttfbs, 0.5)),
      ttfbP99Ms: ms(percentile(ttfbs, 0.99)),
      partnerAttempts: partners.length,
      partnerSuccess: ratio(okOf(partners).length, partners.length),
      partnerOutcomes: outcomesOf(partners),
      probesSent: d('sluice_probes_sent_total'),
      challengeAnswersWrong: d('sluice_challenge_answers_total', { result: 'wrong' }),
      verifiedSourcesAtEnd: sum(after.metrics, 'sluice_verified_sources'),
      verifyingShare: round(mean(verifyingSamples.map((v) => (v > 0 ? 1 : 0)))),
      outOfWindowSegments: d('sluice_out_of_window_segments_total'),
      heldMean: Math.round(mean(heldSamples)),
      // What the load agents took out of Held (0 without --agent): the thresholds count the rest.
      unheldMean: Math.round(mean(unheldSamples)),
      otherEntriesMean: Math.round(mean(otherSamples)),
      atDirector: {
        valid: meanGroup(groups.valid),
        partner: meanGroup(groups.partner),
        bots: meanGroup(groups.bots),
      },
      attackerSlotsOnReals: round(mean(realSamples.estabAttack)),
      attackerSynRecvOnReals: Math.round(mean(realSamples.synRecv)),
      acceptQueueMean: Math.round(mean(realSamples.acceptQueue)),
      realWorkersBusyMean: busyMean,
      botsOpenMean: botOpen === null ? null : Math.round(mean(sumPerSecond(botOpen, 'open'))),
      botsForged: botOpen === null ? null : Math.max(0, ...sumPerSecond(botOpen, 'forged')),
      removed,
      directorDrops: drops,
      capacity,
      validRate: VALID_RATE,
      realSysctls: sysctls,
    };
  } finally {
    await endChild(valid, 'SIGKILL');
    if (attack !== null) {
      for (const p of attack.procs) {
        const early = p.exitCode !== null || p.signalCode !== null;
        if (early)
          log(
            `  an attacker exited early (${p.exitCode ?? p.signalCode}): ${errText(p).trim().slice(0, 300)}`,
          );
      }
      await Promise.all(attack.procs.map((p) => endChild(p, 'SIGINT')));
    }
    if (SLOW_LINK_BYTES_PER_S[spec.scenario] !== undefined) await unshapeBotsLink(lab);
    phase('attack stopped');
    await daemon.stop();
    live.daemon = null;
    await Promise.all(servers.procs.map((p) => endChild(p, 'SIGKILL')));
    await rm(tmp, { recursive: true, force: true });
    phase('daemon and servers stopped');
  }
}

/** Setup times in buckets (ms upper bounds): where a p99 comes from (a retransmission is ≥ 1 s). */
function histogram(xs: number[]): Record<string, number> {
  const bounds = [10, 50, 200, 1000, 1500, 3000];
  const out: Record<string, number> = {};
  for (const b of bounds) out[`<${b}`] = 0;
  out['>=3000'] = 0;
  for (const x of xs) {
    const b = bounds.find((u) => x < u);
    out[b === undefined ? '>=3000' : `<${b}`]++;
  }
  return out;
}

/** Bot status lines arrive per process per second: sum consecutive ones of the processes. */
function sumPerSecond(lines: BotLine[], k: 'open' | 'forged'): number[] {
  const bySrc = new Map<number, number[]>();
  for (const l of lines) {
    const xs = bySrc.get(l.src) ?? [];
    xs.push(l[k]);
    bySrc.set(l.src, xs);
  }
  const series = [...bySrc.values()];
  const n = Math.min(...series.map((s) => s.length));
  return Array.from({ length: n }, (_, i) => series.reduce((acc, s) => acc + s[i], 0));
}

/**
 * Builds the lab, runs every planned run and yields one result per run. The lab and every process
 * are gone when the iteration ends, however it ends.
 */
export async function* runLabEval(opts: LabEvalOptions = {}): AsyncGenerator<LabEvalResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const runs = planRuns(opts);
  const name = opts.labName ?? LAB_NAME;
  const subnet = opts.subnet ?? SUBNET;
  const a = addresses(subnet);
  // Lab.create first removes any lab of the same name: without this lock a second evaluation
  // (another shell, `npm run eval -- lab`) would tear down one that is measuring.
  const lock = await takeLock(name);
  live.labs.add(name);
  let lab: Lab;
  try {
    lab = await Lab.create({ name, subnet, reals: REALS, clients: 3, ipv6: false });
  } catch (err) {
    live.labs.delete(name);
    await lock.release();
    throw err;
  }
  try {
    const sysctls = await prepareLab(lab, a);
    const nat = opts.validBehindNat === true ? await homeRouter(lab, a, opts.cgnatAddresses ?? 0) : null;
    for (const [i, spec] of runs.entries()) {
      const t = Date.now();
      log(`lab-eval ${i + 1}/${runs.length}: ${spec.strategy} ${spec.scenario} attack=${spec.attack}`);
      const result = await runOne(lab, a, spec, sysctls, log, nat, {
        agent: opts.agent === true,
        ghostBots: opts.ghostBots === true,
        noThresholds: opts.noThresholds === true,
      });
      log(
        `  done in ${((Date.now() - t) / 1000).toFixed(1)} s: validSuccess ${result.validSuccess} (new ${result.validSuccessNew}, returning ${result.validSuccessReturning})`,
      );
      yield result;
    }
  } finally {
    await abortLabEval();
    await lab.destroy();
    live.labs.delete(name);
    await lock.release();
  }
}

/** An exclusive pid file per lab name; a stale one (its process gone) is taken over. */
async function takeLock(name: string): Promise<{ release(): Promise<void> }> {
  const path = `/run/sluice-lab-eval-${name}.pid`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      let alive = false;
      try {
        if (pid > 0) process.kill(pid, 0);
        alive = pid > 0;
      } catch {
        alive = false;
      }
      if (alive) throw new Error(`lab ${name} is in use by another evaluation (pid ${pid}, ${path})`);
      await rm(path, { force: true });
    }
  }
  throw new Error(`could not take ${path}`);
}
