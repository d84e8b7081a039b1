// VictimIndex: the lowest-priority connections, per real server and overall, kept ready in
// shared memory so that choosing what to shed costs a few word reads when capacity runs out,
// never a table scan on the packet path. The re-scorer (one thread) finds the candidates while
// it walks the table and publishes them here; shedders (any thread) take them.
//
// Layout (Int32Array over a SharedArrayBuffer): a header, then one list per real server (global
// index) and one global list, each `perList` entries of (slot, tag, priority, idle ms),
// worst first: highest priority number, then longest idle. Each list has
//   seq    a seqlock version: odd while the writer rewrites the list
//   take   generation << 8 | cursor: the next entry to hand out; the generation changes with every
//          publication, so a compare-and-swap on this word hands each entry to exactly one taker
//   count  entries in the list
//   mark   its writer's stamp: for a real server's list, the server's count of half-open entries
//          bound (RealServerCounters.halfOpenBound) as the pass that built it began
// A taker reads seq, take and the entry, checks seq did not move (no torn entry), then claims the
// entry by CAS on take; a lost race retries. Nothing blocks and nothing allocates.
// An entry is a hint, not a promise: the connection may have left or changed since publication.
// Shed through ConnectionTable.removeIfStill, which re-checks tag and priority under the record
// lock (and so never sheds priority 0). The writer never publishes priority 0 either, and takers skip it.

import { DefenseError, DefenseErrorCode } from './errors.ts';

export const VictimHeader = {
  magic: 0,
  reals: 1,
  perList: 2,
  /** number of full re-scorer passes published */
  passes: 3,
  /** priority bytes the re-scorer changed (wrapping) */
  changes: 4,
  /** the clock (conntrack ms) of the last full publication */
  publishedAt: 5,
  words: 8,
} as const;

const ListWord = { seq: 0, take: 1, count: 2, mark: 3, entries: 4 } as const;
const ENTRY_WORDS = 4;
const Entry = { slot: 0, tag: 1, priority: 2, idleMs: 3 } as const;
const MAGIC = 0x56494354; // "VICT"
const MAX_PER_LIST = 255;
const READ_TRIES = 64;

/** Pass as `real` for the list over every real server. */
export const VICTIM_GLOBAL = -1;

export class VictimIndex {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  /** Real-server lists 0..reals-1; the global list is stored at index `reals`. */
  readonly reals: number;
  readonly perList: number;
  readonly lists: number;
  private readonly listWords: number;
  /** Set by takeVictim: the taken entry's tag, priority and idle ms at publication. */
  outTag = 0;
  outPriority = 0;
  outIdleMs = 0;
  /** Set by takeVictim: the stamp its list was published with. */
  outListMark = 0;

  static byteLength(reals: number, perList: number): number {
    return (VictimHeader.words + (reals + 1) * (ListWord.entries + perList * ENTRY_WORDS)) * 4;
  }

  static create(reals: number, perList = 64): VictimIndex {
    if (!Number.isInteger(reals) || reals < 1 || reals > 0xffffff) {
      throw new DefenseError(
        DefenseErrorCode.layout,
        'reals must be an integer from 1 to 16777215',
        -1,
        'reals',
      );
    }
    if (!Number.isInteger(perList) || perList < 1 || perList > MAX_PER_LIST) {
      throw new DefenseError(
        DefenseErrorCode.layout,
        `perList must be an integer from 1 to ${MAX_PER_LIST}`,
        -1,
        'perList',
      );
    }
    const sab = new SharedArrayBuffer(VictimIndex.byteLength(reals, perList));
    const h = new Int32Array(sab, 0, VictimHeader.words);
    h[VictimHeader.magic] = MAGIC;
    h[VictimHeader.reals] = reals;
    h[VictimHeader.perList] = perList;
    return new VictimIndex(sab);
  }

