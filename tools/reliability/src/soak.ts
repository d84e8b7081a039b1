// The soak, on loopback: the daemon (daemon-target.ts: `sluice run` plus worker kills) with two
// serving workers; two fake real servers (FakeVtep on 127.0.0.2 and 127.0.0.4); valid clients
// (long-lived connections sending a segment every second, and short ones opened and closed all
// along) from this process; a SYN flood from spoofed sources by sluice-gen at a paced rate; a
// serving worker killed every minute; a config change every 10 s (a real server's weight, by
// REST). Measured and reported as JSON lines:
//   - RSS of the daemon every 5 s (the curve, per minute), and its growth after the first minute;
//   - valid established connections lost on worker replacement: 10 s after each kill, every
//     long-lived connection's entry must still be in the table (GET /v1/connections) pointing at
//     the real server it started on, its segments must never reach another, and one that had no
//     segment through since the kill (delayed: the kernel dropped them on the surviving socket
//     while the replacement started, which TCP retransmits) must have one through by the end of
//     the run, or it is lost;
//   - the table after the flood stops: back to the valid load within the idle timeout of the
//     flood's entries (SYN_RECV, 60 s) plus one expiry sweep: the flood's entries are its half-open
//     ones (sluice_connections{state="SYN_RECV"}: a valid handshake leaves that state within
//     milliseconds), so drained = as few half-open entries as before the flood, and the valid
//     load = the entries besides them (the long-lived connections and the short ones closing).

import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { validateConfigFile } from '@sluice/config';
import { cleanEnv, rssBytes, spawnDaemon, udpSockets } from '@sluice/director/src/daemon-process.ts';
import { encodeFramesFile, readUdpCounters } from '@sluice/io';
import {
  addressBytes,
  FakeVtep,
  type ForwardedFrame,
  freeUdpPort,
  TCP,
  TrafficFrames,
} from '@sluice/traffic';
import fc from 'fast-check';
import { DAEMON_TARGET, runGenerator } from './packet-fuzz.ts';
import {
  drainBoundSeconds,
  FLOOD_ENTRY_TIMEOUT_S,
  listConnections,
  onWorkerKills,
  type RssSample,
  readTable,
  round,
  rssCurve,
  sampleRss,
  sleep,
  startConfigChanges,
  waitForDrain,
  workerReplacements,
} from './soak-common.ts';

const VNI = 42;
const DIRECTOR_MAC = '02:5c:00:00:00:01';
const VIP = '10.42.0.100';
const REALS = [
  { vtep: '127.0.0.2', address: '10.42.0.11', mac: '02:00:00:00:01:01' },
  { vtep: '127.0.0.4', address: '10.42.0.12', mac: '02:00:00:00:01:02' },
];

export interface SoakOptions {
  /** Total length of the flood phase, seconds (the run adds a valid-only lead-in and the drain). */
  seconds: number;
  killEverySeconds: number;
  configEverySeconds: number;
  floodPps: number;
  longLived: number;
  shortPerSecond: number;
  /** Wait for the table to drain after the flood, at most this long (seconds); 0: do not wait
   * (a short run cannot: the flood's entries live 60 s), and the drain is not judged. */
  drainSeconds: number;
  /** Valid traffic alone before the flood (seconds): the valid load is read at its end. */
  leadInSeconds: number;
  tableCapacity: number;
  io?: 'auto' | 'native' | 'dgram';
  seed?: number;
  /** Receives each JSON line as it is made (progress), besides the result. */
  onLine?: (line: object) => void;
}

export const SOAK_DEFAULTS: SoakOptions = {
  seconds: 600,
  killEverySeconds: 60,
  configEverySeconds: 10,
  floodPps: 20_000,
  longLived: 200,
  shortPerSecond: 50,
  drainSeconds: 150,
  leadInSeconds: 20,
  // Room for the flood's 200,000 distinct spoofed connections beside the valid ones: this soak
  // is about staying up and bounded, not about a full table (the defense's business).
  tableCapacity: 262_144,
};

