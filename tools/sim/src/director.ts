// The director under simulation: the REAL dataplane code, driven in this thread on a simulated
// clock. One Pipeline over ConnectionTable, SourceTable, PersistenceTable, RealServerCounters and
// a VictimIndex, with a CompiledConfig from a ConfigSnapshot carrying a `defense` section; the
// re-scorer (Rescorer), the Shedder and the main thread's LvsDefense (drop_entry) around it, at
// the cadence the director gives them. Nothing here decides a verdict or picks a victim.
//
// How each part is driven, and why it matches the running director:
//   - frames: Pipeline.processFrame with `pipeline.now` set to simulated time, counted as
//     processBatch counts them (processBatch reads Date.now(), so it cannot run a simulated
//     clock); after each simulated batch, Pipeline.maintain(now) as processBatch ends.
//   - the config: processBatch compiles the worker's LVS state on the first batch of a config; one
//     empty batch at construction does that through the real code, then the LVS clock is set to
//     simulated 0 so the once-a-second update falls on whole simulated seconds (determinism).
//   - displacement RSTs: Pipeline.resetQueue is turned into datagrams with writeResetDatagram
//     as soon as the frame that displaced the victim has been classified, before that frame
//     reaches its server: VxlanPort sends a batch's resets before the batch's forwards, so on the
//     wire the victim's RST precedes the SYN that took its place.
//   - re-scorer: Rescorer.step(now, 4096) every simulated ms (RescorerThread's defaults: 4096
//     slots a step, 1 ms pause).
//   - shedder and drop_entry: every 20 ms Shedder.step(config); every second the main thread's
//     LvsDefense is reconfigured and ticked with only drop_entry on (apps/director startDefense),
//     with a seeded random source so runs repeat.
// Every RST datagram (displacement or shed) is parsed back with @sluice/wire and handed to the
// reset sink: the modelled server drops that connection.
import { ConnectionTable, PersistenceTable, SourceTable } from '@sluice/conntrack';
import {
  Batch,
  CompiledConfig,
  type ConfigSnapshot,
  CounterBlock,
  DEFAULT_PIPELINE_OPTIONS,
  type DefenseSnapshot,
  DROP_REASON_NAMES,
  Pipeline,
  type PipelineTables,
  ResetWord,
  RST_DATAGRAM_MAX,
  Shedder,
  type ShedderParts,
  Verdict,
  writeResetDatagram,
} from '@sluice/dataplane';
import {
  LvsDefense,
  type PriorityWeights,
  Rescorer,
  resolveWeights,
  SynMemory,
  VictimIndex,
} from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import { FrameInfo, ParseStatus, parseFrame, parseVxlan, RstSpec, VxlanInfo } from '@sluice/wire';
import { Rng } from './rng.ts';

export type Strategy = DefenseSnapshot['strategy'];
export const STRATEGIES: readonly Strategy[] = [
  'priority',
  'none',
  'drop_entry',
  'drop_packet',
  'secure_tcp',
];

export const VNI = 4242;
export const DIRECTOR_MAC = '02:00:00:00:00:01';
export const VIP = '20.0.0.10';
export const VIP_NUM = (20 << 24) | 10;
export const VPORT = 80;

export interface DirectorOptions {
  reals: number;
  /** Each real server's connection capacity: its upperThreshold. */
  capacity: number;
  tableCapacity: number;
  defense: DefenseSnapshot;
  /** Per TCP state (IPVS numbering), ms. */
  tcpTimeoutsMs: number[];
  /** Re-scorer slots examined per simulated ms (its own thread in the dataplane). */
  rescorerSlotsPerMs: number;
}

/** A reset the director sent toward a real server (client address and port identify the flow). */
export type ResetSink = (addr: number, port: number, real: number) => void;

/** The director's shed timer (apps/director: setInterval 20 ms). */
export const SHED_EVERY_MS = 20;
/** drop_entry's defense_work: once a second. */
export const LVS_TICK_MS = 1000;

