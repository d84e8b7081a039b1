// Rescorer: the background half of the defense (the seed's "separate process … working fulltime
// just prioritizing connections"). It walks the connection table continuously in bounded steps,
// and for each live entry:
//   - recomputes its priority with the real idle time (PriorityAdjuster: idle decay, half-open
//     entries sinking after the grace period) and a per-source aggregate: a source holding many
//     idle connections (slot hoarding) sinks those idle connections further;
//   - offers it as a shedding candidate to the per-real-server and global victim lists.
// It runs in its own worker thread (rescorer-worker.ts) so the packet path never pays for it.
//
// Concurrency: records are read with the table's seqlock copy (readRecord, never torn); a
// priority byte is written only under the record lock, recomputed from the live record at that
// moment, so a packet processed meanwhile is never overwritten with stale state. Rule-fixed entries
// (DefenseConnFlag.priorityFixed) and priority 0 are never written. The source's prioritySum is kept
// in step with every change it makes. Victim lists are built privately and published at the end of
// each full pass (and earlier for a list its shedders have emptied), under the index's seqlock.
// Only one Rescorer may publish to a VictimIndex.

import { Conn, type ConnectionTable, elapsed, type SourceTable } from '@sluice/conntrack';
import { PriorityAdjuster } from './adjust.ts';
import { DefenseConnFlag, PriorityScorer } from './scorer.ts';
import { VICTIM_GLOBAL, type VictimIndex } from './victim-index.ts';
import { DEFENSE_WEIGHTS, type PriorityWeights } from './weights.ts';

const PRIO_MASK = 0xff00;

export class Rescorer {
  readonly table: ConnectionTable;
  readonly sources: SourceTable | null;
  readonly victims: VictimIndex;
  private adjuster: PriorityAdjuster;
  private hogIdleMs: number;
  private hogIdleConnections: number;
  private hogPenalty: number;
  /** Next slot to examine. */
  cursor = 0;
  // Statistics (this instance, since creation).
  passes = 0;
  examined = 0;
  changed = 0;
  lockFailures = 0;
  readFailures = 0;
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
  // Idle connections per source slot: counted this pass (cur) and in the last full pass (prev),
  // with the source's tag so a reused source slot does not inherit another source's count.
  private curIdle: Int32Array;
  private curTag: Int32Array;
  private prevIdle: Int32Array;
  private prevTag: Int32Array;

  constructor(
    table: ConnectionTable,
    sources: SourceTable | null,
    victims: VictimIndex,
    weights: PriorityWeights = DEFENSE_WEIGHTS,
  ) {
    this.table = table;
    this.sources = sources;
    this.victims = victims;
    this.adjuster = new PriorityAdjuster(weights);
    this.hogIdleMs = weights.hogIdleMs;
    this.hogIdleConnections = weights.hogIdleConnections;
    this.hogPenalty = weights.hogPenalty;
    this.rec = new Int32Array(Conn.words);
    const k = victims.perList;
    const lists = victims.lists;
    this.perList = k;
    this.buildCount = new Int32Array(lists);
    this.buildDirty = new Uint8Array(lists);
    this.buildSlot = new Int32Array(lists * k);
    this.buildTag = new Int32Array(lists * k);
    this.buildPrio = new Int32Array(lists * k);
    this.buildIdle = new Int32Array(lists * k);
    const sc = sources === null ? 0 : sources.capacity;
    this.curIdle = new Int32Array(sc);
    this.curTag = new Int32Array(sc);
    this.prevIdle = new Int32Array(sc);
    this.prevTag = new Int32Array(sc);
  }

  /** New weights take effect from the next entry examined. */
  setWeights(weights: PriorityWeights): void {
    this.adjuster = new PriorityAdjuster(weights);
    this.hogIdleMs = weights.hogIdleMs;
    this.hogIdleConnections = weights.hogIdleConnections;
    this.hogPenalty = weights.hogPenalty;
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
    let prio = (sp >>> 8) & 0xff;
    const fs = rec[Conn.flagsSyn];
    let idle = elapsed(rec[Conn.lastSeen], now);
    if (idle < 0) idle = 0;
    if (prio !== 0 && (fs & DefenseConnFlag.priorityFixed) === 0) {
      const extra = this.sources !== null && idle >= this.hogIdleMs ? this.sourcePenalty(now) : 0;
      const next = this.adjuster.priority((sp >>> 16) & 0xff, fs, rec[Conn.packets], idle, extra);
      if (next !== prio) {
        const written = this.writePriority(slot, rec[Conn.tag], extra, now);
        if (written < 0) return; // gone meanwhile
        prio = written;
      }
    }
    if (prio === 0) return;
    // Ties go to the longest idle, to the millisecond: among fresh equals, an entry whose client
    // has been silent for most of a second goes before one still waiting on its SYN-ACK.
    const real = rec[Conn.real];
    if (real >= 0 && real < this.victims.reals) this.offer(real, slot, rec[Conn.tag], prio, idle);
    this.offer(this.victims.reals, slot, rec[Conn.tag], prio, idle);
  }

