// ConnectionAccounting: the counts that follow a connection entry, kept exact. It counts a new
// entry's source and its handshake, and it is the connection table's removal listener: whenever
// an entry leaves (expiry, eviction, displacement, shedding, a reset ordered over REST) it unbinds
// it from its real server (ActiveConn/InActConn, Held), its source and its persistence template,
// counts the removal, and queues the RST a held connection evicted for a new one needs. Serving
// workers own one through their Pipeline; the main thread owns one of its own for the removals it
// makes, without a classifier. The owner keeps `now` and `config` current; nothing here calls back.
import {
  Conn,
  type ConnectionRemovalListener,
  type ConnectionTable,
  ConnFlag,
  type PersistenceTable,
  RemoveReason,
  type SourceTable,
  Src,
  statePrioPriority,
} from '@sluice/conntrack';
import { isKeepAlive } from '@sluice/defense';
import type { RealServerCounters } from '@sluice/schedulers';
import type { CompiledConfig } from './compile.ts';
import { type CounterLayout, Defense } from './counters.ts';

/**
 * Resets for the port to send after the batch (a displaced or evicted connection must also end on
 * its real server). Int32 words per entry: client address (4), client port, service, real, next
 * sequence.
 */
export const ResetWord = { addr0: 0, port: 4, service: 5, real: 6, seq: 7, words: 8 } as const;
export const RESET_QUEUE_LENGTH = 64;

/** Where queued RSTs go: the Pipeline's queue, which its port drains after each batch. */
export interface ResetSink {
  readonly resetQueue: Int32Array;
  resetCount: number;
}

/** The tables a ConnectionAccounting keeps in step with the connection table. */
export interface AccountingTables {
  sources: SourceTable;
  persistence: PersistenceTable;
  reals: RealServerCounters;
}

export class ConnectionAccounting implements ConnectionRemovalListener {
  /** The config in force: thresholds and persistence settings. The owner keeps it current. */
  config: CompiledConfig;
  /** The owner's clock (ms, wrapping). */
  now = 0;
  readonly counters: Float64Array;
  readonly layout: CounterLayout;
  private readonly sources: SourceTable;
  private readonly persistence: PersistenceTable;
  private readonly reals: RealServerCounters;
  private readonly sink: ResetSink;

  constructor(
    tables: AccountingTables,
    counters: Float64Array,
    layout: CounterLayout,
    config: CompiledConfig,
    sink: ResetSink,
  ) {
    this.sources = tables.sources;
    this.persistence = tables.persistence;
    this.reals = tables.reals;
    this.counters = counters;
    this.layout = layout;
    this.config = config;
    this.sink = sink;
  }

  /** A new entry's source: counted (created if new). Returns ConnFlag.sourceCounted, or 0 when the table is full. */
  countNewSource(a0: number, a1: number, a2: number, a3: number, prio: number, now: number): number {
    const s = this.sources;
    const slot = s.acquire(a0, a1, a2, a3, true, now);
    if (slot < 0) return 0;
    const b = s.recordBase(slot);
    s.i32[b + Src.concurrent]++;
    s.i32[b + Src.connectionsTotal]++;
    s.i32[b + Src.prioritySum] += prio;
    s.countSyn(b, now);
    s.release(slot);
    return ConnFlag.sourceCounted;
  }

  /** An entry of a counted source completed its handshake. */
  countHandshake(a0: number, a1: number, a2: number, a3: number, cflags: number, now: number): void {
    if ((cflags & ConnFlag.sourceCounted) === 0) return;
    const s = this.sources;
    const slot = s.acquire(a0, a1, a2, a3, false, now);
    if (slot < 0) return;
    const b = s.recordBase(slot);
    s.i32[b + Src.handshakes]++;
    s.i32[b + Src.lastSeen] = now;
    s.release(slot);
  }

  /**
   * Queues an RST for the connection whose record starts at `base` in `i32` (a table's words or
   * a snapshot copy): at its exact next sequence number. Dropped when the queue is full.
   */
  queueReset(i32: Int32Array, base: number): void {
    const sink = this.sink;
    const q = sink.resetCount;
    if (q >= RESET_QUEUE_LENGTH) return;
    const o = q * ResetWord.words;
    const rq = sink.resetQueue;
    rq[o] = i32[base + Conn.addr0];
    rq[o + 1] = i32[base + Conn.addr1];
    rq[o + 2] = i32[base + Conn.addr2];
    rq[o + 3] = i32[base + Conn.addr3];
    rq[o + ResetWord.port] = i32[base + Conn.portService] >>> 16;
    rq[o + ResetWord.service] = i32[base + Conn.portService] & 0xffff;
    rq[o + ResetWord.real] = i32[base + Conn.real];
    rq[o + ResetWord.seq] = i32[base + Conn.nextSeq];
    sink.resetCount = q + 1;
  }

