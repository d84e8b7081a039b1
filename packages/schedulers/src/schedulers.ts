// The IPVS schedulers, one class each so every pick() call site stays monomorphic per service.
// Followed from Linux net/netfilter/ipvs/ip_vs_{rr,wrr,lc,wlc,sed,nq,sh,dh,mh}.c. Common rule:
// a member with weight 0, overloaded (threshold hysteresis) or down takes no new connections.
// pick() runs for new flows on the packet path: no allocation, no closures, no exceptions; all
// tables are built in the constructor. Rotation state (rr, wrr) is per instance: each worker
// thread keeps its own, as IPVS keeps per-service state without cross-CPU ordering.
import type { RealServerCounters } from './counters.ts';
import { RealFlag } from './counters.ts';

export type SchedulerName = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sed' | 'nq' | 'sh' | 'dh' | 'mh';
export const SCHEDULER_NAMES: readonly SchedulerName[] = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'sed',
  'nq',
  'sh',
  'dh',
  'mh',
];

/** What a scheduler needs from the config snapshot; per-member arrays, members[i] = global index. */
export interface SchedulingSpec {
  members: Int32Array;
  weights: Int32Array;
  upper: Int32Array;
  lower: Int32Array;
  /** Stable identity per member ("10.0.0.2:80"), for Maglev's permutations. */
  memberKeys: readonly string[];
}

/** The flow a scheduler sees; @sluice/wire's FrameInfo satisfies it. Addresses: four words, v4-mapped. */
export interface FlowView {
  src0: number;
  src1: number;
  src2: number;
  src3: number;
  srcPort: number;
  dst0: number;
  dst1: number;
  dst2: number;
  dst3: number;
  dstPort: number;
}

export interface Scheduler {
  readonly name: SchedulerName;
  /** A global real-server index, or -1 when no member can take the flow. */
  pick(flow: FlowView): number;
}

export interface SchedulerOptions {
  /** Maglev lookup table size; must be prime. Default 65537. */
  mhTableSize?: number;
  /** sh: try other buckets when the hashed server is unavailable (ipvsadm --sh-fallback). */
  shFallback?: boolean;
  /** sh: hash the source port too (--sh-port). */
  shPort?: boolean;
  mhFallback?: boolean;
  mhPort?: boolean;
}

export class SchedulerError extends Error {
  readonly code = 'SLUICE_ERR_SCHEDULER';
}

/** Shared by every scheduler: the member arrays and the availability rule. */
class Members {
  readonly n: number;
  readonly members: Int32Array;
  readonly weights: Int32Array;
  readonly counters: RealServerCounters;
  readonly flags: Int32Array;
  readonly active: Int32Array;
  readonly inactive: Int32Array;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    const n = spec.members.length;
    if (spec.weights.length !== n) throw new SchedulerError('weights must have one entry per member');
    for (let i = 0; i < n; i++) {
      const w = spec.weights[i];
      if (!Number.isInteger(w) || w < 0 || w > 65535)
        throw new SchedulerError('weights must be integers 0..65535');
      const m = spec.members[i];
      if (m < 0 || m >= counters.capacity)
        throw new SchedulerError(`member ${m} is outside the real-server counters`);
    }
    this.n = n;
    this.members = spec.members;
    this.weights = spec.weights;
    this.counters = counters;
    this.flags = counters.flags;
    this.active = counters.active;
    this.inactive = counters.inactive;
  }

  /** IPVS: weight > 0 and not overloaded; Sluice adds: not marked down by health checks. */
  available(i: number): boolean {
    return (
      this.weights[i] > 0 &&
      (Atomics.load(this.flags, this.members[i]) & (RealFlag.overloaded | RealFlag.down)) === 0
    );
  }

  /** ip_vs_dest_conn_overhead(): active * 256 + inactive. */
  overhead(i: number): number {
    const m = this.members[i];
    return Atomics.load(this.active, m) * 256 + Atomics.load(this.inactive, m);
  }

  activeOf(i: number): number {
    return Atomics.load(this.active, this.members[i]);
  }
}

export class RoundRobin implements Scheduler {
  readonly name = 'rr' as const;
  private readonly m: Members;
  private last = -1;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    const n = m.n;
    let i = this.last;
    for (let k = 0; k < n; k++) {
      i = i + 1 === n ? 0 : i + 1;
      if (m.available(i)) {
        this.last = i;
        return m.members[i];
      }
    }
    return -1;
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** ip_vs_wrr.c: interleaved weighted round robin over gcd steps, starting at the max weight. */
export class WeightedRoundRobin implements Scheduler {
  readonly name = 'wrr' as const;
  private readonly m: Members;
  private readonly di: number;
  private readonly mw: number;
  private readonly limit: number;
  private pos = -1;
  private cw: number;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
    let g = 0;
    let max = 0;
    for (let i = 0; i < this.m.n; i++) {
      const w = spec.weights[i];
      if (w > 0) g = gcd(w, g);
      if (w > max) max = w;
    }
    this.di = g > 0 ? g : 1;
    // As ip_vs_wrr_init_svc(): mw = max - (di - 1), and the walk starts at cw = mw.
    this.mw = max > 0 ? max - (this.di - 1) : 0;
    this.cw = this.mw;
    this.limit = (this.m.n + 1) * (Math.ceil(this.mw / this.di) + 2);
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    if (this.mw === 0) return -1;
    let p = this.pos;
    let cw = this.cw;
    for (let k = 0; k < this.limit; k++) {
      p++;
      if (p === m.n) {
        // Back at the list head: lower the current weight by the gcd, wrapping to the max.
        p = -1;
        cw -= this.di;
        if (cw <= 0) cw = this.mw;
        continue;
      }
      if (m.weights[p] >= cw && m.available(p)) {
        this.pos = p;
        this.cw = cw;
        return m.members[p];
      }
    }
    return -1;
  }
}

