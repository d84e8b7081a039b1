// lc, wlc, sed, nq: the schedulers that read the live counters. One class each (the brief asks
// for one class per kind, so every pick() call site sees one shape). All scan the members in order
// and keep the first of equals, as the kernel's list walks do. Ratios are compared by
// cross-multiplication (loh * dw > doh * lw), never divided: exact in doubles while
// overhead * weight < 2^53, i.e. below ~2^29 active connections per server at weight 65535.
import type { FlowView, Members, Scheduler } from './spec.ts';
import { MemberScheduler } from './spec.ts';

// What leastLoaded() takes as a member's load. A number, not a callback: the scan stays one
// monomorphic loop with nothing allocated, and each class passes its own constant.
/** lc: the overhead, weights ignored (every ratio is over 1). */
const LOAD_OVERHEAD = 0;
/** wlc, and lblc/lblcr's fallback: overhead / weight. */
const LOAD_OVERHEAD_PER_WEIGHT = 1;
/** sed: (active + 1) / weight. */
const LOAD_EXPECTED_DELAY = 2;
/** nq: as sed, but a member with no active connection is taken at once. */
const LOAD_NEVER_QUEUE = 3;

/**
 * The available member of the least load (its position, -1 when none is available), the first of
 * equals: the one list walk of ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c and ip_vs_nq.c.
 */
function leastLoaded(m: Members, load: number): number {
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (let i = 0; i < m.n; i++) {
    if (!m.available(i)) continue;
    let doh: number;
    if (load <= LOAD_OVERHEAD_PER_WEIGHT) {
      doh = m.overhead(i);
    } else {
      const active = m.activeOf(i);
      if (active === 0 && load === LOAD_NEVER_QUEUE) return i;
      doh = active + 1;
    }
    const dw = load === LOAD_OVERHEAD ? 1 : m.weights[i];
    if (least < 0 || loh * dw > doh * lw) {
      least = i;
      loh = doh;
      lw = dw;
    }
  }
  return least;
}

/**
 * The member wlc would pick (its position, -1 when none is available). Also lblc's and lblcr's
 * fallback (__ip_vs_lblc_schedule() and __ip_vs_lblcr_schedule() are the same loop).
 */
export function leastWeightedOverhead(m: Members): number {
  return leastLoaded(m, LOAD_OVERHEAD_PER_WEIGHT);
}

/** ip_vs_lc.c: the least overhead (active * 256 + inactive), weights ignored except 0. */
export class LeastConnection extends MemberScheduler implements Scheduler {
  readonly name = 'lc' as const;

  pick(_flow: FlowView): number {
    return this.m.realAt(leastLoaded(this.m, LOAD_OVERHEAD));
  }
}

/** ip_vs_wlc.c: the least overhead / weight (the default IPVS scheduler). */
export class WeightedLeastConnection extends MemberScheduler implements Scheduler {
  readonly name = 'wlc' as const;

  pick(_flow: FlowView): number {
    return this.m.realAt(leastLoaded(this.m, LOAD_OVERHEAD_PER_WEIGHT));
  }
}

/** ip_vs_sed.c: shortest expected delay, the least (active + 1) / weight; inactive ignored. */
export class ShortestExpectedDelay extends MemberScheduler implements Scheduler {
  readonly name = 'sed' as const;

  pick(_flow: FlowView): number {
    return this.m.realAt(leastLoaded(this.m, LOAD_EXPECTED_DELAY));
  }
}

/**
 * ip_vs_nq.c: never queue. The first available member with no active connection (inactive ones
 * do not count) is taken at once; otherwise the least (active + 1) / weight, as sed.
 */
export class NeverQueue extends MemberScheduler implements Scheduler {
  readonly name = 'nq' as const;

  pick(_flow: FlowView): number {
    return this.m.realAt(leastLoaded(this.m, LOAD_NEVER_QUEUE));
  }
}