  /** Keeps real-server, source and persistence counts exact whenever an entry leaves the table. */
  onConnectionRemoved(table: ConnectionTable, base: number, reason: number): void {
    const i32 = table.i32;
    const cfg = this.config;
    const real = i32[base + Conn.real];
    const cflags = i32[base + Conn.flagsSyn] & 0xffff;
    this.reals.unbind(
      real,
      (cflags & ConnFlag.active) !== 0,
      cfg.realUpper[real],
      cfg.realLower[real],
      (cflags & ConnFlag.held) !== 0,
    );
    const a0 = i32[base + Conn.addr0];
    const a1 = i32[base + Conn.addr1];
    const a2 = i32[base + Conn.addr2];
    const a3 = i32[base + Conn.addr3];
    const now = this.now;
    if ((cflags & ConnFlag.sourceCounted) !== 0) {
      const s = this.sources;
      const slot = s.acquire(a0, a1, a2, a3, false, now);
      if (slot >= 0) {
        const b = s.recordBase(slot);
        if (s.i32[b + Src.concurrent] > 0) s.i32[b + Src.concurrent]--;
        s.i32[b + Src.prioritySum] -= statePrioPriority(i32[base + Conn.statePrio]);
        // A verified source had a connection taken at capacity (it sank below the others: idle,
        // stalled, silent, forged, over its share): its next connections rank lower for a while
        // (weights.misbehaved), so it cannot take back at once the room its loss made. Not for a
        // connection its client had closed: the table's shedder takes those first, as the cheapest
        // room there is, and a client that finished its request misbehaved in nothing (marked, the
        // returning clients of a full table were refused `table-full` at the mark's priority:
        // simulator, `--param floodIgnoresSynAck=1`, 0.78-0.95).
        // Nor for one answered and idle since, with nothing asked (and nothing forged): an idle
        // keep-alive connection taken at capacity was closed as a server closes it
        // (weights.servedIdle); marked, its client's next connection was refused at capacity
        // (simulator, spread at 1000: returning clients 0.98 → 0.86).
        if (
          (reason === RemoveReason.shed || reason === RemoveReason.displaced) &&
          (cflags & (ConnFlag.verified | ConnFlag.fin | ConnFlag.rst)) === ConnFlag.verified &&
          !isKeepAlive(cflags)
        ) {
          s.i32[b + Src.misbehavedAt] = now === 0 ? 1 : now;
        }
        s.release(slot);
      }
    }
    if ((cflags & ConnFlag.persistent) !== 0) {
      const svc = i32[base + Conn.portService] & 0xffff;
      this.persistence.connectionEnded(
        svc,
        a0,
        a1,
        a2,
        a3,
        cfg.persistPrefix[svc],
        cfg.persistTimeoutMs[svc],
        now,
      );
    }
    // A held connection evicted for a new one must end on its real server too.
    if (reason === RemoveReason.evicted && (cflags & ConnFlag.held) !== 0 && (cflags & ConnFlag.udp) === 0) {
      this.queueReset(i32, base);
    }
    const c = this.counters;
    c[this.layout.removals + reason] += 1;
    // Resets the defense made, by the priority of the connection that lost its slot.
    const byPrio =
      reason === RemoveReason.shed
        ? Defense.shedByPriority
        : reason === RemoveReason.displaced
          ? Defense.displacedByPriority
          : reason === RemoveReason.dropEntry
            ? Defense.dropEntryByPriority
            : -1;
    // statePrioPriority, unrolled: removals come at the rate of new SYNs under a flood.
    if (byPrio >= 0)
      c[this.layout.defense + byPrio + (statePrioPriority(i32[base + Conn.statePrio]) & 15)] += 1;
    if ((reason === RemoveReason.shed || reason === RemoveReason.displaced) && isKeepAlive(cflags)) {
      c[this.layout.defense + Defense.keepAliveClosed] += 1;
    }
  }
}
