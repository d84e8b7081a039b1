// A serving worker thread: attaches to the shared tables and counters once, claims a counter
// slot, then serves what it was given until the stop word: a VXLAN socket through the batched
// native port or Node's dgram, or a pair of FrameRings through the same loop as the native port.
// Before each batch the port asks for the pipeline, which checks the config mailbox (one atomic
// load) and, if the version moved, compiles the new snapshot, so a batch runs under one version.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import {
  AnsweredPortTable,
  ConnectionTable,
  clockNow,
  PersistenceTable,
  SourceTable,
  VerifiedSourceTable,
} from '@sluice/conntrack';
import { DefenseState, VictimIndex } from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import { BatchedPort } from './batched-port.ts';
import { CompiledConfig } from './compile.ts';
import { CounterBlock } from './counters.ts';
import { FrameRing, RingChannel } from './frame-ring.ts';
import { ConfigMailbox } from './mailbox.ts';
import { Pipeline } from './pipeline.ts';
import type { ServeSpec, ServingWorkerData, WorkerMessage } from './protocol.ts';
import { decodeSnapshot } from './snapshot.ts';
import { type PuntHandler, VxlanPort } from './vxlan-port.ts';

const { init, serve: spec } = workerData as ServingWorkerData;
const events = parentPort;
if (events === null) throw new Error('worker.ts runs as a serving worker thread only');
const tables = {
  connections: ConnectionTable.attach(init.connections),
  sources: SourceTable.attach(init.sources),
  persistence: PersistenceTable.attach(init.persistence),
  reals: RealServerCounters.attach(init.reals),
  victims: VictimIndex.attach(init.victims),
  verified: VerifiedSourceTable.attach(init.verified),
  answered: AnsweredPortTable.attach(init.answered),
  defenseState: DefenseState.attach(init.defenseState),
};
const counters = CounterBlock.attach(init.counters);
const mailbox = ConfigMailbox.attach(init.mailbox);
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

function post(event: WorkerMessage): void {
  events?.postMessage(event);
}

/**
 * Punted frames per second per worker. Only real servers' VTEPs are punted (the ports check the
 * sender), so this bounds a misbehaving real server, not the internet: neighbour confirmations
 * (one per real server every few tens of seconds) and overlay health-check answers (one per
 * checked real server per interval) for thousands of real servers fit under it.
 */
const PUNT_PER_SECOND = 4096;

/** Hands ARP/ND and own-address frames of real servers to the main thread, at most PUNT_PER_SECOND. */
function punt(): PuntHandler {
  let puntWindow = 0;
  let punted = 0;
  return (frame, vtep) => {
    const second = Math.floor(performance.now() / 1000);
    if (second !== puntWindow) {
      puntWindow = second;
      punted = 0;
    }
    if (punted++ >= PUNT_PER_SECOND) return;
    post({ kind: 'punt', workerSlot: slot, vtep, frame: frame.slice() });
  };
}

/** Node's dgram: the socket's events drive classification; a timer polls the stop word and ages tables. */
async function serveDgram(s: ServeSpec, control: Int32Array): Promise<void> {
  const port = new VxlanPort(s.port, counters.region(slot), counters.layout, refreshConfig, punt());
  await port.bind();
  post({ kind: 'bound', workerSlot: slot, io: 'dgram', ...port.address() });
  await new Promise<void>((resolve) => {
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
}

/** The batched port runs its own loop (receive, classify, send; idle expiry; the stop word). */
async function serveBatched(s: ServeSpec, control: Int32Array): Promise<void> {
  const channel =
    s.io === 'ring' && s.rings !== null
      ? new RingChannel(
          FrameRing.attach(s.rings.inbound),
          s.rings.outbound === null ? null : FrameRing.attach(s.rings.outbound),
        )
      : undefined;
  const port = new BatchedPort(
    s.port,
    counters.region(slot),
    counters.layout,
    refreshConfig,
    punt(),
    channel,
  );
  await port.bind();
  post({ kind: 'bound', workerSlot: slot, io: s.io === 'ring' ? 'ring' : 'native', ...port.address() });
  await port.run(control, () => clockNow(tables.connections.epochMs));
  await port.close();
}

const control = new Int32Array(spec.control);
try {
  await (spec.io === 'dgram' ? serveDgram(spec, control) : serveBatched(spec, control));
} catch (err) {
  // Said as data (a structured clone would drop the error's class), then the thread ends with 1.
  const e = err as Error & { code?: unknown };
  post({
    kind: 'failed',
    workerSlot: slot,
    message: e.message,
    code: typeof e.code === 'string' ? e.code : null,
  });
  process.exitCode = 1;
}
