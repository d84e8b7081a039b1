// SharedHashTable is the storage engine under every Sluice table: fixed-size records of Int32
// words in one SharedArrayBuffer, a 2-choice, 8-way set-associative hash (each key may live in
// one of two buckets of 8 slots). Why this shape:
// - no probe chains and no tombstones: a delete just clears the slot, so the table never
//   degrades under churn and a lookup touches at most 16 slots (two cache-line runs);
// - choosing the emptier of two buckets keeps the load factor above 90% before a bucket fills;
// - capacity is fixed at start, so memory is bounded and nothing is allocated per connection.
// Memory layout: header | bucket locks | tags (one word per slot) | deadlines (one word per slot)
// | records. Tags and deadlines sit apart from the records so a lookup reads one cache line of
// tags per bucket instead of eight records, and the expiry sweep and reclaim scan compact arrays;
// a record is touched only on a tag match.
// Concurrency: each record's first word is a seqlock version (odd while held). Writers take the
// record with one compare-and-swap; readers on other threads copy a record and retry if the
// version moved (no torn reads). Inserts also take the two bucket locks (lowest index first) so
// two threads cannot insert the same key twice. Every spin is bounded: a lock that cannot be
// had in time is reported, never waited on forever.

import { timeReached } from './clock.ts';
import { altHash, hashWords } from './hash.ts';

/** Word offsets of the table header. The only place these indices are written down. */
export const Header = {
  magic: 0,
  capacity: 1,
  bucketCount: 2,
  recordWords: 3,
  keyWords: 4,
  epochLo: 5,
  epochHi: 6,
  count: 7,
  sweepCursor: 8,
  inserted: 9,
  removed: 10,
  refusedFull: 11,
  lockTimeouts: 12,
  seed: 13,
  /** record word that snapshots show the slot's deadline in (-1: none) */
  deadlineWord: 14,
  words: 16,
} as const;

/** Word offsets at the start of every record; the key follows at `Rec.key`. */
export const Rec = { version: 0, tag: 1, key: 2 } as const;

export const SLOTS_PER_BUCKET = 8;
const MAGIC = 0x534c4354; // "SLCT"
/** Bounded spin for a record or bucket lock: far longer than any critical section (tens of ns). */
const MAX_SPIN = 1 << 20;
const SEQLOCK_READ_TRIES = 64;
/** Versions wrap inside 30 bits so a held version is never negative and -1 can mean "not held". */
const VERSION_MASK = 0x3fffffff;

export class TableLayoutError extends Error {
  readonly code = 'SLUICE_ERR_CONNTRACK_LAYOUT';
}

export interface SharedHashTableOptions {
  capacity: number;
  recordWords: number;
  keyWords: number;
  epochMs?: number;
  seed?: number;
  /** Record word where `readRecord` reports the slot's deadline (default: none). */
  deadlineWord?: number;
}

function ceilPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class SharedHashTable {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly bucketCount: number;
  readonly bucketMask: number;
  readonly recordWords: number;
  readonly recordShift: number;
  readonly keyWords: number;
  readonly locksBase: number;
  /** Word index of slot 0's tag: 0 = empty, else hash | 1. */
  readonly tagsBase: number;
  /** Word index of slot 0's deadline (the owner's expiry time, wrapping ms). */
  readonly deadlinesBase: number;
  readonly recordsBase: number;
  readonly deadlineWord: number;
  readonly epochMs: number;
  readonly seed: number;
  /** This thread's scratch key: callers write the key words here before find/insert. */
  readonly key: Int32Array;
  /** Hash and bucket choices of the last `hashKey()` call. */
  hash = 0;
  bucket1 = 0;
  bucket2 = 0;
  /**
   * Slot of the record the last `lockKey()`, `lockBucketsForInsert()` or `lockNextExpired()`
   * locked for this thread.
   */
  lockedSlot = -1;
  /** This thread's place in the sweep range `beginSweep` claimed, and the slots left in it. */
  private sweepSlot = 0;
  private sweepLeft = 0;

  static byteLength(capacity: number, recordWords: number): number {
    const buckets = ceilPow2(Math.max(1, Math.ceil(capacity / SLOTS_PER_BUCKET)));
    const slots = buckets * SLOTS_PER_BUCKET;
    return (Header.words + buckets + 2 * slots + slots * recordWords) * 4;
  }

  static create(opts: SharedHashTableOptions): SharedHashTable {
    const { capacity, recordWords, keyWords } = opts;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new TableLayoutError('capacity must be a positive integer');
    }
    if (!Number.isInteger(recordWords) || (recordWords & (recordWords - 1)) !== 0 || recordWords < 4) {
      throw new TableLayoutError('recordWords must be a power of two >= 4');
    }
    if (!Number.isInteger(keyWords) || keyWords < 1 || Rec.key + keyWords > recordWords) {
      throw new TableLayoutError('keyWords must fit in the record after the version and tag words');
    }
    const buckets = ceilPow2(Math.max(1, Math.ceil(capacity / SLOTS_PER_BUCKET)));
    const sab = new SharedArrayBuffer(SharedHashTable.byteLength(capacity, recordWords));
    const h = new Int32Array(sab, 0, Header.words);
    const epoch = opts.epochMs ?? Date.now();
    h[Header.magic] = MAGIC;
    h[Header.capacity] = buckets * SLOTS_PER_BUCKET;
    h[Header.bucketCount] = buckets;
    h[Header.recordWords] = recordWords;
    h[Header.keyWords] = keyWords;
    h[Header.epochLo] = (epoch % 0x100000000) | 0;
    h[Header.epochHi] = Math.floor(epoch / 0x100000000);
    h[Header.seed] = opts.seed ?? (Math.random() * 0x7fffffff) | 0;
    h[Header.deadlineWord] = opts.deadlineWord ?? -1;
    return new SharedHashTable(sab);
  }

  constructor(sab: SharedArrayBuffer) {
    const h = new Int32Array(sab, 0, Header.words);
    if (h[Header.magic] !== MAGIC) throw new TableLayoutError('not a Sluice table (bad magic word)');
    this.sab = sab;
    this.i32 = new Int32Array(sab);
    this.capacity = h[Header.capacity];
    this.bucketCount = h[Header.bucketCount];
    this.bucketMask = this.bucketCount - 1;
    this.recordWords = h[Header.recordWords];
    this.recordShift = Math.log2(this.recordWords);
    this.keyWords = h[Header.keyWords];
    this.locksBase = Header.words;
    this.tagsBase = this.locksBase + this.bucketCount;
    this.deadlinesBase = this.tagsBase + this.capacity;
    this.recordsBase = this.deadlinesBase + this.capacity;
    this.deadlineWord = h[Header.deadlineWord];
    this.epochMs = (h[Header.epochLo] >>> 0) + h[Header.epochHi] * 0x100000000;
    this.seed = h[Header.seed];
    this.key = new Int32Array(this.keyWords);
  }

  /** Word index of a slot's record. */
  recordBase(slot: number): number {
    return this.recordsBase + (slot << this.recordShift);
  }

  /** Number of occupied slots (approximate while writers run, exact at rest). */
  count(): number {
    return Atomics.load(this.i32, Header.count);
  }

  /** Hashes `this.key` and sets `hash`, `bucket1`, `bucket2`. */
  hashKey(): number {
    return this.useHash(hashWords(this.key, this.keyWords, this.seed));
  }

  /** Sets `hash` and the two buckets it chooses, for `this.key` hashed by the caller (hash5). */
  useHash(h: number): number {
    this.hash = h;
    this.bucket1 = h & this.bucketMask;
    this.bucket2 = altHash(h) & this.bucketMask;
    return h;
  }

  /** The tag stored for hash `h`: never 0, which marks an empty slot. */
  static tagOf(h: number): number {
    return h | 1;
  }

  /** True when the record at `base` holds exactly `this.key`. */
  keyMatches(base: number): boolean {
    const i32 = this.i32;
    const key = this.key;
    const k = base + Rec.key;
    for (let i = 0; i < this.keyWords; i++) if (i32[k + i] !== key[i]) return false;
    return true;
  }

  /**
   * Slot holding `this.key` after `hashKey()`, or -1. Plain reads, no lock: the caller confirms
   * the key under the record lock (`lockIfKey`), because a slot can change between the two.
   */
  find(): number {
    const tag = this.hash | 1;
    const i32 = this.i32;
    // deliberately unrolled: the per-packet lookup; two straight scans, no pass counter or
    // bucket choice per slot.
    let slot = this.bucket1 * SLOTS_PER_BUCKET;
    for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
      if (i32[this.tagsBase + slot] === tag && this.keyMatches(this.recordsBase + (slot << this.recordShift)))
        return slot;
    }
    if (this.bucket2 === this.bucket1) return -1;
    slot = this.bucket2 * SLOTS_PER_BUCKET;
    for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
      if (i32[this.tagsBase + slot] === tag && this.keyMatches(this.recordsBase + (slot << this.recordShift)))
        return slot;
    }
    return -1;
  }

  /** The slot's tag (0 = empty), from the compact tag array. */
  tagOfSlot(slot: number): number {
    return this.i32[this.tagsBase + slot];
  }

  /** Word index of the slot's deadline in `i32`. */
  deadlineIndex(slot: number): number {
    return this.deadlinesBase + slot;
  }

  /** Takes the record lock; returns the even version held, or -1 after a bounded spin. */
  lockRecord(slot: number): number {
    const i32 = this.i32;
    const w = this.recordsBase + (slot << this.recordShift) + Rec.version;
    for (let spin = 0; spin < MAX_SPIN; spin++) {
      const v = Atomics.load(i32, w);
      if ((v & 1) === 0 && Atomics.compareExchange(i32, w, v, v + 1) === v) return v;
    }
    Atomics.add(i32, Header.lockTimeouts, 1);
    return -1;
  }

  /** Releases a record lock taken at version `v`, publishing the writes made under it. */
  unlockRecord(slot: number, v: number): void {
    Atomics.store(
      this.i32,
      this.recordsBase + (slot << this.recordShift) + Rec.version,
      (v + 2) & VERSION_MASK,
    );
  }

  /** Locks the slot and keeps the lock only if it still holds `this.key`; else returns -1. */
  lockIfKey(slot: number): number {
    const v = this.lockRecord(slot);
    if (v < 0) return -1;
    if (this.i32[this.tagsBase + slot] === (this.hash | 1) && this.keyMatches(this.recordBase(slot)))
      return v;
    this.unlockRecord(slot, v);
    return -1;
  }

  private lockBucket(b: number): boolean {
    const i32 = this.i32;
    const w = this.locksBase + b;
    for (let spin = 0; spin < MAX_SPIN; spin++) {
      if (Atomics.compareExchange(i32, w, 0, 1) === 0) return true;
    }
    Atomics.add(i32, Header.lockTimeouts, 1);
    return false;
  }

  private unlockBucket(b: number): void {
    Atomics.store(this.i32, this.locksBase + b, 0);
  }

  /** Locks both candidate buckets of the current key, lowest index first (no deadlock). */
  lockBuckets(): boolean {
    const lo = this.bucket1 < this.bucket2 ? this.bucket1 : this.bucket2;
    const hi = this.bucket1 < this.bucket2 ? this.bucket2 : this.bucket1;
    if (!this.lockBucket(lo)) return false;
    if (hi !== lo && !this.lockBucket(hi)) {
      this.unlockBucket(lo);
      return false;
    }
    return true;
  }

  unlockBuckets(): void {
    this.unlockBucket(this.bucket1);
    if (this.bucket2 !== this.bucket1) this.unlockBucket(this.bucket2);
  }

  /**
   * The empty slot in the emptier candidate bucket, or -1 when both are full. Call with the
   * bucket locks held: only holders of a bucket's lock claim its empty slots.
   */
  findEmpty(): number {
    const i32 = this.i32;
    // deliberately unrolled: each bucket's first free slot and count stay in locals (runs for
    // every new flow, with the bucket locks held).
    let free1 = -1;
    let n1 = 0;
    let slot = this.bucket1 * SLOTS_PER_BUCKET;
    for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
      if (i32[this.tagsBase + slot] === 0) {
        if (free1 < 0) free1 = slot;
        n1++;
      }
    }
    if (this.bucket2 === this.bucket1) return free1;
    let free2 = -1;
    let n2 = 0;
    slot = this.bucket2 * SLOTS_PER_BUCKET;
    for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
      if (i32[this.tagsBase + slot] === 0) {
        if (free2 < 0) free2 = slot;
        n2++;
      }
    }
    return n2 > n1 ? free2 : free1;
  }

  /**
   * Writes `this.key` and its tag into a slot whose lock the caller holds and whose other words
   * are zero, and counts it. Key words first, tag last: a lock-free `find` that sees the tag
   * then sees the whole key.
   */
  claim(slot: number): void {
    const i32 = this.i32;
    const base = this.recordBase(slot);
    const k = base + Rec.key;
    for (let i = 0; i < this.keyWords; i++) i32[k + i] = this.key[i];
    i32[base + Rec.tag] = this.hash | 1;
    Atomics.store(i32, this.tagsBase + slot, this.hash | 1);
    Atomics.add(i32, Header.count, 1);
    Atomics.add(i32, Header.inserted, 1);
  }

  /** Empties a slot whose lock the caller holds: tag first, so finders stop matching it. */
  clear(slot: number): void {
    const i32 = this.i32;
    const base = this.recordBase(slot);
    Atomics.store(i32, this.tagsBase + slot, 0);
    i32[this.deadlinesBase + slot] = 0;
    i32.fill(0, base + Rec.tag, base + this.recordWords);
    Atomics.sub(i32, Header.count, 1);
    Atomics.add(i32, Header.removed, 1);
  }

  /** Claims `n` slots for an incremental sweep and returns the first (wraps around the table). */
  claimSweepRange(n: number): number {
    const start = Atomics.add(this.i32, Header.sweepCursor, n);
    return (start >>> 0) % this.capacity;
  }

  /**
   * Starts this thread's step of an incremental sweep: claims the next `n` slots of the shared
   * cursor, which `nextSweepSlot` then hands out, wrapping around the table. Threads sweeping at
   * the same time get different ranges.
   */
  beginSweep(n: number): void {
    this.sweepSlot = this.claimSweepRange(n);
    this.sweepLeft = n;
  }

  /** The next slot of the range `beginSweep` claimed, or -1 when it is done. */
  nextSweepSlot(): number {
    if (this.sweepLeft <= 0) return -1;
    this.sweepLeft--;
    const slot = this.sweepSlot;
    this.sweepSlot = slot + 1 === this.capacity ? 0 : slot + 1;
    return slot;
  }

  /**
   * Copies a record into `out` as one consistent snapshot (seqlock read) for threads that do
   * not hold its lock. Returns false when the record kept changing or is held too long.
   */
  readRecord(slot: number, out: Int32Array): boolean {
    const i32 = this.i32;
    const base = this.recordBase(slot);
    for (let t = 0; t < SEQLOCK_READ_TRIES; t++) {
      const v1 = Atomics.load(i32, base + Rec.version);
      if ((v1 & 1) !== 0) continue;
      for (let i = 1; i < this.recordWords; i++) out[i] = i32[base + i];
      out[Rec.tag] = i32[this.tagsBase + slot];
      if (this.deadlineWord >= 0) out[this.deadlineWord] = i32[this.deadlinesBase + slot];
      const v2 = Atomics.load(i32, base + Rec.version);
      if (v1 === v2) {
        out[Rec.version] = v1;
        return true;
      }
    }
    return false;
  }

  headerValue(field: number): number {
    return Atomics.load(this.i32, field);
  }

  bumpHeader(field: number): void {
    Atomics.add(this.i32, field, 1);
  }
}

