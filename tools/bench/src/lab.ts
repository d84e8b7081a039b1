// The `lab` suite (issue 9, "the proof" through real kernels): the real daemon (native port, 2
// serving workers) in a namespace of its own in the VXLAN lab (tools/lab, `directorNamespace`), so
// the kernel's UDP RcvbufErrors in that namespace, which the daemon exports as
// `sluice_udp_receive_buffer_errors_total`, are its sockets' alone. Per strategy (`none`: forward
// everything; `priority`: the defaults; the daemon's default 1 M-entry table), fresh real
// servers and a fresh daemon, then:
//   c1  valid clients (lab-eval's valid-clients.ts: real TCP stacks, 20 new connections/s, curl-
//       like GETs with a 4 s deadline, partners from a priority-0 prefix)
//   c2  hping3 --flood --rand-source -S at the VIP (through c2's kernel VTEP)
//   c3  the native generator (sluice-gen send, sendmmsg) blasting prebuilt VXLAN frames of bare
//       spoofed SYNs from 65,536 sources at the director's underlay address, as fast as the
//       kernel takes them: between them, the highest rate the lab carries
//   rs1, rs2  lab-eval's worker_server.py (200 workers each, Linux's syncookies on)
// Figures from the outside, one JSON line per strategy: what the floods offered (c2's vx0 and the
// generator's own count), what the director classified (its /metrics), what the kernel dropped at
// the director's sockets, valid success and connect times, and the reals' own TCP counters
// (/proc/net/netstat in their namespaces: listen-queue overflows and drops, syncookies sent, SYN
// backlog full), the valid handshakes counted along their path (tcpdump on the reals and c1) and
// the daemon's CPU per frame, so a valid client that fails can be traced to the real servers or
// to the director. `--attack-nice N` runs the flood tools at that niceness: on a small machine
// they otherwise take the cores the director needs, which a real attacker's CPU would not.
// Root only; wrap it in `flock /tmp/sluice-lab.lock` (other suites use the lab too).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { nativeToolPath } from '@sluice/io';
import { Lab, type LabNode, RunningDirector } from '@sluice/lab';
import {
  addresses,
  DEADLINE_MS,
  directorConfig,
  endChild,
  type Outcome,
  parseMetrics,
  prepareLab,
  type Sample,
  softnetDrops,
  spawnIn,
  spawnValidClients,
  startServers,
  sum,
} from '@sluice/lab-eval';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { cpuSeconds } from './cpu.ts';
import { writeFrames } from './forward.ts';
import type { BenchOptions } from './main.ts';
import { emit, note, quantile, round } from './report.ts';

export const LAB_BENCH_NAME = 'iob';
/** Its own subnet: away from lab-eval's 241/242 and the e2e suite's 231. */
export const LAB_BENCH_SUBNET = 246;
const SPOOFED = 65536;
const WARMUP_MS = 3000;
const STRATEGIES = ['none', 'priority'] as const;
type Strategy = (typeof STRATEGIES)[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The real servers' TCP counters that say a connection was lost at the server, not before it. */
const REAL_COUNTERS = [
  'ListenOverflows',
  'ListenDrops',
  'SyncookiesSent',
  'SyncookiesRecv',
  'SyncookiesFailed',
  'TCPReqQFullDrop',
  'TCPReqQFullDoCookies',
] as const;

/**
 * Where valid handshakes get lost: tcpdump counts, in the window, the valid clients' SYNs arriving
 * at the reals, the SYN-ACKs the reals send back to them, and the SYN-ACKs c1 receives. The
 * kernel's filter keeps the flood out of tcpdump's way.
 */
class ValidPathWatch {
  synsAtReals = 0;
  synAcksFromReals = 0;
  synAcksAtClient = 0;
  counting = false;
  private readonly procs: ChildProcess[] = [];

  constructor(lab: Lab, validCidr: string) {
    const syn = 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn';
    const synAck = 'tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)';
    const count = (node: LabNode, dir: 'in' | 'out', filter: string, add: () => void) => {
      const argv = ['tcpdump', '-i', 'vx0', '-n', '-l', '-q', '-Q', dir, filter];
      this.procs.push(
        spawnIn(node, argv, () => {
          if (this.counting) add();
        }),
      );
    };
    for (const real of lab.reals) {
      count(real, 'in', `${syn} and src net ${validCidr} and dst host ${lab.vip4}`, () => this.synsAtReals++);
      count(
        real,
        'out',
        `${synAck} and src host ${lab.vip4} and dst net ${validCidr}`,
        () => this.synAcksFromReals++,
      );
    }
    count(
      lab.clients[0],
      'in',
      `${synAck} and src host ${lab.vip4} and dst net ${validCidr}`,
      () => this.synAcksAtClient++,
    );
  }

  async stop(): Promise<void> {
    await sleep(300);
    for (const p of this.procs) await endChild(p, 'SIGINT');
  }
}

async function nsText(node: LabNode, file: string): Promise<string> {
  const r = await node.exec(['cat', file]);
  return r.stdout;
}

/** TcpExt counters of a namespace (/proc/net/netstat: a header line and a value line per group). */
async function tcpExt(node: LabNode): Promise<Record<string, number>> {
  const lines = (await nsText(node, '/proc/net/netstat')).split('\n').filter((l) => l.startsWith('TcpExt:'));
  const out: Record<string, number> = {};
  if (lines.length < 2) return out;
  const keys = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/);
  for (const k of REAL_COUNTERS) out[k] = Number(vals[keys.indexOf(k)]) || 0;
  return out;
}

