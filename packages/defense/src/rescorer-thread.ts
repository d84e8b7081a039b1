// Starting and stopping the background re-scorer from the main thread. The re-scorer runs in its
// own worker thread (rescorer-worker.ts) attached to the same SharedArrayBuffers as the packet
// workers, so its table walk never competes with classification on their threads. Weights are
// validated here, before they cross the thread boundary, so a bad value fails the caller's request
// rather than the worker.

import { Worker } from 'node:worker_threads';
import type { ConnectionTable, SourceTable, VerifiedSourceTable } from '@sluice/conntrack';
import type { RealServerCounters } from '@sluice/schedulers';
import type { DefenseState } from './defense-state.ts';
import type { VictimIndex } from './victim-index.ts';
import { type PriorityWeights, resolveWeights } from './weights.ts';

export interface RescorerWorkerData {
  connections: SharedArrayBuffer;
  sources: SharedArrayBuffer | null;
  victims: SharedArrayBuffer;
  reals: SharedArrayBuffer | null;
  verified: SharedArrayBuffer | null;
  state: SharedArrayBuffer | null;
  weights: PriorityWeights;
  /** Slots examined per step. */
  slotsPerStep: number;
  /** Pause between steps (ms; 0 = setImmediate). The worker's event loop runs in between. */
  pauseMs: number;
}

export type RescorerMessage = { type: 'weights'; weights: PriorityWeights } | { type: 'stop' };

export interface RescorerStats {
  passes: number;
  examined: number;
  changed: number;
  lockFailures: number;
  readFailures: number;
}

export type RescorerReply = { type: 'ready' } | { type: 'stopped'; stats: RescorerStats };

export interface RescorerThreadOptions {
  connections: ConnectionTable;
  sources: SourceTable | null;
  victims: VictimIndex;
  reals?: RealServerCounters | null;
  verified?: VerifiedSourceTable | null;
  state?: DefenseState | null;
  weights?: Partial<PriorityWeights>;
  /** Default 4096: a few hundred microseconds of work, so a 4 M-entry table is walked in ~1000 steps. */
  slotsPerStep?: number;
  /** Default 1 ms. */
  pauseMs?: number;
}

export const RESCORER_WORKER_URL = new URL('./rescorer-worker.ts', import.meta.url);

export class RescorerThread {
  readonly worker: Worker;
  private readonly stopped: Promise<RescorerStats>;
  private readonly ready: Promise<void>;

  static start(opts: RescorerThreadOptions): RescorerThread {
    const data: RescorerWorkerData = {
      connections: opts.connections.sab,
      sources: opts.sources === null ? null : opts.sources.sab,
      victims: opts.victims.sab,
      reals: opts.reals?.sab ?? null,
      verified: opts.verified?.sab ?? null,
      state: opts.state?.sab ?? null,
      weights: resolveWeights(opts.weights),
      slotsPerStep: opts.slotsPerStep ?? 4096,
      pauseMs: opts.pauseMs ?? 1,
    };
    return new RescorerThread(new Worker(RESCORER_WORKER_URL, { workerData: data }));
  }

  private constructor(worker: Worker) {
    this.worker = worker;
    let onReady: () => void = () => {};
    this.ready = new Promise<void>((resolve) => {
      onReady = resolve;
    });
    this.stopped = new Promise<RescorerStats>((resolve, reject) => {
      worker.on('message', (m: RescorerReply) => {
        if (m.type === 'ready') onReady();
        else if (m.type === 'stopped') resolve(m.stats);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`re-scorer worker exited with code ${code}`)));
    });
    // A rejection nobody awaited yet must not crash the process; stop() reports it.
    this.stopped.catch(() => {});
  }

  /** Resolves once the worker has attached to the buffers and started walking. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Validates and sends new weights (throws DefenseError SLUICE_ERR_DEFENSE_WEIGHTS on a bad one). */
  setWeights(weights: Partial<PriorityWeights>): void {
    const msg: RescorerMessage = { type: 'weights', weights: resolveWeights(weights) };
    this.worker.postMessage(msg);
  }

  /** Stops the walk after the current step and returns the worker's statistics. */
  async stop(): Promise<RescorerStats> {
    const msg: RescorerMessage = { type: 'stop' };
    this.worker.postMessage(msg);
    const stats = await this.stopped;
    await this.worker.terminate();
    return stats;
  }
}