/** ip_vs_lc.c: the least overhead (active * 256 + inactive); the first of equals wins. */
export class LeastConnection implements Scheduler {
  readonly name = 'lc' as const;
  private readonly m: Members;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    let least = -1;
    let loh = 0;
    for (let i = 0; i < m.n; i++) {
      if (!m.available(i)) continue;
      const doh = m.overhead(i);
      if (least < 0 || doh < loh) {
        least = i;
        loh = doh;
      }
    }
    return least < 0 ? -1 : m.members[least];
  }
}

/**
 * ip_vs_wlc.c / ip_vs_sed.c / ip_vs_nq.c share one comparison: the least overhead per weight,
 * compared by cross-multiplication (loh * dw > doh * lw) so no division and no float.
 */
export class WeightedLeastConnection implements Scheduler {
  readonly name: 'wlc' | 'sed' | 'nq';
  private readonly m: Members;
  private readonly mode: number; // 0 wlc, 1 sed, 2 nq

  constructor(spec: SchedulingSpec, counters: RealServerCounters, name: 'wlc' | 'sed' | 'nq') {
    this.m = new Members(spec, counters);
    this.name = name;
    this.mode = name === 'wlc' ? 0 : name === 'sed' ? 1 : 2;
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    const mode = this.mode;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (let i = 0; i < m.n; i++) {
      if (!m.available(i)) continue;
      // wlc: active*256 + inactive; sed and nq: active + 1 (ip_vs_sed_dest_overhead).
      const doh = mode === 0 ? m.overhead(i) : m.activeOf(i) + 1;
      // nq: the first server with no active connection is taken at once.
      if (mode === 2 && doh === 1) return m.members[i];
      const dw = m.weights[i];
      if (least < 0 || loh * dw > doh * lw) {
        least = i;
        loh = doh;
        lw = dw;
      }
    }
    return least < 0 ? -1 : m.members[least];
  }
}

const SH_TAB_BITS = 8;
const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const GOLDEN_RATIO_32 = 0x61c88647;

/** The kernel's hash_32(): multiply by the golden ratio, keep the top `bits`. */
function hash32(v: number, bits: number): number {
  return Math.imul(v, GOLDEN_RATIO_32) >>> (32 - bits);
}

/** IPv4 uses its address; IPv6 folds its four words by XOR (ip_vs_sh_hashkey). */
function foldAddress(a0: number, a1: number, a2: number, a3: number): number {
  if (a0 === 0 && a1 === 0 && a2 === 0xffff) return a3;
  return a0 ^ a1 ^ a2 ^ a3;
}

/** ip_vs_sh.c / ip_vs_dh.c bucket assignment: members in order, each repeated weight times. */
function assignBuckets(m: Members): Int32Array {
  const buckets = new Int32Array(SH_TAB_SIZE).fill(-1);
  if (m.n === 0) return buckets;
  let p = 0;
  let count = 0;
  for (let i = 0; i < SH_TAB_SIZE; i++) {
    buckets[i] = p;
    // A weight-0 member still takes one bucket, as in the kernel; it is skipped at pick time.
    if (++count >= m.weights[p]) {
      p = (p + 1) % m.n;
      count = 0;
    }
  }
  return buckets;
}

/** ip_vs_sh.c: source hashing over 256 buckets; optional fallback and port (--sh-fallback, --sh-port). */
export class SourceHashing implements Scheduler {
  readonly name = 'sh' as const;
  private readonly m: Members;
  private readonly buckets: Int32Array;
  private readonly fallback: boolean;
  private readonly usePort: boolean;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions) {
    this.m = new Members(spec, counters);
    this.buckets = assignBuckets(this.m);
    this.fallback = opts.shFallback === true;
    this.usePort = opts.shPort === true;
  }

  pick(flow: FlowView): number {
    const m = this.m;
    if (m.n === 0) return -1;
    const key =
      ((this.usePort ? flow.srcPort : 0) + foldAddress(flow.src0, flow.src1, flow.src2, flow.src3)) | 0;
    const b = this.buckets[hash32(key, SH_TAB_BITS)];
    if (m.available(b)) return m.members[b];
    if (!this.fallback) return -1;
    // ip_vs_sh_get_fallback(): rehash with growing offsets until an available server turns up.
    for (let roffset = 1; roffset < SH_TAB_SIZE; roffset++) {
      const i = this.buckets[(roffset + hash32(key, SH_TAB_BITS)) & (SH_TAB_SIZE - 1)];
      if (m.available(i)) return m.members[i];
    }
    return -1;
  }
}

