// The main thread ↔ serving worker protocol, in one place: what a worker is given when it starts
// (shared buffers and what to serve) and the few events it posts back. Frames never cross threads
// by message; only punted ARP/ND replies (rare, rate-limited) do.

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
  /** AnsweredPortTable: the client ports that answered a challenge lately. */
  answered: SharedArrayBuffer;
  /** DefenseState: which services verify sources, the cookie key, the fair share. */
  defenseState: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  mailbox: SharedArrayBuffer;
  /** One Int32 per worker slot: 0 free, else the owning thread id. */
  slots: SharedArrayBuffer;
  maxServices: number;
  maxReals: number;
  pipeline: PipelineOptions;
}

/**
 * What one serving worker serves until `control[0]` becomes 1 (stop): a VXLAN socket (the
 * batched native port or Node's dgram), or a pair of FrameRings (frames from memory, the same
 * loop as the native port).
 */
export interface ServeSpec {
  port: BatchedPortSettings;
  io: 'native' | 'dgram' | 'ring';
  /** FrameRing buffers when `io` is 'ring': frames in, and where sends go (null: counted nowhere). */
  rings: { inbound: SharedArrayBuffer; outbound: SharedArrayBuffer | null } | null;
  /** Int32 words: [stop]. */
  control: SharedArrayBuffer;
}

/** A serving worker's workerData. */
export interface ServingWorkerData {
  init: WorkerInit;
  serve: ServeSpec;
}

/** What a serving worker tells the main thread (rare: never per forwarded frame). */
export type ServeEvent =
  | { kind: 'bound'; workerSlot: number; address: string; port: number; io: 'native' | 'dgram' | 'ring' }
  | { kind: 'punt'; workerSlot: number; vtep: string; frame: Uint8Array };

/** What a serving worker posts: its events, or why serving could not start or ended (a bind
 * error: EADDRINUSE ...), said as data since a structured clone drops an error's class. */
export type WorkerMessage =
  | ServeEvent
  | { kind: 'failed'; workerSlot: number; message: string; code: string | null };
