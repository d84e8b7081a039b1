// The director under simulation: the REAL dataplane and defense code, driven in this thread on a
// simulated clock. One Pipeline over ConnectionTable, SourceTable, PersistenceTable,
// RealServerCounters, VictimIndex, VerifiedSourceTable, AnsweredPortTable and DefenseState, with a CompiledConfig from a
// ConfigSnapshot carrying a `defense` section; and the DefenseLoop the daemon runs on its 20 ms timer
// (shedding, source verification on and off, LVS drop_entry), here owning the Rescorer that the
// daemon runs in a thread of its own. Nothing here decides a verdict, picks a victim or verifies
// a source.
//
// How each part is driven, and why it matches the running director:
//   - frames: Pipeline.processFrame with `pipeline.now` set to simulated time and `senderVtep` to the
//     client side's VTEP, counted as processBatch counts them (processBatch reads the wall clock);
//     after each simulated batch, Pipeline.maintain(now) as processBatch ends.
//   - replies: a challenge is written over the SYN in place (Verdict.reply), as the port would send
//     it back; the caller reads it from the frame. The pipeline's probes are handed to `onProbe`.
//   - displacement RSTs: Pipeline.resetQueue is turned into datagrams with writeQueuedReset as
//     soon as the frame that displaced the victim has been classified, before that frame reaches its
//     server: VxlanPort sends a batch's resets before the batch's forwards.
//   - the defense loop: DefenseLoop.tick(config, now) every simulated ms (it keeps its own cadence:
//     re-scorer slots per ms, the shedder and verification every 20 ms, drop_entry every second).
// Every RST datagram (displacement or shed) is parsed back with @sluice/wire and handed to the
// reset sink: the modelled server drops that connection.
import {
  AnsweredPortTable,
  Conn,
  ConnectionTable,
  PersistenceTable,
  SourceTable,
  statePrioPriority,
  VerifiedSourceTable,
} from '@sluice/conntrack';
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
  PROBE_FRAME_BYTES,
  RST_DATAGRAM_MAX,
  Verdict,
  writeQueuedReset,
  writeResetForRecord,
} from '@sluice/dataplane';
import {
  DefenseLoop,
  DefenseState,
  type PriorityWeights,
  Rescorer,
  resolveWeights,
  ServerQuietMarks,
  VictimIndex,
} from '@sluice/defense';
import { EVAL_STRATEGIES, type EvalStrategy } from '@sluice/eval-report';
import { RealServerCounters } from '@sluice/schedulers';
import { FrameInfo, ParseStatus, parseFrame, parseVxlan, RstSpec, VxlanInfo } from '@sluice/wire';
import { Rng } from './rng.ts';

/**
 * What a run compares: the priority defense, and the baselines: `none` without thresholds (the
 * IPVS default), `none-thresholds` (IPVS with -x), and the LVS defenses (with thresholds, counted
 * as IPVS counts: inactive entries too, sized as sim.ts's thresholdFor says).
 */
export type Strategy = EvalStrategy;
export const STRATEGIES: readonly Strategy[] = EVAL_STRATEGIES;

export const VNI = 4242;
export const DIRECTOR_MAC = '02:00:00:00:00:01';
export const VIP = '20.0.0.10';
export const VIP_NUM = (20 << 24) | 10;
export const VPORT = 80;

export interface DirectorOptions {
  reals: number;
  /** Each real server's upperThreshold (0: none). */
  upperThreshold: number;
  tableCapacity: number;
  defense: DefenseSnapshot;
  /** Per TCP state (IPVS numbering), ms. */
  tcpTimeoutsMs: number[];
  /** Re-scorer slots examined per simulated ms (its own thread in the dataplane). */
  rescorerSlotsPerMs: number;
}

/** A reset the director sent toward a real server (client address and port identify the flow). */
export type ResetSink = (addr: number, port: number, real: number) => void;

/** The client side's VTEP (the underlay address challenges and probes go back to). */
const CLIENT_VTEP = (20 << 24) | (3 << 16) | 1;

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
          upperThreshold: o.upperThreshold,
          lowerThreshold: 0,
        })),
      },
    ],
    defense: o.defense,
  };
}