async function vxTxPackets(node: LabNode): Promise<number> {
  const r = await node.exec(['ip', '-s', '-j', 'link', 'show', 'dev', 'vx0']);
  try {
    const [link] = JSON.parse(r.stdout) as { stats64?: { tx?: { packets?: number } } }[];
    return link.stats64?.tx?.packets ?? 0;
  } catch {
    return 0;
  }
}

/** Bare spoofed SYNs (hping3's shape) to the VIP, VXLAN-encapsulated for the director. */
function writeSpoofedSyns(file: string, lab: Lab, clientMac: string): void {
  const tf = new TrafficFrames({ vni: lab.vni, clientMac, directorMac: lab.directorMac });
  const vip = addressBytes(lab.vip4);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < SPOOFED; i++) {
    const src = addressBytes(`12.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`);
    const f = tf.tcp({
      src,
      dst: vip,
      srcPort: 1024 + (i % 60000),
      dstPort: 80,
      flags: TCP.syn,
      seq: i,
      shape: 'bare',
    });
    frames.push(f);
  }
  writeFrames(file, frames);
}

function dropsByReason(before: Sample[], after: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of after) {
    if (x.name !== 'sluice_dropped_packets_total') continue;
    const reason = x.labels.reason ?? '';
    const d = x.value - sum(before, x.name, { reason });
    if (d !== 0) out[reason] = (out[reason] ?? 0) + d;
  }
  return out;
}

interface Snapshot {
  /** CPU seconds of the daemon's threads (the kernel's work in their calls included). */
  cpu: number;
  metrics: Sample[];
  hpingTx: number;
  softnet: number;
  reals: Record<string, number>[];
}

async function snapshot(lab: Lab, daemon: RunningDirector): Promise<Snapshot> {
  const [metrics, hpingTx, softnet, reals] = await Promise.all([
    daemon.get<string>('/metrics').then(parseMetrics),
    vxTxPackets(lab.clients[1]),
    softnetDrops(),
    Promise.all(lab.reals.map(tcpExt)),
  ]);
  return { cpu: cpuSeconds(daemon.process.child.pid ?? 0), metrics, hpingTx, softnet, reals };
}

