// rr and wrr: the rotating schedulers. Their cursor is per instance, and each worker thread builds
// its own instance from the config snapshot, so each worker keeps its own rotation — as per-CPU
// state would: over all workers the shares still follow the weights, but two workers may hand out
// the same member back to back. A config change builds a new instance, so the rotation restarts
// at the first member (the kernel's ip_vs_wrr_dest_changed() also resets its cursor to the head).
import type { RealServerCounters } from './counters.ts';
import type { FlowView, Scheduler, SchedulingSpec } from './spec.ts';
import { MemberScheduler, maxWeight, weightGcd } from './spec.ts';

/** ip_vs_rr.c: the next available member after the last one picked; the cursor stays on failure. */
export class RoundRobin extends MemberScheduler implements Scheduler {
  readonly name = 'rr' as const;
  /** The member picked last; -1 = the list head, so the first pick is member 0. */
  private last = -1;

  pick(_flow: FlowView): number {
    const m = this.m;
    const n = m.n;
    let i = this.last;
    for (let k = 0; k < n; k++) {
      i = i + 1 >= n ? 0 : i + 1;
      if (m.available(i)) {
        this.last = i;
        return m.members[i];
      }
    }
    return -1;
  }
}

/**
 * ip_vs_wrr.c: interleaved weighted round robin. di = gcd of the positive weights, mw = max weight
 * - (di - 1), cw (the current weight) starts at mw. Walking the list from the cursor, the first
 * available member with weight >= cw is picked; at the end of the list cw drops by di (wrapping to
 * mw below 1). Weights 4, 3, 2 give a a b a b c a b c. The end-of-search rules are the kernel's
 * (stop after every member was checked with cw <= di, and the cursor and cw it leaves behind), so
 * the sequence equals the kernel's even while members come and go.
 *
 * One departure, which does not change the sequence: when a whole pass over the list finds no
 * member, the kernel descends one level at a time (mw/di passes when only light members are
 * available — 65535 passes for weights 65535 and 1). Here such a pass also notes the largest
 * available weight, and cw jumps straight to the first level that weight meets, which is where
 * the kernel's passes would have found it; so a pick costs O(members), not O(members * mw / di).
 */
export class WeightedRoundRobin extends MemberScheduler implements Scheduler {
  readonly name = 'wrr' as const;
  private readonly di: number;
  private readonly mw: number;
  /** The lowest positive level: mw - k * di for the largest such k. */
  private readonly lowest: number;
  /** The kernel's mark->cl: the member picked last; -1 = the list head. */
  private cl = -1;
  /** The kernel's mark->cw. */
  private cw: number;

  constructor(spec: SchedulingSpec, counters: RealServerCounters) {
    super(spec, counters);
    const g = weightGcd(this.m.weights);
    const max = maxWeight(this.m.weights);
    this.di = g > 0 ? g : 1;
    this.mw = max - (this.di - 1);
    this.cw = this.mw;
    this.lowest = this.mw > 0 ? this.mw - Math.floor((this.mw - 1) / this.di) * this.di : 0;
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    const n = m.n;
    const di = this.di;
    const mw = this.mw;
    if (mw <= 0) return -1; // every weight is 0: err_noavail
    const last = this.cl;
    let cw = this.cw;
    let stop = -2; // none
    let lastPass = false;
    let restarted = false;
    let p = last;
    let fullPass = last === -1; // this pass started at the head: it sees every member
    let maxAvailable = 0;
    for (;;) {
      for (p = p + 1; p < n; p++) {
        if (m.available(p)) {
          const w = m.weights[p];
          if (w >= cw) {
            this.cl = p;
            this.cw = cw;
            return m.members[p];
          }
          if (w > maxAvailable) maxAvailable = w;
        }
        if (p === stop) {
          this.cl = p; // err_over: the cursor stays on the stop member, cw on the last level
          this.cw = cw;
          return -1;
        }
      }
      let next = cw - di;
      if (fullPass && next > this.lowest) {
        // Levels above maxAvailable would each be a fruitless full pass: go to the first level
        // at or below it (or to the lowest, when nothing is available, to end as the kernel does).
        const target = maxAvailable > 0 ? mw - Math.ceil((mw - maxAvailable) / di) * di : this.lowest;
        if (target < next) next = target;
      }
      cw = next;
      if (cw <= 0) {
        cw = mw;
        // Every member has been checked with weight >= 1: give up (err_over, cursor at the head).
        if (lastPass || last === -1) {
          this.cl = -1;
          this.cw = cw;
          return -1;
        }
        restarted = true;
      }
      lastPass = cw <= di;
      // The first pass covered only the members after `last` with cw <= di: this one covers the
      // rest, up to and including `last`.
      if (lastPass && restarted && last !== -1) stop = last;
      p = -1;
      fullPass = true;
      maxAvailable = 0;
    }
  }
}
