// Time on the packet path is a wrapping 32-bit millisecond count, like the kernel's jiffies:
// cheap to store in one Int32Array word and to compare with wrap-safe subtraction. Every thread
// computes it from Date.now() and the table's epoch, so all workers agree on "now".

/** Milliseconds since `epochMs`, wrapped to a signed 32-bit integer. */
export function clockNow(epochMs: number): number {
  return (Date.now() - epochMs) | 0;
}

/** True when deadline `a` is at or before `b` (wrap-safe for distances under 24.8 days). */
export function timeReached(deadline: number, now: number): boolean {
  return ((deadline - now) | 0) <= 0;
}

/** Elapsed milliseconds from `then` to `now` (wrap-safe, non-negative for distances under 24.8 days). */
export function elapsed(then: number, now: number): number {
  return (now - then) | 0;
}