/** ip_vs_dh.c: destination hashing; the same table, keyed by the destination address, no fallback. */
export class DestinationHashing implements Scheduler {
  readonly name = 'dh' as const;
  private readonly m: Members;
  private readonly buckets: Int32Array;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
    this.buckets = assignBuckets(this.m);
  }

  pick(flow: FlowView): number {
    const m = this.m;
    if (m.n === 0) return -1;
    const b = this.buckets[hash32(foldAddress(flow.dst0, flow.dst1, flow.dst2, flow.dst3), SH_TAB_BITS)];
    return m.available(b) ? m.members[b] : -1;
  }
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** FNV-1a over a string with a seed, then a murmur finaliser: for Maglev's offset and skip. */
function stringHash(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) | 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function flowHash(a0: number, a1: number, a2: number, a3: number, port: number, offset: number): number {
  let h = Math.imul(a0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ a1 ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ a2 ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ a3 ^ (h >>> 16), 0xc2b2ae35);
  h = Math.imul(h ^ port ^ offset ^ (h >>> 15), 0x85ebca6b);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Maglev hashing (Eisenbud et al., NSDI 2016) as in ip_vs_mh.c: each member has a permutation
 * (offset, skip) of a prime-sized table; members take turns claiming their next free entry, a
 * member taking weight/gcd turns per round. Removing a member moves few other flows.
 */
export class MaglevHashing implements Scheduler {
  readonly name = 'mh' as const;
  private readonly m: Members;
  readonly table: Int32Array;
  readonly size: number;
  private readonly fallback: boolean;
  private readonly usePort: boolean;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions) {
    this.m = new Members(spec, counters);
    const size = opts.mhTableSize ?? 65537;
    if (!isPrime(size)) throw new SchedulerError(`mh table size must be prime (got ${size})`);
    this.size = size;
    this.fallback = opts.mhFallback === true;
    this.usePort = opts.mhPort === true;
    this.table = MaglevHashing.populate(spec, size);
  }

  /** Builds the lookup table; exposed for tests of the disruption property. */
  static populate(spec: SchedulingSpec, size: number): Int32Array {
    const n = spec.members.length;
    const table = new Int32Array(size).fill(-1);
    let g = 0;
    for (let i = 0; i < n; i++) if (spec.weights[i] > 0) g = gcd(spec.weights[i], g);
    const turns = new Int32Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      turns[i] = g > 0 ? spec.weights[i] / g : 0;
      total += turns[i];
    }
    if (total === 0) return table;
    const next = new Float64Array(n);
    const skip = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = stringHash(spec.memberKeys[i], 0x1b873593) % size;
      skip[i] = (stringHash(spec.memberKeys[i], 0x5bd1e995) % (size - 1)) + 1;
    }
    let filled = 0;
    while (filled < size) {
      for (let i = 0; i < n && filled < size; i++) {
        for (let t = 0; t < turns[i] && filled < size; t++) {
          let c = next[i];
          while (table[c] >= 0) {
            c += skip[i];
            if (c >= size) c -= size;
          }
          table[c] = i;
          next[i] = c;
          filled++;
        }
      }
    }
    return table;
  }

  pick(flow: FlowView): number {
    const m = this.m;
    if (m.n === 0) return -1;
    const port = this.usePort ? flow.srcPort : 0;
    const i = this.table[flowHash(flow.src0, flow.src1, flow.src2, flow.src3, port, 0) % this.size];
    if (i >= 0 && m.available(i)) return m.members[i];
    if (!this.fallback) return -1;
    for (let offset = 1; offset < 64; offset++) {
      const j = this.table[flowHash(flow.src0, flow.src1, flow.src2, flow.src3, port, offset) % this.size];
      if (j >= 0 && m.available(j)) return m.members[j];
    }
    return -1;
  }
}

export function createScheduler(
  name: SchedulerName,
  spec: SchedulingSpec,
  counters: RealServerCounters,
  opts: SchedulerOptions = {},
): Scheduler {
  switch (name) {
    case 'rr':
      return new RoundRobin(spec, counters);
    case 'wrr':
      return new WeightedRoundRobin(spec, counters);
    case 'lc':
      return new LeastConnection(spec, counters);
    case 'wlc':
    case 'sed':
    case 'nq':
      return new WeightedLeastConnection(spec, counters, name);
    case 'sh':
      return new SourceHashing(spec, counters, opts);
    case 'dh':
      return new DestinationHashing(spec, counters);
    case 'mh':
      return new MaglevHashing(spec, counters, opts);
    default:
      throw new SchedulerError(`unknown scheduler ${JSON.stringify(name)}`);
  }
}