interface Conn {
  port: number;
  seq: number;
  real: number;
  lastArrival: number;
  wrongReal: number;
}

export interface SoakResult {
  soak: 'loopback';
  seed: number;
  io: string;
  floodSeconds: number;
  floodPps: number;
  floodSent: number;
  workersKilled: number;
  workerReplacements: number;
  configChanges: number;
  configChangeFailures: number;
  longLived: number;
  shortOpened: number;
  /** Long-lived connections with no segment at their real server in the 10 s after a kill, over
   * all kills: disruption, not loss (the segments were dropped; later ones went through). */
  delayedAfterKill: number;
  /** Of those, the ones that never had a segment through again (or lost their entry): lost. */
  lostOnReplacement: number;
  /** RcvbufErrors of /proc/net/snmp over the run (the namespace's; mostly the flood's). */
  kernelReceiveDrops: number;
  /** Segments of long-lived connections that arrived at another real server. */
  wrongRealServer: number;
  /** Long-lived connections missing from the table, or pointing elsewhere, at a check after a kill. */
  missingEntries: number;
  rssMiB: number[];
  rssAtOneMinuteMiB: number;
  rssMaxAfterOneMinuteMiB: number;
  rssEndMiB: number;
  rssGrowthAfterFirstMinute: number;
  tableBeforeFlood: number;
  halfOpenBeforeFlood: number;
  tablePeakDuringFlood: number;
  /** Seconds from the flood's end until the half-open entries were back to their count before it. */
  tableDrainSeconds: number | null;
  /** The bound it is held to: the flood entries' idle timeout plus one sweep of the table. */
  tableDrainBoundSeconds: number;
  tableAfterDrain: number;
  halfOpenAfterDrain: number;
  /** Entries besides the half-open ones, before the flood and after the drain. */
  validLoadBefore: number;
  validLoadAfter: number;
  failures: string[];
}

/** A frames file of spoofed SYNs (random public sources and ports) for sluice-gen. */
async function floodFile(file: string, count: number, seed: number): Promise<void> {
  const tf = new TrafficFrames({ vni: VNI, clientMac: '02:00:00:00:0f:0f', directorMac: DIRECTOR_MAC });
  const vip = addressBytes(VIP);
  const specs = fc.sample(
    fc.record({
      a: fc.integer({ min: 11, max: 99 }),
      b: fc.nat(255),
      c: fc.nat(255),
      d: fc.integer({ min: 1, max: 254 }),
      port: fc.integer({ min: 1024, max: 65535 }),
      seq: fc.nat(0xffffffff),
    }),
    { numRuns: count, seed },
  );
  const frames = specs.map((s) =>
    tf.tcp({
      src: Uint8Array.of(s.a, s.b, s.c, s.d),
      dst: vip,
      srcPort: s.port,
      dstPort: 80,
      flags: TCP.syn,
      seq: s.seq,
      shape: 'bare',
    }),
  );
  await writeFile(file, encodeFramesFile(frames));
}

