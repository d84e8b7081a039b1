// PriorityScorer: gives each new connection a priority from its first SYN (subnet rules, source
// checks, the source's history, the SYN's shape) and moves it as the client's packets arrive.
// One instance per pipeline (per worker thread); every method called per packet reads and
// writes numbers only — no allocation, no exceptions, results in return values and `last*` fields.
//
// Record encoding (conntrack `Conn`, nothing new in the layout):
//   statePrio bits 8..15   current priority (0 highest .. 15 lowest) — what shedding reads
//   statePrio bits 16..23  the score the SYN earned (plus a retransmission's credit): the input
//                          the adjustments start from each time, so they never accumulate drift
//   statePrio bits 24..31  StoredReason: why the SYN scored so (written by the pipeline at
//                          creation; explain.ts names them for the connection listing)
//   flagsSyn  bit 0x0200   DefenseConnFlag.priorityFixed: set by a rule (or the bogon 'lowest'
//                          action); nothing but the rule decides this entry's priority
// Priority 0 is never changed by anything here, fixed bit or not.

import { Conn, ConnFlag, elapsed, type SourceTable, Src, TcpState } from '@sluice/conntrack';
import { type FrameInfo, IpProto, TcpFlag } from '@sluice/wire';
import { PRIORITY_BEST_SCORED, PriorityAdjuster } from './adjust.ts';
import { PRIORITY_LOWEST, PriorityRules } from './priority-rules.ts';
import { BogonAction, SourceChecks, SourceVerdict } from './source-checks.ts';
import { inferInitialTtl, SynShapes } from './syn-shape.ts';
import { DEFENSE_WEIGHTS, type PriorityWeights } from './weights.ts';

/**
 * ConnFlag bits the defense adds to the record's flag word (low 16 bits of Conn.flagsSyn).
 * conntrack's ConnFlag uses 0x0001..0x0100; 0x0200 is claimed here.
 */
export const DefenseConnFlag = {
  /** Priority set by a subnet rule or the bogon 'lowest' action; adjustments never touch it. */
  priorityFixed: 0x0200,
} as const;

/** Pass as `srcSlot` to have scoreSyn look the source up itself (acquire without create, release). */
export const SOURCE_LOOKUP = -1;
/** Pass as `srcSlot` to score without the source's history. */
export const SOURCE_NONE = -2;

/** Returned by scoreSyn for a SYN to refuse (a bogon source under the 'drop' action). */
export const SCORE_DROP = -1;

/** Why the last SYN scored as it did: bits of `PriorityScorer.lastReasons` (metrics, listings, tests). */
export const ScoreReason = {
  rule: 0x0001,
  bogon: 0x0002,
  noOptions: 0x0004,
  partialOptions: 0x0008,
  osMismatch: 0x0010,
  badTtl: 0x0020,
  smallWindow: 0x0040,
  highSynRate: 0x0080,
  manyConcurrent: 0x0100,
  neverCompleted: 0x0200,
  spokeBefore: 0x0400,
  silentSource: 0x0800,
  /** a retransmission of a SYN refused earlier (SynMemory), credited by creditRefusedRetry */
  retried: 0x1000,
} as const;

/**
 * The SYN's score reasons as stored in a record (8 bits: Conn.statePrio bits 24..31). TTL and OS
 * mismatch share a bit, as do a fast SYN rate and many connections, and the two "this source
 * never spoke" penalties; `retried` is set when a retransmission credit was given.
 */
export const StoredReason = {
  noOptions: 0x01,
  partialOptions: 0x02,
  ttl: 0x04,
  smallWindow: 0x08,
  sourceBusy: 0x10,
  retried: 0x20,
  sourceNeverSpoke: 0x40,
  spokeBefore: 0x80,
} as const;

/** ScoreReason bits (PriorityScorer.lastReasons) → the StoredReason byte. Allocation-free. */
export function storedReasons(reasons: number): number {
  let s = 0;
  if ((reasons & ScoreReason.noOptions) !== 0) s |= StoredReason.noOptions;
  if ((reasons & ScoreReason.partialOptions) !== 0) s |= StoredReason.partialOptions;
  if ((reasons & (ScoreReason.osMismatch | ScoreReason.badTtl)) !== 0) s |= StoredReason.ttl;
  if ((reasons & ScoreReason.smallWindow) !== 0) s |= StoredReason.smallWindow;
  if ((reasons & (ScoreReason.highSynRate | ScoreReason.manyConcurrent)) !== 0) s |= StoredReason.sourceBusy;
  if ((reasons & (ScoreReason.neverCompleted | ScoreReason.silentSource)) !== 0)
    s |= StoredReason.sourceNeverSpoke;
  if ((reasons & ScoreReason.spokeBefore) !== 0) s |= StoredReason.spokeBefore;
  if ((reasons & ScoreReason.retried) !== 0) s |= StoredReason.retried;
  return s;
}