  /**
   * For an idle entry (in `rec`): counts it toward its source's idle total for this pass and
   * returns the hoarding penalty if the source held too many idle entries in the last pass.
   */
  private sourcePenalty(now: number): number {
    const sources = this.sources as SourceTable;
    const rec = this.rec;
    const s = sources.acquire(rec[Conn.addr0], rec[Conn.addr1], rec[Conn.addr2], rec[Conn.addr3], false, now);
    if (s < 0) return 0;
    const stag = sources.core.tagOfSlot(s);
    sources.release(s);
    if (this.curTag[s] !== stag) {
      this.curTag[s] = stag;
      this.curIdle[s] = 0;
    }
    this.curIdle[s]++;
    if (this.prevTag[s] === stag && this.prevIdle[s] >= this.hogIdleConnections) return this.hogPenalty;
    if (this.curIdle[s] >= this.hogIdleConnections) return this.hogPenalty;
    return 0;
  }

  /**
   * Locks the record and writes its priority recomputed from the live record. Returns the
   * priority now in the record, or -1 when the slot no longer holds the connection.
   */
  private writePriority(slot: number, tag: number, extra: number, now: number): number {
    const table = this.table;
    const core = table.core;
    const i32 = table.i32;
    const v = core.lockRecord(slot);
    if (v < 0) {
      this.lockFailures++;
      return (this.rec[Conn.statePrio] >>> 8) & 0xff;
    }
    if (core.tagOfSlot(slot) !== tag) {
      core.unlockRecord(slot, v);
      return -1;
    }
    const base = core.recordBase(slot);
    const sp = i32[base + Conn.statePrio];
    const prio = (sp >>> 8) & 0xff;
    const fs = i32[base + Conn.flagsSyn];
    if (prio === 0 || (fs & DefenseConnFlag.priorityFixed) !== 0) {
      core.unlockRecord(slot, v);
      return prio;
    }
    let idle = elapsed(i32[base + Conn.lastSeen], now);
    if (idle < 0) idle = 0;
    const next = this.adjuster.priority(
      (sp >>> 16) & 0xff,
      fs,
      i32[base + Conn.packets],
      idle,
      idle >= this.hogIdleMs ? extra : 0,
    );
    if (next !== prio) {
      i32[base + Conn.statePrio] = (sp & ~PRIO_MASK) | (next << 8);
      this.changed++;
      this.changedThisPass++;
      // Keep the source's prioritySum exact: same lock order as the pipeline (record, then source).
      if (this.sources !== null) PriorityScorer.applySourceDelta(this.sources, i32, base, next - prio, now);
    }
    core.unlockRecord(slot, v);
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
   * Publishes a list being built, leaving out entries whose slot no longer holds the connection
   * (shed or gone since they were found). The build is kept: entries stay candidates until the
   * pass ends, so a list refilled mid-pass and then replaced at the end loses nothing.
   */
  private publishList(list: number): void {
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
    this.victims.publish(list, this.buildSlot, this.buildTag, this.buildPrio, this.buildIdle, b, kept);
  }

  /** Mid-pass: a list its shedders emptied gets what this pass has found so far. */
  private refillEmptied(): void {
    const v = this.victims;
    const dirty = this.buildDirty;
    for (let list = 0; list < dirty.length; list++) {
      if (dirty[list] === 0) continue;
      if (v.remaining(list === v.reals ? VICTIM_GLOBAL : list) === 0) this.publishList(list);
    }
  }

  private endPass(now: number): void {
    for (let list = 0; list < this.buildCount.length; list++) {
      this.publishList(list);
      this.buildCount[list] = 0;
    }
    this.victims.notePass(now, this.changedThisPass);
    this.changedThisPass = 0;
    this.passes++;
    const idle = this.prevIdle;
    const tag = this.prevTag;
    this.prevIdle = this.curIdle;
    this.prevTag = this.curTag;
    this.curIdle = idle;
    this.curTag = tag;
    idle.fill(0);
    tag.fill(0);
  }
}
