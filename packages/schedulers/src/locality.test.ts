import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RealFlag, RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import type { LocalityBasedLeastConnection, LocalityBasedLeastConnectionReplication } from './locality.ts';
import type { FlowView, Scheduler, SchedulerOptions } from './spec.ts';
import {
  changeLiveState,
  flow4,
  flow6,
  type KernelDest,
  kernelDests,
  type LiveChange,
  specOf,
} from './test-helpers.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// ---------------------------------------------------------------------------------------------
// The kernel's lblc and lblcr as plain code following ip_vs_lblc.c and ip_vs_lblcr.c: hash
// buckets of entry lists (new entries at the head, as hlist_add_head_rcu), a timer that runs
// ip_vs_lblc_check_expire() every 60 s from creation, the dest lists walked as the C walks them.
// Two lines depart from the C, as the schedulers do (see locality.ts): a cached lblc server that
// is overloaded or down is replaced, and re-pointing an lblc entry keeps the entry count exact.
// ---------------------------------------------------------------------------------------------

interface Addr {
  words: [number, number, number, number];
  key: string;
}

function addrOf(flow: FlowView): Addr {
  const words: [number, number, number, number] = [
    flow.dst0 | 0,
    flow.dst1 | 0,
    flow.dst2 | 0,
    flow.dst3 | 0,
  ];
  return { words, key: words.join(',') };
}

/** ip_vs_lblc_hashkey(): hash_32(addr_fold, bits), addr_fold = the IPv4 address or the XOR of the IPv6 words. */
function hashkey(a: Addr, bits: number): number {
  const [w0, w1, w2, w3] = a.words;
  const fold = w0 === 0 && w1 === 0 && w2 === 0xffff ? w3 : w0 ^ w1 ^ w2 ^ w3;
  return Math.imul(fold, 0x61c88647) >>> (32 - bits);
}

const conn_overhead = (d: KernelDest) => d.active * 256 + d.inactive;

/** __ip_vs_lblc_schedule() / __ip_vs_lblcr_schedule(). */
function weightedLeastConn(dests: KernelDest[]): number {
  let least = -1;
  let loh = 0;
  let i = 0;
  for (; i < dests.length; i++) {
    if (dests[i].overloaded) continue;
    if (dests[i].weight > 0) {
      least = i;
      loh = conn_overhead(dests[i]);
      break;
    }
  }
  if (least < 0) return -1;
  for (i = i + 1; i < dests.length; i++) {
    if (dests[i].overloaded) continue;
    const doh = conn_overhead(dests[i]);
    if (loh * dests[i].weight > doh * dests[least].weight) {
      least = i;
      loh = doh;
    }
  }
  return least;
}

/** is_overloaded(). */
function isOverloaded(dests: KernelDest[], dest: number): boolean {
  if (dests[dest].active > dests[dest].weight) {
    for (const d of dests) if (d.active * 2 < d.weight) return true;
  }
  return false;
}

interface Stats {
  fullRemoved: number;
  partialRemoved: number;
  repointed: number;
  grown: number;
  shrunk: number;
}

