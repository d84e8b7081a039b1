// RealServerCounters: the live, shared state of every real server, indexed by its global index:
// ActiveConn and InActConn as IPVS counts them, and flags (overloaded, down). One SharedArrayBuffer,
// updated with Atomics by every worker thread, read by the schedulers, the control plane and metrics.
// One count IPVS does not keep: Held, the connections the real server really holds. IPVS counts
// every entry toward a threshold (active + inactive), so closed connections waiting out FIN_WAIT
// and TIME_WAIT (120 s) and spoofed half-open ones that a server with syncookies never kept fill
// the threshold with ghosts. The pipeline keeps Held instead: a connection is held from its SYN
// until the client closes or resets it, except a half-open one past a short grace
// (@sluice/defense's halfOpenHoldMs; a verified source's entry only from its handshake). The thresholds count Held unless the server's
// RealFlag.countInactive asks for IPVS's count.
//
// Held is still the director's view: a real-address bot that forges its handshake and progress
// blind is held here while a server with syncookies keeps nothing for it. A load agent on the real
// server (@sluice/agent) says what the server holds; correctHeld() turns each report into Unheld,
// the part of Held the server did not hold when it answered, and the thresholds count
// Held − Unheld until the next report (RealFlag.reported says one is in force).
//
// HalfOpenBound counts, never down, the held half-open TCP entries bound (an unverified SYN
// forwarded): the defense's shedder resets nobody from a victim list built before the latest of
// them, which it may not list and which may rank below everything it does (@sluice/defense shedder).
//
// The overload flag follows IPVS's -x/-y hysteresis (ip_vs_conn.c ip_vs_bind_dest() sets it,
// ip_vs_unbind_dest() clears it): overloaded once the count reaches the upper threshold;
// cleared when it falls below the lower threshold, or, with no lower threshold, when
// count * 4 < upper * 3 (the kernel's integer test, i.e. below ceil(3/4 of upper)); 0 = no limit.
// Here both bind and unbind re-evaluate both edges (as the ip_vs_dest_update_overload() helper
// proposed on netdev does), because several threads update the same server without a lock: a
// check-then-set can land late and leave a stale flag, and the next bind or unbind of that server
// corrects it. The flag is a hint for schedulers; the counts themselves are exact.

export const RealFlag = {
  overloaded: 1,
  down: 2,
  /** thresholds count active + inactive, as IPVS does (the config's countInactive), not Held */
  countInactive: 4,
  /** a load agent's report is in force: Unheld holds its correction (correctHeld) */
  reported: 8,
} as const;

/**
 * Layout of the shared buffer, in 32-bit words: three arrays of `capacity` entries, one after
 * the other. No other file indexes this buffer.
 */
export const CountersLayout = {
  arrays: 6,
  activeArray: 0,
  inactiveArray: 1,
  flagsArray: 2,
  heldArray: 3,
  unheldArray: 4,
  halfOpenBoundArray: 5,
  bytesPerEntry: 4,
} as const;

export class CountersError extends Error {
  readonly code = 'SLUICE_ERR_SCHEDULER_COUNTERS';
}

export class RealServerCounters {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  /** ActiveConn: connections in ESTABLISHED. */
  readonly active: Int32Array;
  /** InActConn: connections in every other state. */
  readonly inactive: Int32Array;
  /** RealFlag bits. */
  readonly flags: Int32Array;
  /** Connections the real server really holds (a subset of active + inactive; see above). */
  readonly held: Int32Array;
  /** The part of Held the real server's load agent says it does not hold (see correctHeld). */
  readonly unheld: Int32Array;
  /** Held half-open TCP entries bound, ever (wrapping): see the header. */
  readonly halfOpenBound: Int32Array;

  static byteLength(capacity: number): number {
    return capacity * CountersLayout.arrays * CountersLayout.bytesPerEntry;
  }

