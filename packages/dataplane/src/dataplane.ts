// Dataplane: the main thread's handle on the packet path. It owns the shared buffers (tables,
// counters, config mailbox) and the serving workers: one thread each, each with its own port (a
// VXLAN socket, or a pair of FrameRings), receiving, classifying and sending in its own loop. A
// worker that dies is replaced on the same counter region; the tables live here and survive it.

import { Worker } from 'node:worker_threads';
import {
  AnsweredPortTable,
  ConnectionTable,
  clockNow,
  PersistenceTable,
  SourceTable,
  VerifiedSourceTable,
} from '@sluice/conntrack';
import { DefenseState, VictimIndex } from '@sluice/defense';
import { adviseHugePages, type IoChoice, type IoSelection, selectIo } from '@sluice/io';
import { RealServerCounters } from '@sluice/schedulers';
import { ConnectionAccounting, RESET_QUEUE_LENGTH, ResetWord } from './accounting.ts';
import type { BatchedPortSettings } from './batched-port.ts';
import { CompiledConfig } from './compile.ts';
import { CounterBlock } from './counters.ts';
import type { FrameRing } from './frame-ring.ts';
import { ConfigMailbox } from './mailbox.ts';
import { DEFAULT_PIPELINE_OPTIONS, Pipeline, type PipelineOptions } from './pipeline.ts';
import type { ServeEvent, ServeSpec, ServingWorkerData, WorkerInit, WorkerMessage } from './protocol.ts';
import { type ConfigSnapshot, encodeSnapshot } from './snapshot.ts';
import { DEFAULT_VXLAN_PORT_SETTINGS } from './vxlan-port.ts';

export interface DataplaneOptions {
  workers?: number;
  connectionCapacity?: number;
  sourceCapacity?: number;
  persistenceCapacity?: number;
  /** Sources that answered a challenge, remembered (VerifiedSourceTable). */
  verifiedCapacity?: number;
  /** Client ports that answered a challenge, remembered for a retransmission's time (default: verifiedCapacity). */
  answeredCapacity?: number;
  /** The challenge cookies' SipHash key (four words); default: random at start. Tests only. */
  defenseKey?: ArrayLike<number>;
  maxServices?: number;
  maxReals?: number;
  pipeline?: Partial<PipelineOptions>;
  /** Transparent huge pages under the shared tables (madvise; default true). */
  hugePages?: boolean;
}

export interface ResolvedDataplaneOptions {
  workers: number;
  connectionCapacity: number;
  sourceCapacity: number;
  persistenceCapacity: number;
  verifiedCapacity: number;
  answeredCapacity: number;
  maxServices: number;
  maxReals: number;
  pipeline: PipelineOptions;
  hugePages: boolean;
}

export const DATAPLANE_DEFAULTS: ResolvedDataplaneOptions = {
  workers: 1,
  connectionCapacity: 1 << 20,
  sourceCapacity: 1 << 18,
  persistenceCapacity: 1 << 16,
  verifiedCapacity: 1 << 18,
  answeredCapacity: 1 << 18,
  maxServices: 256,
  maxReals: 4096,
  pipeline: DEFAULT_PIPELINE_OPTIONS,
  hugePages: true,
};

/** A snapshot compiled and encoded, not yet published (Dataplane.prepareConfig). */
export interface PreparedConfig {
  readonly version: number;
  readonly compiled: CompiledConfig;
  readonly encoded: Uint8Array;
}

/** Extra worker slots so a replaced worker finds its counters region free. */
const SPARE_SLOTS = 4;

const WORKER_URL = new URL('./worker.ts', import.meta.url);

interface ServingWorker {
  slot: number;
  thread: Worker | null;
  done: Promise<void>;
}

/** One pair of rings per serving worker: frames in, and where its sends go (null: nowhere). */
export interface RingPair {
  inbound: FrameRing;
  outbound: FrameRing | null;
}

