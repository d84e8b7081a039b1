// Rescorer: the background half of the defense (the seed's "separate process … working fulltime
// just prioritizing connections"). It walks the connection table continuously in bounded steps,
// and for each live entry:
//   - recomputes its priority with the real idle time (adjust.ts: idle decay, a half-open entry,
//     a silent client or a stalled request sinking after its grace) and its source's share: under
//     pressure, a source holding more connections than its fair share sinks;
//   - marks it verified once its source has answered a challenge since (VerifiedSourceTable), so
//     it joins the verified band without waiting for a packet;
//   - stops holding a slot for a half-open entry past weights.halfOpenHoldMs (RealServerCounters
//     .held: a server keeps no worker for it, and with syncookies nothing for a spoofed SYN; a
//     source verified after the entry began does not make it hold), and
//     starts holding one for a verified source's provisional entry past weights.provisionalMs
//     whose handshake is complete (a half-open one is held when its ACK comes);
//   - offers it as a shedding candidate: to its real server's list if it is held (a closed
//     connection frees nothing and gets no RST), and to the global list.
// At the end of each pass it counts the sources holding connections and publishes the fair share
// (the capacity the defense loop published, divided among them) in the DefenseState.
// It runs in its own worker thread (rescorer-worker.ts) so the packet path never pays for it.
//
// Concurrency: records are read with the table's seqlock copy (readRecord, never torn); a record
// is written only under its lock, recomputed from the live record at that moment, so a packet
// processed meanwhile is never overwritten with stale state. Rule-fixed entries and priority 0
// keep their priority. The source's prioritySum is kept in step with every change it makes.
// Victim lists are built privately and published at the end of each full pass (and earlier for a
// list its shedders have emptied), under the index's seqlock. Only one Rescorer may publish to a
// VictimIndex.

import {
  Conn,
  ConnBit,
  type ConnectionTable,
  ConnFlag,
  EditOutcome,
  elapsed,
  packStatePrio,
  type RecordEditor,
  type SourceTable,
  Src,
  statePrioInitial,
  statePrioPriority,
  statePrioReasons,
  statePrioState,
  statePrioWithPriority,
  type VerifiedSourceTable,
} from '@sluice/conntrack';
import type { RealServerCounters } from '@sluice/schedulers';
import { halfOpenGraceMs, isIdleKeepAlive, keepsPriorityZero, PriorityAdjuster } from './adjust.ts';
import type { DefenseState } from './defense-state.ts';
import { DEMOTED_POINTS, HOLDS_AFTER_PROVISIONAL, Reconfirm, reconfirmVerdict } from './reconfirm.ts';
import { PriorityScorer } from './scorer.ts';
import { VICTIM_GLOBAL, type VictimIndex } from './victim-index.ts';
import { DEFENSE_WEIGHTS, type PriorityWeights } from './weights.ts';

/**
 * A held connection without server progress counts toward its source's share once this old: a
 * round trip to nearly anywhere with margin (as weights.provisionalMs), so a spoofed entry its
 * address's owner resets never counts, while a botnet opening all its connections at once sinks
 * within a pass of them starting to hold (1000 ms left valid clients refused for a second at the
 * onset of every bot scenario: simulator seeds 1 and 6).
 */
const SHARE_MIN_AGE_MS = 500;

/**
 * What takes a share besides a held slot: a verified source's half-open entry past its provisional
 * time (flags & mask === verified) and past the verified half-open grace (adjust.ts
 * halfOpenGraceMs: the round trip in which a client's ACK follows the server's SYN-ACK, or its
 * owner resets a spoof), the same grace after which it sinks. It holds no worker on its server, so
 * it is not held, but a live host that sends SYNs and completes none (a SYN flood from its own
 * address, its resets read late or never by the director) takes the connection table with them;
 * counted, the host is over its share and its next SYNs start below every verified client's
 * (scorer.ts, overShare). Uncounted, its new entries tied with returning clients' at the verified
 * base and the table refused them (simulator, `--param floodIgnoresSynAck=1`: 0.78-0.95). An
 * address a spoofer uses keeps no such entries for long: its owner resets them within its round
 * trip, and an owner that is gone is no longer verified (reconfirm.ts). Round trips beyond the
 * grace defeat this, as they defeat provisionalMs (DEFENSE.md §6).
 */