/** The table and timer both modules share (ip_vs_lblc_check_expire and friends). */
class KernelTable<E extends { addr: Addr; lastuse: number }> {
  readonly bucket: E[][];
  entries = 0;
  readonly maxSize: number;
  rover = 0;
  counter = 1;
  timer: number;
  readonly bits: number;
  readonly expiration: number;
  readonly stats: Stats;
  constructor(bits: number, expiration: number, createdAt: number, stats: Stats) {
    this.bits = bits;
    this.expiration = expiration;
    this.stats = stats;
    this.bucket = Array.from({ length: 1 << bits }, () => []);
    this.maxSize = (1 << bits) * 16;
    this.timer = createdAt + MINUTE;
  }
  get(a: Addr): E | undefined {
    return this.bucket[hashkey(a, this.bits)].find((en) => en.addr.key === a.key);
  }
  hash(en: E): void {
    this.bucket[hashkey(en.addr, this.bits)].unshift(en);
    this.entries++;
  }
  del(en: E): void {
    const list = this.bucket[hashkey(en.addr, this.bits)];
    list.splice(list.indexOf(en), 1);
  }
  /** The timer fires at each due time in turn (mod_timer(jiffies + CHECK_EXPIRE_INTERVAL)). */
  runTimers(now: number): void {
    while (this.timer <= now) {
      this.checkExpire(this.timer);
      this.timer += MINUTE;
    }
  }
  private fullCheck(now: number): void {
    const mask = (1 << this.bits) - 1;
    let j = this.rover;
    for (let i = 0; i < 1 << this.bits; i++) {
      j = (j + 1) & mask;
      for (const en of [...this.bucket[j]]) {
        if (now < en.lastuse + this.expiration) continue;
        this.del(en);
        this.entries--;
        this.stats.fullRemoved++;
      }
    }
    this.rover = j;
  }
  private checkExpire(now: number): void {
    if (this.counter % 30 === 0) {
      this.fullCheck(now);
      this.counter = 1;
      return;
    }
    if (this.entries <= this.maxSize) {
      this.counter++;
      return;
    }
    let goal = Math.trunc(((this.entries - this.maxSize) * 4) / 3);
    if (goal > Math.trunc(this.maxSize / 2)) goal = Math.trunc(this.maxSize / 2);
    const mask = (1 << this.bits) - 1;
    let j = this.rover;
    for (let i = 0; i < 1 << this.bits; i++) {
      j = (j + 1) & mask;
      for (const en of [...this.bucket[j]]) {
        if (now < en.lastuse + 6 * MINUTE) continue;
        this.del(en);
        this.entries--;
        this.stats.partialRemoved++;
        goal--;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }
}

interface LblcEntry {
  addr: Addr;
  dest: number;
  lastuse: number;
}

class KernelLblc {
  readonly tbl: KernelTable<LblcEntry>;
  constructor(bits: number, expiration: number, createdAt: number, stats: Stats) {
    this.tbl = new KernelTable(bits, expiration, createdAt, stats);
  }
  /** ip_vs_lblc_schedule(). */
  schedule(dests: KernelDest[], daddr: Addr, now: number): number {
    this.tbl.runTimers(now);
    const en = this.tbl.get(daddr);
    if (en) {
      en.lastuse = now;
      const dest = en.dest;
      // The kernel: dest available && weight > 0 && !is_overloaded. Sluice adds the OVERLOAD flag.
      if (dests[dest].weight > 0 && !dests[dest].overloaded && !isOverloaded(dests, dest)) return dest;
    }
    const dest = weightedLeastConn(dests);
    if (dest < 0) return -1;
    this.lblcNew(daddr, dest, now);
    return dest;
  }
  /** ip_vs_lblc_new(). */
  private lblcNew(daddr: Addr, dest: number, now: number): void {
    let en = this.tbl.get(daddr);
    if (en) {
      if (en.dest === dest) return;
      this.tbl.del(en);
      this.tbl.entries--; // the kernel omits this (see locality.ts); Sluice keeps the count exact
      this.tbl.stats.repointed++;
    }
    en = { addr: daddr, dest, lastuse: now };
    this.tbl.hash(en);
  }
}

interface LblcrEntry {
  addr: Addr;
  lastuse: number;
  /** The dest set's list, head first; its size is the length. */
  set: number[];
  lastmod: number;
}

class KernelLblcr {
  readonly tbl: KernelTable<LblcrEntry>;
  readonly expiration: number;
  readonly stats: Stats;
  constructor(bits: number, expiration: number, createdAt: number, stats: Stats) {
    this.expiration = expiration;
    this.stats = stats;
    this.tbl = new KernelTable(bits, expiration, createdAt, stats);
  }
  /** ip_vs_dest_set_insert(). */
  private setInsert(en: LblcrEntry, dest: number, check: boolean, now: number): void {
    if (check && en.set.includes(dest)) return;
    en.set.unshift(dest);
    en.lastmod = now;
  }
  /** ip_vs_dest_set_min(). Every dest in a set is IP_VS_DEST_F_AVAILABLE here. */
  private setMin(dests: KernelDest[], set: number[]): number {
    let least = -1;
    let loh = 0;
    let k = 0;
    for (; k < set.length; k++) {
      const d = dests[set[k]];
      if (d.overloaded) continue;
      if (d.weight > 0) {
        least = set[k];
        loh = conn_overhead(d);
        break;
      }
    }
    if (least < 0) return -1;
    for (k = k + 1; k < set.length; k++) {
      const d = dests[set[k]];
      if (d.overloaded) continue;
      const doh = conn_overhead(d);
      if (loh * d.weight > doh * dests[least].weight) {
        least = set[k];
        loh = doh;
      }
    }
    return least;
  }
  /** ip_vs_dest_set_max(). */
  private setMax(dests: KernelDest[], set: number[]): number {
    let most = -1;
    let moh = 0;
    let k = 0;
    for (; k < set.length; k++) {
      if (dests[set[k]].weight > 0) {
        most = set[k];
        moh = conn_overhead(dests[most]);
        break;
      }
    }
    if (most < 0) return -1;
    for (k = k + 1; k < set.length; k++) {
      const d = dests[set[k]];
      const doh = conn_overhead(d);
      if (moh * d.weight < doh * dests[most].weight && d.weight > 0) {
        most = set[k];
        moh = doh;
      }
    }
    return most;
  }
  /** ip_vs_lblcr_schedule(). */
  schedule(dests: KernelDest[], daddr: Addr, now: number): number {
    this.tbl.runTimers(now);
    const en = this.tbl.get(daddr);
    if (en) {
      en.lastuse = now;
      let dest = this.setMin(dests, en.set);
      if (en.set.length > 1 && now > en.lastmod + this.expiration) {
        const m = this.setMax(dests, en.set);
        if (m >= 0) {
          en.set.splice(en.set.indexOf(m), 1); // ip_vs_dest_set_erase()
          en.lastmod = now;
          this.stats.shrunk++;
        }
      }
      if (dest >= 0 && !isOverloaded(dests, dest)) return dest;
      dest = weightedLeastConn(dests);
      if (dest < 0) return -1;
      if (!en.set.includes(dest)) this.stats.grown++;
      this.setInsert(en, dest, true, now);
      return dest;
    }
    const dest = weightedLeastConn(dests);
    if (dest < 0) return -1;
    const fresh: LblcrEntry = { addr: daddr, lastuse: now, set: [], lastmod: now };
    this.setInsert(fresh, dest, false, now);
    this.tbl.hash(fresh);
    return dest;
  }
}

// ---------------------------------------------------------------------------------------------

/** 80 destination addresses: IPv4 mostly, some IPv6 (folded by XOR). */
function destination(k: number): FlowView {
  if (k % 10 === 9) return flow6([0x20010db8, 0, k, 1], [0x20010db8, 0x99, k * 7919, k]);
  return flow4(0xc6336401, 40000, (0x0a000000 + k * 2654435761) | 0);
}

type Step =
  | { kind: 'pick'; dst: number; count: number }
  | { kind: 'time'; ms: number }
  | { kind: 'live'; who: number; what: LiveChange; value: number }
  | { kind: 'weight'; who: number; value: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('pick' as const),
      // A few hot destinations keep their entries (and lblcr sets) for hours; the rest come and go.
      dst: fc.oneof(fc.nat(3), fc.nat(79)),
      // Now and then every destination at once, so the table passes max_size.
      count: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: 8 }) },
        { weight: 1, arbitrary: fc.constant(80) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('time' as const),
      ms: fc.oneof(
        { weight: 12, arbitrary: fc.integer({ min: 0, max: 4 * MINUTE }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 * HOUR }) },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('live' as const),
      who: fc.nat(5),
      what: fc.constantFrom<LiveChange>('down', 'overload', 'active', 'active', 'inactive', 'inactive'),
      value: fc.integer({ min: 0, max: 12 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('weight' as const),
      who: fc.nat(5),
      value: fc.integer({ min: 0, max: 8 }),
    }),
  },
);

