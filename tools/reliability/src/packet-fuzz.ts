// Packet fuzzing through the real worker path: a daemon (daemon-target.ts, i.e. `sluice run`) in
// its own process serves a VXLAN socket on loopback with two serving workers; sluice-gen blasts
// the fuzz corpus (packet-corpus.ts: random, valid and mutated VXLAN datagrams) at it with
// sendmmsg as fast as the kernel takes them, for a while. Then:
//   - the daemon is alive, ready, and no worker died (it logs every replacement);
//   - every datagram is accounted for: those sluice-gen sent = the frames the workers gave a
//     verdict (sluice_packets_total, all verdicts) + the datagrams the kernel dropped on the
//     workers' sockets (the drops column of /proc/net/udp for the VTEP port: per socket, so the
//     identity is exact; RcvbufErrors of /proc/net/snmp, for the whole namespace, is reported too).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateConfigFile } from '@sluice/config';
import { cleanEnv, spawnDaemon, udpSockets } from '@sluice/director/src/daemon-process.ts';
import { nativeToolPath, readUdpCounters } from '@sluice/io';
import { freeUdpPort } from '@sluice/traffic';
import { FUZZ_DIRECTOR_MAC, FUZZ_VIP4, FUZZ_VIP6, FUZZ_VNI, writeCorpus } from './packet-corpus.ts';

export const DAEMON_TARGET = fileURLToPath(new URL('./daemon-target.ts', import.meta.url));

export interface PacketFuzzResult {
  fuzz: 'packets';
  io: 'native' | 'dgram';
  seconds: number;
  seed: number;
  corpus: number;
  sent: number;
  sendErrors: number;
  /** Frames the workers gave a verdict, by verdict. */
  verdicts: Record<string, number>;
  classified: number;
  /** Dropped by the kernel on the workers' sockets (/proc/net/udp). */
  socketDrops: number;
  /** sent - classified - socketDrops: must be 0. */
  unaccounted: number;
  /** /proc/net/snmp deltas over the run (the whole namespace: other processes count too). */
  snmpRcvbufErrors: number;
  snmpInErrors: number;
  framesPerSecond: number;
  forwardedToRealServers: number;
  workerDeaths: number;
  alive: boolean;
  failures: string[];
}

/** Sum of the samples of `name` in a Prometheus text body, by one label's value. */
export function samplesBy(body: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const m of body.matchAll(re)) {
    const l = new RegExp(`${label}="([^"]*)"`).exec(m[1]);
    if (l === null) continue;
    out[l[1]] = (out[l[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** The fuzzed daemon's config: an IPv4 TCP and UDP service, an IPv6 one, the default defense. */
export function fuzzConfig(listenPort: number, io: 'native' | 'dgram', workers = 2) {
  const real = (n: number) => ({
    address: `10.42.0.${10 + n}`,
    port: 80,
    vtep: '127.0.0.2',
    mac: `02:00:00:00:01:0${n}`,
  });
  return validateConfigFile({
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers,
      io,
      connectionCapacity: 65536,
    },
    overlay: { vni: FUZZ_VNI, directorMac: FUZZ_DIRECTOR_MAC },
    services: [
      { name: 'web', vip: FUZZ_VIP4, port: 80, scheduler: 'wlc', reals: [real(1), real(2)] },
      { name: 'dns', vip: FUZZ_VIP4, port: 53, protocol: 'udp', reals: [{ ...real(3), port: 53 }] },
      {
        name: 'web6',
        vip: FUZZ_VIP6,
        port: 80,
        reals: [{ address: '2001:db8:42::11', port: 80, vtep: '127.0.0.2', mac: '02:00:00:00:02:01' }],
      },
    ],
  });
}

/** Runs sluice-gen send; resolves with its final JSON line. */
export function runGenerator(args: string[]): Promise<{ sent: number; seconds: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(nativeToolPath('sluice-gen'), ['send', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`sluice-gen exited ${code}: ${err}`));
      else resolve(JSON.parse(line));
    });
  });
}

async function metricsBody(api: string): Promise<string> {
  return (await fetch(`${api}/metrics`)).text();
}

