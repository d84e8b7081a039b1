// Dataplane: the main thread's handle on the packet path. It owns the shared buffers (tables,
// counters, batches, config mailbox), a piscina pool of classifier workers, and the free list
// of batches. A port fills a batch, `run()` hands its number to a worker, and the port sends the
// frames by their verdicts when the promise resolves.
import { ConnectionTable, PersistenceTable, SourceTable } from '@sluice/conntrack';
import { RealServerCounters } from '@sluice/schedulers';
import { Piscina } from 'piscina';
import { Batch, type BatchLimits, DEFAULT_BATCH_LIMITS } from './batch.ts';
import { CompiledConfig } from './compile.ts';
import { CounterBlock } from './counters.ts';
import { ConfigMailbox } from './mailbox.ts';
import { DEFAULT_PIPELINE_OPTIONS, type PipelineOptions } from './pipeline.ts';
import type { TaskResult, WorkerInit, WorkerTask } from './protocol.ts';
import { type ConfigSnapshot, encodeSnapshot } from './snapshot.ts';

export interface DataplaneOptions {
  workers?: number;
  connectionCapacity?: number;
  sourceCapacity?: number;
  persistenceCapacity?: number;
  maxServices?: number;
  maxReals?: number;
  /** Batches in flight at once; at least two per worker keeps every worker busy. */
  batches?: number;
  batchLimits?: BatchLimits;
  pipeline?: Partial<PipelineOptions>;
}

export interface ResolvedDataplaneOptions {
  workers: number;
  connectionCapacity: number;
  sourceCapacity: number;
  persistenceCapacity: number;
  maxServices: number;
  maxReals: number;
  batches: number;
  batchLimits: BatchLimits;
  pipeline: PipelineOptions;
}

export const DATAPLANE_DEFAULTS: ResolvedDataplaneOptions = {
  workers: 1,
  connectionCapacity: 1 << 20,
  sourceCapacity: 1 << 18,
  persistenceCapacity: 1 << 16,
  maxServices: 256,
  maxReals: 4096,
  batches: 8,
  batchLimits: DEFAULT_BATCH_LIMITS,
  pipeline: DEFAULT_PIPELINE_OPTIONS,
};

/** Extra worker slots so a replaced worker finds its counters region free. */
const SPARE_SLOTS = 4;

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
    maxServices: positiveInt('maxServices', opts.maxServices ?? d.maxServices),
    maxReals: positiveInt('maxReals', opts.maxReals ?? d.maxReals),
    batches: positiveInt('batches', opts.batches ?? d.batches),
    batchLimits: opts.batchLimits ?? d.batchLimits,
    pipeline: { ...d.pipeline, ...opts.pipeline },
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
  readonly counters: CounterBlock;
  readonly mailbox: ConfigMailbox;
  readonly batches: Batch[];
  private readonly free: number[];
  private readonly pool: Piscina<WorkerTask, TaskResult>;
  private configVersion = 0;
  private closed = false;

  constructor(opts: DataplaneOptions = {}) {
    const o = resolveDataplaneOptions(opts);
    this.options = o;
    const epoch = Date.now();
    this.connections = ConnectionTable.create(o.connectionCapacity, epoch);
    this.sources = SourceTable.create(o.sourceCapacity, epoch);
    this.persistence = PersistenceTable.create(o.persistenceCapacity, epoch);
    this.reals = RealServerCounters.create(o.maxReals);
    const slots = o.workers + SPARE_SLOTS;
    this.counters = CounterBlock.create({
      maxWorkers: slots,
      maxServices: o.maxServices,
      maxReals: o.maxReals,
    });
    this.mailbox = ConfigMailbox.create();
    this.batches = [];
    this.free = [];
    for (let i = 0; i < o.batches; i++) {
      this.batches.push(Batch.create(o.batchLimits));
      this.free.push(i);
    }
    const init: WorkerInit = {
      connections: this.connections.sab,
      sources: this.sources.sab,
      persistence: this.persistence.sab,
      reals: this.reals.sab,
      counters: this.counters.sab,
      mailbox: this.mailbox.sab,
      slots: new SharedArrayBuffer(slots * 4),
      batches: this.batches.map((b) => b.sab),
      batchLimits: o.batchLimits,
      maxServices: o.maxServices,
      maxReals: o.maxReals,
      pipeline: o.pipeline,
    };
    this.pool = new Piscina<WorkerTask, TaskResult>({
      filename: new URL('./worker.ts', import.meta.url).href,
      minThreads: o.workers,
      maxThreads: o.workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      // Hand each worker several batches at once: the next is already in its port while it
      // works, instead of waiting for a round trip through the main thread after every batch.
      // The worker still classifies them one after another (processing is synchronous).
      concurrentTasksPerWorker: 4,
      maxQueue: o.batches * 2,
      workerData: init,
    });
  }

  /**
   * Validates a snapshot by compiling it here (throws ConfigError naming the problem, with the
   * running config untouched), then publishes it to every worker as one version.
   */
  publishConfig(snapshot: ConfigSnapshot): number {
    new CompiledConfig(snapshot, this.options, this.reals);
    const version = Math.max(snapshot.version, this.configVersion + 1);
    this.mailbox.publish(encodeSnapshot({ ...snapshot, version }), version);
    this.configVersion = version;
    return version;
  }

  get version(): number {
    return this.configVersion;
  }

  /** A free batch, reset, or null when all are in flight (the port waits for one to finish). */
  takeBatch(): Batch | null {
    const i = this.free.pop();
    if (i === undefined) return null;
    const b = this.batches[i];
    b.reset();
    return b;
  }

  /** Returns a batch to the free list once its frames were sent. */
  giveBack(batch: Batch): void {
    const i = this.batches.indexOf(batch);
    if (i >= 0 && !this.free.includes(i)) this.free.push(i);
  }

  /** Classifies a filled batch on a worker. */
  run(batch: Batch): Promise<TaskResult> {
    if (this.configVersion === 0) {
      return Promise.reject(new DataplaneOptionsError('publish a configuration before running batches'));
    }
    return this.pool.run({ kind: 'batch', batch: this.batches.indexOf(batch) });
  }

  /** Asks one worker to do a slice of expiry (call on a timer when traffic is idle). */
  maintain(): Promise<TaskResult> {
    return this.pool.run({ kind: 'maintain' });
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }
}