export async function runSoak(partial: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { ...SOAK_DEFAULTS, ...partial };
  const seed = o.seed ?? Date.now() % 2 ** 31;
  const emit = (line: object) => o.onLine?.(line);
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-soak-'));
  const listenPort = await freeUdpPort('127.0.0.1');
  const remotePort = await freeUdpPort('127.0.0.2');
  const configPath = path.join(dir, 'config.json');
  await writeFile(
    configPath,
    JSON.stringify(
      validateConfigFile({
        daemon: {
          vxlan: { address: '127.0.0.1', port: listenPort },
          api: { address: '127.0.0.1', port: 0 },
          workers: 2,
          io: o.io ?? 'auto',
          connectionCapacity: o.tableCapacity,
        },
        overlay: { vni: VNI, directorMac: DIRECTOR_MAC },
        services: [
          {
            name: 'web',
            vip: VIP,
            port: 80,
            scheduler: 'wlc',
            reals: REALS.map((r) => ({ address: r.address, port: 80, vtep: r.vtep, mac: r.mac })),
          },
        ],
        // Valid clients come from documentation prefixes, which the bogon checks would rank lowest.
        defense: { sourceChecks: { enabled: false, action: 'lowest' } },
      }),
    ),
  );
  const floodFrames = path.join(dir, 'flood.bin');
  await floodFile(floodFrames, 200_000, seed);

  const conns = new Map<number, Conn>();
  let wrongReal = 0;
  const fakes: FakeVtep[] = [];
  for (const [i, r] of REALS.entries()) {
    const fake = await FakeVtep.open({
      address: r.vtep,
      port: remotePort,
      vni: VNI,
      realAddress: r.address,
      mac: r.mac,
      directorVtep: { address: '127.0.0.1', port: listenPort },
      directorMac: DIRECTOR_MAC,
      keepForwarded: false,
    });
    fake.onFrame = (f: ForwardedFrame) => {
      if (!f.src.startsWith('198.51.100.')) return;
      const c = conns.get(f.srcPort);
      if (c === undefined) return;
      if (c.real < 0) c.real = i;
      if (c.real !== i) {
        c.wrongReal++;
        wrongReal++;
        return;
      }
      c.lastArrival = Date.now();
    };
    fakes.push(fake);
  }

  const result: SoakResult = {
    soak: 'loopback',
    seed,
    io: o.io ?? 'auto',
    floodSeconds: o.seconds,
    floodPps: o.floodPps,
    floodSent: 0,
    workersKilled: 0,
    workerReplacements: 0,
    configChanges: 0,
    configChangeFailures: 0,
    longLived: o.longLived,
    shortOpened: 0,
    delayedAfterKill: 0,
    lostOnReplacement: 0,
    kernelReceiveDrops: 0,
    wrongRealServer: 0,
    missingEntries: 0,
    rssMiB: [],
    rssAtOneMinuteMiB: 0,
    rssMaxAfterOneMinuteMiB: 0,
    rssEndMiB: 0,
    rssGrowthAfterFirstMinute: 0,
    tableBeforeFlood: 0,
    halfOpenBeforeFlood: 0,
    tablePeakDuringFlood: 0,
    tableDrainSeconds: null,
    tableDrainBoundSeconds: drainBoundSeconds(o.tableCapacity),
    tableAfterDrain: 0,
    halfOpenAfterDrain: 0,
    validLoadBefore: 0,
    validLoadAfter: 0,
    failures: [],
  };

  const daemon = spawnDaemon(
    [
      '--config',
      configPath,
      '--remote-port',
      String(remotePort),
      '--kill-worker-every',
      String(o.killEverySeconds),
    ],
    { script: DAEMON_TARGET, env: cleanEnv() },
  );
  const client = dgram.createSocket('udp4');
  const timers: NodeJS.Timeout[] = [];
  try {
    const api = await daemon.ready;
    const pid = daemon.child.pid as number;
    const token = (await readFile(path.join(dir, 'token'), 'utf8')).trim();
    await new Promise<void>((r) => client.bind(0, '127.0.0.3', () => r()));
    const tf = new TrafficFrames({ vni: VNI, clientMac: '02:00:00:00:09:01', directorMac: DIRECTOR_MAC });
    const vip = addressBytes(VIP);
    const send = (frame: Uint8Array) => client.send(frame, listenPort, '127.0.0.1');
    const seg = (src: string, port: number, flags: number, seq: number, payloadLen = 0) =>
      tf.tcp({
        src: addressBytes(src),
        dst: vip,
        srcPort: port,
        dstPort: 80,
        flags,
        seq,
        ack: 1,
        payloadLen,
      });
    const table = () => readTable(api);
    const started = Date.now();
    const elapsed = () => (Date.now() - started) / 1000;
    const snmp0 = readUdpCounters();

    // Long-lived valid connections: handshake, then a segment every second.
    for (let i = 0; i < o.longLived; i++) {
      const port = 20000 + i;
      const c: Conn = { port, seq: 1001, real: -1, lastArrival: 0, wrongReal: 0 };
      conns.set(port, c);
      send(seg('198.51.100.7', port, TCP.syn, 1000));
      send(seg('198.51.100.7', port, TCP.ack, 1001));
      if (i % 20 === 19) await sleep(10);
    }
    timers.push(
      setInterval(() => {
        for (const c of conns.values()) {
          send(seg('198.51.100.7', c.port, TCP.ack | TCP.psh, c.seq, 20));
          c.seq = (c.seq + 20) >>> 0;
        }
      }, 1000),
    );
    // Short valid connections: open, send, close.
    let shortPort = 0;
    timers.push(
      setInterval(() => {
        for (let k = 0; k < o.shortPerSecond / 10; k++) {
          const port = 30000 + (shortPort++ % 30000);
          const src = `198.51.100.${100 + (shortPort % 100)}`;
          send(seg(src, port, TCP.syn, 5000));
          send(seg(src, port, TCP.ack, 5001));
          send(seg(src, port, TCP.ack | TCP.psh, 5001, 100));
          send(seg(src, port, TCP.ack | TCP.fin, 5101));
          result.shortOpened++;
        }
      }, 100),
    );
    // A config change every configEverySeconds: the second real server's weight, 1 ↔ 2.
    timers.push(
      startConfigChanges(
        { api, token, service: 'web', realId: `${REALS[1].address}:80`, everySeconds: o.configEverySeconds },
        result,
      ),
    );
    const rss: RssSample[] = [];
    timers.push(sampleRss(pid, elapsed, rss));
    // After each worker kill (the daemon prints it): every long-lived connection must have a
    // segment arrive at its real server within 10 s, and still be in the table.
    onWorkerKills(daemon.child, () => {
      result.workersKilled++;
      const killedAt = Date.now();
      // The killed worker's socket is closed by now: what the survivor has dropped so far.
      const dropsAtKill = udpSockets(listenPort).drops;
      setTimeout(() => void checkAfterKill(killedAt, dropsAtKill), 10_000);
    });
    /** Connections delayed by a kill, with the kill's time: judged lost or not at the end. */
    const delayed: Array<{ conn: Conn; killedAt: number }> = [];
    const checkAfterKill = async (killedAt: number, dropsAtKill: number) => {
      // Datagrams the kernel dropped on the VTEP sockets (the survivor and the replacement) since.
      const socketDrops = udpSockets(listenPort).drops - dropsAtKill;
      let late = 0;
      for (const c of conns.values()) {
        if (c.lastArrival > killedAt) continue;
        late++;
        delayed.push({ conn: c, killedAt });
      }
      result.delayedAfterKill += late;
      const listed = await listConnections(api, '198.51.100.7');
      const inTable = new Map(listed.map((c) => [c.client.port, c]));
      let missing = 0;
      for (const c of conns.values()) {
        const e = inTable.get(c.port);
        if (e === undefined || e.real?.address !== REALS[c.real]?.address) missing++;
      }
      result.missingEntries += missing;
      emit({ soak: 'kill-check', t: round(elapsed()), delayed: late, missing, socketDrops });
    };

    // Lead-in: valid traffic only, to know the valid load of the table.
    await sleep(o.leadInSeconds * 1000);
    const before = await table();
    result.tableBeforeFlood = before.entries;
    result.halfOpenBeforeFlood = before.halfOpen;
    result.validLoadBefore = before.entries - before.halfOpen;
    emit({ soak: 'valid-load', t: round(elapsed()), table: before.entries, halfOpen: before.halfOpen });

    // The flood, with a progress line a minute.
    const flood = runGenerator([
      '--to',
      `127.0.0.1:${listenPort}`,
      '--from',
      '127.0.0.5',
      '--frames',
      floodFrames,
      '--seconds',
      String(o.seconds),
      '--rate',
      String(o.floodPps),
      '--sockets',
      '16',
    ]);
    const floodEnd = Date.now() + o.seconds * 1000;
    while (Date.now() < floodEnd) {
      await sleep(Math.min(60_000, floodEnd - Date.now()));
      const t = await table();
      result.tablePeakDuringFlood = Math.max(result.tablePeakDuringFlood, t.entries);
      const b = rssBytes(pid);
      emit({
        soak: 'minute',
        t: round(elapsed()),
        rssMiB: b === null ? null : round(b / 2 ** 20),
        table: t.entries,
        halfOpen: t.halfOpen,
        workersKilled: result.workersKilled,
        configChanges: result.configChanges,
        delayedAfterKill: result.delayedAfterKill,
        missingEntries: result.missingEntries,
      });
    }
    result.floodSent = (await flood).sent;
    const stoppedAt = Date.now();
    if (o.drainSeconds > 0) {
      const d = await waitForDrain(api, result.halfOpenBeforeFlood, stoppedAt, o.drainSeconds);
      result.tableDrainSeconds = d.seconds;
      result.tableAfterDrain = d.table.entries;
      result.halfOpenAfterDrain = d.table.halfOpen;
      result.validLoadAfter = d.table.entries - d.table.halfOpen;
    }
    emit({
      soak: 'drained',
      t: round(elapsed()),
      table: result.tableAfterDrain,
      halfOpen: result.halfOpenAfterDrain,
      seconds: result.tableDrainSeconds,
    });

    // Let the last kill's check run, and the delayed connections show whether they carry on.
    await sleep(10_500);
    for (const t of timers) clearInterval(t);
    timers.length = 0;
    for (const d of delayed) if (d.conn.lastArrival <= d.killedAt) result.lostOnReplacement++;
    const snmp1 = readUdpCounters();
    result.kernelReceiveDrops =
      snmp0 !== null && snmp1 !== null ? snmp1.rcvbufErrors - snmp0.rcvbufErrors : -1;
    result.wrongRealServer = wrongReal;
    result.workerReplacements = workerReplacements(daemon.stderr);
    Object.assign(result, rssCurve(rss));
    if (daemon.child.exitCode !== null) result.failures.push('the daemon died');
    if (result.lostOnReplacement > 0)
      result.failures.push(`${result.lostOnReplacement} valid connection(s) lost after worker replacement`);
    if (result.missingEntries > 0)
      result.failures.push(`${result.missingEntries} entries missing after a kill`);
    if (result.wrongRealServer > 0)
      result.failures.push(`${result.wrongRealServer} segments at the wrong real server`);
    if (result.workersKilled !== result.workerReplacements)
      result.failures.push(`${result.workersKilled} workers killed, ${result.workerReplacements} replaced`);
    if (result.configChangeFailures > 0)
      result.failures.push(`${result.configChangeFailures} config changes failed`);
    const drained =
      result.tableDrainSeconds !== null && result.tableDrainSeconds <= result.tableDrainBoundSeconds;
    if (o.drainSeconds > 0 && !drained)
      result.failures.push(
        `the flood's entries were not gone within ${result.tableDrainBoundSeconds} s (${result.halfOpenAfterDrain} half-open left)`,
      );
  } finally {
    for (const t of timers) clearInterval(t);
    if (daemon.child.exitCode === null) daemon.child.kill('SIGTERM');
    await daemon.exited;
    await new Promise<void>((r) => client.close(() => r()));
    for (const f of fakes) await f.close();
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

export { FLOOD_ENTRY_TIMEOUT_S };