export class DataplaneOptionsError extends Error {
  readonly code = 'SLUICE_ERR_DATAPLANE_OPTIONS';
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new DataplaneOptionsError(`options.${name} must be a positive integer`);
  return v;
}

export function resolveDataplaneOptions(opts: DataplaneOptions = {}): ResolvedDataplaneOptions {
  const d = DATAPLANE_DEFAULTS;
  const r: ResolvedDataplaneOptions = {
    workers: positiveInt('workers', opts.workers ?? d.workers),
    connectionCapacity: positiveInt('connectionCapacity', opts.connectionCapacity ?? d.connectionCapacity),
    sourceCapacity: positiveInt('sourceCapacity', opts.sourceCapacity ?? d.sourceCapacity),
    persistenceCapacity: positiveInt(
      'persistenceCapacity',
      opts.persistenceCapacity ?? d.persistenceCapacity,
    ),
    verifiedCapacity: positiveInt('verifiedCapacity', opts.verifiedCapacity ?? d.verifiedCapacity),
    answeredCapacity: positiveInt(
      'answeredCapacity',
      opts.answeredCapacity ?? opts.verifiedCapacity ?? d.answeredCapacity,
    ),
    maxServices: positiveInt('maxServices', opts.maxServices ?? d.maxServices),
    maxReals: positiveInt('maxReals', opts.maxReals ?? d.maxReals),
    pipeline: { ...d.pipeline, ...opts.pipeline },
    hugePages: opts.hugePages ?? d.hugePages,
  };
  if (r.maxServices > 0xffff) throw new DataplaneOptionsError('options.maxServices must be at most 65535');
  if (r.maxReals > 0xffffff) throw new DataplaneOptionsError('options.maxReals must be at most 16777215');
  return r;
}

export class Dataplane {
  readonly options: ResolvedDataplaneOptions;
  readonly connections: ConnectionTable;
  readonly sources: SourceTable;
  readonly persistence: PersistenceTable;
  readonly reals: RealServerCounters;
  /** The re-scorer writes it, workers (displacement) and the shedder take victims from it. */
  readonly victims: VictimIndex;
  /** Sources that answered a challenge (workers write on an answer, read per SYN under pressure). */
  readonly verified: VerifiedSourceTable;
  /** Client ports that answered a challenge lately (workers write on an answer, read per SYN of a source asked connection by connection). */
  readonly answered: AnsweredPortTable;
  /** Which services verify sources, the cookie key, the fair share (the defense loop writes it). */
  readonly defenseState: DefenseState;
  readonly counters: CounterBlock;
  readonly mailbox: ConfigMailbox;
  private readonly init: WorkerInit;
  private readonly slots: Int32Array;
  private serving: ServingWorker[] = [];
  private serveControl: Int32Array | null = null;
  /** The port the serving workers use and why (set by serve(); the caller logs a fallback). */
  io: IoSelection | null = null;
  private configVersion = 0;
  private compiled: CompiledConfig | null = null;
  /** The compiled form of the last published snapshot (what the main thread's helpers read). */
  get current(): CompiledConfig | null {
    return this.compiled;
  }
  private controlPipeline: Pipeline | null = null;
  /** This thread's removal bookkeeping (resets, drains, shedding); made with the first config. */
  private mainAccounting: ConnectionAccounting | null = null;
  /** The counter region this thread writes (its removals, the bench's in-thread pipeline). */
  private controlRegion = -1;
  /** Queued RSTs of this thread's own removals: none it makes is an eviction, so it stays empty. */
  private readonly mainResets = {
    resetQueue: new Int32Array(RESET_QUEUE_LENGTH * ResetWord.words),
    resetCount: 0,
  };
  private closed = false;
  /** Called when a serving worker died and was replaced (for logs and metrics). */
  onWorkerReplaced: (slot: number, error: Error) => void = () => {};