export class SimDirector {
  readonly pipeline: Pipeline;
  readonly tables: PipelineTables & {
    connections: ConnectionTable;
    sources: SourceTable;
    verified: VerifiedSourceTable;
    answered: AnsweredPortTable;
    defenseState: DefenseState;
    victims: VictimIndex;
  };
  readonly counters: CounterBlock;
  readonly config: CompiledConfig;
  readonly opts: DirectorOptions;
  readonly victims: VictimIndex;
  readonly rescorer: Rescorer;
  readonly loop: DefenseLoop;
  readonly weights: PriorityWeights;
  /** The load agents' quiet lists, applied as the daemon applies them. */
  readonly quietMarks: ServerQuietMarks;
  /** RSTs sent: by displacement (the pipeline's queue) and by the shedder. */
  resetsDisplaced = 0;
  resetsShed = 0;
  private readonly rng: Rng;
  private readonly rst = new RstSpec();
  private readonly rstOut = new Uint8Array(RST_DATAGRAM_MAX);
  private readonly vx = new VxlanInfo();
  private readonly fi = new FrameInfo();
  /** The real server a forwarded frame went to (valid after a forward verdict). */
  outReal = -1;
  /** Drop reason of the last dropped frame. */
  outReason = 0;
  /** Length of the reply written over the last frame (valid after a reply verdict). */
  outLen = 0;
  /** What sent the reset being delivered to the sink. */
  resetKind: 'displaced' | 'shed' = 'displaced';
  /**
   * The priority of the entry the last RST was for: the shed record's; -1 for a displaced one
   * (Pipeline.displace only removes an entry the SYN strictly outranks, so never priority 0).
   */
  resetPrio = -1;
  /** The record of the connection the shedder reset last (Conn offsets), for diagnostics. */
  readonly lastShed = new Int32Array(Conn.words);
  private resetSink: ResetSink = () => {};
  private probeSink: (datagram: Uint8Array) => void = () => {};

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
        verified: VerifiedSourceTable.create(Math.max(1024, opts.tableCapacity >> 2), epoch),
        answered: AnsweredPortTable.create(Math.max(1024, opts.tableCapacity >> 2), epoch),
        defenseState: DefenseState.create(1, [
          this.rng.u32(),
          this.rng.u32(),
          this.rng.u32(),
          this.rng.u32(),
        ]),
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
    this.weights = weights;
    this.quietMarks = new ServerQuietMarks(this.tables.connections);
    this.rescorer = new Rescorer(
      { ...this.tables, state: this.tables.defenseState, verified: this.tables.verified },
      weights,
    );
    this.loop = new DefenseLoop(
      {
        connections: this.tables.connections,
        reals,
        victims: this.victims,
        state: this.tables.defenseState,
        verified: this.tables.verified,
      },
      (rec) => {
        const len = writeResetForRecord(this.config, this.rst, rec, this.rstOut);
        if (len === 0) return false;
        this.lastShed.set(rec.subarray(0, Conn.words));
        this.resetsShed++;
        this.resetKind = 'shed';
        this.resetPrio = statePrioPriority(rec[Conn.statePrio]);
        this.deliverReset(this.rstOut.subarray(0, len));
        return true;
      },
      {
        // The baselines use nothing the re-scorer keeps (their thresholds count IPVS's active and
        // inactive entries), and with their table full it would be most of a run's cost.
        rescorer: opts.defense.strategy === 'priority' ? this.rescorer : undefined,
        rescorerSlotsPerMs: opts.rescorerSlotsPerMs,
        random: () => this.rng.next(),
      },
    );
  }

  /** Parses an RST datagram the director would send and tells the sink which flow it ends. */
  private deliverReset(datagram: Uint8Array): void {
    if (parseVxlan(datagram, 0, datagram.length, this.vx) !== ParseStatus.ok) return;
    const f = this.fi;
    if (parseFrame(datagram, 8, datagram.length - 8, f) !== ParseStatus.ok) return;
    this.resetSink(f.src3 >>> 0, f.srcPort, -1);
  }

  /** VxlanPort.sendResets: the pipeline's queued RSTs, before the batch's forwards. */
  private drainResets(): void {
    const p = this.pipeline;
    for (let i = 0; i < p.resetCount; i++) {
      const len = writeQueuedReset(p.config, this.rst, p.resetQueue, i, this.rstOut);
      if (len === 0) continue;
      this.resetsDisplaced++;
      this.resetKind = 'displaced';
      this.resetPrio = -1;
      this.deliverReset(this.rstOut.subarray(0, len));
    }
    p.resetCount = 0;
  }

  /** VxlanPort.sendProbes: each probe datagram to the sink (the client side). */
  private drainProbes(): void {
    const p = this.pipeline;
    for (let i = 0; i < p.probeCount; i++) {
      const off = i * PROBE_FRAME_BYTES;
      this.probeSink(p.probeFrames.subarray(off, off + p.probeLengths[i]));
    }
    p.probeCount = 0;
  }

  onReset(sink: ResetSink): void {
    this.resetSink = sink;
  }

  onProbe(sink: (datagram: Uint8Array) => void): void {
    this.probeSink = sink;
  }

  /** One frame at simulated time `now`: returns the Verdict; sets outReal, outReason or outLen. */
  frame(buf: Uint8Array, now: number): number {
    const p = this.pipeline;
    p.now = now;
    p.senderVtep = CLIENT_VTEP;
    const v = p.processFrame(buf, 0, buf.length);
    const c = p.counters;
    c[v] += 1;
    if (v === Verdict.drop) {
      this.outReason = p.dropReason;
      c[p.layout.drops + p.dropReason] += 1;
    } else if (v === Verdict.forward) {
      this.outReal = p.real;
    } else {
      this.outLen = p.replyLength;
    }
    if (p.resetCount > 0) this.drainResets();
    if (p.probeCount > 0) this.drainProbes();
    return v;
  }

  /** What a worker and its port do after a batch. */
  afterBatch(now: number): void {
    this.pipeline.now = now;
    this.pipeline.maintain(now);
  }

  /** Once per simulated millisecond, after that millisecond's batches: the defense loop. */
  tick(now: number): void {
    this.pipeline.now = now;
    this.loop.tick(this.config, now);
  }

  /** A counter of the defense's region (Defense.*), summed. */
  defenseCount(word: number): number {
    return this.counters.sum(this.counters.layout.defense + word);
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
