// Builders shared by this package's tests (not exported from index.ts).
import { RealFlag, type RealServerCounters } from './counters.ts';
import type { FlowView, SchedulingSpec } from './spec.ts';

/** A spec whose member i is real server i, keyed "10.0.0.<i+1>:80". */
export function specOf(
  weights: number[],
  opts: { upper?: number[]; lower?: number[]; keys?: string[] } = {},
) {
  const n = weights.length;
  const spec: SchedulingSpec = {
    members: Int32Array.from(weights.map((_, i) => i)),
    weights: Int32Array.from(weights),
    upper: Int32Array.from(weights.map((_, i) => opts.upper?.[i] ?? 0)),
    lower: Int32Array.from(weights.map((_, i) => opts.lower?.[i] ?? 0)),
    memberKeys:
      opts.keys ??
      Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:80`),
  };
  return spec;
}

/** An IPv4 flow from `src` (a u32) to 10.0.0.100:80 unless told otherwise. */
export function flow4(src: number, srcPort = 40000, dst = 0x0a000064, dstPort = 80): FlowView {
  return {
    src0: 0,
    src1: 0,
    src2: 0xffff,
    src3: src >>> 0,
    srcPort,
    dst0: 0,
    dst1: 0,
    dst2: 0xffff,
    dst3: dst >>> 0,
    dstPort,
  };
}

/** An IPv6 flow; addresses as four words. */
export function flow6(
  src: readonly number[],
  dst: readonly number[],
  srcPort = 40000,
  dstPort = 80,
): FlowView {
  return {
    src0: src[0] >>> 0,
    src1: src[1] >>> 0,
    src2: src[2] >>> 0,
    src3: src[3] >>> 0,
    srcPort,
    dst0: dst[0] >>> 0,
    dst1: dst[1] >>> 0,
    dst2: dst[2] >>> 0,
    dst3: dst[3] >>> 0,
    dstPort,
  };
}

/**
 * What the kernel's list walks read of each real server, for the tests' models of the C. A down
 * server reads as weight 0: what keepalived makes of a failed real server in IPVS.
 */
export interface KernelDest {
  weight: number;
  overloaded: boolean;
  active: number;
  inactive: number;
}

export function kernelDests(weights: readonly number[], c: RealServerCounters): KernelDest[] {
  return weights.map((w, i) => ({
    weight: c.isDown(i) ? 0 : w,
    overloaded: c.isOverloaded(i),
    active: c.active[i],
    inactive: c.inactive[i],
  }));
}

/** A change to a real server's live state, as the model tests draw them. */
export type LiveChange = 'down' | 'overload' | 'active' | 'inactive';

/** down / overload: on when `value` is odd; active / inactive: set to `value`. */
export function changeLiveState(c: RealServerCounters, i: number, what: LiveChange, value: number): void {
  if (what === 'down') c.setDown(i, value % 2 === 1);
  else if (what === 'overload') {
    if (value % 2 === 1) c.flags[i] |= RealFlag.overloaded;
    else c.flags[i] &= ~RealFlag.overloaded;
  } else if (what === 'active') c.active[i] = value;
  else c.inactive[i] = value;
}