/**
 * What a typed table fixes about its SharedHashTable: the record and key widths, the record word
 * its snapshots show the deadline in, and the name an attach to a foreign buffer reports.
 */
export interface TableLayout {
  readonly name: string;
  readonly recordWords: number;
  readonly keyWords: number;
  readonly deadlineWord?: number;
}

/** A typed table class: its layout, and a constructor that attaches to a buffer holding it. */
interface TableClass<T extends TableView> {
  readonly layout: TableLayout;
  new (sab: SharedArrayBuffer): T;
}

/**
 * What every typed table (ConnectionTable, SourceTable, PersistenceTable, VerifiedSourceTable)
 * shares: sizing, making and attaching to a buffer of the layout the class names in its static
 * `layout`, refusing a buffer of another layout, and the accessors that no packet waits on.
 * Whatever runs per packet or per record (recordBase, release, readRecord, acquire) stays on each table's
 * own class: a method here would see all four classes and go polymorphic.
 */
export abstract class TableView {
  /** Each table class names its record layout here; the statics and the constructor read it. */
  declare static readonly layout: TableLayout;

  readonly core: SharedHashTable;
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly epochMs: number;

  /** Bytes of a buffer for `capacity` records. */
  static byteLength(this: TableClass<TableView>, capacity: number): number {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the table class called (SourceTable.byteLength), not TableView.
    return SharedHashTable.byteLength(capacity, this.layout.recordWords);
  }

