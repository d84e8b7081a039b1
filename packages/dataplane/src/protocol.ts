// The main thread ↔ worker protocol, in one place: what a worker is given at start (shared
// buffers only) and the two task shapes piscina carries. Tasks name a batch by number; frames
// never cross threads by message.
import type { BatchLimits } from './batch.ts';
import type { PipelineOptions } from './pipeline.ts';

export interface WorkerInit {
  connections: SharedArrayBuffer;
  sources: SharedArrayBuffer;
  persistence: SharedArrayBuffer;
  reals: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  mailbox: SharedArrayBuffer;
  /** One Int32 per worker slot: 0 free, else the owning thread id. */
  slots: SharedArrayBuffer;
  batches: SharedArrayBuffer[];
  batchLimits: BatchLimits;
  maxServices: number;
  maxReals: number;
  pipeline: PipelineOptions;
}

/** Classify batch `batch` in place. */
export interface BatchTask {
  kind: 'batch';
  batch: number;
}

/** Do a slice of expiry when no traffic comes (so idle tables still age). */
export interface MaintainTask {
  kind: 'maintain';
}

export type WorkerTask = BatchTask | MaintainTask;

/** What a task returns: frames classified and the config version they were classified under. */
export interface TaskResult {
  frames: number;
  configVersion: number;
  workerSlot: number;
}