  constructor(opts: DataplaneOptions = {}) {
    const o = resolveDataplaneOptions(opts);
    this.options = o;
    const epoch = Date.now();
    this.connections = ConnectionTable.create(o.connectionCapacity, epoch);
    this.sources = SourceTable.create(o.sourceCapacity, epoch);
    this.persistence = PersistenceTable.create(o.persistenceCapacity, epoch);
    this.reals = RealServerCounters.create(o.maxReals);
    this.victims = VictimIndex.create(o.maxReals);
    this.verified = VerifiedSourceTable.create(o.verifiedCapacity, epoch);
    this.answered = AnsweredPortTable.create(o.answeredCapacity, epoch);
    this.defenseState = DefenseState.create(o.maxServices, opts.defenseKey);
    // Big, randomly probed tables: on transparent huge pages a lookup costs fewer TLB misses
    // (measured in docs/BENCHMARKS.md). Advised before first touch; a no-op without the addon.
    if (o.hugePages)
      for (const t of [this.connections, this.sources, this.persistence, this.verified, this.answered])
        adviseHugePages(t.sab);
    const slots = o.workers + SPARE_SLOTS;
    this.counters = CounterBlock.create({
      maxWorkers: slots,
      maxServices: o.maxServices,
      maxReals: o.maxReals,
    });
    this.mailbox = ConfigMailbox.create();
    const slotsSab = new SharedArrayBuffer(slots * 4);
    this.slots = new Int32Array(slotsSab);
    this.init = {
      connections: this.connections.sab,
      sources: this.sources.sab,
      persistence: this.persistence.sab,
      reals: this.reals.sab,
      victims: this.victims.sab,
      verified: this.verified.sab,
      answered: this.answered.sab,
      defenseState: this.defenseState.sab,
      counters: this.counters.sab,
      mailbox: this.mailbox.sab,
      slots: slotsSab,
      maxServices: o.maxServices,
      maxReals: o.maxReals,
      pipeline: o.pipeline,
    };
  }

  /**
   * Validates a snapshot by compiling and encoding it here (throws ConfigError naming the problem,
   * or MailboxFullError when it is too big for the workers' mailbox), changing nothing: the
   * caller may persist it and then publish it with publishPrepared. Prepare and publish one at a
   * time: the next version and the compiled predecessor are taken from what is published now.
   */
  prepareConfig(snapshot: ConfigSnapshot): PreparedConfig {
    const version = Math.max(snapshot.version, this.configVersion + 1);
    const versioned = { ...snapshot, version };
    const compiled = new CompiledConfig(versioned, this.options, this.reals, this.compiled);
    const encoded = encodeSnapshot(versioned);
    this.mailbox.checkFits(encoded);
    return { version, compiled, encoded };
  }

  /** Publishes a prepared snapshot to every worker as one version. */
  publishPrepared(prepared: PreparedConfig): number {
    this.mailbox.publish(prepared.encoded, prepared.version);
    this.configVersion = prepared.version;
    this.compiled = prepared.compiled;
    if (this.controlPipeline !== null) this.controlPipeline.config = prepared.compiled;
    if (this.mainAccounting !== null) this.mainAccounting.config = prepared.compiled;
    return prepared.version;
  }

  /** prepareConfig, then publishPrepared. */
  publishConfig(snapshot: ConfigSnapshot): number {
    return this.publishPrepared(this.prepareConfig(snapshot));
  }

  get version(): number {
    return this.configVersion;
  }

  /**
   * Removes a connection from this thread (a reset or a drain ordered by the control plane) with
   * the same bookkeeping a worker does: the real server's and the source's counts, persistence,
   * the removal counters (in a counter region of this thread's own). False when the entry is gone
   * or the slot now holds another flow (its tag differs).
   */
  removeConnection(slot: number, tag: number, reason: number): boolean {
    // ensureAccounting sets the listener's clock to now.
    if (this.ensureAccounting() === null) return false;
    return this.connections.removeSlot(slot, tag, reason);
  }

