// RealServerCounters: the live, shared state of every real server, indexed by its global index:
// ActiveConn, InActConn (as IPVS counts them) and flags (overloaded, down). One SharedArrayBuffer,
// updated with Atomics by every worker thread, read by schedulers, the control plane and metrics.
// The overload flag follows IPVS's hysteresis (ip_vs_conn.c ip_vs_bind_dest/ip_vs_unbind_dest,
// ip_vs_ctl.c __ip_vs_update_dest): a server is overloaded when active + inactive reaches the
// upper threshold and takes new connections again when the total falls below the lower
// threshold, or below 3/4 of the upper one when no lower threshold is set. 0 = no upper limit.

export const RealFlag = { overloaded: 1, down: 2 } as const;

export class RealServerCounters {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly active: Int32Array;
  readonly inactive: Int32Array;
  readonly flags: Int32Array;

  static byteLength(capacity: number): number {
    return capacity * 3 * 4;
  }

  static create(capacity: number): RealServerCounters {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    return new RealServerCounters(new SharedArrayBuffer(RealServerCounters.byteLength(capacity)));
  }

  static attach(sab: SharedArrayBuffer): RealServerCounters {
    return new RealServerCounters(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.capacity = sab.byteLength / 12;
    this.active = new Int32Array(sab, 0, this.capacity);
    this.inactive = new Int32Array(sab, this.capacity * 4, this.capacity);
    this.flags = new Int32Array(sab, this.capacity * 8, this.capacity);
  }

  /** A new connection bound to `real`. */
  bind(real: number, established: boolean, upper: number, lower: number): void {
    if (established) Atomics.add(this.active, real, 1);
    else Atomics.add(this.inactive, real, 1);
    this.updateOverload(real, upper, lower);
  }

  /** A connection of `real` removed. */
  unbind(real: number, established: boolean, upper: number, lower: number): void {
    if (established) Atomics.sub(this.active, real, 1);
    else Atomics.sub(this.inactive, real, 1);
    this.updateOverload(real, upper, lower);
  }

  /** InActConn → ActiveConn (the entry entered ESTABLISHED). */
  establish(real: number): void {
    Atomics.add(this.active, real, 1);
    Atomics.sub(this.inactive, real, 1);
  }

  /** ActiveConn → InActConn (the entry left ESTABLISHED). */
  unestablish(real: number): void {
    Atomics.sub(this.active, real, 1);
    Atomics.add(this.inactive, real, 1);
  }

  /** Re-evaluates the overload flag of `real` against its thresholds. */
  updateOverload(real: number, upper: number, lower: number): void {
    const total = Atomics.load(this.active, real) + Atomics.load(this.inactive, real);
    if (upper <= 0) {
      if ((Atomics.load(this.flags, real) & RealFlag.overloaded) !== 0)
        Atomics.and(this.flags, real, ~RealFlag.overloaded);
      return;
    }
    const overloaded = (Atomics.load(this.flags, real) & RealFlag.overloaded) !== 0;
    if (!overloaded) {
      if (total >= upper) Atomics.or(this.flags, real, RealFlag.overloaded);
    } else {
      const floor = lower > 0 ? lower : (upper * 3) >>> 2;
      if (total < floor) Atomics.and(this.flags, real, ~RealFlag.overloaded);
    }
  }

  isOverloaded(real: number): boolean {
    return (Atomics.load(this.flags, real) & RealFlag.overloaded) !== 0;
  }

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
  }
}
