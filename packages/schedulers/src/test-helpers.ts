// Builders shared by this package's tests (not exported from index.ts).
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