export function snapshotFor(o: DirectorOptions): ConfigSnapshot {
  return {
    version: 1,
    vni: VNI,
    directorMac: DIRECTOR_MAC,
    tcpTimeoutsMs: o.tcpTimeoutsMs,
    services: [
      {
        index: 0,
        vip: VIP,
        port: VPORT,
        protocol: 'tcp',
        scheduler: 'wlc',
        persistence: null,
        reals: Array.from({ length: o.reals }, (_, i) => ({
          index: i,
          address: `20.0.1.${i + 1}`,
          port: 80,
          mac: `02:00:00:00:01:${(i + 1).toString(16).padStart(2, '0')}`,
          vtep: `20.0.2.${i + 1}`,
          weight: 1,
          upperThreshold: o.capacity,
          lowerThreshold: 0,
        })),
      },
    ],
    defense: o.defense,
  };
}

export class SimDirector {
  readonly pipeline: Pipeline;
  readonly tables: PipelineTables & ShedderParts;
  readonly counters: CounterBlock;
  readonly config: CompiledConfig;
  readonly opts: DirectorOptions;
  readonly victims: VictimIndex;
  readonly rescorer: Rescorer;
  readonly shedder: Shedder;
  /** The main thread's LVS defense: drop_entry's scan (the workers' own do drop_packet, secure_tcp). */
  readonly lvsMain: LvsDefense;
  /** RSTs sent: by displacement (the pipeline's queue) and by the shedder. */
  resetsDisplaced = 0;
  resetsShed = 0;
  /** Simulated seconds in which the worker's LVS update found memory short (automatic modes on). */
  lvsEngagedSeconds = 0;
  private readonly rng: Rng;
  private readonly rst = new RstSpec();
  private readonly rstOut = new Uint8Array(RST_DATAGRAM_MAX);
  private readonly vx = new VxlanInfo();
  private readonly fi = new FrameInfo();
  /** The real server a forwarded frame went to (valid after a forward verdict). */
  outReal = -1;
  /** Drop reason of the last dropped frame. */
  outReason = 0;
  /** What sent the reset being delivered to the sink. */
  resetKind: 'displaced' | 'shed' = 'displaced';
  private resetSink: ResetSink = () => {};

  constructor(opts: DirectorOptions, seed: number) {
    this.opts = opts;
    this.rng = new Rng(seed);
    const limits = { maxServices: 1, maxReals: Math.max(1, opts.reals) };
    const reals = RealServerCounters.create(limits.maxReals);
    // The epoch only matters to the one empty processBatch below (its `now` is then ~0).
    const epoch = Date.now();
    this.victims = VictimIndex.create(limits.maxReals, 64);
    // The tables draw their hash seed from Math.random (placement, and so the re-scorer's walk
    // order and which victims it lists first); a run must repeat for a seed, so they draw from ours.
    const random = Math.random;
    Math.random = () => this.rng.next();
    try {
      this.tables = {
        connections: ConnectionTable.create(opts.tableCapacity, epoch),
        sources: SourceTable.create(Math.max(1024, opts.tableCapacity >> 1), epoch),
        persistence: PersistenceTable.create(1024, epoch),
        reals,
        victims: this.victims,
        synMemory: SynMemory.create(1 << 20),
      };
    } finally {
      Math.random = random;
    }
    this.counters = CounterBlock.create({ maxWorkers: 1, ...limits });
    this.config = new CompiledConfig(snapshotFor(opts), limits, reals);
    this.pipeline = new Pipeline(
      this.tables,
      this.counters.region(0),
      this.counters.layout,
      this.config,
      DEFAULT_PIPELINE_OPTIONS,
    );
    const empty = Batch.create({ maxFrames: 1, dataBytes: 2048 });
    empty.reset();
    this.pipeline.processBatch(empty);
    this.pipeline.lvs.update(0, this.tables.connections);
    const weights: PriorityWeights = resolveWeights((opts.defense.weights ?? {}) as Partial<PriorityWeights>);
    this.rescorer = new Rescorer(this.tables.connections, this.tables.sources, this.victims, weights);
    this.shedder = new Shedder(this.tables, (datagram) => {
      this.resetsShed++;
      this.resetKind = 'shed';
      this.deliverReset(datagram);
    });
    this.lvsMain = new LvsDefense(this.tables.connections.capacity);
  }