/** Waits until `read` returns the same value twice `quietMs` apart; returns it. */
async function settled(read: () => Promise<number>, quietMs = 1000, maxMs = 30_000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, quietMs));
    const now = await read();
    if (now === last || Date.now() > end) return now;
    last = now;
  }
}

export async function runPacketFuzz(opts: {
  io: 'native' | 'dgram';
  seconds: number;
  seed?: number;
  corpus?: number;
}): Promise<PacketFuzzResult> {
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const corpusSize = opts.corpus ?? 50_000;
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-packet-fuzz-'));
  const failures: string[] = [];
  const listenPort = await freeUdpPort('127.0.0.1');
  const remotePort = await freeUdpPort('127.0.0.2');
  // The real servers' VTEP: counts what the director forwards, so sends find a socket.
  const sink = dgram.createSocket('udp4');
  let forwarded = 0;
  sink.on('message', () => {
    forwarded++;
  });
  await new Promise<void>((r) => sink.bind(remotePort, '127.0.0.2', () => r()));
  const configPath = path.join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(fuzzConfig(listenPort, opts.io)));
  const framesFile = path.join(dir, 'frames.bin');
  const corpus = await writeCorpus(framesFile, corpusSize, seed);

  const daemon = spawnDaemon(['--config', configPath, '--remote-port', String(remotePort)], {
    script: DAEMON_TARGET,
    env: cleanEnv(),
  });
  let result: PacketFuzzResult | null = null;
  try {
    const api = await daemon.ready;
    const classifiedNow = async () =>
      sum(samplesBy(await metricsBody(api), 'sluice_packets_total', 'verdict'));
    const verdicts0 = samplesBy(await metricsBody(api), 'sluice_packets_total', 'verdict');
    const drops0 = udpSockets(listenPort).drops;
    const snmp0 = readUdpCounters();
    const gen = await runGenerator([
      '--to',
      `127.0.0.1:${listenPort}`,
      '--from',
      '127.0.0.3',
      '--frames',
      framesFile,
      '--seconds',
      String(opts.seconds),
      '--sockets',
      '16',
    ]);
    await settled(classifiedNow);
    const verdicts1 = samplesBy(await metricsBody(api), 'sluice_packets_total', 'verdict');
    const socket = udpSockets(listenPort);
    const snmp1 = readUdpCounters();
    const verdicts: Record<string, number> = {};
    for (const [k, v] of Object.entries(verdicts1)) verdicts[k] = v - (verdicts0[k] ?? 0);
    const classified = sum(verdicts);
    const socketDrops = socket.drops - drops0;
    const ready = await fetch(`${api}/readyz`);
    const alive = daemon.child.exitCode === null && ready.status === 200;
    const workerDeaths = (daemon.stderr.match(/died/g) ?? []).length;
    if (!alive) failures.push('the daemon is not alive and ready');
    if (workerDeaths > 0) failures.push(`${workerDeaths} serving worker(s) died`);
    if (socket.count !== 2) failures.push(`${socket.count} sockets on the VTEP port, not the 2 workers'`);
    const unaccounted = gen.sent - classified - socketDrops;
    if (unaccounted !== 0) failures.push(`${unaccounted} datagrams unaccounted for`);
    result = {
      fuzz: 'packets',
      io: opts.io,
      seconds: opts.seconds,
      seed,
      corpus: corpus.frames,
      sent: gen.sent,
      sendErrors: gen.errors,
      verdicts,
      classified,
      socketDrops,
      unaccounted,
      snmpRcvbufErrors: snmp0 && snmp1 ? snmp1.rcvbufErrors - snmp0.rcvbufErrors : -1,
      snmpInErrors: snmp0 && snmp1 ? snmp1.inErrors - snmp0.inErrors : -1,
      framesPerSecond: Math.round(classified / gen.seconds),
      forwardedToRealServers: forwarded,
      workerDeaths,
      alive,
      failures,
    };
  } finally {
    if (daemon.child.exitCode === null) daemon.child.kill('SIGTERM');
    const exit = await daemon.exited;
    if (result !== null && exit.code !== 0)
      result.failures.push(`the daemon exited ${exit.code ?? exit.signal}`);
    await new Promise<void>((r) => sink.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}