const VERIFIED_HALF_OPEN_MASK =
  ConnFlag.verified | ConnFlag.handshake | ConnFlag.udp | ConnFlag.provisional | ConnFlag.held;

/** What the re-scorer walks and writes; all but the table and the index are optional. */
export interface RescorerTables {
  connections: ConnectionTable;
  victims: VictimIndex;
  sources?: SourceTable | null;
  reals?: RealServerCounters | null;
  verified?: VerifiedSourceTable | null;
  state?: DefenseState | null;
}

export class Rescorer implements RecordEditor {
  readonly table: ConnectionTable;
  readonly sources: SourceTable | null;
  readonly victims: VictimIndex;
  readonly reals: RealServerCounters | null;
  readonly verified: VerifiedSourceTable | null;
  readonly state: DefenseState | null;
  // Set by setWeights (the constructor calls it).
  private adjuster!: PriorityAdjuster;
  private hogPenalty = 0;
  private servedIdleMs = 0;
  private fairShareFloor = 0;
  private halfOpenHoldMs = 0;
  /** When a verified half-open entry sinks and starts taking a share (adjust.ts halfOpenGraceMs). */
  private verifiedHalfOpenGraceMs = 0;
  private provisionalMs = 0;
  private provisionalMaxMs = 0;
  private reconfirmAfterMs = 0;
  private stallGraceMs = 0;
  private silentGraceMs = 0;
  private silentOn = false;
  /** Next slot to examine. */
  cursor = 0;
  // Statistics (this instance, since creation).
  passes = 0;
  examined = 0;
  changed = 0;
  lockFailures = 0;
  readFailures = 0;
  /** Connections marked verified because their source answered after they began. */
  verifiedLate = 0;
  /** Half-open entries that stopped holding a slot. */
  released = 0;
  /** Provisional entries that started holding a slot, having outlived weights.provisionalMs. */
  promoted = 0;
  /** Of those, the ones whose source had not answered again (reconfirmAfterMs): out of the verified band. */
  demoted = 0;
  private changedThisPass = 0;
  private readonly rec: Int32Array;
  // Victim lists being built during the current pass: per list `perList` entries, worst first.
  private readonly perList: number;
  private readonly buildCount: Int32Array;
  /** 1 when a list being built gained an entry since it was last published. */
  private readonly buildDirty: Uint8Array;
  private readonly buildSlot: Int32Array;
  private readonly buildTag: Int32Array;
  private readonly buildPrio: Int32Array;
  private readonly buildIdle: Int32Array;
  /**
   * Per real server, its HalfOpenBound as this pass began (the stamp of the lists it completes) and
   * as the pass before began (of a list published mid-pass: the part not visited yet, the pass
   * before saw).
   */
  private readonly passStartMark: Int32Array;
  private readonly prevPassStartMark: Int32Array;
  // Held connections per source slot, counted this pass while a service is under pressure, with
  // the source's tag so a reused source slot does not inherit another source's count.
  private readonly curHeld: Int32Array;
  private readonly curTag: Int32Array;
  /** A service was verifying (under pressure) when this pass began: count per source. */
  private counting = false;

