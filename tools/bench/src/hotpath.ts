// The hot-path benchmark: frames per second through the real classifier, three traffic mixes,
// measured two ways, plus the memory of a 4 M-entry table:
//   in-thread  the Pipeline alone on the main thread, over prepared batches (the classifier's own
//              ceiling on one core: no port, no copies, no other thread);
//   serving    the director's serving workers (1 and 2), each running its own loop, the native
//              port's (BatchedPort: drain → classify → send), over an in-memory FrameRing where
//              the socket would be: a replay ring that never runs dry in, a sink out. This is the
//              code production runs per frame, minus the kernel's UDP path (measured by `forward`).
// Both replay the same frames; flood SYNs get a new random source address every time they come
// round (the ring renews it in the copy; in-thread it is rewritten before each batch), so the
// figures are classification, not frame generation. Flows are established first, in-thread,
// against the same shared tables the workers use.
import os from 'node:os';
import { ConnectionTable } from '@sluice/conntrack';
import {
  Batch,
  type ConfigSnapshot,
  Dataplane,
  FrameRing,
  type Pipeline,
  VERDICT_COUNT,
  Verdict,
} from '@sluice/dataplane';
import { exampleSnapshot } from '@sluice/dataplane/testing';
import { ipv4Bytes, TCP, TrafficFrames } from '@sluice/traffic';
import { cpuSeconds } from './cpu.ts';
import type { BenchOptions } from './main.ts';
import { emit, note, round } from './report.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const VIP = 0x0a000064; // 10.0.0.100
const traffic = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:09:01', directorMac: DIRECTOR_MAC });
const vip = ipv4Bytes(VIP);

/** Set from --defense: 'priority' (default, as the director runs) or 'none' (the bare pipeline). */
let defenseStrategy: 'priority' | 'none' = 'priority';
/** Set from --huge-pages: the tables on transparent huge pages (default, as the director runs). */
let hugePages = true;
/**
 * Set from --verify: `auto` (default, as the director runs: no pressure here, so nothing is
 * challenged) or `always`, once the flows are open: every SYN from an unverified source is
 * answered with a challenge (a keyed cookie and a SYN-ACK built in place), what the director does
 * per SYN under a spoofed flood.
 */
let verifyMode: 'auto' | 'always' = 'auto';

function demoSnapshot(reals: number, mode: 'auto' | 'always' = 'auto'): ConfigSnapshot {
  return {
    ...exampleSnapshot({ reals, scheduler: 'wlc', directorMac: DIRECTOR_MAC }),
    // The priority defense on, as the director runs by default: every SYN is scored and every
    // packet adjusts its connection's priority, so the figures include the defense's cost.
    defense: {
      strategy: defenseStrategy,
      highWatermark: 0.98,
      lowWatermark: 0.95,

      lvs: { dropEntry: 0, dropPacket: 0, secureTcp: 0, amemthresh: 0, amDroprate: 10 },
      weights: {},
      rules: [],
      sourceChecks: { enabled: true, action: 'lowest' },
      verification: { mode, watermark: 0.75, holdSeconds: 10, ttlSeconds: 3600, probeIntervalMs: 1000 },
    },
  };
}

// Source addresses of established flows: 100.64.0.0/10 space, port varies too.
function flowSrc(i: number): number {
  return (0x64400000 + (i >>> 4)) >>> 0;
}
function flowPort(i: number): number {
  return 1024 + (i & 0xfff);
}

type Kind = 'established' | 'syn-flood' | 'mixed';

/** Frames per replay (per worker ring, and the in-thread batches): about 8k distinct flows a round. */
const REPLAY_FRAMES = 8192;
/** Frames per in-thread batch: the serving port's largest batch. */
const BATCH_FRAMES = 256;
/** Offset of the inner IPv4 source in a VXLAN frame: VXLAN 8 + Ethernet 14 + 12. */
const INNER_SOURCE_AT = 8 + 14 + 12;