  /** A table over a new, empty buffer for `capacity` records; other threads `attach` to its `sab`. */
  static create<T extends TableView>(this: TableClass<T>, capacity: number, epochMs?: number): T {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the table class called (SourceTable.create), not TableView.
    const layout = this.layout;
    return new this(
      SharedHashTable.create({
        capacity,
        recordWords: layout.recordWords,
        keyWords: layout.keyWords,
        epochMs,
        deadlineWord: layout.deadlineWord,
      }).sab,
    );
  }

  /** A view of a table another thread created; throws when `sab` holds another layout. */
  static attach<T extends TableView>(this: TableClass<T>, sab: SharedArrayBuffer): T {
    return new this(sab);
  }

  constructor(sab: SharedArrayBuffer) {
    const layout = new.target.layout;
    const core = new SharedHashTable(sab);
    // Two tables of different layouts would read each other's records as garbage: refuse early.
    if (core.recordWords !== layout.recordWords || core.keyWords !== layout.keyWords) {
      throw new Error(`buffer does not hold a ${layout.name}`);
    }
    this.core = core;
    this.i32 = core.i32;
    this.capacity = core.capacity;
    this.epochMs = core.epochMs;
  }

  get sab(): SharedArrayBuffer {
    return this.core.sab;
  }

  count(): number {
    return this.core.count();
  }
}