  constructor(tables: RescorerTables, weights: PriorityWeights = DEFENSE_WEIGHTS) {
    this.table = tables.connections;
    this.sources = tables.sources ?? null;
    this.victims = tables.victims;
    this.reals = tables.reals ?? null;
    this.verified = tables.verified ?? null;
    this.state = tables.state ?? null;
    this.setWeights(weights);
    this.rec = new Int32Array(Conn.snapshotWords);
    const k = this.victims.perList;
    const lists = this.victims.lists;
    this.perList = k;
    this.buildCount = new Int32Array(lists);
    this.buildDirty = new Uint8Array(lists);
    this.buildSlot = new Int32Array(lists * k);
    this.buildTag = new Int32Array(lists * k);
    this.buildPrio = new Int32Array(lists * k);
    this.buildIdle = new Int32Array(lists * k);
    this.passStartMark = new Int32Array(lists);
    this.prevPassStartMark = new Int32Array(lists);
    this.notePassStart();
    const sc = this.sources === null ? 0 : this.sources.capacity;
    this.curHeld = new Int32Array(sc);
    this.curTag = new Int32Array(sc);
    this.counting = this.pressure();
  }

  /** Whether any service verifies sources now (the fair share applies only then). */
  private pressure(): boolean {
    const state = this.state;
    if (state === null) return false;
    for (let svc = 0; svc < state.services; svc++) if (state.verifying(svc) === 1) return true;
    return false;
  }

  /** New weights take effect from the next entry examined. */
  setWeights(weights: PriorityWeights): void {
    this.adjuster = new PriorityAdjuster(weights);
    this.hogPenalty = weights.hogPenalty;
    this.servedIdleMs = weights.servedIdleMs;
    this.fairShareFloor = weights.fairShareFloor;
    this.halfOpenHoldMs = weights.halfOpenHoldMs;
    this.verifiedHalfOpenGraceMs = halfOpenGraceMs(weights, true);
    this.provisionalMs = weights.provisionalMs;
    this.provisionalMaxMs = weights.provisionalMaxMs;
    this.reconfirmAfterMs = weights.reconfirmAfterMs;
    this.stallGraceMs = weights.stallGraceMs;
    this.silentGraceMs = weights.silentGraceMs;
    this.silentOn = weights.silent > 0;
  }

  /**
   * Examines the next `budget` slots. Bounded work; call repeatedly, yielding between calls.
   * Returns 1 when this step completed a full pass (and published every list), else 0.
   */
  step(now: number, budget: number): number {
    const table = this.table;
    const core = table.core;
    const i32 = table.i32;
    const tagsBase = core.tagsBase;
    const cap = table.capacity;
    const rec = this.rec;
    let passDone = 0;
    for (let n = 0; n < budget; n++) {
      const slot = this.cursor;
      if (slot === 0) this.notePassStart();
      this.cursor = slot + 1 === cap ? 0 : slot + 1;
      if (i32[tagsBase + slot] !== 0) {
        this.examined++;
        if (!table.readRecord(slot, rec)) {
          this.readFailures++;
        } else if (rec[Conn.tag] !== 0) {
          this.visit(slot, now);
        }
      }
      if (this.cursor === 0) {
        this.endPass(now);
        passDone = 1;
      }
    }
    if (passDone === 0) this.refillEmptied();
    return passDone;
  }

  /** Runs steps until a full pass has completed (tests, and a first pass at start-up). */
  runPass(now: number, budget = 4096): void {
    while (this.step(now, budget) === 0) {}
  }

