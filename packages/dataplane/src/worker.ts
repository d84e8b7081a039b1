// The piscina worker: attaches to the shared tables, counters and batches once, then classifies
// whole batches on request. Before each batch it checks the config mailbox (one atomic load) and,
// if the version moved, compiles the new snapshot, so a batch runs under exactly one version.
import { threadId } from 'node:worker_threads';
import {
  ConnectionTable,
  clockNow,
  PersistenceTable,
  SourceTable,
  VerifiedSourceTable,
} from '@sluice/conntrack';
import { DefenseState, VictimIndex } from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import { workerData } from 'piscina';
import { Batch } from './batch.ts';
import { BatchedPort } from './batched-port.ts';
import { CompiledConfig } from './compile.ts';
import { CounterBlock } from './counters.ts';
import { ConfigMailbox } from './mailbox.ts';
import { Pipeline } from './pipeline.ts';
import type { ServeEvent, ServeTask, TaskResult, WorkerInit, WorkerTask } from './protocol.ts';
import { decodeSnapshot } from './snapshot.ts';
import { type PuntHandler, VxlanPort } from './vxlan-port.ts';

const init = workerData as WorkerInit;
const tables = {
  connections: ConnectionTable.attach(init.connections),
  sources: SourceTable.attach(init.sources),
  persistence: PersistenceTable.attach(init.persistence),
  reals: RealServerCounters.attach(init.reals),
  victims: VictimIndex.attach(init.victims),
  verified: VerifiedSourceTable.attach(init.verified),
  defenseState: DefenseState.attach(init.defenseState),
};
const counters = CounterBlock.attach(init.counters);
const mailbox = ConfigMailbox.attach(init.mailbox);
const batches = init.batches.map((sab) => Batch.attach(sab, init.batchLimits.maxFrames));
const slot = claimSlot(new Int32Array(init.slots));
let pipeline: Pipeline | null = null;
let configVersion = 0;

/** A worker slot is its counter region; a replacement worker takes over a free one. */
function claimSlot(slots: Int32Array): number {
  for (let i = 0; i < slots.length; i++) {
    if (Atomics.compareExchange(slots, i, 0, threadId) === 0) return i;
  }
  throw new Error(`no free worker slot among ${slots.length}`);
}

function refreshConfig(): Pipeline | null {
  const v = mailbox.version();
  if (v === configVersion && pipeline !== null) return pipeline;
  const got = mailbox.read();
  if (got === null) return pipeline;
  const compiled = new CompiledConfig(decodeSnapshot(got.bytes), init, tables.reals, pipeline?.config);
  configVersion = got.version;
  if (pipeline === null) {
    pipeline = new Pipeline(tables, counters.region(slot), counters.layout, compiled, init.pipeline);
  } else {
    pipeline.config = compiled;
  }
  return pipeline;
}

/**
 * Punted frames per second per worker. Only real servers' VTEPs are punted (the ports check the
 * sender), so this bounds a misbehaving real server, not the internet: neighbour confirmations
 * (one per real server every few tens of seconds) and overlay health-check answers (one per
 * checked real server per interval) for thousands of real servers fit under it.
 */
const PUNT_PER_SECOND = 4096;

/** Hands ARP/ND and own-address frames of real servers to the main thread, at most PUNT_PER_SECOND. */
function puntTo(task: ServeTask): PuntHandler {
  let puntWindow = 0;
  let punted = 0;
  return (frame, vtep) => {
    const second = Math.floor(performance.now() / 1000);
    if (second !== puntWindow) {
      puntWindow = second;
      punted = 0;
    }
    if (punted++ >= PUNT_PER_SECOND) return;
    const event: ServeEvent = { kind: 'punt', workerSlot: slot, vtep, frame: frame.slice() };
    task.events.postMessage(event);
  };
}

async function serve(task: ServeTask): Promise<TaskResult> {
  const control = new Int32Array(task.control);
  if (task.io === 'native') return serveBatched(task, control);
  const port = new VxlanPort(task.port, counters.region(slot), counters.layout, refreshConfig, puntTo(task));
  await port.bind();
  const bound = port.address();
  task.events.postMessage({ kind: 'bound', workerSlot: slot, io: 'dgram', ...bound } satisfies ServeEvent);
  await new Promise<void>((resolve) => {
    // Expiry when idle and the stop flag are both polled: a timer per worker, not per frame.
    const timer = setInterval(() => {
      if (Atomics.load(control, 0) !== 0) {
        clearInterval(timer);
        resolve();
        return;
      }
      port.maintain(clockNow(tables.connections.epochMs));
    }, 50);
  });
  await port.close();
  task.events.close();
  return { frames: 0, configVersion, workerSlot: slot };
}

/** The native port runs its own loop (recvmmsg, classify, sendmmsg; idle expiry; the stop word). */
async function serveBatched(task: ServeTask, control: Int32Array): Promise<TaskResult> {
  const port = new BatchedPort(
    task.port,
    counters.region(slot),
    counters.layout,
    refreshConfig,
    puntTo(task),
  );
  await port.bind();
  task.events.postMessage({
    kind: 'bound',
    workerSlot: slot,
    io: 'native',
    ...port.address(),
  } satisfies ServeEvent);
  await port.run(control, () => clockNow(tables.connections.epochMs));
  await port.close();
  task.events.close();
  return { frames: 0, configVersion, workerSlot: slot };
}

export default function run(task: WorkerTask): TaskResult | Promise<TaskResult> {
  if (task.kind === 'serve') return serve(task);
  const p = refreshConfig();
  if (task.kind === 'maintain') {
    if (p !== null) p.maintain(clockNow(tables.connections.epochMs));
    return { frames: 0, configVersion, workerSlot: slot };
  }
  const batch = batches[task.batch];
  if (p === null) {
    // No configuration yet: nothing can be classified; say so rather than guess.
    throw new Error('no configuration published to the dataplane yet');
  }
  p.processBatch(batch);
  return { frames: batch.count, configVersion, workerSlot: slot };
}