const SYN_COUNT_SHIFT = 16;
const PRIO_MASK = 0xff00;
const INITIAL_MASK = 0xff0000;

export class PriorityScorer {
  readonly weights: PriorityWeights;
  readonly rules: PriorityRules;
  readonly checks: SourceChecks;
  readonly shapes: SynShapes;
  readonly adjuster: PriorityAdjuster;
  /** Rule index matched by the last scoreSyn, or -1: the scheduler reads `rules.poolOf(lastRule)`. */
  lastRule = -1;
  /** Priority returned by the last scoreSyn (or SCORE_DROP). */
  lastPriority = 0;
  /** DefenseConnFlag bits to OR into the new entry's ConnFlag word (0 or priorityFixed). */
  lastFlags = 0;
  /** ScoreReason bits of the last scoreSyn. */
  lastReasons = 0;

  // Weights as fields: one hidden class, no property lookups through an interface per SYN.
  private readonly base: number;
  private readonly wNoOptions: number;
  private readonly wPartialOptions: number;
  private readonly wOsMismatch: number;
  private readonly wBadTtl: number;
  private readonly maxHops: number;
  private readonly wSmallWindow: number;
  private readonly smallWindowBelow: number;
  private readonly wHighSynRate: number;
  private readonly highSynRateThreshold: number;
  private readonly wManyConcurrent: number;
  private readonly manyConcurrentThreshold: number;
  private readonly wNeverCompleted: number;
  private readonly neverCompletedAfter: number;
  private readonly wSpokeBefore: number;
  private readonly wSilentSource: number;
  private readonly silentSourceAfter: number;
  private readonly wRetransmit: number;
  /** A retransmission must come this long after the first SYN (weights.retransmitMinGapMs). */
  readonly retransmitMinGapMs: number;

  constructor(
    weights: PriorityWeights = DEFENSE_WEIGHTS,
    rules: PriorityRules = PriorityRules.empty(),
    checks: SourceChecks = SourceChecks.compile(),
    shapes: SynShapes = SynShapes.compile(),
  ) {
    this.weights = weights;
    this.rules = rules;
    this.checks = checks;
    this.shapes = shapes;
    this.adjuster = new PriorityAdjuster(weights);
    this.base = weights.base;
    this.wNoOptions = weights.noOptions;
    this.wPartialOptions = weights.partialOptions;
    this.wOsMismatch = weights.osMismatch;
    this.wBadTtl = weights.badTtl;
    this.maxHops = weights.maxHops;
    this.wSmallWindow = weights.smallWindow;
    this.smallWindowBelow = weights.smallWindowBelow;
    this.wHighSynRate = weights.highSynRate;
    this.highSynRateThreshold = weights.highSynRateThreshold;
    this.wManyConcurrent = weights.manyConcurrent;
    this.manyConcurrentThreshold = weights.manyConcurrentThreshold;
    this.wNeverCompleted = weights.neverCompleted;
    this.neverCompletedAfter = weights.neverCompletedAfter;
    this.wSpokeBefore = weights.spokeBefore;
    this.wSilentSource = weights.silentSource;
    this.silentSourceAfter = weights.silentSourceAfter;
    this.wRetransmit = weights.retransmit;
    this.retransmitMinGapMs = weights.retransmitMinGapMs;
  }