  private visit(slot: number, now: number): void {
    const rec = this.rec;
    const sp = rec[Conn.statePrio];
    let prio = statePrioPriority(sp);
    let fs = rec[Conn.flagsSyn];
    let idle = elapsed(rec[Conn.lastSeen], now);
    if (idle < 0) idle = 0;
    const age = elapsed(rec[Conn.firstSeen], now);
    const closed = (fs & (ConnFlag.fin | ConnFlag.rst)) !== 0;
    let change = 0;
    if (
      !closed &&
      (fs & ConnFlag.verified) === 0 &&
      this.verified !== null &&
      this.verified.isVerified(rec[Conn.addr0], rec[Conn.addr1], rec[Conn.addr2], rec[Conn.addr3], now) === 1
    ) {
      change |= ConnFlag.verified;
    }
    if (
      (fs & (ConnFlag.held | ConnFlag.handshake | ConnFlag.udp)) === ConnFlag.held &&
      age >= this.halfOpenHoldMs &&
      this.reals !== null
    ) {
      change |= ConnFlag.held;
    }
    // A provisional entry that outlived its round trip: its client's, so now held.
    if (
      (fs & (ConnFlag.provisional | ConnFlag.fin | ConnFlag.rst)) === ConnFlag.provisional &&
      age >= this.provisionalMs &&
      this.reals !== null
    ) {
      change |= ConnFlag.provisional;
    }
    // Closed by the server's keep-alive timeout: no longer held (checked again under the lock).
    if ((fs & ConnFlag.held) !== 0 && this.reals !== null && this.adjuster.closedByServer(fs, idle)) {
      change |= ConnFlag.held;
    }
    const extra = !closed && prio !== 0 ? this.sourcePenalty(idle, now) : 0;
    const withExtra = (fs & ~ConnBit.sourcePenaltyMask) | (extra << ConnBit.sourcePenaltyShift);
    const next = keepsPriorityZero(prio, fs)
      ? 0
      : this.adjuster.priority(
          statePrioInitial(sp),
          withExtra | (change & ConnFlag.verified),
          age,
          idle,
          elapsed(rec[Conn.awaitingSince], now),
        );
    if (change !== 0 || next !== prio || withExtra !== fs) {
      const written = this.write(slot, rec[Conn.tag], change, extra, now);
      if (written < 0) return; // gone meanwhile
      prio = written;
      fs = this.writtenFlags;
    }
    if (prio === 0) return;
    if ((fs & (ConnFlag.verified | ConnFlag.fin | ConnFlag.rst | ConnFlag.udp)) === ConnFlag.verified) {
      this.noteMisbehaviour(fs, age, now);
    }
    // Ties go to the longest idle, to the millisecond: among fresh equals, an entry whose client
    // has been silent for most of a second goes before one still waiting on its SYN-ACK.
    const real = rec[Conn.real];
    if ((fs & ConnFlag.held) !== 0 && real >= 0 && real < this.victims.reals) {
      this.offer(real, slot, rec[Conn.tag], prio, idle);
    }
    this.offer(this.victims.reals, slot, rec[Conn.tag], prio, idle);
  }

  /**
   * Under pressure, counts the entry in `rec` toward its source for this pass if it takes a share
   * (held, or VERIFIED_HALF_OPEN_MASK), and returns the penalty for its source holding more than
   * the fair share at the last pass (0 otherwise).
   */
  private sourcePenalty(idle: number, now: number): number {
    const sources = this.sources;
    if (!this.counting || sources === null || this.state === null) return 0;
    const rec = this.rec;
    const fs = rec[Conn.flagsSyn];
    if ((fs & (ConnFlag.fin | ConnFlag.rst)) !== 0) return 0;
    // An idle keep-alive connection already ranks below a new client on its own (servedIdle) and
    // is the first its server gives up: it takes no share, so a client's next request, on a new
    // connection beside the idle ones a browser keeps, is not counted over its share for them.
    if (isIdleKeepAlive(fs, idle, this.servedIdleMs)) return 0;
    if (
      (fs & ConnFlag.held) === 0 &&
      ((fs & VERIFIED_HALF_OPEN_MASK) !== ConnFlag.verified ||
        elapsed(rec[Conn.firstSeen], now) < this.verifiedHalfOpenGraceMs)
    ) {
      return 0;
    }
    // Only connections that were served or have lasted count toward a source's share: a spoofer
    // using a verified client's address opens entries its owner resets within a round trip, and
    // must not be able to push that client over its share with them.
    if (
      (rec[Conn.flagsSyn] & ConnFlag.progress) === 0 &&
      elapsed(rec[Conn.firstSeen], now) < SHARE_MIN_AGE_MS
    ) {
      return 0;
    }
    const s = sources.acquire(rec[Conn.addr0], rec[Conn.addr1], rec[Conn.addr2], rec[Conn.addr3], false, now);
    if (s < 0) return 0;
    const tag = sources.core.tagOfSlot(s);
    const last = sources.i32[sources.recordBase(s) + Src.heldLastPass];
    sources.release(s);
    if (this.curTag[s] !== tag) {
      this.curTag[s] = tag;
      this.curHeld[s] = 0;
    }
    this.curHeld[s]++;
    if (this.hogPenalty === 0 || last <= this.state.fairShare()) return 0;
    return this.hogPenalty > 7 ? 7 : this.hogPenalty;
  }