  static attach(sab: SharedArrayBuffer): VictimIndex {
    return new VictimIndex(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    const h = new Int32Array(sab, 0, VictimHeader.words);
    if (h[VictimHeader.magic] !== MAGIC) {
      throw new DefenseError(DefenseErrorCode.layout, 'buffer does not hold a victim index');
    }
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.reals = h[VictimHeader.reals];
    this.perList = h[VictimHeader.perList];
    this.lists = this.reals + 1;
    this.listWords = ListWord.entries + this.perList * ENTRY_WORDS;
    if (sab.byteLength < VictimIndex.byteLength(this.reals, this.perList)) {
      throw new DefenseError(DefenseErrorCode.layout, 'victim index buffer is too small for its header');
    }
  }

  /** List number of a real server, VICTIM_GLOBAL for the global list; -1 when out of range. */
  listOf(real: number): number {
    if (real === VICTIM_GLOBAL) return this.reals;
    return real >= 0 && real < this.reals ? real : -1;
  }

  private listBase(list: number): number {
    return VictimHeader.words + list * this.listWords;
  }

  /**
   * Takes the worst remaining candidate of a real server's list (or VICTIM_GLOBAL's). Returns its
   * slot and sets outTag, outPriority, outIdleMs, outListMark; returns -1 when the list is empty or
   * contended. Each published entry is handed to one taker only. Allocation-free.
   */
  takeVictim(real: number): number {
    return this.readHead(real, true);
  }

  /**
   * Priority of the candidate takeVictim would hand out next, without taking it, or -1 when the
   * list is empty. A caller that needs a victim of a given standing looks first, so a candidate
   * it cannot use stays listed for the shedder (a snapshot; another taker may get there first).
   */
  peekPriority(real: number): number {
    return this.readHead(real, false) < 0 ? -1 : this.outPriority;
  }

  /**
   * The head of a list under its seqlock: its slot, with outTag/outPriority/outIdleMs set, or -1
   * (empty or contended). With `take`, claims it (compare-and-swap on the take cursor) so no
   * other taker gets the same entry.
   */
  private readHead(real: number, take: boolean): number {
    const list = this.listOf(real);
    if (list < 0) return -1;
    const i32 = this.i32;
    const lb = this.listBase(list);
    for (let t = 0; t < READ_TRIES; t++) {
      const s1 = Atomics.load(i32, lb + ListWord.seq);
      if ((s1 & 1) !== 0) continue;
      const taken = Atomics.load(i32, lb + ListWord.take);
      const cursor = taken & 0xff;
      const count = i32[lb + ListWord.count];
      if (cursor >= count) {
        if (Atomics.load(i32, lb + ListWord.seq) === s1) return -1;
        continue;
      }
      const e = lb + ListWord.entries + cursor * ENTRY_WORDS;
      const slot = i32[e + Entry.slot];
      const tag = i32[e + Entry.tag];
      const prio = i32[e + Entry.priority];
      const idle = i32[e + Entry.idleMs];
      const mark = i32[lb + ListWord.mark];
      if (Atomics.load(i32, lb + ListWord.seq) !== s1) continue;
      if (take) {
        if (Atomics.compareExchange(i32, lb + ListWord.take, taken, taken + 1) !== taken) continue;
        if (prio <= 0) continue; // never published; belt and braces
      }
      this.outTag = tag;
      this.outPriority = prio;
      this.outIdleMs = idle;
      this.outListMark = mark;
      return slot;
    }
    return -1;
  }

  /** Candidates not yet taken from a list (a snapshot; may change at once). */
  remaining(real: number): number {
    const list = this.listOf(real);
    if (list < 0) return 0;
    const lb = this.listBase(list);
    const n = this.i32[lb + ListWord.count] - (Atomics.load(this.i32, lb + ListWord.take) & 0xff);
    return n > 0 ? n : 0;
  }

  /**
   * Replaces a list (writer side: one thread only, the re-scorer). Entries must be worst first;
   * priority-0 entries are skipped. `list` is a list number (a real index, or `reals` for the global);
   * `mark` the stamp takers read with its entries.
   */
  publish(
    list: number,
    slots: Int32Array,
    tags: Int32Array,
    prios: Int32Array,
    idles: Int32Array,
    from: number,
    count: number,
    mark: number,
  ): void {
    const i32 = this.i32;
    const lb = this.listBase(list);
    const seq = i32[lb + ListWord.seq];
    Atomics.store(i32, lb + ListWord.seq, (seq + 1) | 0);
    let n = 0;
    for (let k = 0; k < count && n < this.perList; k++) {
      const p = prios[from + k];
      if (p <= 0) continue;
      const e = lb + ListWord.entries + n * ENTRY_WORDS;
      i32[e + Entry.slot] = slots[from + k];
      i32[e + Entry.tag] = tags[from + k];
      i32[e + Entry.priority] = p;
      i32[e + Entry.idleMs] = idles[from + k];
      n++;
    }
    i32[lb + ListWord.count] = n;
    i32[lb + ListWord.mark] = mark;
    const take = Atomics.load(i32, lb + ListWord.take);
    Atomics.store(i32, lb + ListWord.take, ((take >>> 8) + 1) << 8);
    Atomics.store(i32, lb + ListWord.seq, (seq + 2) | 0);
  }

  headerValue(field: number): number {
    return Atomics.load(this.i32, field);
  }

  /** Header bookkeeping for the writer: a full pass was published at `now` with `changes` more changes. */
  notePass(now: number, changes: number): void {
    Atomics.add(this.i32, VictimHeader.passes, 1);
    Atomics.add(this.i32, VictimHeader.changes, changes);
    Atomics.store(this.i32, VictimHeader.publishedAt, now);
  }

  /** A consistent copy of a list's untaken entries, for listings and tests (allocates; not the packet path). */
  entries(real: number): { slot: number; tag: number; priority: number; idleMs: number }[] {
    const list = this.listOf(real);
    if (list < 0) return [];
    const i32 = this.i32;
    const lb = this.listBase(list);
    for (let t = 0; t < 1 << 20; t++) {
      const s1 = Atomics.load(i32, lb + ListWord.seq);
      if ((s1 & 1) !== 0) continue;
      const out: { slot: number; tag: number; priority: number; idleMs: number }[] = [];
      const from = Atomics.load(i32, lb + ListWord.take) & 0xff;
      const count = i32[lb + ListWord.count];
      for (let k = from; k < count && k < this.perList; k++) {
        const e = lb + ListWord.entries + k * ENTRY_WORDS;
        out.push({
          slot: i32[e + Entry.slot],
          tag: i32[e + Entry.tag],
          priority: i32[e + Entry.priority],
          idleMs: i32[e + Entry.idleMs],
        });
      }
      if (Atomics.load(i32, lb + ListWord.seq) === s1) return out;
    }
    return [];
  }
}