interface CaseFrames {
  frames: Uint8Array[];
  /** Per frame: true when its source is renewed each time it is replayed. */
  fresh: boolean[];
}

/** The frames of a case, in replay order. */
function caseFrames(kind: Kind, flows: number, count: number, rng: () => number): CaseFrames {
  const frames: Uint8Array[] = [];
  const fresh: boolean[] = [];
  for (let i = 0; i < count; i++) {
    const r = rng();
    if (kind === 'syn-flood' || (kind === 'mixed' && r < 0.1)) {
      // A bare SYN (hping3's shape) from a random source.
      frames.push(
        traffic.tcp({
          src: ipv4Bytes(0xc6000000),
          dst: vip,
          srcPort: 2000,
          dstPort: 80,
          flags: TCP.syn,
          seq: 7,
          shape: 'bare',
        }),
      );
      fresh.push(true);
    } else if (kind === 'mixed' && r < 0.15) {
      // A kernel-shaped SYN from a new client.
      frames.push(
        traffic.tcp({
          src: ipv4Bytes(0xc6000000),
          dst: vip,
          srcPort: 3000,
          dstPort: 80,
          flags: TCP.syn,
          seq: 9,
        }),
      );
      fresh.push(true);
    } else {
      const f = Math.floor(rng() * flows);
      const data = kind === 'mixed' ? (rng() < 0.5 ? 0 : 512) : 100;
      frames.push(
        traffic.tcp({
          src: ipv4Bytes(flowSrc(f)),
          dst: vip,
          srcPort: flowPort(f),
          dstPort: 80,
          flags: TCP.ack | (data > 0 ? TCP.psh : 0),
          seq: 1001,
          ack: 1,
          payloadLen: data,
        }),
      );
      fresh.push(false);
    }
  }
  return { frames, fresh };
}