  /**
   * This thread's removal bookkeeping, made on first use once a config is published, installed as
   * the connection table's removal listener, its clock set to now: call it before removing
   * entries from this thread (resets, drains, the shedder's RSTs). Null before any config.
   */
  ensureAccounting(): ConnectionAccounting | null {
    const compiled = this.compiled;
    if (compiled === null) return null;
    if (this.mainAccounting === null) {
      this.mainAccounting = new ConnectionAccounting(
        { sources: this.sources, persistence: this.persistence, reals: this.reals },
        this.counters.region(this.claimedControlRegion()),
        this.counters.layout,
        compiled,
        this.mainResets,
      );
    }
    this.connections.listener = this.mainAccounting;
    this.mainAccounting.now = clockNow(this.connections.epochMs);
    return this.mainAccounting;
  }

  private claimedControlRegion(): number {
    if (this.controlRegion < 0) this.controlRegion = this.claimControlSlot();
    return this.controlRegion;
  }

  /**
   * A Pipeline in this thread (benchmarks classify frames in-thread with it), made on first use
   * once a config is published, writing this thread's counter region. Null before any config.
   */
  ensureControlPipeline(): Pipeline | null {
    const compiled = this.compiled;
    if (compiled === null) return null;
    if (this.controlPipeline === null) {
      const region = this.claimedControlRegion();
      const tables = {
        connections: this.connections,
        sources: this.sources,
        persistence: this.persistence,
        reals: this.reals,
        victims: this.victims,
        verified: this.verified,
        answered: this.answered,
        defenseState: this.defenseState,
      };
      this.controlPipeline = new Pipeline(
        tables,
        this.counters.region(region),
        this.counters.layout,
        compiled,
        this.options.pipeline,
      );
    }
    this.controlPipeline.now = clockNow(this.connections.epochMs);
    return this.controlPipeline;
  }

  private claimControlSlot(): number {
    // Claimed from the top so worker slots (claimed from the bottom) stay contiguous.
    for (let i = this.slots.length - 1; i >= 0; i--) {
      if (Atomics.compareExchange(this.slots, i, 0, -1) === 0) return i;
    }
    throw new DataplaneOptionsError('no free counter slot for the control plane');
  }

  /** Serving worker threads alive now. */
  get threads(): number {
    let n = 0;
    for (const w of this.serving) if (w.thread !== null) n++;
    return n;
  }

  /**
   * Starts one serving worker per configured worker, each owning a VXLAN socket bound with
   * SO_REUSEPORT. Resolves once every worker is bound; rejects with the bind error otherwise. A
   * worker that dies is replaced: its counter slot is handed to the replacement, and the shared
   * tables, which live in this thread's buffers, are untouched. `io` picks the port: the
   * batched native one, Node's dgram, or `auto` (native when the addon loads; `this.io` then
   * says which and why). `native` without the addon throws IoError before any worker starts.
   */
  async serve(
    settings: BatchedPortSettings,
    onEvent: (event: ServeEvent) => void,
    io: IoChoice = 'auto',
  ): Promise<void> {
    if (this.serveControl !== null) throw new DataplaneOptionsError('already serving');
    const selection = selectIo(io);
    this.io = selection;
    await this.startAll(onEvent, () => ({ port: settings, io: selection.io, rings: null }));
  }

  /**
   * Serves from memory: one serving worker per ring pair (`rings.length` of them, at most the
   * configured workers plus the spare slots), each running the native port's loop over its
   * rings instead of a socket: the frames pushed on `inbound` are classified and those sent
   * leave on `outbound`. The hot-path benchmark, the synthetic demo and tests use it; the addon
   * is not needed.
   */
  async serveRings(
    rings: readonly RingPair[],
    onEvent: (event: ServeEvent) => void = () => {},
    settings: BatchedPortSettings = DEFAULT_VXLAN_PORT_SETTINGS,
  ): Promise<void> {
    if (this.serveControl !== null) throw new DataplaneOptionsError('already serving');
    if (rings.length < 1 || rings.length > this.slots.length - 1)
      throw new DataplaneOptionsError(
        `serveRings needs 1..${this.slots.length - 1} ring pairs, got ${rings.length}`,
      );
    await this.startAll(
      onEvent,
      (i) => ({
        port: settings,
        io: 'ring',
        rings: { inbound: rings[i].inbound.sab, outbound: rings[i].outbound?.sab ?? null },
      }),
      rings.length,
    );
  }

