// What every scheduler shares: the contract types, the validated view of a service's members, and
// IPVS's availability rule. A member takes new connections only if its weight is above 0 and it is
// neither overloaded (threshold hysteresis, counters.ts) nor down (health checks) — the kernel's
// schedulers test weight and IP_VS_DEST_F_OVERLOAD; "down" is Sluice's addition.
import type { RealServerCounters } from './counters.ts';
import { RealFlag } from './counters.ts';
import type { RandomSource } from './random.ts';

/** The 14 IPVS schedulers, each named as the kernel's ip_vs_<name>.c module. */
export const SCHEDULER_NAMES = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'sed',
  'nq',
  'sh',
  'dh',
  'mh',
  'lblc',
  'lblcr',
  'fo',
  'ovf',
  'twos',
] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

export function isSchedulerName(s: unknown): s is SchedulerName {
  return typeof s === 'string' && (SCHEDULER_NAMES as readonly string[]).includes(s);
}

/**
 * What a service's scheduler needs from the config snapshot, immutable for the life of the
 * scheduler (a config change builds a new one). members[i] is a global real-server index; the
 * other arrays are per member.
 */
export interface SchedulingSpec {
  members: Int32Array;
  /** 0..65535, as ipvsadm -w. 0 = quiesced: keeps its connections, takes no new ones. */
  weights: Int32Array;
  /** -x / -y thresholds; the scheduler reads the overload flag, the dataplane passes these to bind(). */
  upper: Int32Array;
  lower: Int32Array;
  /** Stable identity per member ("10.0.0.2:80"): Maglev's permutations are hashed from it. */
  memberKeys: readonly string[];
  /**
   * Optional, mh only: the weights the lookup table is built from — the kernel's last_weight, the
   * last non-zero weight of each member. A member quiesced to weight 0 then keeps its table
   * entries (and with mh-fallback only its own flows move); without it, weight 0 removes the
   * member from the table and the table is rebuilt. Defaults to `weights`.
   */
  lastWeights?: Int32Array;
}

/**
 * The flow a scheduler sees. @sluice/wire's FrameInfo satisfies it structurally. Addresses are
 * four big-endian u32 words; IPv4 is v4-mapped (0, 0, 0xffff, addr). Ports in host order.
 */
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
  /** A global real-server index, or -1 when no member can take the flow. Never throws. */
  pick(flow: FlowView): number;
}

export interface SchedulerOptions {
  /** mh lookup table size; must be prime and at least the member count. Default 65537. */
  mhTableSize?: number;
  /** sh: when the hashed server is unavailable, walk the table for one that is (--sh-fallback). */
  shFallback?: boolean;
  /** sh: hash the source port too (--sh-port). */
  shPort?: boolean;
  /** mh: as shFallback (--mh-fallback). */
  mhFallback?: boolean;
  /** mh: as shPort (--mh-port). */
  mhPort?: boolean;
  /**
   * lblc, lblcr: how long a destination's entry lives unused, and (lblcr) how long a server set
   * must stay unchanged before it sheds its busiest member — the sysctls lblc_expiration and
   * lblcr_expiration. Milliseconds, default 24 h (the kernel's DEFAULT_EXPIRATION).
   */
  localityExpirationMs?: number;
  /** lblc, lblcr: log2 of the hash buckets (CONFIG_IP_VS_LBLC_TAB_BITS, 1..20, default 10). The
   * kernel's periodic collection starts when entries exceed 16 per bucket. */
  localityTableBits?: number;
  /** lblc, lblcr: the most destinations the table holds; past it the least recently used entry
   * makes room (the kernel's table has no bound). Default 1024. */
  localityCapacity?: number;
  /** lblc, lblcr: a monotonic millisecond clock (default performance.now), injectable for tests. */
  clock?: () => number;
  /** twos: the random source (default: a Xoshiro128 seeded from crypto), injectable for tests. */
  random?: RandomSource;
  /**
   * lblc, lblcr: the scheduler this one replaces after a config change, of the same service. Its
   * table is copied (entries whose server left the service are dropped), as the kernel keeps a
   * service's table while its real servers are edited. Ignored unless it is the same scheduler.
   */
  previous?: Scheduler;
}

export class SchedulerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export const SchedulerErrorCode = {
  unknown: 'SLUICE_ERR_SCHEDULER_UNKNOWN',
  spec: 'SLUICE_ERR_SCHEDULER_SPEC',
  tableSize: 'SLUICE_ERR_SCHEDULER_TABLE_SIZE',
  option: 'SLUICE_ERR_SCHEDULER_OPTION',
} as const;