// The locking steps the tables' acquire and expiry sweeps share. Free functions rather than
// SharedHashTable methods: index.ts does not export them, so no code outside conntrack can take a
// record lock through them (the boundaries check knows only lockRecord, unlockRecord, lockIfKey).
// Each takes the one SharedHashTable class, so its call sites stay monomorphic.

/**
 * After `core.hashKey()`: the key's record locked, found or claimed; when both of its buckets are
 * full, the entry whose deadline comes first (an expired one before any live one) makes room. For
 * tables whose entries only an owner's proof writes and any of which may go (the verified sources,
 * the answered ports). Returns the version held (the slot in `core.lockedSlot`), or -1: contention.
 */
export function lockOrClaimSoonestToExpire(core: SharedHashTable): number {
  if (!core.lockBuckets()) return -1;
  let slot = core.find();
  let v = -1;
  if (slot >= 0) {
    v = core.lockIfKey(slot);
  } else {
    slot = core.findEmpty();
    if (slot < 0) {
      slot = soonestToExpire(core);
      v = core.lockRecord(slot);
      if (v >= 0) core.clear(slot);
    } else {
      v = core.lockRecord(slot);
    }
    if (v >= 0) core.claim(slot);
  }
  core.unlockBuckets();
  core.lockedSlot = slot;
  return v;
}

