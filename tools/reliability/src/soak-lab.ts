// The soak in the namespace lab (tools/lab): real Linux kernels as clients and real servers.
//   c1   valid long-lived clients: lab-holder.ts holding `longLived` keep-alive TCP connections
//        through the VIP, a GET a second on each, every answer checked;
//   c2   valid short clients: lab-holder.ts opening `shortPerSecond` connections a second;
//   c3   the flood: `hping3 --rand-source -S` at the VIP (`-i u<floodIntervalUs>`, or `--flood`);
//   rs1, rs2  real-http.ts behind the VIP (LVS-DR, replies straight to the client).
// The director is daemon-target.ts in the root namespace on the lab's bridge, port 4789: exactly
// `sluice run`'s start (startDaemon) plus the one thing `sluice run` has no outside handle for,
// killing a serving worker's thread as a crash would (Dataplane.killServingWorker, every
// `killEverySeconds`). A worker thread cannot be killed from outside the process (any fatal signal
// takes the whole process), so this in-process hook is the honest closest thing; it is the same
// hook the loopback soak uses.
//
// The real servers have no route to the flood's random sources (the lab gives them none besides
// the underlay and the overlay /24), so their SYN-ACKs to spoofed addresses go nowhere, as they
// would on the Internet, and they do not ARP for each spoofed source.
//
// Measured as in the loopback soak (soak-common.ts): RSS every 5 s; 10 s after each kill, which
// long-lived connections had no answer since the kill (delayed) and whether each is still in the
// table on its real server; at the end, the delayed ones with no answer since their kill, and any
// that died (error, close, wrong answer), are lost; after the flood, the seconds until the
// half-open entries (the flood's) are back to their count before it. The load average is recorded:
// the lab shares its two cores with other work.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ConfigFile } from '@sluice/config';
import { cleanEnv, spawnDaemon, udpSockets } from '@sluice/director/src/daemon-process.ts';
import { DirectorFiles, Lab, type LabNode, labNodeBinary } from '@sluice/lab';
import { DAEMON_TARGET } from './packet-fuzz.ts';
import {
  type ConfigChangeCounts,
  drainBoundSeconds,
  listConnections,
  onWorkerKills,
  type RssCurve,
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

const HOLDER = fileURLToPath(new URL('./lab-holder.ts', import.meta.url));
const VTEP_PORT = 4789;

export interface LabSoakOptions {
  /** Length of the flood, seconds (the run adds the lead-in and the drain). */
  seconds: number;
  killEverySeconds: number;
  configEverySeconds: number;
  /** hping3's `-i u<N>` (microseconds between SYNs); 0: `--flood` (as fast as it can). */
  floodIntervalUs: number;
  longLived: number;
  shortPerSecond: number;
  /** Wait for the table to drain after the flood, at most this long (s); 0: do not wait or judge. */
  drainSeconds: number;
  leadInSeconds: number;
  tableCapacity: number;
  workers: number;
  labName: string;
  subnet: number;
  /** Receives each JSON line as it is made (progress), besides the result. */
  onLine?: (line: object) => void;
}

/** 236: clear of the lab's default range (20..219), lab-eval's 241 and 242, the e2e suite's 231. */
export const LAB_SOAK_DEFAULTS: LabSoakOptions = {
  seconds: 600,
  killEverySeconds: 60,
  configEverySeconds: 10,
  // Nominally 20,000 SYN/s; hping3 sleeps between packets, so it sends fewer on a busy machine
  // (the result reports what it sent: about 4,300/s at u100 with a load average of 12-16). 60 s
  // of it stays inside the default table.
  floodIntervalUs: 50,
  longLived: 100,
  shortPerSecond: 5,
  drainSeconds: drainBoundSeconds(1 << 20) + 15,
  leadInSeconds: 20,
  tableCapacity: 1 << 20,
  workers: 2,
  labName: 'lsoak',
  subnet: 236,
};

interface HolderConn {
  port: number;
  real: string;
  answers: number;
  lastAnswerAt: number;
  dead: string | null;
}

interface HolderReport {
  conns: HolderConn[];
  /** [epoch second, the slowest answer in it (ms)]. */
  slowestBySecond: Array<[number, number]>;
  answerHistogram: Record<string, number>;
}

interface HolderStatus {
  open: number;
  died: number;
  answers: number;
  maxWaitMs: number;
  shortOk: number;
  shortFailed: number;
  shortFailures: Record<string, number>;
}

export interface LabSoakResult extends RssCurve {
  soak: 'lab';
  date: string;
  kernel: string;
  /** /proc/loadavg's 1, 5 and 15 minute figures at the start and at the end. */
  loadAverageStart: number[];
  loadAverageEnd: number[];
  cores: number;
  floodSeconds: number;
  floodCommand: string;
  /** hping3's own count ("N packets transmitted"), and that over the flood's seconds. */
  floodSent: number;
  floodPps: number;
  workers: number;
  workersKilled: number;
  workerReplacements: number;
  configChanges: number;
  configChangeFailures: number;
  longLived: number;
  /** Long-lived connections open when the lead-in began (the rest failed to connect). */
  longLivedOpened: number;
  /** Answers the long-lived connections received over the run. */
  longLivedAnswers: number;
  /** Long-lived connections with no answer in the 10 s after a kill, summed over the kills. */
  delayedAfterKill: number;
  /** Of those, the ones with no answer since that kill by the end of the run, or dead. */
  lostOnReplacement: number;
  /** Answer times of the long-lived connections (request written → answer read), counted by ms. */
  answerHistogram: Record<string, number>;
  /** The slowest answer in the 10 s after each kill, ms; and the slowest outside those windows. */
  slowestAnswerAfterKillMs: number[];
  slowestAnswerOtherwiseMs: number;
  /** Long-lived connections that died at any time (error, close, wrong answer), with reasons. */
  died: number;
  diedReasons: Record<string, number>;
  /** Long-lived connections missing from the table, or on another real, at a check after a kill. */
  missingEntries: number;
  shortOk: number;
  shortFailed: number;
  shortFailures: Record<string, number>;
  /** Datagrams the kernel dropped on the director's VTEP sockets over the run. */
  vtepSocketDrops: number;
  tableBeforeFlood: number;
  halfOpenBeforeFlood: number;
  tablePeakDuringFlood: number;
  tableDrainSeconds: number | null;
  tableDrainBoundSeconds: number;
  tableAfterDrain: number;
  halfOpenAfterDrain: number;
  /** Entries besides the half-open ones: before the flood (after the lead-in), at the flood's end
   * (the short connections' closed entries take two minutes to reach their steady count), and
   * after the drain. */
  validLoadBefore: number;
  validLoadAtFloodEnd: number;
  validLoadAfter: number;
  /** sluice_connections by state before the flood, at its end and after the drain. */
  statesBefore: Record<string, number>;
  statesAtFloodEnd: Record<string, number>;
  statesAfterDrain: Record<string, number>;
  failures: string[];
}

const loadAverage = (): number[] => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

/** A lab-holder.ts in `node`'s namespace, its lines parsed; `report` asks for the connections. */
class Holder {
  readonly child: ChildProcess;
  status: HolderStatus | null = null;
  readonly died: Array<{ port: number; reason: string; at: number }> = [];
  readonly ready: Promise<number>;
  readonly #reports = new Map<string, (r: HolderReport) => void>();
  #stderr = '';

  constructor(node: LabNode, args: string[]) {
    this.child = node.spawn([labNodeBinary(), HOLDER, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (this.#stderr.length < 8000) this.#stderr += d;
    });
    let buf = '';
    let onReady: (n: number) => void = () => {};
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      this.child.once('exit', (code) => reject(new Error(`lab-holder exited (${code}): ${this.#stderr}`)));
    });
    this.ready.catch(() => undefined);
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        if (line.holder === 'status') this.status = line as unknown as HolderStatus;
        else if (line.holder === 'ready') onReady(line.open as number);
        else if (line.holder === 'died')
          this.died.push({ port: line.port as number, reason: line.reason as string, at: line.at as number });
        else if (line.holder === 'report') {
          this.#reports.get(line.tag as string)?.(line as unknown as HolderReport);
          this.#reports.delete(line.tag as string);
        }
      }
    });
  }

  report(tag: string): Promise<HolderReport> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`lab-holder: no report ${tag} in 10 s`)), 10_000);
      this.#reports.set(tag, (c) => {
        clearTimeout(t);
        resolve(c);
      });
      this.child.stdin?.write(`report ${tag}\n`);
    });
  }

  /** Asks it to stop (it prints a last status), waits up to 10 s, then kills it. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin?.end('stop\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(t);
  }
}

async function endChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 6000);
  await gone;
  clearTimeout(t);
}

export async function runLabSoak(partial: Partial<LabSoakOptions> = {}): Promise<LabSoakResult> {
  const o: LabSoakOptions = { ...LAB_SOAK_DEFAULTS, ...partial };
  const emit = (line: object) => o.onLine?.(line);
  const result: LabSoakResult = {
    soak: 'lab',
    date: new Date().toISOString(),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadAverageStart: loadAverage(),
    loadAverageEnd: [],
    cores: availableParallelism(),
    floodSeconds: o.seconds,
    floodCommand: '',
    floodSent: 0,
    floodPps: 0,
    workers: o.workers,
    workersKilled: 0,
    workerReplacements: 0,
    configChanges: 0,
    configChangeFailures: 0,
    longLived: o.longLived,
    longLivedOpened: 0,
    longLivedAnswers: 0,
    delayedAfterKill: 0,
    lostOnReplacement: 0,
    answerHistogram: {},
    slowestAnswerAfterKillMs: [],
    slowestAnswerOtherwiseMs: 0,
    died: 0,
    diedReasons: {},
    missingEntries: 0,
    shortOk: 0,
    shortFailed: 0,
    shortFailures: {},
    vtepSocketDrops: 0,
    tableBeforeFlood: 0,
    halfOpenBeforeFlood: 0,
    tablePeakDuringFlood: 0,
    tableDrainSeconds: null,
    tableDrainBoundSeconds: drainBoundSeconds(o.tableCapacity, o.workers),
    tableAfterDrain: 0,
    halfOpenAfterDrain: 0,
    validLoadBefore: 0,
    validLoadAtFloodEnd: 0,
    validLoadAfter: 0,
    statesBefore: {},
    statesAtFloodEnd: {},
    statesAfterDrain: {},
    rssMiB: [],
    rssAtOneMinuteMiB: 0,
    rssMaxAfterOneMinuteMiB: 0,
    rssEndMiB: 0,
    rssGrowthAfterFirstMinute: 0,
    failures: [],
  };

  const lab = await Lab.create({ name: o.labName, subnet: o.subnet, reals: 2, clients: 3, ipv6: false });
  const timers: NodeJS.Timeout[] = [];
  let files: DirectorFiles | null = null;
  let daemon: ReturnType<typeof spawnDaemon> | null = null;
  const holders: Holder[] = [];
  let flood: ChildProcess | null = null;
  // Ctrl-C or a kill of this process must not leave the lab (and a director on its bridge) behind.
  const cleanup = async (): Promise<void> => {
    for (const t of timers) clearInterval(t);
    for (const h of holders) await h.stop().catch(() => undefined);
    if (flood !== null) await endChild(flood, 'SIGKILL');
    if (daemon !== null && daemon.child.exitCode === null) {
      daemon.child.kill('SIGTERM');
      // A graceful stop that hangs must not keep the lab up: SIGKILL after 20 s.
      const d = daemon;
      const t = setTimeout(() => d.child.kill('SIGKILL'), 20_000);
      await daemon.exited.catch(() => undefined);
      clearTimeout(t);
    }
    await lab.destroy().catch(() => undefined);
    await files?.cleanup();
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const [c1, c2, c3] = lab.clients;
    // Keep-alive for the run: the long-lived connections idle 1 s between requests at most, but a
    // delayed one may wait longer, and the server closing it would look like a loss.
    await Promise.all(lab.reals.map((_, i) => lab.startHttp(i, 80, { keepAliveMs: 3_600_000 })));
    files = await DirectorFiles.create('sluice-soak-lab-');
    const config: ConfigFile = {
      daemon: {
        vxlan: { address: lab.directorUnderlay, port: VTEP_PORT },
        api: { address: '127.0.0.1', port: 0 },
        workers: o.workers,
        connectionCapacity: o.tableCapacity,
        tokenFile: files.tokenPath,
      },
      ...lab.directorConfig(),
    } as ConfigFile;
    await files.writeConfig(config);
    daemon = spawnDaemon(['--config', files.configPath, '--kill-worker-every', String(o.killEverySeconds)], {
      script: DAEMON_TARGET,
      env: cleanEnv(),
    });
    const d = daemon;
    const api = await d.ready;
    const pid = d.child.pid as number;
    const started = Date.now();
    const elapsed = () => (Date.now() - started) / 1000;
    const drops0 = udpSockets(VTEP_PORT, lab.directorUnderlay).drops;
    const rss: RssSample[] = [];
    timers.push(sampleRss(pid, elapsed, rss));
    const counts: ConfigChangeCounts = result;
    timers.push(
      startConfigChanges(
        {
          api,
          token: files.token,
          service: 'web4',
          realId: `${lab.reals[1].overlay4}:80`,
          everySeconds: o.configEverySeconds,
        },
        counts,
      ),
    );
    // The health checks must have found both reals up before any client connects.
    for (let i = 0; ; i++) {
      const r = await fetch(`${api}/v1/services/web4/reals`);
      const { items } = (await r.json()) as { items: Array<{ status: { health: string } | null }> };
      if (items.every((x) => x.status?.health === 'up')) break;
      if (i >= 200) throw new Error(`the reals are not up after 20 s: ${JSON.stringify(items)}`);
      await sleep(100);
    }

    const long = new Holder(c1, ['--host', lab.vip4, '--conns', String(o.longLived)]);
    holders.push(long);
    result.longLivedOpened = await long.ready;
    if (o.shortPerSecond > 0) {
      const short = new Holder(c2, [
        '--host',
        lab.vip4,
        '--conns',
        '0',
        '--short-per-second',
        String(o.shortPerSecond),
      ]);
      holders.push(short);
      await short.ready;
    }
    const realAddress = new Map(lab.reals.map((r) => [r.label, r.overlay4]));

    // After each kill, 10 s on: which long-lived connections had no answer since, and whether each
    // is still in the table on its real server.
    const delayed: Array<{ port: number; killedAt: number }> = [];
    let checks = 0;
    const checkAfterKill = async (killedAt: number, dropsAtKill: number): Promise<void> => {
      const tag = `kill${checks++}`;
      const { conns } = await long.report(tag);
      const socketDrops = udpSockets(VTEP_PORT, lab.directorUnderlay).drops - dropsAtKill;
      let late = 0;
      for (const c of conns) {
        if (c.dead !== null || c.lastAnswerAt > killedAt) continue;
        late++;
        delayed.push({ port: c.port, killedAt });
      }
      result.delayedAfterKill += late;
      const listed = await listConnections(api, c1.overlay4);
      const inTable = new Map(listed.map((e) => [e.client.port, e]));
      let missing = 0;
      for (const c of conns) {
        if (c.dead !== null) continue;
        const e = inTable.get(c.port);
        if (e === undefined || e.real?.address !== realAddress.get(c.real)) missing++;
      }
      result.missingEntries += missing;
      emit({ soak: 'kill-check', t: round(elapsed()), tag, delayed: late, missing, socketDrops });
    };
    const pending: Promise<void>[] = [];
    const killTimes: number[] = [];
    onWorkerKills(d.child, () => {
      result.workersKilled++;
      const killedAt = Date.now();
      killTimes.push(killedAt);
      const dropsAtKill = udpSockets(VTEP_PORT, lab.directorUnderlay).drops;
      pending.push(
        sleep(10_000)
          .then(() => checkAfterKill(killedAt, dropsAtKill))
          .catch((err: Error) => {
            result.failures.push(`kill check: ${err.message}`);
          }),
      );
    });

    const minuteLine = async (what: string) => {
      const t = await readTable(api);
      const s = long.status;
      const sh = holders[1]?.status ?? null;
      emit({
        soak: what,
        t: round(elapsed()),
        rssMiB: round((rss.at(-1)?.bytes ?? 0) / 2 ** 20),
        table: t.entries,
        halfOpen: t.halfOpen,
        workersKilled: result.workersKilled,
        configChanges: result.configChanges,
        open: s?.open ?? null,
        died: s?.died ?? null,
        maxWaitMs: s?.maxWaitMs ?? null,
        delayedAfterKill: result.delayedAfterKill,
        missingEntries: result.missingEntries,
        shortOk: sh?.shortOk ?? 0,
        shortFailed: sh?.shortFailed ?? 0,
        load1: loadAverage()[0],
      });
      return t;
    };

    // Lead-in: valid traffic only, to know the valid load of the table.
    await sleep(o.leadInSeconds * 1000);
    const before = await minuteLine('valid-load');
    result.tableBeforeFlood = before.entries;
    result.halfOpenBeforeFlood = before.halfOpen;
    result.validLoadBefore = before.entries - before.halfOpen;
    result.statesBefore = before.states;

    const rate = o.floodIntervalUs > 0 ? ['-i', `u${o.floodIntervalUs}`] : ['--flood'];
    const floodArgv = ['hping3', ...rate, '--rand-source', '-S', '-p', '80', lab.vip4];
    result.floodCommand = floodArgv.join(' ');
    flood = c3.spawn(floodArgv, { stdio: ['ignore', 'pipe', 'pipe'] });
    // hping3 prints its statistics on one stream as it exits and flushes its buffered replies
    // (the director's challenges come back to the flooding host) on the other: a tail of both
    // together can lose the count, so each stream keeps its own tail and the count is taken
    // from whichever has it.
    let floodOut = '';
    let floodErr = '';
    flood.stdout?.setEncoding('utf8').on('data', (x: string) => {
      floodOut = (floodOut + x).slice(-4000);
    });
    flood.stderr?.setEncoding('utf8').on('data', (x: string) => {
      floodErr = (floodErr + x).slice(-4000);
    });
    const floodStart = Date.now();
    const floodEnd = floodStart + o.seconds * 1000;
    while (Date.now() < floodEnd) {
      await sleep(Math.min(60_000, floodEnd - Date.now()));
      const t = await minuteLine('minute');
      result.tablePeakDuringFlood = Math.max(result.tablePeakDuringFlood, t.entries);
      result.validLoadAtFloodEnd = t.entries - t.halfOpen;
      result.statesAtFloodEnd = t.states;
    }
    // SIGINT: hping3 prints its statistics and exits.
    await endChild(flood, 'SIGINT');
    const stoppedAt = Date.now();
    const transmitted = /(\d+) packets transmitted/;
    result.floodSent = Number((transmitted.exec(floodErr) ?? transmitted.exec(floodOut))?.[1] ?? 0);
    result.floodPps = Math.round(result.floodSent / ((stoppedAt - floodStart) / 1000));
    emit({ soak: 'flood-stopped', t: round(elapsed()), sent: result.floodSent, pps: result.floodPps });

    if (o.drainSeconds > 0) {
      const dr = await waitForDrain(api, result.halfOpenBeforeFlood, stoppedAt, o.drainSeconds);
      result.tableDrainSeconds = dr.seconds;
      result.tableAfterDrain = dr.table.entries;
      result.halfOpenAfterDrain = dr.table.halfOpen;
      result.validLoadAfter = dr.table.entries - dr.table.halfOpen;
      result.statesAfterDrain = dr.table.states;
      emit({
        soak: 'drained',
        t: round(elapsed()),
        table: dr.table.entries,
        halfOpen: dr.table.halfOpen,
        seconds: dr.seconds,
      });
    }

    // Let the last kill's check run, and the delayed connections show whether they carry on.
    await sleep(10_500);
    await Promise.all(pending);
    for (const t of timers) clearInterval(t);
    timers.length = 0;
    const report = await long.report('final');
    const final = new Map(report.conns.map((c) => [c.port, c]));
    result.answerHistogram = report.answerHistogram;
    // The slowest answer in the 10 s after each kill, against the slowest outside those windows.
    const windows = killTimes.map((k) => [Math.floor(k / 1000), Math.floor(k / 1000) + 10]);
    result.slowestAnswerAfterKillMs = windows.map(([a, b]) =>
      Math.max(0, ...report.slowestBySecond.filter(([s]) => s >= a && s <= b).map(([, ms]) => ms)),
    );
    result.slowestAnswerOtherwiseMs = Math.max(
      0,
      ...report.slowestBySecond
        .filter(([s]) => !windows.some(([a, b]) => s >= a && s <= b))
        .map(([, ms]) => ms),
    );
    const lost = new Set<number>();
    for (const x of delayed) {
      const c = final.get(x.port);
      if (c === undefined || c.dead !== null || c.lastAnswerAt <= x.killedAt) lost.add(x.port);
    }
    result.lostOnReplacement = lost.size;
    for (const c of final.values()) {
      result.longLivedAnswers += c.answers;
      if (c.dead === null) continue;
      result.died++;
      const reason = c.dead.replace(/: .*/, '');
      result.diedReasons[reason] = (result.diedReasons[reason] ?? 0) + 1;
    }
    for (const h of holders) await h.stop();
    const sh = holders[1]?.status;
    if (sh != null) {
      result.shortOk = sh.shortOk;
      result.shortFailed = sh.shortFailed;
      result.shortFailures = sh.shortFailures;
    }
    result.vtepSocketDrops = udpSockets(VTEP_PORT, lab.directorUnderlay).drops - drops0;
    result.workerReplacements = workerReplacements(d.stderr);
    Object.assign(result, rssCurve(rss));
    result.loadAverageEnd = loadAverage();

    if (d.child.exitCode !== null) result.failures.push('the daemon died');
    if (result.longLivedOpened < o.longLived)
      result.failures.push(`${o.longLived - result.longLivedOpened} long-lived connection(s) never opened`);
    if (result.lostOnReplacement > 0)
      result.failures.push(`${result.lostOnReplacement} valid connection(s) lost after worker replacement`);
    if (result.died > 0)
      result.failures.push(
        `${result.died} long-lived connection(s) died: ${JSON.stringify(result.diedReasons)}`,
      );
    if (result.missingEntries > 0)
      result.failures.push(`${result.missingEntries} entries missing after a kill`);
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
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
  return result;
}