/**
 * Runs one random sequence through a scheduler and the kernel model, asserting the same pick each
 * time. A weight change is a config change: a new scheduler that copies the previous one's table,
 * while the model edits the weight in place as the kernel does.
 */
function sameAsKernel(
  name: 'lblc' | 'lblcr',
  weights: number[],
  steps: Step[],
  expiration: number,
  stats: Stats,
): void {
  const bits = 2; // 4 buckets: max_size 64, so 80 destinations push the table over it
  let now = 1_000_000;
  const c = RealServerCounters.create(8);
  const opts = (previous?: Scheduler): SchedulerOptions => ({
    localityTableBits: bits,
    localityExpirationMs: expiration,
    localityCapacity: 4096,
    clock: () => now,
    previous,
  });
  const w = [...weights];
  let s = createScheduler(name, specOf(w), c, opts());
  const model =
    name === 'lblc'
      ? new KernelLblc(bits, expiration, now, stats)
      : new KernelLblcr(bits, expiration, now, stats);
  for (const step of steps) {
    switch (step.kind) {
      case 'pick':
        for (let k = 0; k < step.count; k++) {
          const flow = destination((step.dst + k) % 80);
          expect(s.pick(flow)).toBe(model.schedule(kernelDests(w, c), addrOf(flow), now));
        }
        break;
      case 'time':
        now += step.ms;
        break;
      case 'live':
        changeLiveState(c, step.who % w.length, step.what, step.value);
        break;
      case 'weight':
        w[step.who % w.length] = step.value;
        s = createScheduler(name, specOf(w), c, opts(s));
        break;
    }
  }
  expect((s as LocalityBasedLeastConnection).entries).toBe(model.tbl.entries);
}

