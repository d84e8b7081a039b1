// PriorityScorer: gives each new connection a priority from its first SYN and moves it as the
// client's packets arrive (adjust.ts has the function). The band comes first: a SYN whose source
// is verified (it answered the director's challenge) starts at weights.verifiedBase; any other
// starts in the unverified band, ordered by what its SYN looks like (options, TTL, window) and its
// source's SYN rate, evidence a spoofer can fake, which is why it never lifts an entry out of the
// band. Subnet rules fix a priority (a rule that verifies only for verified sources); source
// checks handle bogons. One instance per pipeline (per worker thread); every method called per
// packet reads and writes numbers only: no allocation, no exceptions, results in return values
// and `last*` fields.
//
// Record encoding (conntrack `Conn`):
//   statePrio bits 8..15   current priority (0 highest .. 15 lowest): what shedding reads
//   statePrio bits 16..23  the rule's priority for rule-fixed entries, else the SYN's score inside
//                          the unverified band (0..6): what the priority function starts from
//   statePrio bits 24..31  StoredReason: why the SYN scored so (explain.ts names them)
//   flagsSyn               ConnFlag.priorityFixed (a rule's), ConnFlag.verified, ConnBit.ruleNeedsVerify
// Priority 0 is never changed by anything here.

import {
  Conn,
  ConnBit,
  ConnFlag,
  elapsed,
  type SourceTable,
  Src,
  statePrioInitial,
  statePrioPriority,
  statePrioWithPriority,
} from '@sluice/conntrack';
import { type FrameInfo, IpProto } from '@sluice/wire';
import { keepsPriorityZero, PriorityAdjuster } from './adjust.ts';
import { PRIORITY_LOWEST, PriorityRules } from './priority-rules.ts';
import { BogonAction, SourceChecks, SourceVerdict } from './source-checks.ts';
import { inferInitialTtl, SynShapes } from './syn-shape.ts';
import { DEFENSE_WEIGHTS, PRIORITY_UNVERIFIED_WORST, type PriorityWeights } from './weights.ts';

/** The flag a rule sets on its connections (conntrack's ConnFlag.priorityFixed, named here for the defense). */
export const DefenseConnFlag = {
  /** Priority set by a subnet rule or the bogon 'lowest' action; adjustments never touch it. */
  priorityFixed: ConnFlag.priorityFixed,
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
  overShare: 0x0100,
  verified: 0x0200,
  /** a rule matched whose priority waits for the source to be verified */
  ruleUnverified: 0x0400,
  /** one of the source's connections misbehaved recently (the re-scorer's Src.misbehavedAt) */
  misbehaved: 0x0800,
} as const;

/**
 * The SYN's score reasons as stored in a record (8 bits: Conn.statePrio bits 24..31). TTL and OS
 * mismatch share a bit.
 */
export const StoredReason = {
  noOptions: 0x01,
  partialOptions: 0x02,
  ttl: 0x04,
  smallWindow: 0x08,
  highSynRate: 0x10,
  overShare: 0x20,
  /** one of the source's connections misbehaved recently */
  misbehaved: 0x40,
  ruleUnverified: 0x80,
} as const;

/** ScoreReason bits (PriorityScorer.lastReasons) → the StoredReason byte. Allocation-free. */
export function storedReasons(reasons: number): number {
  let s = 0;
  if ((reasons & ScoreReason.noOptions) !== 0) s |= StoredReason.noOptions;
  if ((reasons & ScoreReason.partialOptions) !== 0) s |= StoredReason.partialOptions;
  if ((reasons & (ScoreReason.osMismatch | ScoreReason.badTtl)) !== 0) s |= StoredReason.ttl;
  if ((reasons & ScoreReason.smallWindow) !== 0) s |= StoredReason.smallWindow;
  if ((reasons & ScoreReason.highSynRate) !== 0) s |= StoredReason.highSynRate;
  if ((reasons & ScoreReason.overShare) !== 0) s |= StoredReason.overShare;
  if ((reasons & ScoreReason.misbehaved) !== 0) s |= StoredReason.misbehaved;
  if ((reasons & ScoreReason.ruleUnverified) !== 0) s |= StoredReason.ruleUnverified;
  return s;
}

/** Most the SYN's own points may add inside the unverified band (8 + 6 = 14). */
export const SYN_SCORE_MAX = 6;