  /** Parses an RST datagram the director would send and tells the sink which flow it ends. */
  private deliverReset(datagram: Uint8Array): void {
    if (parseVxlan(datagram, 0, datagram.length, this.vx) !== ParseStatus.ok) return;
    const f = this.fi;
    if (parseFrame(datagram, 8, datagram.length - 8, f) !== ParseStatus.ok) return;
    this.resetSink(f.src3 >>> 0, f.srcPort, -1);
  }

  /** VxlanPort.sendResets: the pipeline's queued RSTs, after the batch's forwards. */
  private drainResets(): void {
    const p = this.pipeline;
    const q = p.resetQueue;
    for (let i = 0; i < p.resetCount; i++) {
      const o = i * ResetWord.words;
      const len = writeResetDatagram(
        p.config,
        this.rst,
        q[o],
        q[o + 1],
        q[o + 2],
        q[o + 3],
        q[o + ResetWord.port],
        q[o + ResetWord.service],
        q[o + ResetWord.real],
        q[o + ResetWord.seq],
        this.rstOut,
      );
      if (len === 0) continue;
      this.resetsDisplaced++;
      this.resetKind = 'displaced';
      this.deliverReset(this.rstOut.subarray(0, len));
    }
    p.resetCount = 0;
  }

  onReset(sink: ResetSink): void {
    this.resetSink = sink;
  }

  /** One frame at simulated time `now`: returns the Verdict; sets outReal or outReason. */
  frame(buf: Uint8Array, now: number): number {
    const p = this.pipeline;
    p.now = now;
    p.outLen = 0;
    const v = p.processFrame(buf, 0, buf.length);
    const c = p.counters;
    c[v] += 1;
    if (v === Verdict.drop) {
      this.outReason = p.outArg;
      c[p.layout.drops + p.outArg] += 1;
    } else {
      this.outReal = p.outArg;
    }
    if (p.resetCount > 0) this.drainResets();
    return v;
  }

  /** What a worker and its port do after a batch. */
  afterBatch(now: number): void {
    this.pipeline.now = now;
    this.pipeline.maintain(now);
  }

  /** Once per simulated millisecond, after that millisecond's batches: the background threads. */
  tick(now: number): void {
    this.pipeline.now = now;
    this.rescorer.step(now, this.opts.rescorerSlotsPerMs);
    if (now % SHED_EVERY_MS === 0) this.shedder.step(this.config);
    if (now % LVS_TICK_MS === 0) {
      if (this.pipeline.lvs.nomem) this.lvsEngagedSeconds++;
      const l = this.config.lvs;
      this.lvsMain.reconfigure(
        l === null
          ? { dropEntry: 0, dropPacket: 0, secureTcp: 0 }
          : {
              dropEntry: l.dropEntry,
              dropPacket: 0,
              secureTcp: 0,
              amemthresh: l.amemthresh > 0 ? l.amemthresh : this.lvsMain.amemthresh,
              amDroprate: l.amDroprate,
            },
      );
      this.lvsMain.tick(now, this.tables.connections, () => this.rng.next());
    }
  }

  /** Drops by reason name (non-zero only), for diagnostics. */
  drops(): Record<string, number> {
    const out: Record<string, number> = {};
    const l = this.counters.layout;
    for (let r = 0; r < DROP_REASON_NAMES.length; r++) {
      const n = this.counters.sum(l.drops + r);
      if (n > 0) out[DROP_REASON_NAMES[r] || String(r)] = n;
    }
    return out;
  }
}