  /**
   * A verified connection (in `rec`, flags `fs`) that misbehaves, holding its server up (a request
   * head that kept growing, or a window kept shut, while it waited: ConnBit.holdsUp), silence after
   * its handshake, forged acknowledgements, marks its source (Src.misbehavedAt): the source's next
   * SYNs rank lower (weights.misbehaved). Only verified connections count: a spoofer's entries must
   * not spoil the record of the address it forges. A stall alone does not mark: a client whose complete request waits behind a full
   * server's workers (held by the attackers) sent nothing more, and its next connection must not
   * pay for the attackers' hold; the stalled connection itself still sinks (adjust.ts).
   */
  private noteMisbehaviour(fs: number, age: number, now: number): void {
    const sources = this.sources;
    if (sources === null) return;
    const rec = this.rec;
    const stalled =
      (fs & (ConnFlag.awaiting | ConnBit.holdsUp)) === (ConnFlag.awaiting | ConnBit.holdsUp) &&
      elapsed(rec[Conn.awaitingSince], now) >= this.stallGraceMs;
    const silent =
      this.silentOn &&
      (fs & (ConnFlag.handshake | ConnFlag.data)) === ConnFlag.handshake &&
      age >= this.silentGraceMs;
    if (!stalled && !silent && (fs & ConnFlag.ackForged) === 0) return;
    const s = sources.acquire(rec[Conn.addr0], rec[Conn.addr1], rec[Conn.addr2], rec[Conn.addr3], false, now);
    if (s < 0) return;
    sources.i32[sources.recordBase(s) + Src.misbehavedAt] = now === 0 ? 1 : now;
    sources.release(s);
    this.misbehaving++;
  }

  /** Misbehaving verified connections seen (statistics). */
  misbehaving = 0;

  /** The flag word `write` left in the record (valid after it returned ≥ 0). */
  private writtenFlags = 0;

  /**
   * Applies, under the record's lock (ConnectionTable.editIfStill runs `edit`), from the live
   * record at that moment: the verified flag (`change` has ConnFlag.verified), the release of an
   * half-open entry's slot (`change` has ConnFlag.held, and it still qualifies), and
   * the priority recomputed. Returns the priority now in the record, or -1 when the slot no
   * longer holds the connection.
   */
  private write(slot: number, tag: number, change: number, extra: number, now: number): number {
    this.editChange = change;
    this.editExtra = extra;
    this.editNow = now;
    const result = this.table.editIfStill(slot, tag, this);
    if (result === EditOutcome.busy) {
      this.lockFailures++;
      this.writtenFlags = this.rec[Conn.flagsSyn];
      return statePrioPriority(this.rec[Conn.statePrio]);
    }
    return result;
  }

  // What `edit` applies: set by `write` just before the table calls it.
  private editChange = 0;
  private editExtra = 0;
  private editNow = 0;