  /**
   * Initial priority of a new connection from its first packet (a TCP SYN, or a UDP datagram).
   * Returns 0..15, or SCORE_DROP (-1) for a bogon source under the 'drop' action. Sets lastRule,
   * lastPriority, lastFlags, lastReasons. `srcSlot`: a source-table slot the caller holds, or
   * SOURCE_LOOKUP (scorer looks it up), or SOURCE_NONE. `sources` may be null (no history).
   * Reads the source's record as it stands before this SYN is counted in it.
   */
  scoreSyn(f: FrameInfo, sources: SourceTable | null, srcSlot: number, now: number): number {
    const a0 = f.src0 | 0;
    const a1 = f.src1 | 0;
    const a2 = f.src2 | 0;
    const a3 = f.src3 | 0;
    this.lastFlags = 0;
    this.lastReasons = 0;
    const rule = this.rules.lookup(a0, a1, a2, a3);
    this.lastRule = rule;
    if (rule >= 0) {
      this.lastFlags = DefenseConnFlag.priorityFixed;
      this.lastReasons = ScoreReason.rule;
      this.lastPriority = this.rules.priorityOf(rule);
      return this.lastPriority;
    }
    if (this.checks.check(a0, a1, a2, a3) === SourceVerdict.bogon) {
      this.lastReasons = ScoreReason.bogon;
      if (this.checks.action === BogonAction.drop) {
        this.lastPriority = -1;
        return -1;
      }
      this.lastFlags = DefenseConnFlag.priorityFixed;
      this.lastPriority = PRIORITY_LOWEST;
      return PRIORITY_LOWEST;
    }
    let p = this.base;
    if (f.ipProto === IpProto.tcp) p += this.shapePoints(f);
    if (sources !== null && srcSlot !== SOURCE_NONE) {
      if (srcSlot >= 0) {
        p += this.historyPoints(sources, srcSlot, now);
      } else {
        const s = sources.acquire(a0, a1, a2, a3, false, now);
        if (s >= 0) {
          p += this.historyPoints(sources, s, now);
          sources.release(s);
        }
      }
    }
    p = p < PRIORITY_BEST_SCORED ? PRIORITY_BEST_SCORED : p > PRIORITY_LOWEST ? PRIORITY_LOWEST : p;
    this.lastPriority = p;
    return p;
  }

  /** Points for the SYN's options, TTL and window (see syn-shape.ts). */
  private shapePoints(f: FrameInfo): number {
    let p = 0;
    let expectTtl = 0;
    if (f.optCount === 0) {
      p += this.wNoOptions;
      this.lastReasons |= ScoreReason.noOptions;
    } else {
      const shape = f.optMss < 0 ? -1 : this.shapes.find(f.optSignature, f.optCount);
      if (shape < 0) {
        p += this.wPartialOptions;
        this.lastReasons |= ScoreReason.partialOptions;
      } else {
        expectTtl = this.shapes.ttls[shape];
      }
    }
    const ttl = f.ttl;
    const initial = inferInitialTtl(ttl);
    if (initial - ttl > this.maxHops) {
      p += this.wBadTtl;
      this.lastReasons |= ScoreReason.badTtl;
    } else if (expectTtl !== 0 && initial !== expectTtl) {
      p += this.wOsMismatch;
      this.lastReasons |= ScoreReason.osMismatch;
    }
    if (f.tcpWindow < this.smallWindowBelow) {
      p += this.wSmallWindow;
      this.lastReasons |= ScoreReason.smallWindow;
    }
    return p;
  }

  /** Points from the source's record (read under the caller's lock, or plain word reads). */
  private historyPoints(sources: SourceTable, slot: number, now: number): number {
    const i32 = sources.i32;
    const b = sources.recordBase(slot);
    let p = 0;
    if (sources.synRateAt(b, now) >= this.highSynRateThreshold) {
      p += this.wHighSynRate;
      this.lastReasons |= ScoreReason.highSynRate;
    }
    if (i32[b + Src.concurrent] >= this.manyConcurrentThreshold) {
      p += this.wManyConcurrent;
      this.lastReasons |= ScoreReason.manyConcurrent;
    }
    const handshakes = i32[b + Src.handshakes];
    if (i32[b + Src.spoke] > 0) {
      p -= this.wSpokeBefore;
      this.lastReasons |= ScoreReason.spokeBefore;
    } else if (handshakes >= this.silentSourceAfter) {
      p += this.wSilentSource;
      this.lastReasons |= ScoreReason.silentSource;
    } else if (handshakes === 0 && i32[b + Src.connectionsTotal] >= this.neverCompletedAfter) {
      p += this.wNeverCompleted;
      this.lastReasons |= ScoreReason.neverCompleted;
    }
    return p;
  }

