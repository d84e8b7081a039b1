// fo and ovf: the schedulers that send every new connection to the heaviest member that can take
// it, so the lighter ones are standby (fo) or overflow (ovf) servers. Both keep the first of equal
// weights in list order (the kernel's strict `w > hw`) and read nothing but weights, flags and,
// for ovf, ActiveConn.
import type { FlowView, Members, Scheduler } from './spec.ts';
import { MemberScheduler } from './spec.ts';

/**
 * The first available member of the highest weight (its position, or -1). With `withinWeight`
 * (ovf), members whose active connections exceed their weight are passed over. The kernel's fo
 * starts from hw = 0 and ovf from "no member yet"; with weights above 0 both take the first of
 * the heaviest.
 */
function heaviest(m: Members, withinWeight: boolean): number {
  let best = -1;
  let hw = 0;
  for (let i = 0; i < m.n; i++) {
    const w = m.weights[i];
    if (!m.available(i) || (withinWeight && m.activeOf(i) > w)) continue;
    if (w > hw) {
      best = i;
      hw = w;
    }
  }
  return best;
}

/**
 * ip_vs_fo.c ip_vs_fo_schedule(): weighted failover. The available member of the highest weight
 * takes everything; the next one takes over only when it is overloaded, down or quiesced.
 */
export class WeightedFailover extends MemberScheduler implements Scheduler {
  readonly name = 'fo' as const;

  pick(_flow: FlowView): number {
    return this.m.realAt(heaviest(this.m, false));
  }
}

/**
 * ip_vs_ovf.c ip_vs_ovf_schedule(): overflow. As fo, but a member whose active connections
 * exceed its weight (active > weight; equal still takes one more) is passed over, so the weight is
 * a connection budget and connections overflow to the next heaviest. Inactive connections do not
 * count, which is why the kernel warns that ovf may not suit UDP.
 */
export class Overflow extends MemberScheduler implements Scheduler {
  readonly name = 'ovf' as const;

  pick(_flow: FlowView): number {
    return this.m.realAt(heaviest(this.m, true));
  }
}
