// The hot-path benchmark: frames per second through the real classifier, three traffic mixes,
// measured in the main thread (the classifier alone, one core) and through piscina workers (1
// and 2: what the director runs), plus the memory of a 4 M-entry table. Batches are filled once
// and classified again and again; only flood sources are rewritten between runs (by the main
// thread, while workers work), so the figures are classification, not frame generation.
import os from 'node:os';
import { ConnectionTable } from '@sluice/conntrack';
import {
  type Batch,
  CompiledConfig,
  type ConfigSnapshot,
  Dataplane,
  MemoryPort,
  Pipeline,
  Verdict,
} from '@sluice/dataplane';
import { ipv4Bytes, TCP, TrafficFrames } from '@sluice/traffic';
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

function demoSnapshot(reals: number): ConfigSnapshot {
  return {
    version: 1,
    vni: 42,
    directorMac: DIRECTOR_MAC,
    services: [
      {
        index: 0,
        vip: '10.0.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'wlc',
        persistence: null,
        reals: Array.from({ length: reals }, (_, i) => ({
          index: i,
          address: `10.0.1.${i + 1}`,
          port: 80,
          mac: `02:00:00:00:01:${(i + 1).toString(16).padStart(2, '0')}`,
          vtep: `192.168.0.${i + 1}`,
          weight: 1,
          upperThreshold: 0,
          lowerThreshold: 0,
        })),
      },
    ],
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

/** Fills a batch for a case; returns the offsets of frames whose source is rewritten per run. */
function fillBatch(batch: Batch, kind: Kind, flows: number, rng: () => number): number[] {
  batch.reset();
  const rewrite: number[] = [];
  while (true) {
    let frame: Uint8Array;
    let fresh = false;
    const r = rng();
    if (kind === 'syn-flood' || (kind === 'mixed' && r < 0.1)) {
      // A bare SYN (hping3's shape) from a random source; the source is rewritten every run.
      frame = traffic.tcp({
        src: ipv4Bytes(0xc6000000),
        dst: vip,
        srcPort: 2000,
        dstPort: 80,
        flags: TCP.syn,
        seq: 7,
        shape: 'bare',
      });
      fresh = true;
    } else if (kind === 'mixed' && r < 0.15) {
      // A kernel-shaped SYN from a new client.
      frame = traffic.tcp({
        src: ipv4Bytes(0xc6000000),
        dst: vip,
        srcPort: 3000,
        dstPort: 80,
        flags: TCP.syn,
        seq: 9,
      });
      fresh = true;
    } else {
      const f = Math.floor(rng() * flows);
      const data = kind === 'mixed' ? (rng() < 0.5 ? 0 : 512) : 100;
      frame = traffic.tcp({
        src: ipv4Bytes(flowSrc(f)),
        dst: vip,
        srcPort: flowPort(f),
        dstPort: 80,
        flags: TCP.ack | (data > 0 ? TCP.psh : 0),
        seq: 1001,
        ack: 1,
        payloadLen: data,
      });
    }
    const before = batch.count;
    if (!batch.push(frame, 0, frame.length, 0)) break;
    if (fresh) rewrite.push(batch.offsetOf(before) + 8 + 14 + 12);
  }
  return rewrite;
}

/** Gives every rewritten frame a new random source address (IP checksum is not checked on this path). */
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

/** Opens `flows` connections (SYN, then ACK) so the established case hits existing entries. */
async function establish(dp: Dataplane, flows: number): Promise<void> {
  const port = new MemoryPort();
  for (let i = 0; i < flows; i++) {
    port.inject(
      traffic.tcp({
        src: ipv4Bytes(flowSrc(i)),
        dst: vip,
        srcPort: flowPort(i),
        dstPort: 80,
        flags: TCP.syn,
        seq: 1000,
      }),
    );
    if (port.pending >= 4096) await port.flush(dp);
  }
  await port.flush(dp);
  for (let i = 0; i < flows; i++) {
    port.inject(
      traffic.tcp({
        src: ipv4Bytes(flowSrc(i)),
        dst: vip,
        srcPort: flowPort(i),
        dstPort: 80,
        flags: TCP.ack,
        seq: 1001,
        ack: 1,
      }),
    );
    if (port.pending >= 4096) await port.flush(dp);
  }
  await port.flush(dp);
  port.forwarded.length = 0;
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

async function runCase(c: CaseSetup, workers: number, seconds: number): Promise<void> {
  const batches = workers * 3;
  const dp = new Dataplane({
    workers,
    connectionCapacity: c.capacity,
    sourceCapacity: 1 << 20,
    maxServices: 16,
    maxReals: 64,
    batches,
    // Expiry still runs, but slowly enough not to remove the prepared flows mid-run.
    pipeline: { expirySlotsPerBatch: 64 },
    hugePages,
  });
  try {
    dp.publishConfig(demoSnapshot(8));
    await establish(dp, c.flows);
    const rng = xorshift(12345 + workers);
    const prepared: { batch: Batch; rewrite: number[] }[] = [];
    for (let i = 0; i < batches; i++) {
      const batch = dp.takeBatch();
      if (batch === null) throw new Error('no batch');
      prepared.push({ batch, rewrite: fillBatch(batch, c.kind, c.flows, rng) });
    }
    const framesPerBatch = prepared[0].batch.count;

    // In-thread: the classifier alone on this core (workers === 1 only, once per case).
    if (workers === 1) {
      const config = new CompiledConfig(demoSnapshot(8), dp.options, dp.reals);
      const pipe = new Pipeline(
        {
          connections: ConnectionTable.attach(dp.connections.sab),
          sources: dp.sources,
          persistence: dp.persistence,
          reals: dp.reals,
        },
        dp.counters.region(dp.options.workers + 3),
        dp.counters.layout,
        config,
        dp.options.pipeline,
      );
      let frames = 0;
      const warm = performance.now() + 300;
      let i = 0;
      while (performance.now() < warm) {
        const p = prepared[i++ % prepared.length];
        refresh(p.batch, p.rewrite, rng);
        pipe.processBatch(p.batch);
      }
      const t0 = performance.now();
      const end = t0 + seconds * 1000;
      let now = t0;
      while (now < end) {
        const p = prepared[i++ % prepared.length];
        refresh(p.batch, p.rewrite, rng);
        pipe.processBatch(p.batch);
        frames += p.batch.count;
        now = performance.now();
      }
      const secs = (now - t0) / 1000;
      emit({
        defense: defenseStrategy,
        suite: 'hotpath',
        case: c.kind,
        mode: 'in-thread',
        workers: 1,
        mpps: round(frames / secs / 1e6),
        frames,
        seconds: round(secs),
        framesPerBatch,
        tableCount: dp.connections.count(),
        tableCapacity: dp.connections.capacity,
      });
    }

    // Through piscina: keep every batch in flight; refresh a batch's flood sources as it comes back.
    let frames = 0;
    let measuring = false;
    let stop = false;
    const verdicts = [0, 0, 0];
    const loop = async (p: { batch: Batch; rewrite: number[] }) => {
      while (!stop) {
        refresh(p.batch, p.rewrite, rng);
        await dp.run(p.batch);
        if (measuring) {
          frames += p.batch.count;
          verdicts[p.batch.verdictOf(0)]++;
        }
      }
    };
    const running = prepared.map(loop);
    await new Promise((r) => setTimeout(r, 500));
    measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const secs = (performance.now() - t0) / 1000;
    measuring = false;
    const counted = frames;
    stop = true;
    await Promise.all(running);
    const dropped = dp.counters.sum(Verdict.drop);
    const forwarded = dp.counters.sum(Verdict.forward);
    emit({
      defense: defenseStrategy,
      suite: 'hotpath',
      case: c.kind,
      mode: 'piscina',
      workers,
      mpps: round(counted / secs / 1e6),
      frames: counted,
      seconds: round(secs),
      framesPerBatch,
      forwardedShare: round(forwarded / (forwarded + dropped)),
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
  note(
    `node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30, 1)} GiB`,
  );
  const want = (name: string) => opts.cases.length === 0 || opts.cases.includes(name);
  const workerCounts = opts.workers.length > 0 ? opts.workers : [1, 2];
  for (const c of CASES) {
    if (!want(c.kind)) continue;
    for (const workers of workerCounts) {
      note(`${c.kind}, ${workers} worker(s)`);
      await runCase(c, workers, opts.seconds);
    }
  }
  if (want('memory')) memoryFigure();
}
