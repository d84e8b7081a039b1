// mh: Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, §3.4), following the kernel's ip_vs_mh.c:
// - a prime-sized lookup table (default 65537 entries here; the kernel offers 251 … 131071);
// - each member has a permutation of the table: offset = h1(key) mod M, skip = h2(key) mod (M-1) + 1,
//   h1 and h2 being HalfSipHash-1-3 under the kernel's two fixed secrets (the kernel hashes the
//   member's address and port; Sluice hashes its memberKey, the same identity as a string);
// - members take turns claiming their next free entry until the table is full; a member's turns
//   per round are its weight / gcd(weights), shifted right so the largest fits the table's
//   "bits" (ip_vs_mh_shift_weight: fls(max/gcd) - log2(M)/2), and at least 1 for a weight above 0;
// - a flow's entry is h1(offset + port + addr_fold(source)) mod M (port: the source port with
//   mh-port, else 0); with mh-fallback and that member unavailable, entries are tried at
//   h1(roffset + port + addr_fold) for roffset = entry, entry + 1, … (mod M), up to M of them.
// The table depends only on the member keys and weights (or lastWeights), so a member going down,
// overloaded or quiesced (with lastWeights) moves only its own flows, and removing a member moves
// few others (the paper's point; measured in maglev.test.ts).
import type { RealServerCounters } from './counters.ts';
import { halfSipHash32, halfSipHashString, MH_KEY1, MH_KEY2, sourceKey } from './hash.ts';
import type { FlowView, Scheduler, SchedulerOptions, SchedulingSpec } from './spec.ts';
import { MemberScheduler, maxWeight, SchedulerError, SchedulerErrorCode, weightGcd } from './spec.ts';

export const MH_DEFAULT_TABLE_SIZE = 65537;
/** Far above the kernel's largest (131071); a bound on memory (4 bytes an entry per instance). */
export const MH_MAX_TABLE_SIZE = 1 << 22;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** Turns per round for each member, as ip_vs_mh_permutate() computes them. */
export function maglevTurns(weights: Int32Array, size: number): Int32Array {
  const n = weights.length;
  const turns = new Int32Array(n);
  const g = weightGcd(weights);
  const max = maxWeight(weights);
  if (g === 0) return turns; // no weight above 0: an empty table
  // IP_VS_MH_TAB_BITS is half of the table index, the table being about 2^index entries.
  const tabBits = Math.round(Math.log2(size)) >> 1;
  const fls = 32 - Math.clz32(max / g);
  const shift = Math.max(0, fls - tabBits);
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    const t = (w / g) >> shift;
    turns[i] = t > 0 ? t : w !== 0 ? 1 : 0;
  }
  return turns;
}

/**
 * Builds the lookup table: entry → member index, -1 everywhere when no member has a weight.
 * ip_vs_mh_populate(): in list order each member claims `turns` entries in a row (the next free
 * entry along its permutation), round after round, until every entry is taken.
 */
export function populateMaglev(keys: readonly string[], weights: Int32Array, size: number): Int32Array {
  const n = keys.length;
  const table = new Int32Array(size).fill(-1);
  const turns = maglevTurns(weights, size);
  let anyTurns = false;
  for (let i = 0; i < n; i++) if (turns[i] > 0) anyTurns = true;
  if (!anyTurns) return table;
  // Offsets and skips below 2^32 and sums below 2^33: exact in doubles, no 32-bit wrap.
  const next = new Float64Array(n);
  const skip = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = halfSipHashString(MH_KEY1, keys[i]) % size;
    skip[i] = (halfSipHashString(MH_KEY2, keys[i]) % (size - 1)) + 1;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < turns[i]; t++) {
        let c = next[i];
        while (table[c] >= 0) {
          c += skip[i];
          if (c >= size) c -= size;
        }
        table[c] = i;
        next[i] = c;
        if (++filled === size) return table;
      }
    }
  }
}

/** The table entry for a flow key: h1(key) mod M, ip_vs_mh_get()'s hash. */
function entryFor(key: number, size: number): number {
  return halfSipHash32(MH_KEY1.k0, MH_KEY1.k1, key) % size;
}

export class MaglevHashing extends MemberScheduler implements Scheduler {
  readonly name = 'mh' as const;
  /** Entry → member index (-1 only when every weight is 0). Read-only by intent. */
  readonly table: Int32Array;
  readonly size: number;
  private readonly fallback: boolean;
  private readonly usePort: boolean;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions = {}) {
    super(spec, counters);
    const size = opts.mhTableSize ?? MH_DEFAULT_TABLE_SIZE;
    if (!isPrime(size) || size > MH_MAX_TABLE_SIZE) {
      throw new SchedulerError(
        SchedulerErrorCode.tableSize,
        `mhTableSize must be a prime up to ${MH_MAX_TABLE_SIZE} (got ${size})`,
      );
    }
    if (this.m.n > size) {
      throw new SchedulerError(
        SchedulerErrorCode.tableSize,
        `mhTableSize ${size} is smaller than the ${this.m.n} members (Maglev wants M > 100 N)`,
      );
    }
    this.size = size;
    this.fallback = opts.mhFallback === true;
    this.usePort = opts.mhPort === true;
    this.table = populateMaglev(spec.memberKeys, spec.lastWeights ?? spec.weights, size);
  }

  /** The table entry a flow looks up first (exposed for tests). */
  entryOf(flow: FlowView): number {
    return entryFor(sourceKey(flow, this.usePort), this.size);
  }

  pick(flow: FlowView): number {
    const m = this.m;
    const table = this.table;
    const size = this.size;
    const base = sourceKey(flow, this.usePort);
    const ihash = entryFor(base, size);
    const first = table[ihash];
    if (first < 0) return -1;
    if (m.available(first)) return m.members[first];
    // The kernel walks up to M rehashes even when nothing is available; one O(members) scan
    // answers that case without 65537 hashes per new flow (e.g. under a SYN flood with every
    // server overloaded).
    if (!this.fallback || !m.anyAvailable()) return -1;
    let roffset = ihash;
    for (let k = 0; k < size; k++) {
      const i = table[entryFor((roffset + base) | 0, size)];
      if (m.available(i)) return m.members[i];
      roffset = roffset + 1 === size ? 0 : roffset + 1;
    }
    return -1;
  }
}