/** Gives every rewritten frame of a batch a new random source address (the IP checksum is not checked on this path). */
function refresh(batch: Batch, offsets: number[], rng: () => number): void {
  const d = batch.data;
  for (let i = 0; i < offsets.length; i++) {
    const a = (rng() * 0x100000000) >>> 0;
    const o = offsets[i];
    d[o] = a >>> 24;
    d[o + 1] = (a >>> 16) & 0xff;
    d[o + 2] = (a >>> 8) & 0xff;
    d[o + 3] = a & 0xff;
  }
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/** Opens `flows` connections (SYN, then ACK) on this thread, so the cases hit existing entries. */
function establish(pipe: Pipeline, flows: number): void {
  const batch = Batch.create({ maxFrames: 512, dataBytes: 512 * 128 });
  for (const flags of [TCP.syn, TCP.ack]) {
    for (let i = 0; i < flows; i++) {
      const frame = traffic.tcp({
        src: ipv4Bytes(flowSrc(i)),
        dst: vip,
        srcPort: flowPort(i),
        dstPort: 80,
        flags,
        seq: flags === TCP.syn ? 1000 : 1001,
        ack: flags === TCP.syn ? 0 : 1,
      });
      if (!batch.push(frame, 0, frame.length, 0)) {
        pipe.processBatch(batch);
        batch.reset();
        batch.push(frame, 0, frame.length, 0);
      }
    }
    pipe.processBatch(batch);
    batch.reset();
  }
}

interface CaseSetup {
  kind: Kind;
  flows: number;
  capacity: number;
}

const CASES: CaseSetup[] = [
  { kind: 'established', flows: 100_000, capacity: 1 << 20 },
  // Nearly full: 900 k established entries in a 1 M table, then a random-source flood.
  { kind: 'syn-flood', flows: 900_000, capacity: 1 << 20 },
  { kind: 'mixed', flows: 100_000, capacity: 1 << 20 },
];

function classified(dp: Dataplane): number {
  let n = 0;
  for (let v = 0; v < VERDICT_COUNT; v++) n += dp.counters.sum(v);
  return n;
}

interface Prepared {
  batch: Batch;
  /** Offsets of the source addresses renewed before each round. */
  rewrite: number[];
  /** The batch as built, restored before each round (verification always only). */
  pristine: { data: Uint8Array; desc: Int32Array } | null;
}

function prepare(p: Prepared, rng: () => number): void {
  if (p.pristine !== null) {
    p.batch.data.set(p.pristine.data);
    p.batch.desc.set(p.pristine.desc);
  }
  refresh(p.batch, p.rewrite, rng);
}

/** The classifier alone on this thread, over prepared batches of the case's frames. */
function inThread(pipe: Pipeline, cf: CaseFrames, seconds: number, rng: () => number) {
  const prepared: Prepared[] = [];
  for (let i = 0; i < cf.frames.length; i += BATCH_FRAMES) {
    const batch = Batch.create({ maxFrames: BATCH_FRAMES, dataBytes: BATCH_FRAMES * 1600 });
    const rewrite: number[] = [];
    for (let j = i; j < Math.min(i + BATCH_FRAMES, cf.frames.length); j++) {
      const before = batch.count;
      batch.push(cf.frames[j], 0, cf.frames[j].length, 0);
      if (cf.fresh[j]) rewrite.push(batch.offsetOf(before) + INNER_SOURCE_AT);
    }
    // A challenge is built in place of its SYN: with verification always, the next round must
    // find the SYNs again, not the challenges (the serving workers' replay ring copies anyway).
    const last = batch.count - 1;
    const pristine =
      verifyMode === 'always'
        ? { data: batch.data.slice(0, batch.offsetOf(last) + batch.lengthOf(last)), desc: batch.desc.slice() }
        : null;
    prepared.push({ batch, rewrite, pristine });
  }
  let frames = 0;
  const warm = performance.now() + 300;
  let i = 0;
  while (performance.now() < warm) {
    const p = prepared[i++ % prepared.length];
    prepare(p, rng);
    pipe.processBatch(p.batch);
  }
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let now = t0;
  while (now < end) {
    const p = prepared[i++ % prepared.length];
    prepare(p, rng);
    pipe.processBatch(p.batch);
    frames += p.batch.count;
    now = performance.now();
  }
  return { frames, secs: (now - t0) / 1000 };
}

async function runCase(c: CaseSetup, workers: number, seconds: number, withInThread: boolean): Promise<void> {
  const dp = new Dataplane({
    workers,
    connectionCapacity: c.capacity,
    sourceCapacity: 1 << 20,
    maxServices: 16,
    maxReals: 64,
    // Expiry still runs, but slowly enough not to remove the prepared flows mid-run.
    pipeline: { expirySlotsPerBatch: 64 },
    hugePages,
  });
  try {
    dp.publishConfig(demoSnapshot(8));
    const pipe = dp.ensureControlPipeline();
    if (pipe === null) throw new Error('no pipeline after publishConfig');
    establish(pipe, c.flows);
    if (verifyMode !== 'auto') dp.publishConfig(demoSnapshot(8, verifyMode));
    const rng = xorshift(12345 + workers);
    const cf = caseFrames(c.kind, c.flows, REPLAY_FRAMES, rng);
    const common = { defense: defenseStrategy, verify: verifyMode, suite: 'hotpath', case: c.kind };

    if (withInThread) {
      const r = inThread(pipe, cf, seconds, rng);
      emit({
        ...common,
        mode: 'in-thread',
        workers: 1,
        mpps: round(r.frames / r.secs / 1e6),
        frames: r.frames,
        seconds: round(r.secs),
        framesPerBatch: BATCH_FRAMES,
        tableCount: dp.connections.count(),
        tableCapacity: dp.connections.capacity,
      });
    }

    // The serving workers' own loop over a replay ring each (same frames, own renewal of sources).
    const rings = Array.from({ length: workers }, () => {
      const inbound = FrameRing.create({ kind: 'replay', slots: REPLAY_FRAMES });
      for (let j = 0; j < cf.frames.length; j++)
        inbound.push(cf.frames[j], 0x0a000001 + j, 4789, cf.fresh[j] ? INNER_SOURCE_AT : 0);
      inbound.startReplay();
      return { inbound, outbound: FrameRing.create({ kind: 'sink' }) };
    });
    await dp.serveRings(rings);
    await new Promise((r) => setTimeout(r, 500));
    const drop0 = dp.counters.sum(Verdict.drop);
    const fwd0 = dp.counters.sum(Verdict.forward);
    const n0 = classified(dp);
    const cpu0 = cpuSeconds('self', 'WorkerThread');
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const n1 = classified(dp);
    const cpu1 = cpuSeconds('self', 'WorkerThread');
    const secs = (performance.now() - t0) / 1000;
    const forwarded = dp.counters.sum(Verdict.forward) - fwd0;
    const dropped = dp.counters.sum(Verdict.drop) - drop0;
    const frames = n1 - n0;
    emit({
      ...common,
      mode: 'serving',
      workers,
      mpps: round(frames / secs / 1e6),
      frames,
      seconds: round(secs),
      // Worker threads' CPU (user + system) per classified frame: robust to a busy machine.
      cpuNsPerFrame: frames > 0 ? Math.round(((cpu1 - cpu0) / frames) * 1e9) : null,
      forwardedShare: round(forwarded / Math.max(1, forwarded + dropped)),
      sentToSink: rings.reduce((n, r) => n + (r.outbound?.taken ?? 0), 0),
      tableCount: dp.connections.count(),
      tableCapacity: dp.connections.capacity,
    });
  } finally {
    await dp.close();
  }
}

function memoryFigure(): void {
  const capacity = 4 * 1024 * 1024;
  const rssBefore = process.memoryUsage().rss;
  const t = ConnectionTable.create(capacity);
  // Fill by the same acquire() the packet path uses until most inserts are refused.

  let refusedInARow = 0;
  for (let i = 0; refusedInARow < 1000 && i < capacity * 2; i++) {
    const slot = t.acquire(0, 0, 0xffff, (0x0a000000 + i) | 0, (80 << 16) | 1, true, 8, 0);
    if (slot < 0) {
      refusedInARow++;
      continue;
    }
    refusedInARow = 0;
    t.setExpires(slot, 0x3fffffff);
    t.release(slot);
  }
  const rss = process.memoryUsage().rss;
  emit({
    suite: 'hotpath',
    case: 'memory',
    entries: t.count(),
    capacity: t.capacity,
    fill: round(t.count() / t.capacity),
    bytesPerEntry: ConnectionTable.byteLength(capacity) / t.capacity,
    tableMiB: round(ConnectionTable.byteLength(capacity) / 2 ** 20, 1),
    rssMiB: round(rss / 2 ** 20, 1),
    rssGrowthMiB: round((rss - rssBefore) / 2 ** 20, 1),
  });
}

export async function runHotpath(opts: BenchOptions): Promise<void> {
  hugePages = opts.hugePages;
  defenseStrategy = opts.defense;
  verifyMode = opts.verify;
  note(
    `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30, 1)} GiB`,
  );
  const want = (name: string) => opts.cases.length === 0 || opts.cases.includes(name);
  const workerCounts = opts.workers.length > 0 ? opts.workers : [1, 2];
  for (const c of CASES) {
    if (!want(c.kind)) continue;
    for (const [i, workers] of workerCounts.entries()) {
      note(`${c.kind}, ${workers} serving worker(s)${i === 0 ? ', and in-thread' : ''}`);
      await runCase(c, workers, opts.seconds, i === 0);
    }
  }
  if (want('memory')) memoryFigure();
}
