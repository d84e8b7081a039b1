// A model of the integration in dataplane/pipeline.ts, for the tests of this package: the few
// lines the pipeline adds around its connection code, in the same order (see the package README).
// TCP only, one service; the real server is given by the caller.

import {
  Conn,
  type ConnectionRemovalListener,
  type ConnectionTable,
  ConnFlag,
  nextTcpState,
  type SourceTable,
  Src,
  TcpState,
} from '@sluice/conntrack';
import { FrameInfo, TcpFlag } from '@sluice/wire';
import { PriorityScorer, SOURCE_LOOKUP } from './scorer.ts';

export class PipelineModel implements ConnectionRemovalListener {
  readonly table: ConnectionTable;
  readonly sources: SourceTable;
  readonly scorer: PriorityScorer;
  now = 0;
  dropped = 0;

  constructor(table: ConnectionTable, sources: SourceTable, scorer: PriorityScorer) {
    this.table = table;
    this.sources = sources;
    this.scorer = scorer;
    table.listener = this;
  }

  /** One client packet. Returns the entry's slot (released), or -1 when dropped. */
  packet(f: FrameInfo, real: number, now: number): number {
    this.now = now;
    const table = this.table;
    const flags = f.tcpFlags;
    const creates = (flags & (TcpFlag.syn | TcpFlag.rst)) === TcpFlag.syn;
    let synPrio = 8;
    if (creates) {
      // (1) score the SYN before the table: a refused SYN costs nothing, eviction sees its priority
      synPrio = this.scorer.scoreSyn(f, this.sources, SOURCE_LOOKUP, now);
      if (synPrio < 0) {
        this.dropped++;
        return -1;
      }
    }
    const a0 = f.src0 | 0;
    const a1 = f.src1 | 0;
    const a2 = f.src2 | 0;
    const a3 = f.src3 | 0;
    const slot = table.acquire(a0, a1, a2, a3, f.srcPort << 16, creates, synPrio, now);
    if (slot < 0) {
      this.dropped++;
      return -1;
    }
    const i32 = table.i32;
    const base = table.recordBase(slot);
    let cflags: number;
    let state: number;
    if (table.created === 1) {
      // (2) the rule's fixed mark goes into the new entry's flags
      cflags = this.scorer.lastFlags;
      if (!(a0 === 0 && a1 === 0 && a2 === 0xffff)) cflags |= ConnFlag.ipv6;
      i32[base + Conn.real] = real;
      i32[base + Conn.firstSeen] = now;
      // (3) the source's prioritySum starts from the scored priority
      const s = this.sources.acquire(a0, a1, a2, a3, true, now);
      if (s >= 0) {
        const b = this.sources.recordBase(s);
        this.sources.i32[b + Src.concurrent]++;
        this.sources.i32[b + Src.connectionsTotal]++;
        this.sources.i32[b + Src.prioritySum] += synPrio;
        this.sources.countSyn(b, now);
        this.sources.release(s);
        cflags |= ConnFlag.sourceCounted;
      }
      state = TcpState.none;
    } else {
      cflags = i32[base + Conn.flagsSyn] & 0xffff;
      state = i32[base + Conn.statePrio] & 0xff;
    }
    const statePrio = i32[base + Conn.statePrio];
    let synCount = (i32[base + Conn.flagsSyn] >>> 16) & 0xff;
    if ((flags & TcpFlag.syn) !== 0 && synCount < 255) synCount++;
    const next = nextTcpState(state, flags, false);
    if (next === TcpState.established && (cflags & ConnFlag.handshake) === 0) {
      cflags |= ConnFlag.handshake;
      const s = this.sources.acquire(a0, a1, a2, a3, false, now);
      if (s >= 0) {
        this.sources.i32[this.sources.recordBase(s) + Src.handshakes]++;
        this.sources.release(s);
      }
    }
    state = next;
    if (f.payloadLen > 0 && (cflags & ConnFlag.data) === 0) {
      cflags |= ConnFlag.data;
      // (6) the source has spoken: its next connections earn the spokeBefore credit
      const s = this.sources.acquire(a0, a1, a2, a3, false, now);
      if (s >= 0) {
        this.sources.i32[this.sources.recordBase(s) + Src.spoke]++;
        this.sources.release(s);
      }
    }
    table.setExpires(slot, (now + 900_000) | 0);
    // (4) a new entry's priority and initial priority are the SYN's score
    const prio = table.created === 1 ? synPrio : (statePrio >>> 8) & 0xff;
    const initial = table.created === 1 ? synPrio : (statePrio >>> 16) & 0xff;
    i32[base + Conn.statePrio] = state | (prio << 8) | (initial << 16) | (statePrio & 0xff000000);
    i32[base + Conn.flagsSyn] = cflags | (synCount << 16);
    i32[base + Conn.packets] = (i32[base + Conn.packets] + 1) | 0;
    i32[base + Conn.lastSeen] = now;
    // (5) the packet moves the priority; the source's sum follows
    const delta = this.scorer.onPacket(i32, base, flags, f.payloadLen, now);
    PriorityScorer.applySourceDelta(this.sources, i32, base, delta, now);
    table.release(slot);
    return slot;
  }

  onConnectionRemoved(table: ConnectionTable, base: number): void {
    const i32 = table.i32;
    if ((i32[base + Conn.flagsSyn] & ConnFlag.sourceCounted) === 0) return;
    const s = this.sources.acquire(
      i32[base + Conn.addr0],
      i32[base + Conn.addr1],
      i32[base + Conn.addr2],
      i32[base + Conn.addr3],
      false,
      this.now,
    );
    if (s < 0) return;
    const b = this.sources.recordBase(s);
    this.sources.i32[b + Src.concurrent]--;
    this.sources.i32[b + Src.prioritySum] -= (i32[base + Conn.statePrio] >>> 8) & 0xff;
    this.sources.release(s);
  }
}

/** A copy of `f` with some fields changed. */
export function frameWith(f: FrameInfo, patch: Partial<FrameInfo>): FrameInfo {
  return Object.assign(Object.assign(new FrameInfo(), f), patch);
}

/** IPv4 address words (v4-mapped) for FrameInfo.src*. */
export function v4src(a: number, b: number, c: number, d: number): Partial<FrameInfo> {
  return { src0: 0, src1: 0, src2: 0xffff, src3: (a << 24) | (b << 16) | (c << 8) | d | 0 };
}

/** The connection's current priority, initial priority and state. */
export function prioOf(
  table: ConnectionTable,
  slot: number,
): { prio: number; initial: number; state: number } {
  const sp = table.i32[table.recordBase(slot) + Conn.statePrio];
  return { prio: (sp >>> 8) & 0xff, initial: (sp >>> 16) & 0xff, state: sp & 0xff };
}
