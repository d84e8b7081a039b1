// lc, wlc, sed, nq: the schedulers that read the live counters. One class each (the brief asks
// for one class per kind, so every pick() call site sees one shape). All scan the members in order
// and keep the first of equals, as the kernel's list walks do. Ratios are compared by
// cross-multiplication (loh * dw > doh * lw), never divided: exact in doubles while
// overhead * weight < 2^53, i.e. below ~2^29 active connections per server at weight 65535.
import type { RealServerCounters } from './counters.ts';
import { type FlowView, Members, type Scheduler, type SchedulingSpec } from './spec.ts';

/** ip_vs_lc.c: the least overhead (active * 256 + inactive), weights ignored except 0. */
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

/** ip_vs_wlc.c: the least overhead / weight (the default IPVS scheduler). */
export class WeightedLeastConnection implements Scheduler {
  readonly name = 'wlc' as const;
  private readonly m: Members;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
  }

  pick(_flow: FlowView): number {
    const least = leastWeightedOverhead(this.m);
    return least < 0 ? -1 : this.m.members[least];
  }
}

/**
 * The member wlc would pick (its position, -1 when none is available): the least overhead /
 * weight, the first of equals. Also lblc's and lblcr's fallback (__ip_vs_lblc_schedule() and
 * __ip_vs_lblcr_schedule() are the same loop).
 */
export function leastWeightedOverhead(m: Members): number {
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (let i = 0; i < m.n; i++) {
    if (!m.available(i)) continue;
    const doh = m.overhead(i);
    const dw = m.weights[i];
    if (least < 0 || loh * dw > doh * lw) {
      least = i;
      loh = doh;
      lw = dw;
    }
  }
  return least;
}

/** ip_vs_sed.c: shortest expected delay, the least (active + 1) / weight; inactive ignored. */
export class ShortestExpectedDelay implements Scheduler {
  readonly name = 'sed' as const;
  private readonly m: Members;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (let i = 0; i < m.n; i++) {
      if (!m.available(i)) continue;
      const doh = m.activeOf(i) + 1;
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

/**
 * ip_vs_nq.c: never queue. The first available member with no active connection (inactive ones
 * do not count) is taken at once; otherwise the least (active + 1) / weight, as sed.
 */
export class NeverQueue implements Scheduler {
  readonly name = 'nq' as const;
  private readonly m: Members;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    this.m = new Members(spec, counters);
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    let least = -1;
    let loh = 0;
    let lw = 0;
    for (let i = 0; i < m.n; i++) {
      if (!m.available(i)) continue;
      const active = m.activeOf(i);
      if (active === 0) return m.members[i];
      const doh = active + 1;
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