export class PriorityScorer {
  readonly weights: PriorityWeights;
  readonly rules: PriorityRules;
  readonly checks: SourceChecks;
  readonly shapes: SynShapes;
  readonly adjuster: PriorityAdjuster;
  /**
   * The fair share of connections per source (defense-state.ts, published by the re-scorer);
   * a source holding more is penalised. The pipeline refreshes it once per batch.
   */
  fairShare = 0x7fffffff;
  /** Rule index matched by the last scoreSyn, or -1: the scheduler reads `rules.poolOf(lastRule)`. */
  lastRule = -1;
  /** Priority returned by the last scoreSyn (or SCORE_DROP). */
  lastPriority = 0;
  /** What the record's initial-priority byte keeps for the last SYN (see the encoding above). */
  lastInitial = 0;
  /** Flag bits (ConnFlag, ConnBit) to OR into the new entry's flag word. */
  lastFlags = 0;
  /** ScoreReason bits of the last scoreSyn. */
  lastReasons = 0;

  // Weights as fields: one hidden class, no property lookups through an interface per SYN.
  private readonly verifiedBase: number;
  private readonly unverifiedBase: number;
  private readonly wNoOptions: number;
  private readonly wPartialOptions: number;
  private readonly wOsMismatch: number;
  private readonly wBadTtl: number;
  private readonly maxHops: number;
  private readonly wSmallWindow: number;
  private readonly smallWindowBelow: number;
  private readonly wHighSynRate: number;
  private readonly highSynRateThreshold: number;
  private readonly wHog: number;
  private readonly wMisbehaved: number;
  private readonly misbehavedMemoryMs: number;

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
    this.verifiedBase = weights.verifiedBase;
    this.unverifiedBase = weights.unverifiedBase;
    this.wNoOptions = weights.noOptions;
    this.wPartialOptions = weights.partialOptions;
    this.wOsMismatch = weights.osMismatch;
    this.wBadTtl = weights.badTtl;
    this.maxHops = weights.maxHops;
    this.wSmallWindow = weights.smallWindow;
    this.smallWindowBelow = weights.smallWindowBelow;
    this.wHighSynRate = weights.highSynRate;
    this.highSynRateThreshold = weights.highSynRateThreshold;
    this.wHog = weights.hogPenalty;
    this.wMisbehaved = weights.misbehaved;
    this.misbehavedMemoryMs = weights.misbehavedMemoryMs;
  }

  /**
   * Initial priority of a new connection from its first packet (a TCP SYN, or a UDP datagram);
   * `verified` 1 when the caller knows its source answered a challenge (0: not known to have).
   * Returns 0..15, or SCORE_DROP (-1) for a bogon source under the 'drop' action. Sets lastRule,
   * lastPriority, lastInitial, lastFlags, lastReasons. `srcSlot`: a source-table slot the caller
   * holds, or SOURCE_LOOKUP (scorer looks it up), or SOURCE_NONE. `sources` may be null.
   * Reads the source's record as it stands before this SYN is counted in it.
   */
  scoreSyn(
    f: FrameInfo,
    sources: SourceTable | null,
    srcSlot: number,
    verified: number,
    now: number,
  ): number {
    const a0 = f.src0 | 0;
    const a1 = f.src1 | 0;
    const a2 = f.src2 | 0;
    const a3 = f.src3 | 0;
    this.lastFlags = verified === 1 ? ConnFlag.verified : 0;
    this.lastReasons = verified === 1 ? ScoreReason.verified : 0;
    const rule = this.rules.lookup(a0, a1, a2, a3);
    this.lastRule = rule;
    if (rule >= 0) {
      const rp = this.rules.priorityOf(rule);
      this.lastInitial = rp;
      this.lastFlags |= ConnFlag.priorityFixed;
      this.lastReasons |= ScoreReason.rule;
      if (verified === 1 || this.rules.verifiesSource(rule) === 0) {
        this.lastPriority = rp;
        return rp;
      }
      // The rule waits for the source to answer; meanwhile it ranks as an unverified kernel.
      this.lastFlags |= ConnBit.ruleNeedsVerify;
      this.lastReasons |= ScoreReason.ruleUnverified;
      this.lastPriority = this.unverifiedBase;
      return this.unverifiedBase;
    }
    if (this.checks.check(a0, a1, a2, a3) === SourceVerdict.bogon) {
      this.lastReasons |= ScoreReason.bogon;
      if (this.checks.action === BogonAction.drop) {
        this.lastPriority = -1;
        return -1;
      }
      this.lastFlags |= ConnFlag.priorityFixed;
      this.lastInitial = PRIORITY_LOWEST;
      this.lastPriority = PRIORITY_LOWEST;
      return PRIORITY_LOWEST;
    }
    let score = f.ipProto === IpProto.tcp ? this.shapePoints(f) : 0;
    if (sources !== null && srcSlot !== SOURCE_NONE) {
      if (srcSlot >= 0) {
        score += this.historyPoints(sources, srcSlot, verified, now);
      } else {
        const s = sources.acquire(a0, a1, a2, a3, false, now);
        if (s >= 0) {
          score += this.historyPoints(sources, s, verified, now);
          sources.release(s);
        }
      }
    }
    // What the SYN earned stays in the record (its initial byte) for the priority function: its
    // shape and rate inside the unverified band; in either band, its source's misbehaviour. Its
    // source's share goes in the flag word (ConnBit), which the re-scorer keeps current.
    if (verified === 1) score = (this.lastReasons & ScoreReason.misbehaved) !== 0 ? this.wMisbehaved : 0;
    const room = verified === 1 ? this.unverifiedBase - 1 - this.verifiedBase : SYN_SCORE_MAX;
    if (score > room) score = room;
    this.lastInitial = score;
    let hog = 0;
    if ((this.lastReasons & ScoreReason.overShare) !== 0) {
      hog = this.wHog > 7 ? 7 : this.wHog;
      this.lastFlags |= hog << ConnBit.sourcePenaltyShift;
    }
    let p = (verified === 1 ? this.verifiedBase : this.unverifiedBase) + score + hog;
    const worst = verified === 1 ? this.unverifiedBase - 1 : PRIORITY_UNVERIFIED_WORST;
    if (p > worst) p = worst;
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

  /**
   * Points from the source's record (read under the caller's lock, or plain word reads). The SYN
   * rate counts only against unverified sources: a spoofer can raise any address's rate. Holding
   * more than the fair share, and a connection that misbehaved recently, are noted in lastReasons
   * for the caller (they count in either band: what a real address did with its slots).
   */
  private historyPoints(sources: SourceTable, slot: number, verified: number, now: number): number {
    const i32 = sources.i32;
    const b = sources.recordBase(slot);
    let p = 0;
    if (verified === 0 && sources.synRateAt(b, now) >= this.highSynRateThreshold) {
      p += this.wHighSynRate;
      this.lastReasons |= ScoreReason.highSynRate;
    }
    if (i32[b + Src.heldLastPass] > this.fairShare) this.lastReasons |= ScoreReason.overShare;
    const bad = i32[b + Src.misbehavedAt];
    if (bad !== 0 && elapsed(bad, now) < this.misbehavedMemoryMs) {
      this.lastReasons |= ScoreReason.misbehaved;
      p += this.wMisbehaved;
    }
    return p;
  }

  /**
   * Moves a connection's priority after a packet. Call with the record lock held, after the
   * pipeline has written this packet's statePrio, flagsSyn and lastSeen, just before
   * `release()`, for every packet of an existing entry and for the packet that created one.
   * Returns the change of the priority byte (new − old; 0 almost always), which the caller adds
   * to the source's prioritySum (see applySourceDelta). Priority 0 is left alone while the
   * connection is open.
   */
  onPacket(i32: Int32Array, base: number, now: number): number {
    const sp = i32[base + Conn.statePrio];
    const prio = statePrioPriority(sp);
    const fs = i32[base + Conn.flagsSyn];
    if (keepsPriorityZero(prio, fs)) return 0;
    // The idle clock as the packet left it: 0 after news, still running after an empty ACK (the
    // pipeline's lastSeen), so a keepalive does not buy back a served-idle connection's credit.
    const idle = elapsed(i32[base + Conn.lastSeen], now);
    const next = this.adjuster.priority(
      statePrioInitial(sp),
      fs,
      elapsed(i32[base + Conn.firstSeen], now),
      idle > 0 ? idle : 0,
      elapsed(i32[base + Conn.awaitingSince], now),
    );
    if (next === prio) return 0;
    i32[base + Conn.statePrio] = statePrioWithPriority(sp, next);
    return next - prio;
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