const weightsArb = fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 6 });

describe('lblc and lblcr against the kernel model', () => {
  for (const name of ['lblc', 'lblcr'] as const) {
    it(`${name}: the same picks on random picks, time, weights, flags and connection counts`, () => {
      const stats: Stats = { fullRemoved: 0, partialRemoved: 0, repointed: 0, grown: 0, shrunk: 0 };
      fc.assert(
        fc.property(
          weightsArb,
          fc.array(stepArb, { minLength: 20, maxLength: 250 }),
          // The sysctl: short, so sets shrink and entries expire within a run, or long.
          fc.constantFrom(8 * MINUTE, 45 * MINUTE),
          (weights, steps, expiration) => {
            sameAsKernel(name, weights, steps, expiration, stats);
          },
        ),
        { numRuns: 150 },
      );
      // The runs went through every path that matters, not only the easy ones.
      expect(stats.fullRemoved).toBeGreaterThan(0);
      expect(stats.partialRemoved).toBeGreaterThan(0);
      if (name === 'lblc') expect(stats.repointed).toBeGreaterThan(0);
      else {
        expect(stats.grown).toBeGreaterThan(0);
        expect(stats.shrunk).toBeGreaterThan(0);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------

function clockAt(start: number) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

describe('lblc (ip_vs_lblc.c)', () => {
  const vip = flow4(0xc6336401, 40000, 0x0a000064);

  it('keeps a destination on its server while others are busier; re-points when it is_overloaded', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('lblc', specOf([4, 4, 4]), c) as LocalityBasedLeastConnection;
    expect(s.pick(vip)).toBe(0); // wlc: all idle, the first
    c.active[0] = 4; // wlc would now take 1, but the entry holds: active 4 is not > weight 4
    expect(s.pick(vip)).toBe(0);
    c.active[0] = 5; // active > weight, and member 1 has active * 2 < weight: overloaded
    expect(s.pick(vip)).toBe(1);
    expect(s.cachedFor(vip)).toBe(1);
    c.active[1] = 9;
    c.active[2] = 2; // 1 is over its weight, but nobody is under half of theirs (2 * 2 = 4 is not < 4)
    expect(s.pick(vip)).toBe(1);
    c.active[2] = 1;
    expect(s.pick(vip)).toBe(2);
  });

  it('replaces a cached server that is down, overloaded by its threshold, or quiesced', () => {
    const c = RealServerCounters.create(2);
    const s = createScheduler('lblc', specOf([1, 1]), c);
    expect(s.pick(vip)).toBe(0);
    c.setDown(0, true);
    expect(s.pick(vip)).toBe(1);
    c.setDown(0, false);
    expect(s.pick(vip)).toBe(1); // the entry now says 1
    c.bind(1, false, 1, 0); // upper threshold 1: overloaded
    expect(s.pick(vip)).toBe(0);
    c.flags[0] |= RealFlag.overloaded;
    expect(s.pick(vip)).toBe(-1);
    const q = createScheduler('lblc', specOf([0, 1]), RealServerCounters.create(2));
    expect(q.pick(vip)).toBe(1);
  });

  it('keys on the destination address: each destination gets its own entry', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('lblc', specOf([1, 1, 1]), c) as LocalityBasedLeastConnection;
    const a = flow4(1, 1000, 0x0a000001);
    const b = flow4(2, 2000, 0x0a000002);
    const a2 = flow4(3, 3000, 0x0a000001); // another client, same destination
    expect(s.pick(a)).toBe(0);
    c.inactive[0] = 1; // wlc now prefers 1
    expect(s.pick(b)).toBe(1);
    expect(s.pick(a2)).toBe(0);
    expect(s.entries).toBe(2);
  });

  it('expires an entry unused for lblc_expiration at the next full check (every 30th minute)', () => {
    const clock = clockAt(0);
    const c = RealServerCounters.create(2);
    const s = createScheduler('lblc', specOf([1, 1]), c, {
      clock: clock.read,
      localityExpirationMs: 24 * HOUR,
    }) as LocalityBasedLeastConnection;
    expect(s.pick(vip)).toBe(0);
    c.inactive[0] = 1; // a fresh entry would now go to 1
    // Full checks run at 30, 60, ... minutes. At 24 h exactly the entry is due (now >= lastuse +
    // expiration); the check at 24 h (minute 1440, a multiple of 30) removes it, not one before.
    clock.now = 24 * HOUR - 1;
    const probe = flow4(9, 9, 0x0b000000); // another destination: triggers the timer, not vip
    s.pick(probe);
    expect(s.cachedFor(vip)).toBe(0);
    expect(s.entries).toBe(2);
    clock.now = 24 * HOUR + 29 * MINUTE; // the check at 24 h has run
    s.pick(probe);
    expect(s.cachedFor(vip)).toBe(-1);
    expect(s.pick(vip)).toBe(1);
  });

  it('a destination in use never expires', () => {
    const clock = clockAt(0);
    const s = createScheduler('lblc', specOf([1, 1]), RealServerCounters.create(2), {
      clock: clock.read,
    }) as LocalityBasedLeastConnection;
    for (let h = 0; h < 72; h++) {
      clock.now = h * HOUR;
      expect(s.pick(vip)).toBe(0);
    }
    expect(s.entries).toBe(1);
  });

  it('is bounded: past its capacity the least recently used destination makes room', () => {
    const clock = clockAt(0);
    const s = createScheduler('lblc', specOf([1]), RealServerCounters.create(1), {
      clock: clock.read,
      localityCapacity: 3,
    }) as LocalityBasedLeastConnection;
    const d = [1, 2, 3, 4].map((k) => flow4(1, 1, k));
    for (const k of [0, 1, 2]) {
      clock.now++;
      s.pick(d[k]);
    }
    clock.now++;
    s.pick(d[0]); // d[1] is now the least recently used
    clock.now++;
    s.pick(d[3]);
    expect(s.entries).toBe(3);
    expect([0, 1, 2, 3].map((k) => s.cachedFor(d[k]))).toEqual([0, -1, 0, 0]);
  });

  it('a config change keeps the table; a server that left loses its destinations', () => {
    const c = RealServerCounters.create(4);
    const a = flow4(1, 1, 0x0a000001);
    const b = flow4(1, 1, 0x0a000002);
    const s1 = createScheduler('lblc', specOf([1, 1, 1]), c) as LocalityBasedLeastConnection;
    expect(s1.pick(a)).toBe(0);
    c.inactive[0] = 1;
    expect(s1.pick(b)).toBe(1);
    // Member 1 leaves; members are [0, 2] now. a stays on 0 though 2 is idler.
    const spec = specOf([1, 1]);
    spec.members = Int32Array.of(0, 2);
    const s2 = createScheduler('lblc', spec, c, { previous: s1 }) as LocalityBasedLeastConnection;
    expect(s2.entries).toBe(1);
    expect(s2.pick(a)).toBe(0);
    expect(s2.pick(b)).toBe(2);
    // Another scheduler name starts afresh, as the kernel binds a new table.
    const s3 = createScheduler('lblcr', spec, c, { previous: s2 }) as LocalityBasedLeastConnectionReplication;
    expect(s3.entries).toBe(0);
  });

  it('checks its options', () => {
    const c = RealServerCounters.create(1);
    for (const bad of [
      { localityTableBits: 0 },
      { localityTableBits: 21 },
      { localityCapacity: 0 },
      { localityCapacity: 1.5 },
      { localityExpirationMs: -1 },
      { localityExpirationMs: Number.POSITIVE_INFINITY },
    ]) {
      expect(() => createScheduler('lblc', specOf([1]), c, bad)).toThrow(
        expect.objectContaining({ code: 'SLUICE_ERR_SCHEDULER_OPTION' }),
      );
    }
  });
});

describe('lblcr (ip_vs_lblcr.c)', () => {
  const vip = flow4(0xc6336401, 40000, 0x0a000064);

  it('grows the set when its least loaded member is_overloaded, and picks the least loaded of the set', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('lblcr', specOf([2, 2, 2]), c) as LocalityBasedLeastConnectionReplication;
    expect(s.pick(vip)).toBe(0);
    expect(s.setFor(vip)).toEqual([0]);
    c.active[0] = 3; // > weight 2, and member 1 has 0 * 2 < 2
    expect(s.pick(vip)).toBe(1);
    expect(s.setFor(vip)).toEqual([1, 0]); // newest first
    c.active[1] = 3;
    expect(s.pick(vip)).toBe(2);
    expect(s.setFor(vip)).toEqual([2, 1, 0]);
    // Within the set the least loaded member serves while it is not is_overloaded.
    c.active[0] = 1;
    c.active[2] = 2;
    expect(s.pick(vip)).toBe(0);
    expect(s.setFor(vip)).toEqual([2, 1, 0]);
  });

  it('sheds the most loaded member once the set has not changed for the expiration', () => {
    const clock = clockAt(0);
    const c = RealServerCounters.create(3);
    const s = createScheduler('lblcr', specOf([2, 2, 2]), c, {
      clock: clock.read,
      localityExpirationMs: 10 * MINUTE,
    }) as LocalityBasedLeastConnectionReplication;
    s.pick(vip);
    c.active[0] = 3;
    s.pick(vip);
    c.active[1] = 3;
    s.pick(vip); // set [2, 1, 0], changed at t = 0
    c.active[0] = 0;
    c.active[1] = 2;
    c.active[2] = 1;
    clock.now = 10 * MINUTE; // not after lastmod + expiration yet
    expect(s.pick(vip)).toBe(0);
    expect(s.setFor(vip)).toEqual([2, 1, 0]);
    clock.now = 10 * MINUTE + 1;
    // The least loaded (0) is chosen first, then the most loaded (1, overhead 512) is shed.
    expect(s.pick(vip)).toBe(0);
    expect(s.setFor(vip)).toEqual([2, 0]);
    clock.now += 5 * MINUTE; // the shed changed the set: the next one waits a full expiration
    s.pick(vip);
    expect(s.setFor(vip)).toEqual([2, 0]);
    clock.now += 5 * MINUTE + 1;
    s.pick(vip);
    expect(s.setFor(vip)).toEqual([0]); // 2 (active 1) was the busier; a set of one stays
    clock.now += 60 * MINUTE;
    expect(s.pick(vip)).toBe(0);
    expect(s.setFor(vip)).toEqual([0]);
  });

  it('may return the member it has just shed, as the kernel does', () => {
    const clock = clockAt(0);
    const c = RealServerCounters.create(2);
    const s = createScheduler('lblcr', specOf([1, 3]), c, {
      clock: clock.read,
      localityExpirationMs: MINUTE,
    }) as LocalityBasedLeastConnectionReplication;
    s.pick(vip); // [0]
    c.active[0] = 2; // > 1, and member 1 has 0 < 3 / 2
    expect(s.pick(vip)).toBe(1); // [1, 0]
    c.active[0] = 0;
    c.active[1] = 1; // min: 0 (0 / 1); max: 1 (256 / 3)
    clock.now = 2 * MINUTE;
    c.active[1] = 0;
    c.inactive[0] = 10; // min: 1 (0 / 3 against 10 / 1); max: 0
    c.active[0] = 0;
    // Weight 1 against 3 with overheads 10 and 0: min is member 1, max is member 0 → 0 is shed.
    expect(s.pick(vip)).toBe(1);
    expect(s.setFor(vip)).toEqual([1]);
    c.inactive[0] = 0;
    c.inactive[1] = 10; // now min would be 0 but it left the set; max is 1 (the only one)
    clock.now = 4 * MINUTE;
    expect(s.pick(vip)).toBe(1); // a set of one is never shed
  });

  it('a down member leaves the choice but stays in the set; a config change copies the sets', () => {
    const c = RealServerCounters.create(3);
    const s = createScheduler('lblcr', specOf([2, 2, 2]), c) as LocalityBasedLeastConnectionReplication;
    s.pick(vip);
    c.active[0] = 3;
    s.pick(vip); // [1, 0]
    c.setDown(1, true);
    c.active[0] = 0;
    expect(s.pick(vip)).toBe(0);
    expect(s.setFor(vip)).toEqual([1, 0]);
    c.setDown(1, false);
    const spec = specOf([2, 2]);
    spec.members = Int32Array.of(0, 1);
    const s2 = createScheduler('lblcr', spec, c, { previous: s }) as LocalityBasedLeastConnectionReplication;
    expect(s2.setFor(vip)).toEqual([1, 0]);
    const only0 = specOf([2]);
    const s3 = createScheduler('lblcr', only0, c, {
      previous: s2,
    }) as LocalityBasedLeastConnectionReplication;
    expect(s3.setFor(vip)).toEqual([0]);
  });

  it('is bounded: sets draw on a shared pool, entries on a capacity, least recently used first to go', () => {
    const clock = clockAt(0);
    const n = 6;
    const c = RealServerCounters.create(n);
    const s = createScheduler('lblcr', specOf(new Array(n).fill(1)), c, {
      clock: clock.read,
      localityCapacity: 2,
    }) as LocalityBasedLeastConnectionReplication;
    const d = [1, 2, 3].map((k) => flow4(1, 1, k));
    clock.now++;
    s.pick(d[0]);
    clock.now++;
    s.pick(d[1]);
    clock.now++;
    s.pick(d[2]); // capacity 2: d[0] makes room
    expect(s.entries).toBe(2);
    expect(s.setFor(d[0])).toEqual([]);
    // Grow d[2]'s set to every member: the pool (2 * 2 + 6 = 10) holds it beside d[1]'s.
    for (let k = 0; k < n; k++) {
      c.active[k] = 2; // every member over its weight 1...
      c.active[(k + 1) % n] = 0; // ...but the next, idle: it joins
      clock.now++;
      s.pick(d[2]);
    }
    expect(s.setFor(d[2]).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(s.entries).toBe(2);
  });
});