/** With the key's buckets locked and both full: of their slots, the one whose deadline comes first. */
function soonestToExpire(core: SharedHashTable): number {
  const i32 = core.i32;
  let best = core.bucket1 * SLOTS_PER_BUCKET;
  let bestDeadline = i32[core.deadlineIndex(best)];
  for (let pass = 0; pass < 2; pass++) {
    if (pass === 1 && core.bucket2 === core.bucket1) break;
    let slot = (pass === 0 ? core.bucket1 : core.bucket2) * SLOTS_PER_BUCKET;
    for (let i = 0; i < SLOTS_PER_BUCKET; i++, slot++) {
      const d = i32[core.deadlineIndex(slot)];
      if (((d - bestDeadline) | 0) < 0) {
        best = slot;
        bestDeadline = d;
      }
    }
  }
  return best;
}

/**
 * After `core.hashKey()`: finds `core.key` and takes its record lock. Without the bucket locks a
 * found slot can be emptied or reused before the lock is had, so a lost race looks again, up to
 * `tries` lookups. Returns the version held (the slot in `core.lockedSlot`), or -1: not found, or
 * every try lost its race.
 */
export function lockKey(core: SharedHashTable, tries: number): number {
  for (let attempt = 0; attempt < tries; attempt++) {
    const slot = core.find();
    if (slot < 0) return -1;
    const v = core.lockIfKey(slot);
    if (v < 0) continue;
    core.lockedSlot = slot;
    return v;
  }
  return -1;
}

/** What `lockBucketsForInsert` returns when it holds no lock; a version held is >= 0. */
export const InsertStart = {
  /** The key is absent and both bucket locks are held: insert it, then `claimLocked`. */
  absent: -1,
  /** A bucket lock or the existing record's lock could not be had; nothing is held. */
  contention: -2,
} as const;

/**
 * Starts an insert of `core.key` (after `hashKey()`): takes both bucket locks and looks once more,
 * since another thread may have inserted the key after this thread's lock-free lookup. When it
 * did, returns that record's version held (the slot in `core.lockedSlot`), the bucket locks
 * released; else an InsertStart value.
 */
export function lockBucketsForInsert(core: SharedHashTable): number {
  if (!core.lockBuckets()) return InsertStart.contention;
  const slot = core.find();
  if (slot < 0) return InsertStart.absent;
  const v = core.lockIfKey(slot);
  core.unlockBuckets();
  if (v < 0) return InsertStart.contention;
  core.lockedSlot = slot;
  return v;
}

/**
 * Ends an insert begun by `lockBucketsForInsert`: `slot` is the free (or freed) slot the caller
 * chose and `v` its record lock's version, -1 when it was not had. Claims the slot for the key
 * when the lock was had, and always releases the bucket locks. Returns whether it claimed.
 */
export function claimLocked(core: SharedHashTable, slot: number, v: number): boolean {
  if (v < 0) {
    core.unlockBuckets();
    return false;
  }
  core.claim(slot);
  core.unlockBuckets();
  return true;
}

/**
 * For an expiry sweep over a table whose deadlines live in the compact deadline array, after
 * `core.beginSweep()`: takes the record lock of the next slot in the sweep's range that holds an
 * entry whose deadline has passed at `now`, and returns the version held (the slot in
 * `core.lockedSlot`), the caller to remove the entry and unlock; -1 when the range is done. The
 * plain read first keeps the sweep from locking live entries; the second, under the lock, sees
 * what a writer may have renewed.
 */
export function lockNextExpired(core: SharedHashTable, now: number): number {
  const i32 = core.i32;
  for (let slot = core.nextSweepSlot(); slot >= 0; slot = core.nextSweepSlot()) {
    const tag = core.tagsBase + slot;
    const deadline = core.deadlinesBase + slot;
    if (i32[tag] === 0 || !timeReached(i32[deadline], now)) continue;
    const v = core.lockRecord(slot);
    if (v < 0) continue;
    if (i32[tag] !== 0 && timeReached(i32[deadline], now)) {
      core.lockedSlot = slot;
      return v;
    }
    core.unlockRecord(slot, v);
  }
  return -1;
}