  /** Allocates the shared buffer for `capacity` real servers, all counts 0 and no flags. */
  static create(capacity: number): RealServerCounters {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x1000000) {
      throw new CountersError('capacity must be an integer 1..16777216');
    }
    return new RealServerCounters(new SharedArrayBuffer(RealServerCounters.byteLength(capacity)));
  }

  /** Views a buffer made by create() (on another thread, after a postMessage). */
  static attach(sab: SharedArrayBuffer): RealServerCounters {
    const entry = CountersLayout.arrays * CountersLayout.bytesPerEntry;
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength === 0 || sab.byteLength % entry !== 0) {
      throw new CountersError(`buffer must be a SharedArrayBuffer of a positive multiple of ${entry} bytes`);
    }
    return new RealServerCounters(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    const { arrays, bytesPerEntry } = CountersLayout;
    this.sab = sab;
    this.capacity = sab.byteLength / (arrays * bytesPerEntry);
    const stride = this.capacity * bytesPerEntry;
    this.active = new Int32Array(sab, CountersLayout.activeArray * stride, this.capacity);
    this.inactive = new Int32Array(sab, CountersLayout.inactiveArray * stride, this.capacity);
    this.flags = new Int32Array(sab, CountersLayout.flagsArray * stride, this.capacity);
    this.held = new Int32Array(sab, CountersLayout.heldArray * stride, this.capacity);
    this.unheld = new Int32Array(sab, CountersLayout.unheldArray * stride, this.capacity);
    this.halfOpenBound = new Int32Array(sab, CountersLayout.halfOpenBoundArray * stride, this.capacity);
  }

  /**
   * A new connection bound to `real` (ip_vs_bind_dest): counted (ActiveConn or InActConn, and
   * Held: a new connection is held until it closes or the defense releases it), then the
   * thresholds checked. `held` false: not counted in Held yet (a provisional entry).
   */
  bind(real: number, established: boolean, upper: number, lower: number, held = true): void {
    if (established) Atomics.add(this.active, real, 1);
    else Atomics.add(this.inactive, real, 1);
    if (held) Atomics.add(this.held, real, 1);
    this.updateOverload(real, upper, lower);
  }

  /** A held half-open TCP entry was just bound to `real` (an unverified SYN forwarded). */
  noteHalfOpenBound(real: number): void {
    Atomics.add(this.halfOpenBound, real, 1);
  }

  /** HalfOpenBound of `real`: compare for equality only (it wraps). */
  halfOpenBoundCount(real: number): number {
    return Atomics.load(this.halfOpenBound, real);
  }

  /**
   * A connection of `real` removed (ip_vs_unbind_dest). `established`: it was counted active;
   * `held`: it was still counted in Held.
   */
  unbind(real: number, established: boolean, upper: number, lower: number, held = true): void {
    if (established) Atomics.sub(this.active, real, 1);
    else Atomics.sub(this.inactive, real, 1);
    if (held) Atomics.sub(this.held, real, 1);
    this.updateOverload(real, upper, lower);
  }

  /**
   * A connection of `real` started (+1) or stopped (−1) being held. The overload flag is left to
   * the caller's updateOverload (a thread without the thresholds, like the re-scorer, leaves it to
   * the defense loop's periodic re-evaluation).
   */
  addHeld(real: number, delta: number): void {
    Atomics.add(this.held, real, delta);
  }

  /**
   * What the thresholds compare: Held less what the server's agent said it does not hold, or
   * active + inactive with RealFlag.countInactive (IPVS's count, which no agent corrects).
   */
  load(real: number): number {
    if ((Atomics.load(this.flags, real) & RealFlag.countInactive) !== 0) {
      return Atomics.load(this.active, real) + Atomics.load(this.inactive, real);
    }
    const held = Atomics.load(this.held, real) - Atomics.load(this.unheld, real);
    return held > 0 ? held : 0;
  }

  /**
   * A load agent's report: the real server holds `reported` connections. `heldAtProbe` is Held
   * when the probe was sent. The correction is what Held counted, at both ends of the exchange,
   * beyond the report: min(heldAtProbe, Held now) − reported, never below 0. The minimum leaves
   * out connections that opened during the exchange (the server may not have had them yet); a
   * server that holds more than this director counts (another director feeds it) gets no
   * correction, never a negative one.
   *
   * Only a server with room is corrected: one that says it holds `upper` or more is full, and its
   * count stays the director's. What the shedder frees is counted off Held one reset at a time,
   * and it cannot tell which of its entries the server holds (real clients whose handshake the
   * server's full accept queue dropped are held here, not there); counted down from the server's
   * smaller number it would stop after a few resets that freed nothing (simulator: slow-header at
   * 4000 connections, 1.000 → 0.906 of valid clients served). The overload flag is re-evaluated
   * against `upper` and `lower`.
   */
  correctHeld(real: number, heldAtProbe: number, reported: number, upper: number, lower: number): number {
    const now = Atomics.load(this.held, real);
    const counted = heldAtProbe < now ? heldAtProbe : now;
    const full = upper > 0 && reported >= upper;
    const unheld = !full && counted > reported ? counted - reported : 0;
    Atomics.store(this.unheld, real, unheld);
    if ((Atomics.load(this.flags, real) & RealFlag.reported) === 0)
      Atomics.or(this.flags, real, RealFlag.reported);
    this.updateOverload(real, upper, lower);
    return unheld;
  }

  /**
   * No report in force (the agent failed or is no longer configured): Held counts whole again,
   * and the overload flag is re-evaluated against `upper` and `lower`.
   */
  clearReport(real: number, upper: number, lower: number): void {
    Atomics.store(this.unheld, real, 0);
    if ((Atomics.load(this.flags, real) & RealFlag.reported) !== 0)
      Atomics.and(this.flags, real, ~RealFlag.reported);
    this.updateOverload(real, upper, lower);
  }

  /** Whether a load agent's report corrects this server's count (see correctHeld). */
  isReported(real: number): boolean {
    return (Atomics.load(this.flags, real) & RealFlag.reported) !== 0;
  }

  /** Whether the thresholds count active + inactive (IPVS) for this server instead of Held. */
  countsInactive(real: number): boolean {
    return (Atomics.load(this.flags, real) & RealFlag.countInactive) !== 0;
  }

  /** Thresholds count active + inactive (IPVS) instead of Held; set from the config. */
  setCountInactive(real: number, on: boolean): void {
    const is = (Atomics.load(this.flags, real) & RealFlag.countInactive) !== 0;
    if (on && !is) Atomics.or(this.flags, real, RealFlag.countInactive);
    else if (!on && is) Atomics.and(this.flags, real, ~RealFlag.countInactive);
  }

  /** InActConn → ActiveConn (the entry entered ESTABLISHED). The total is unchanged. */
  establish(real: number): void {
    Atomics.add(this.active, real, 1);
    Atomics.sub(this.inactive, real, 1);
  }

  /** ActiveConn → InActConn (the entry left ESTABLISHED, e.g. a FIN). The total is unchanged. */
  unestablish(real: number): void {
    Atomics.sub(this.active, real, 1);
    Atomics.add(this.inactive, real, 1);
  }

  /**
   * Re-evaluates the overload flag of `real` against its thresholds. Also for the control plane
   * after a threshold change (ip_vs_ctl.c __ip_vs_update_dest clears the flag when the upper
   * threshold is removed or raised; re-evaluating gives the same answer and sets it if lowered).
   * A lower threshold at or above the upper one cannot hold: the upper test wins.
   */
  updateOverload(real: number, upper: number, lower: number): void {
    const flags = this.flags;
    const overloaded = (Atomics.load(flags, real) & RealFlag.overloaded) !== 0;
    if (upper <= 0) {
      if (overloaded) Atomics.and(flags, real, ~RealFlag.overloaded);
      return;
    }
    const total = this.load(real);
    if (total >= upper) {
      // Write only on a change: the flags of neighbouring servers share this cache line.
      if (!overloaded) Atomics.or(flags, real, RealFlag.overloaded);
      return;
    }
    if (!overloaded) return;
    const below = lower > 0 ? total < lower : total * 4 < upper * 3;
    if (below) Atomics.and(flags, real, ~RealFlag.overloaded);
  }

  isOverloaded(real: number): boolean {
    return (Atomics.load(this.flags, real) & RealFlag.overloaded) !== 0;
  }

  /** Health checks' verdict (set by the control plane); a down server takes no new connections. */
  isDown(real: number): boolean {
    return (Atomics.load(this.flags, real) & RealFlag.down) !== 0;
  }

  setDown(real: number, down: boolean): void {
    if (down) Atomics.or(this.flags, real, RealFlag.down);
    else Atomics.and(this.flags, real, ~RealFlag.down);
  }

  /** Clears a slot for reuse by a new real server (the control plane, when it assigns the index). */
  resetSlot(real: number): void {
    Atomics.store(this.active, real, 0);
    Atomics.store(this.inactive, real, 0);
    Atomics.store(this.flags, real, 0);
    Atomics.store(this.held, real, 0);
    Atomics.store(this.unheld, real, 0);
    Atomics.store(this.halfOpenBound, real, 0);
  }
}