async function runStrategy(
  lab: Lab,
  strategy: Strategy,
  framesFile: string,
  opts: BenchOptions,
): Promise<Record<string, unknown>> {
  const a = addresses(lab.plan.subnet);
  const [c1, c2, c3] = lab.clients;
  const vip = lab.vip4;
  const servers = await startServers(lab);
  const spec = {
    scenario: 'syn-flood' as const,
    strategy,
    attack: 'flood' as const,
    durationS: opts.seconds,
  };
  const daemon = await RunningDirector.start(
    (port, token) => {
      const c = directorConfig(lab, spec, a, port, token);
      c.daemon.api = { address: lab.directorUnderlay, port };
      c.daemon.io = 'native';
      // The daemon's default table (lab-eval's 65,536 fills in two seconds of `none` under these
      // floods, and a full table, not the reals, would then turn valid SYNs away).
      c.daemon.connectionCapacity = 1 << 20;
      return c;
    },
    'sluice-lab-bench-',
    { netns: lab.directorNs ?? undefined, apiHost: lab.directorUnderlay },
  );
  const procs: ChildProcess[] = [];
  const outcomes: Outcome[] = [];
  try {
    const valid = spawnValidClients(c1, vip, a, outcomes, 1);
    procs.push(valid);
    const watch = new ValidPathWatch(lab, a.validCidr);
    await sleep(WARMUP_MS);
    watch.counting = true;
    const loadAtStart = loadavg()[0];
    const before = await snapshot(lab, daemon);
    const t0 = Date.now();
    const nice = ['nice', '-n', String(opts.attackNice)];
    const hping = spawnIn(
      c2,
      [...nice, 'hping3', '--flood', '--rand-source', '-S', '-p', '80', vip],
      () => {},
    );
    procs.push(hping);
    let genResult: { sent: number; seconds: number } | null = null;
    const gen = spawnIn(
      c3,
      [
        ...nice,
        nativeToolPath('sluice-gen'),
        'send',
        '--to',
        `${lab.directorUnderlay}:4789`,
        '--frames',
        framesFile,
        '--from',
        c3.underlay,
        '--sockets',
        '16',
        '--batch',
        '64',
        '--seconds',
        String(opts.seconds),
        ...(opts.rate > 0 ? ['--rate', String(opts.rate)] : []),
      ],
      (line) => {
        try {
          genResult = JSON.parse(line) as { sent: number; seconds: number };
        } catch {
          // not its result
        }
      },
    );
    procs.push(gen);
    const genDone = new Promise<void>((r) => {
      if (gen.exitCode !== null) r();
      else gen.once('exit', () => r());
    });
    await sleep(opts.seconds * 1000);
    const windowEnd = Date.now();
    await endChild(hping, 'SIGINT');
    await genDone;
    const windowS = (Date.now() - t0) / 1000;
    const after = await snapshot(lab, daemon);
    watch.counting = false;
    await watch.stop();
    // No new arrivals; the ones in flight finish (at most their deadline).
    await endChild(valid, 'SIGTERM');

    const d = (name: string, match: Record<string, string> = {}) =>
      sum(after.metrics, name, match) - sum(before.metrics, name, match);
    const measured = outcomes.filter((o) => o.t >= t0 && o.t < windowEnd && o.kind !== 'partner');
    const ok = measured.filter((o) => o.outcome === 'ok' && o.totalMs <= DEADLINE_MS);
    const connect = ok.map((o) => o.connectMs ?? 0);
    const failures: Record<string, number> = {};
    for (const o of measured) if (!ok.includes(o)) failures[o.outcome] = (failures[o.outcome] ?? 0) + 1;
    const reals: Record<string, number> = {};
    for (const k of REAL_COUNTERS) {
      let s = 0;
      for (let i = 0; i < lab.reals.length; i++) s += (after.reals[i][k] ?? 0) - (before.reals[i][k] ?? 0);
      reals[k] = s;
    }
    const g = genResult as { sent: number; seconds: number } | null;
    const hpingPps = (after.hpingTx - before.hpingTx) / windowS;
    const classified = d('sluice_packets_total');
    const cpu = after.cpu - before.cpu;
    const genPps = g === null || g.seconds === 0 ? 0 : g.sent / g.seconds;
    return {
      suite: 'lab',
      strategy,
      io: 'native',
      workers: 2,
      attackNice: opts.attackNice,
      windowS: round(windowS, 1),
      offeredPps: Math.round(hpingPps + genPps),
      hpingPps: Math.round(hpingPps),
      generatorPps: Math.round(genPps),
      directorPps: Math.round(classified / windowS),
      // Cores the daemon used, and its CPU per classified frame: on veth, what a forwarded frame
      // costs the receiving namespace's stack is mostly charged to the sender's system call.
      directorCores: round(cpu / windowS, 2),
      directorCpuUsPerFrame: classified > 0 ? round((cpu / classified) * 1e6, 1) : null,
      rcvbufErrors: d('sluice_udp_receive_buffer_errors_total'),
      udpInErrors: d('sluice_udp_receive_errors_total'),
      softnetDrops: after.softnet - before.softnet,
      loadAverage1m: round(loadAtStart, 1),
      validAttempts: measured.length,
      validSuccess: measured.length === 0 ? null : round(ok.length / measured.length, 4),
      validFailures: failures,
      connectP50Ms: connect.length === 0 ? null : round(quantile(connect, 0.5), 1),
      connectP99Ms: connect.length === 0 ? null : round(quantile(connect, 0.99), 1),
      challengesSent: d('sluice_challenges_sent_total'),
      droppedByReason: dropsByReason(before.metrics, after.metrics),
      tableEntriesAtEnd: sum(after.metrics, 'sluice_connection_table_entries'),
      forwardedToReals: d('sluice_packets_total', { verdict: 'forward' }),
      realServers: reals,
      // Valid clients' handshakes along their path in the window (tcpdump on the reals and c1).
      validPath: {
        connections: measured.length,
        synsAtReals: watch.synsAtReals,
        synAcksFromReals: watch.synAcksFromReals,
        synAcksAtClient: watch.synAcksAtClient,
      },
    };
  } finally {
    for (const p of procs) await endChild(p, 'SIGKILL');
    await daemon.stop();
    for (const p of servers.procs) await endChild(p);
  }
}

export async function runLab(opts: BenchOptions): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the lab suite needs root (network namespaces)');
  const strategies = (opts.cases.length > 0 ? opts.cases : STRATEGIES) as Strategy[];
  for (const s of strategies) {
    if (!STRATEGIES.includes(s)) throw new Error(`lab: unknown case ${s} (${STRATEGIES.join(', ')})`);
  }
  note(`lab ${LAB_BENCH_NAME} (192.168.${LAB_BENCH_SUBNET}.0/24), the director in its own namespace`);
  const lab = await Lab.create({
    name: LAB_BENCH_NAME,
    subnet: LAB_BENCH_SUBNET,
    reals: 2,
    clients: 3,
    ipv6: false,
    directorNamespace: true,
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-lab-bench-'));
  const stop = () => {
    void Lab.destroyByName(LAB_BENCH_NAME).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await prepareLab(lab, addresses(lab.plan.subnet));
    const framesFile = path.join(dir, 'spoofed-syns.frames');
    writeSpoofedSyns(framesFile, lab, lab.clients[2].mac);
    for (const strategy of strategies) {
      note(`lab: ${strategy}: valid clients, hping3 --flood and sluice-gen for ${opts.seconds} s`);
      emit(await runStrategy(lab, strategy, framesFile, opts));
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
