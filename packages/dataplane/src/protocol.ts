// The main thread ↔ worker protocol, in one place: what a worker is given at start (shared
// buffers only) and the two task shapes piscina carries. Tasks name a batch by number; frames
// never cross threads by message.

import type { MessagePort } from 'node:worker_threads';
import type { BatchLimits } from './batch.ts';
import type { BatchedPortSettings } from './batched-port.ts';
import type { PipelineOptions } from './pipeline.ts';

export interface WorkerInit {
  connections: SharedArrayBuffer;
  sources: SharedArrayBuffer;
  persistence: SharedArrayBuffer;
  reals: SharedArrayBuffer;
  /** VictimIndex: the re-scorer's lowest-priority entries per real server. */
  victims: SharedArrayBuffer;
  /** VerifiedSourceTable: the sources that answered a challenge. */
  verified: SharedArrayBuffer;
  /** DefenseState: which services verify sources, the cookie key, the fair share. */
  defenseState: SharedArrayBuffer;
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

/**
 * Own a VXLAN socket and serve it until `control[0]` becomes 1 (stop). Runs for the life of the
 * director on a pool with one task per thread; `events` carries ServeEvents to the main thread.
 */
export interface ServeTask {
  kind: 'serve';
  port: BatchedPortSettings;
  /** Which port serves: the batched native one (BatchedPort) or Node's dgram (VxlanPort). */
  io: 'native' | 'dgram';
  /** Int32 words: [stop]. */
  control: SharedArrayBuffer;
  events: MessagePort;
}

/** What a serving worker tells the main thread (rare: never per forwarded frame). */
export type ServeEvent =
  | { kind: 'bound'; workerSlot: number; address: string; port: number; io: 'native' | 'dgram' }
  | { kind: 'punt'; workerSlot: number; vtep: string; frame: Uint8Array };

export type WorkerTask = BatchTask | MaintainTask | ServeTask;

/** What a task returns: frames classified and the config version they were classified under. */
export interface TaskResult {
  frames: number;
  configVersion: number;
  workerSlot: number;
}