export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** The gcd of the weights above 0, as ip_vs_wrr_gcd_weight() and ip_vs_mh_gcd_weight(); 0 if none. */
export function weightGcd(weights: Int32Array): number {
  let g = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g;
}

/** The largest weight (0 for none), as ip_vs_wrr_max_weight(). */
export function maxWeight(weights: Int32Array): number {
  let max = 0;
  for (let i = 0; i < weights.length; i++) if (weights[i] > max) max = weights[i];
  return max;
}

/**
 * The validated members of one service plus the shared counters. One class for every scheduler
 * (composition, not inheritance), so available() and friends see a single receiver shape.
 *
 * Reads of the shared counters are plain element loads, not Atomics.load: aligned Int32Array
 * accesses are tear-free in the JS memory model, a scheduler only needs a recent value (the
 * kernel's atomic_read() is a plain load too), and Atomics.load made lc/wlc picks about three
 * times slower here. Every write to the counters stays atomic (counters.ts).
 */
export class Members {
  readonly n: number;
  readonly members: Int32Array;
  readonly weights: Int32Array;
  readonly flags: Int32Array;
  readonly active: Int32Array;
  readonly inactive: Int32Array;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    const n = spec.members.length;
    const bad = (what: string) => new SchedulerError(SchedulerErrorCode.spec, what);
    if (spec.weights.length !== n) throw bad('weights must have one entry per member');
    if (spec.upper.length !== n || spec.lower.length !== n) {
      throw bad('upper and lower must have one entry per member');
    }
    if (spec.memberKeys.length !== n) throw bad('memberKeys must have one entry per member');
    if (spec.lastWeights !== undefined && spec.lastWeights.length !== n) {
      throw bad('lastWeights must have one entry per member');
    }
    for (let i = 0; i < n; i++) {
      const w = spec.weights[i];
      if (w < 0 || w > 65535) throw bad(`weight of member ${i} must be 0..65535 (got ${w})`);
      if (spec.lastWeights !== undefined) {
        // The kernel's last_weight is the weight itself while that is above 0.
        const lw = spec.lastWeights[i];
        if (lw < 0 || lw > 65535 || (w > 0 && lw !== w)) {
          throw bad(`lastWeight of member ${i} must be 0..65535 and equal its weight when that is above 0`);
        }
      }
      const m = spec.members[i];
      if (m < 0 || m >= counters.capacity) {
        throw bad(`member ${i} is real server ${m}, outside the counters (capacity ${counters.capacity})`);
      }
    }
    // Copies: the spec's arrays belong to the caller; a scheduler must not change under a pick.
    this.n = n;
    this.members = Int32Array.from(spec.members);
    this.weights = Int32Array.from(spec.weights);
    this.flags = counters.flags;
    this.active = counters.active;
    this.inactive = counters.inactive;
  }

  /** weight > 0, not overloaded, not down. */
  available(i: number): boolean {
    return this.weights[i] > 0 && (this.flags[this.members[i]] & (RealFlag.overloaded | RealFlag.down)) === 0;
  }

  /**
   * The weight the kernel would read: a down member counts as weight 0, which is what keepalived
   * makes of a failed real server in IPVS. For the kernel's tests that read weights directly
   * rather than the availability rule (lblc/lblcr's is_overloaded, lblcr's set maximum).
   */
  weightOf(i: number): number {
    return (this.flags[this.members[i]] & RealFlag.down) === 0 ? this.weights[i] : 0;
  }

  isOverloadFlagged(i: number): boolean {
    return (this.flags[this.members[i]] & RealFlag.overloaded) !== 0;
  }

  /** True if any member is available: an O(n) guard before the hashing schedulers' long walks. */
  anyAvailable(): boolean {
    for (let i = 0; i < this.n; i++) if (this.available(i)) return true;
    return false;
  }

  /** ip_vs_dest_conn_overhead() (include/net/ip_vs.h): active * 256 + inactive. */
  overhead(i: number): number {
    const m = this.members[i];
    return this.active[m] * 256 + this.inactive[m];
  }

  activeOf(i: number): number {
    return this.active[this.members[i]];
  }

  /** The global real-server index at position i; -1, a scan's "none", stays -1 (what pick() returns). */
  realAt(i: number): number {
    return i < 0 ? -1 : this.members[i];
  }
}

/**
 * What every scheduler class is built on: its service's validated members. Only construction is
 * shared; each scheduler keeps its own pick(), so a pick still sees one receiver class (and the
 * Members it reads is always the one class above).
 */
export abstract class MemberScheduler {
  protected readonly m: Members;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
  }
}
