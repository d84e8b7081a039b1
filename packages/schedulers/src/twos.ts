// twos: the power of two random choices (Mitzenmacher), as ip_vs_twos.c ip_vs_twos_schedule()
// computes it, step for step:
// - total = the sum of the available members' weights, plus 1;
// - two draws r1, r2 uniform in [0, total) (get_random_u32_below);
// - walking the available members in list order, each draw is lowered by the member's weight,
//   and a choice is the first member at which its draw reaches 0 or below. So a draw of 0 or
//   1..w0 both land on the first member: it is chosen with odds (w0 + 1) / total, every other
//   member with wi / total — the kernel's "+ 1", kept;
// - the second choice wins only if its load is strictly lower: weight2 * overhead1 >
//   weight1 * overhead2, the overhead being ip_vs_dest_conn_overhead() (active * 256 + inactive),
//   not ActiveConn alone.
// One departure: the kernel multiplies in `int`, which overflows once weight * overhead passes
// 2^31 (e.g. weight 100 and 84 000 active connections); here the products are exact doubles (below
// 2^53), as the kernel's wlc computes them in s64.
// The draws come from the scheduler's own RandomSource (random.ts): per worker, never Math.random.
import type { RealServerCounters } from './counters.ts';
import { type RandomSource, Xoshiro128 } from './random.ts';
import type { FlowView, Scheduler, SchedulerOptions, SchedulingSpec } from './spec.ts';
import { MemberScheduler } from './spec.ts';

export class PowerOfTwoChoices extends MemberScheduler implements Scheduler {
  readonly name = 'twos' as const;
  private readonly random: RandomSource;

  constructor(spec: SchedulingSpec, counters: RealServerCounters, opts: SchedulerOptions = {}) {
    super(spec, counters);
    this.random = opts.random ?? new Xoshiro128(Xoshiro128.randomSeed());
  }

  pick(_flow: FlowView): number {
    const m = this.m;
    const n = m.n;
    let total = 0;
    let last = -1;
    for (let i = 0; i < n; i++) {
      if (m.available(i)) {
        total += m.weights[i];
        last = i;
      }
    }
    if (last < 0) return -1;
    total += 1;
    let r1 = this.random.below(total);
    let r2 = this.random.below(total);
    // choice1 starts as the last available member, as in the kernel: it stays so only if the
    // flags change between the two walks and the first draw is never used up.
    let c1 = last;
    let w1 = -1;
    let oh1 = 0;
    let c2 = -1;
    let w2 = -1;
    let oh2 = 0;
    for (let i = 0; i < n; i++) {
      if (!m.available(i)) continue;
      const w = m.weights[i];
      r1 -= w;
      r2 -= w;
      if (r1 <= 0 && w1 === -1) {
        c1 = i;
        w1 = w;
        oh1 = m.overhead(i);
      }
      if (r2 <= 0 && w2 === -1) {
        c2 = i;
        w2 = w;
        oh2 = m.overhead(i);
      }
      if (w1 !== -1 && w2 !== -1) break;
    }
    if (c2 >= 0 && w2 * oh1 > w1 * oh2) c1 = c2;
    return m.members[c1];
  }
}