  /**
   * Moves a connection's priority after a packet. Call with the record lock held, after the
   * pipeline has written this packet's statePrio, flagsSyn (flags and SYN count) and packets —
   * i.e. just before `release()` — for every packet of an existing entry and for the packet that
   * created one. `flags` are the packet's TCP flags (0 for UDP), `payloadLen` its payload length.
   * A retransmitted SYN is credited here (see onSynRetransmit). Returns the change of the
   * priority byte (new − old; 0 almost always), which the caller adds to the source's
   * prioritySum (see applySourceDelta) to keep that sum exact. Rule-fixed entries and priority 0
   * are left alone.
   */
  onPacket(i32: Int32Array, base: number, flags: number, payloadLen: number, now: number): number {
    const sp = i32[base + Conn.statePrio];
    const prio = (sp >>> 8) & 0xff;
    if (prio === 0) return 0;
    let fs = i32[base + Conn.flagsSyn];
    if ((fs & DefenseConnFlag.priorityFixed) !== 0) return 0;
    if ((flags & (TcpFlag.syn | TcpFlag.ack | TcpFlag.rst)) === TcpFlag.syn)
      this.onSynRetransmit(i32, base, now);
    if (payloadLen > 0) fs |= ConnFlag.data;
    const sp2 = i32[base + Conn.statePrio];
    const next = this.adjuster.priority((sp2 >>> 16) & 0xff, fs, i32[base + Conn.packets], 0, 0);
    if (next === prio) return 0;
    i32[base + Conn.statePrio] = (sp2 & ~PRIO_MASK) | (next << 8);
    return next - prio;
  }

  /**
   * Credits a retransmitted SYN: when the entry is in SYN_RECV with no handshake, this is its
   * second SYN (SYN count 2) and it came at least retransmitMinGapMs after the first (firstSeen),
   * the SYN's score (initial byte) improves by `retransmit`. The SYN-count test makes it happen
   * once per connection whoever calls it. onPacket calls it; the current priority is recomputed
   * there. Call with the record lock held, after the pipeline counted the SYN. Returns 1 when credited.
   */
  onSynRetransmit(i32: Int32Array, base: number, now: number): number {
    const fs = i32[base + Conn.flagsSyn];
    if (((fs >>> SYN_COUNT_SHIFT) & 0xff) !== 2) return 0;
    if ((fs & (ConnFlag.handshake | ConnFlag.udp | DefenseConnFlag.priorityFixed)) !== 0) return 0;
    const sp = i32[base + Conn.statePrio];
    if ((sp & 0xff) !== TcpState.synRecv || ((sp >>> 8) & 0xff) === 0) return 0;
    if (elapsed(i32[base + Conn.firstSeen], now) < this.retransmitMinGapMs) return 0;
    let initial = ((sp >>> 16) & 0xff) - this.wRetransmit;
    if (initial < PRIORITY_BEST_SCORED) initial = PRIORITY_BEST_SCORED;
    // The top byte (the SYN's StoredReason bits) gains `retried`.
    i32[base + Conn.statePrio] = (sp & ~INITIAL_MASK) | (initial << 16) | (StoredReason.retried << 24);
    return 1;
  }

  /**
   * The priority of a SYN that retransmits one refused earlier (SynMemory matched it): its score
   * improved by the retransmission credit, as onSynRetransmit credits one whose first SYN got an
   * entry. Rule-fixed priorities and priority 0 are returned unchanged.
   */
  creditRefusedRetry(prio: number): number {
    if (prio === 0 || (this.lastFlags & DefenseConnFlag.priorityFixed) !== 0) return prio;
    this.lastReasons |= ScoreReason.retried;
    const p = prio - this.wRetransmit;
    return p < PRIORITY_BEST_SCORED ? PRIORITY_BEST_SCORED : p;
  }

  /**
   * Adds a priority change to the source's prioritySum (sum of its live connections' current
   * priorities), for entries counted in the source table. Call with the connection's record lock
   * held or not; it takes the source record's lock (connection, then source: the pipeline's order).
   */
  static applySourceDelta(
    sources: SourceTable,
    i32: Int32Array,
    base: number,
    delta: number,
    now: number,
  ): void {
    if (delta === 0 || (i32[base + Conn.flagsSyn] & ConnFlag.sourceCounted) === 0) return;
    const s = sources.acquire(
      i32[base + Conn.addr0],
      i32[base + Conn.addr1],
      i32[base + Conn.addr2],
      i32[base + Conn.addr3],
      false,
      now,
    );
    if (s < 0) return;
    sources.i32[sources.recordBase(s) + Src.prioritySum] += delta;
    sources.release(s);
  }
}