  /** RecordEditor: the table calls it with the record locked; see `write`. */
  edit(i32: Int32Array, base: number): number {
    const change = this.editChange;
    const extra = this.editExtra;
    const now = this.editNow;
    let sp = i32[base + Conn.statePrio];
    const prio = statePrioPriority(sp);
    let fs = i32[base + Conn.flagsSyn];
    if ((change & ConnFlag.verified) !== 0 && (fs & ConnFlag.verified) === 0) {
      fs |= ConnFlag.verified;
      this.verifiedLate++;
    }
    let idle = elapsed(i32[base + Conn.lastSeen], now);
    if (idle < 0) idle = 0;
    const age = elapsed(i32[base + Conn.firstSeen], now);
    if (
      (change & ConnFlag.held) !== 0 &&
      (fs & ConnFlag.held) !== 0 &&
      (((fs & (ConnFlag.handshake | ConnFlag.udp)) === 0 && age >= this.halfOpenHoldMs) ||
        this.adjuster.closedByServer(fs, idle))
    ) {
      fs &= ~ConnFlag.held;
      (this.reals as RealServerCounters).addHeld(i32[base + Conn.real], -1);
      this.released++;
    }
    if (
      (change & ConnFlag.provisional) !== 0 &&
      (fs & (ConnFlag.provisional | ConnFlag.fin | ConnFlag.rst)) === ConnFlag.provisional &&
      age >= this.provisionalMs
    ) {
      // In the verified band only if its source answered around its SYN (reconfirm.ts); not
      // asked yet: it stays provisional (the packet path asks on its next packet).
      const verdict =
        (fs & ConnBit.answered) !== 0
          ? Reconfirm.keep
          : reconfirmVerdict(
              this.verified,
              i32[base + Conn.addr0],
              i32[base + Conn.addr1],
              i32[base + Conn.addr2],
              i32[base + Conn.addr3],
              i32[base + Conn.firstSeen],
              now,
              this.reconfirmAfterMs,
              this.provisionalMs,
              this.provisionalMaxMs,
              fs,
              i32[base + Conn.awaitingSince],
            );
      if (verdict === Reconfirm.keep || verdict === Reconfirm.demote) {
        if (verdict === Reconfirm.demote) {
          fs &= ~ConnFlag.verified;
          sp = packStatePrio(statePrioState(sp), prio, DEMOTED_POINTS, statePrioReasons(sp));
          i32[base + Conn.statePrio] = sp;
          this.demoted++;
        }
        fs &= ~ConnFlag.provisional;
        if ((fs & HOLDS_AFTER_PROVISIONAL) !== 0) {
          fs |= ConnFlag.held;
          (this.reals as RealServerCounters).addHeld(i32[base + Conn.real], 1);
          this.promoted++;
        }
      }
    }
    // Its source's share penalty (0 when not over its share, or not under pressure), in the flag
    // word, where the packet path's recomputation finds it too.
    fs = (fs & ~ConnBit.sourcePenaltyMask) | ((prio === 0 ? 0 : extra) << ConnBit.sourcePenaltyShift);
    i32[base + Conn.flagsSyn] = fs;
    this.writtenFlags = fs;
    let next = prio;
    if (!keepsPriorityZero(prio, fs)) {
      next = this.adjuster.priority(
        statePrioInitial(sp),
        fs,
        age,
        idle,
        elapsed(i32[base + Conn.awaitingSince], now),
      );
    }
    if (next !== prio) {
      i32[base + Conn.statePrio] = statePrioWithPriority(sp, next);
      this.changed++;
      this.changedThisPass++;
      // Keep the source's prioritySum exact: same lock order as the pipeline (record, then source).
      if (this.sources !== null) PriorityScorer.applySourceDelta(this.sources, i32, base, next - prio, now);
    }
    return next;
  }

  /** Inserts a candidate into a list being built, keeping the `perList` worst, worst first. */
  private offer(list: number, slot: number, tag: number, prio: number, idle: number): void {
    const k = this.perList;
    const b = list * k;
    const bp = this.buildPrio;
    const bi = this.buildIdle;
    let n = this.buildCount[list];
    if (n === k) {
      const last = b + k - 1;
      if (prio < bp[last] || (prio === bp[last] && idle <= bi[last])) return;
      n = k - 1;
    }
    let i = b + n;
    while (i > b && (prio > bp[i - 1] || (prio === bp[i - 1] && idle > bi[i - 1]))) {
      this.buildSlot[i] = this.buildSlot[i - 1];
      this.buildTag[i] = this.buildTag[i - 1];
      bp[i] = bp[i - 1];
      bi[i] = bi[i - 1];
      i--;
    }
    this.buildSlot[i] = slot;
    this.buildTag[i] = tag;
    bp[i] = prio;
    bi[i] = idle;
    this.buildCount[list] = n + 1;
    this.buildDirty[list] = 1;
  }