  private async startAll(
    onEvent: (event: ServeEvent) => void,
    specFor: (i: number) => Omit<ServeSpec, 'control'>,
    count = this.options.workers,
  ): Promise<void> {
    const controlSab = new SharedArrayBuffer(4);
    this.serveControl = new Int32Array(controlSab);
    const bound: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const w: ServingWorker = { slot: -1, thread: null, done: Promise.resolve() };
      this.serving.push(w);
      bound.push(this.startServing(w, { ...specFor(i), control: controlSab }, onEvent));
    }
    const results = await Promise.allSettled(bound);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await this.stopServing();
      throw (failed as PromiseRejectedResult).reason;
    }
  }

  private stopping(): boolean {
    return this.closed || (this.serveControl !== null && Atomics.load(this.serveControl, 0) !== 0);
  }

  private startServing(
    w: ServingWorker,
    spec: ServeSpec,
    onEvent: (event: ServeEvent) => void,
  ): Promise<void> {
    const data: ServingWorkerData = { init: this.init, serve: spec };
    const thread = new Worker(WORKER_URL, { workerData: data });
    w.thread = thread;
    let bound = false;
    let failure: Error | null = null;
    return new Promise<void>((resolve, reject) => {
      thread.on('message', (event: WorkerMessage) => {
        if (event.kind === 'bound') {
          w.slot = event.workerSlot;
          if (!bound) {
            bound = true;
            resolve();
          }
        } else if (event.kind === 'failed') {
          failure = Object.assign(new Error(event.message), event.code === null ? {} : { code: event.code });
          return;
        }
        onEvent(event);
      });
      thread.on('error', (err) => {
        failure = err;
      });
      w.done = new Promise<void>((done) => {
        thread.once('exit', (code) => {
          w.thread = null;
          done();
          if (!bound) {
            reject(failure ?? new Error(`serving worker exited (${code}) before it was serving`));
            return;
          }
          if (this.stopping()) return;
          // The thread died (or its loop threw): free its counter slot for the replacement, which
          // keeps counting where it left off, and serve again on a fresh thread.
          if (w.slot >= 0) Atomics.store(this.slots, w.slot, 0);
          const slot = w.slot;
          w.slot = -1;
          this.onWorkerReplaced(slot, failure ?? new Error(`serving worker exited (${code})`));
          this.startServing(w, spec, onEvent).catch((e: Error) => this.onWorkerReplaced(-1, e));
        });
      });
    });
  }

  /** Counter slots of the serving workers (for tests that kill one). */
  get servingSlots(): number[] {
    return this.serving.map((w) => w.slot);
  }

  /** Terminates serving worker `i`'s thread as a crash would (chaos drills and tests). */
  async killServingWorker(i: number): Promise<number> {
    const thread = this.serving[i]?.thread;
    if (thread === null || thread === undefined) throw new DataplaneOptionsError(`no serving worker ${i}`);
    return thread.terminate();
  }

  /** Stops every serving worker: each ends its loop after the batch in hand and closes its port. */
  async stopServing(): Promise<void> {
    if (this.serveControl === null) return;
    Atomics.store(this.serveControl, 0, 1);
    // A replacement started just before the stop word has a `done` of its own: wait for it too.
    while (this.serving.some((w) => w.thread !== null))
      await Promise.allSettled(this.serving.map((w) => w.done));
    this.serving = [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.stopServing();
    this.closed = true;
  }
}
