// sh and dh: a static 256-bucket table (IP_VS_SH_TAB_BITS / IP_VS_DH_TAB_BITS = 8) from a hash of
// the source (sh) or destination (dh) address to a member, as ip_vs_sh.c and ip_vs_dh.c build it:
// members in list order, each given `weight` consecutive buckets (at least one, even at weight 0),
// repeating until the 256 buckets are full. The table depends only on the member list and the
// weights, so a member going down or overloaded moves nothing else: with sh-fallback only its own
// flows go elsewhere. Deleting a member from the list (or changing a weight) re-deals the buckets
// and moves most flows — as in the kernel; quiesce instead (weight 1 → 0 keeps the deal, since a
// weight-0 member still holds its one bucket), or use mh.
import type { RealServerCounters } from './counters.ts';
import { foldAddress, hash32, sourceKey } from './hash.ts';
import type { FlowView, Scheduler, SchedulerOptions, SchedulingSpec } from './spec.ts';
import { MemberScheduler } from './spec.ts';

export const HASH_TAB_BITS = 8;
export const HASH_TAB_SIZE = 1 << HASH_TAB_BITS;
const HASH_TAB_MASK = HASH_TAB_SIZE - 1;

/** ip_vs_sh_reassign() / ip_vs_dh_reassign(): bucket → member index, -1 when there is no member. */
export function dealBuckets(weights: Int32Array): Int32Array {
  const buckets = new Int32Array(HASH_TAB_SIZE).fill(-1);
  const n = weights.length;
  if (n === 0) return buckets;
  let p = 0;
  let count = 0;
  for (let b = 0; b < HASH_TAB_SIZE; b++) {
    buckets[b] = p;
    if (++count >= weights[p]) {
      p = p + 1 === n ? 0 : p + 1;
      count = 0;
    }
  }
  return buckets;
}

/**
 * ip_vs_sh.c: source hashing. Bucket = hash_32(port + addr_fold, 8), port being the source port
 * with --sh-port and 0 without. With --sh-fallback and the bucket's member unavailable, the
 * kernel tries buckets (offset + 2 * bucket) mod 256 for offset 0..255 — its
 * ip_vs_sh_get_fallback() adds the original hash to an offset that already starts at it — and
 * takes the first available member: deterministic per source, so a source keeps its fallback.
 */
export class SourceHashing extends MemberScheduler implements Scheduler {
  readonly name = 'sh' as const;
  private readonly buckets: Int32Array;
  private readonly fallback: boolean;
  private readonly usePort: boolean;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions = {}) {
    super(spec, counters);
    this.buckets = dealBuckets(this.m.weights);
    this.fallback = opts.shFallback === true;
    this.usePort = opts.shPort === true;
  }

  /** The bucket a flow hashes to (exposed for tests). */
  bucketOf(flow: FlowView): number {
    return hash32(sourceKey(flow, this.usePort), HASH_TAB_BITS);
  }

  pick(flow: FlowView): number {
    const m = this.m;
    if (m.n === 0) return -1;
    const ihash = this.bucketOf(flow);
    const first = this.buckets[ihash];
    if (m.available(first)) return m.members[first];
    if (!this.fallback) return -1;
    for (let offset = 0; offset < HASH_TAB_SIZE; offset++) {
      const i = this.buckets[(offset + 2 * ihash) & HASH_TAB_MASK];
      if (m.available(i)) return m.members[i];
    }
    return -1;
  }
}

/** ip_vs_dh.c: destination hashing. Bucket = hash_32(addr_fold(destination), 8); no fallback. */
export class DestinationHashing extends MemberScheduler implements Scheduler {
  readonly name = 'dh' as const;
  private readonly buckets: Int32Array;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    super(spec, counters);
    this.buckets = dealBuckets(this.m.weights);
  }

  bucketOf(flow: FlowView): number {
    return hash32(foldAddress(flow.dst0, flow.dst1, flow.dst2, flow.dst3), HASH_TAB_BITS);
  }

  pick(flow: FlowView): number {
    const m = this.m;
    if (m.n === 0) return -1;
    const i = this.buckets[this.bucketOf(flow)];
    return m.available(i) ? m.members[i] : -1;
  }
}