  /**
   * Stamps the lists this pass builds with their servers' HalfOpenBound now: what was bound before,
   * the pass will see; what comes after, perhaps not.
   */
  private notePassStart(): void {
    const reals = this.reals;
    if (reals === null) return;
    const marks = this.passStartMark;
    this.prevPassStartMark.set(marks);
    for (let list = 0; list < this.victims.reals; list++) marks[list] = reals.halfOpenBoundCount(list);
  }

  /**
   * Publishes a list being built, leaving out entries whose slot no longer holds the connection
   * (shed or gone since they were found). The build is kept: entries stay candidates until the
   * pass ends, so a list refilled mid-pass and then replaced at the end loses nothing.
   */
  private publishList(list: number, passDone: boolean): void {
    const k = this.perList;
    const b = list * k;
    const n = this.buildCount[list];
    const core = this.table.core;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const e = b + i;
      if (core.tagOfSlot(this.buildSlot[e]) !== this.buildTag[e]) continue;
      const d = b + kept;
      this.buildSlot[d] = this.buildSlot[e];
      this.buildTag[d] = this.buildTag[e];
      this.buildPrio[d] = this.buildPrio[e];
      this.buildIdle[d] = this.buildIdle[e];
      kept++;
    }
    this.buildCount[list] = kept;
    this.buildDirty[list] = 0;
    const mark = passDone ? this.passStartMark[list] : this.prevPassStartMark[list];
    this.victims.publish(list, this.buildSlot, this.buildTag, this.buildPrio, this.buildIdle, b, kept, mark);
  }

  /** Mid-pass: a list its shedders emptied gets what this pass has found so far. */
  private refillEmptied(): void {
    const v = this.victims;
    const dirty = this.buildDirty;
    for (let list = 0; list < dirty.length; list++) {
      if (dirty[list] === 0) continue;
      if (v.remaining(list === v.reals ? VICTIM_GLOBAL : list) === 0) this.publishList(list, false);
    }
  }

  private endPass(now: number): void {
    for (let list = 0; list < this.buildCount.length; list++) {
      this.publishList(list, true);
      this.buildCount[list] = 0;
    }
    this.victims.notePass(now, this.changedThisPass);
    this.changedThisPass = 0;
    this.passes++;
    this.publishFairShare();
  }

  /**
   * Publishes each source's connections that took a share this pass (Src.heldLastPass: held ones,
   * and a verified source's half-open ones past their provisional time) and the fair share:
   * the capacity the defense loop published (the real servers' upper thresholds summed) divided
   * among the sources holding connections, never below weights.fairShareFloor; with no capacity,
   * or no pressure, no limit.
   */
  private publishFairShare(): void {
    const state = this.state;
    const sources = this.sources;
    if (state === null || sources === null) return;
    const core = sources.core;
    const i32 = sources.i32;
    const counted = this.counting;
    let active = 0;
    for (let slot = 0; slot < sources.capacity; slot++) {
      const tag = core.tagOfSlot(slot);
      if (tag === 0) continue;
      const held = counted && this.curTag[slot] === tag ? this.curHeld[slot] : 0;
      i32[core.recordBase(slot) + Src.heldLastPass] = held;
      if (held > 0) active++;
    }
    this.curHeld.fill(0);
    this.curTag.fill(0);
    this.counting = this.pressure();
    const capacity = state.capacity();
    let share = 0x7fffffff;
    if (counted && capacity > 0 && active > 0) {
      // Rounded down, so the shares sum to no more than the capacity: rounded up, a botnet holding
      // exactly its share from enough addresses fills the cluster and is never "over" it.
      share = Math.floor(capacity / active);
      if (share < this.fairShareFloor) share = this.fairShareFloor;
    }
    state.setFairShare(share, active);
  }
}
