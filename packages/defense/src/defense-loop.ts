// DefenseLoop: everything the defense does on a clock rather than per packet, in one place, so the
// daemon (a 20 ms timer on its main thread) and the simulator (simulated milliseconds) run the same
// code at the same cadence:
//   every 20 ms   which services verify sources (their load, or the connection table's, against
//                 the verification watermark, with a hold time), the real servers' overload flags
//                 re-evaluated (the re-scorer changes Held without the thresholds), the capacity
//                 for the fair share, and the shedder;
//   every second  LVS drop_entry's scan (the workers run drop_packet and secure_tcp themselves),
//                 configured as the workers are (lvsSettings);
//   every step    a slice of the verified-source table's expiry, and, when the loop owns the
//                 re-scorer (the simulator), a re-scorer step; the daemon runs it in its own thread.

import type { ConnectionTable, VerifiedSourceTable } from '@sluice/conntrack';
import type { RealServerCounters } from '@sluice/schedulers';
import type { DefenseState } from './defense-state.ts';
import { LvsDefense, type LvsDefenseConfig, lvsSettings } from './lvs-defense.ts';
import type { Rescorer } from './rescorer.ts';
import { type ResetSender, Shedder, type ShedTopology } from './shedder.ts';
import type { VictimIndex } from './victim-index.ts';

/** The shedder's (and the verification's) cadence: the director's timer. */
export const SHED_EVERY_MS = 20;
/** drop_entry's defense_work: once a second, as the kernel's. */
export const LVS_EVERY_MS = 1000;
/** Verified-source slots examined for expiry per step. */
const VERIFIED_EXPIRY_SLOTS = 1024;

/** Verification modes (the config's `verification.mode`). */
export const VerifyModeCode = { off: 0, auto: 1, always: 2 } as const;

/** What the loop reads of the configuration in force; the dataplane's CompiledConfig has it. */
export interface DefenseTopology extends ShedTopology {
  /** The priority strategy is on: shed and verify (otherwise only the LVS baseline runs). */
  readonly sheds: boolean;
  readonly realLower: Int32Array;
  readonly realPresent: Uint8Array;
  readonly verifyMode: number;
  readonly verifyWatermark: number;
  readonly verifyHoldMs: number;
  /** The LVS sysctls with only the chosen strategy's mode on (null: no defense section). */
  readonly lvs: LvsDefenseConfig | null;
}

export interface DefenseLoopParts {
  connections: ConnectionTable;
  reals: RealServerCounters;
  victims: VictimIndex;
  state: DefenseState;
  verified: VerifiedSourceTable;
}

export interface DefenseLoopOptions {
  /** Step this re-scorer from the loop (the simulator); the daemon runs it in a thread instead. */
  rescorer?: Rescorer | null;
  /** Re-scorer slots per millisecond of loop time, when the loop owns it. Default 4096. */
  rescorerSlotsPerMs?: number;
  /** drop_entry's random choice; the simulator passes its seeded generator. */
  random?: () => number;
}

export class DefenseLoop {
  readonly shedder: Shedder;
  /** The main thread's LVS state: drop_entry's scan, and the modes as metrics show them. */
  readonly lvs: LvsDefense;
  private readonly parts: DefenseLoopParts;
  private readonly rescorer: Rescorer | null;
  private readonly rescorerSlotsPerMs: number;
  private readonly random: () => number;
  /** When each service was last at its verification watermark (loop clock, ms). */
  private lastPressure: Int32Array;
  private lastShed = 0;
  private lastLvs = 0;
  private lastStep = 0;
  private started = false;
  /** Seconds of loop time with drop_entry's automatic mode engaged (diagnostics). */
  lvsEngagedTicks = 0;

  constructor(parts: DefenseLoopParts, sendReset: ResetSender, options: DefenseLoopOptions = {}) {
    this.parts = parts;
    this.shedder = new Shedder(parts, sendReset);
    this.lvs = new LvsDefense(parts.connections.capacity);
    this.rescorer = options.rescorer ?? null;
    this.rescorerSlotsPerMs = options.rescorerSlotsPerMs ?? 4096;
    this.random = options.random ?? Math.random;
    this.lastPressure = new Int32Array(parts.state.services);
  }

  /** Does what is due at `now` (the tables' ms clock) under configuration `topo`. */
  tick(topo: DefenseTopology, now: number): void {
    if (!this.started) {
      this.started = true;
      this.lastShed = (now - SHED_EVERY_MS) | 0;
      this.lastLvs = now;
      this.lastStep = now;
    }
    if (this.rescorer !== null) {
      let ms = (now - this.lastStep) | 0;
      if (ms > 0) {
        if (ms > 1000) ms = 1000;
        this.rescorer.step(now, ms * this.rescorerSlotsPerMs);
      }
    }
    this.lastStep = now;
    if (((now - this.lastShed) | 0) >= SHED_EVERY_MS) {
      this.lastShed = now;
      this.refreshReals(topo);
      if (topo.sheds) {
        this.verification(topo, now);
        this.shedder.step(topo);
      } else {
        for (let s = 0; s < this.parts.state.services; s++) this.parts.state.setVerifying(s, 0);
      }
      this.parts.verified.expireStep(now, VERIFIED_EXPIRY_SLOTS);
    }
    if (((now - this.lastLvs) | 0) >= LVS_EVERY_MS) {
      this.lastLvs = now;
      this.lvs.reconfigure(lvsSettings(topo.lvs, this.parts.connections.capacity));
      this.lvs.tick(now, this.parts.connections, this.random);
      if (this.lvs.nomem) this.lvsEngagedTicks++;
    }
  }

  /**
   * Re-evaluates every real server's overload flag (the re-scorer releases held slots without
   * the thresholds) and publishes the cluster's capacity for the fair share.
   */
  private refreshReals(topo: DefenseTopology): void {
    const reals = this.parts.reals;
    let capacity = 0;
    for (let m = 0; m < topo.realPresent.length; m++) {
      if (topo.realPresent[m] === 0) continue;
      reals.updateOverload(m, topo.realUpper[m], topo.realLower[m]);
      capacity += topo.realUpper[m] > 0 ? topo.realUpper[m] : 0;
    }
    this.parts.state.setCapacity(capacity);
  }

  /**
   * Which services verify sources: always, never, or (auto) while the service or one of its real
   * servers holds the watermark's share of its capacity, or the connection table holds that share
   * of its entries, and `verifyHoldMs` after it last did, so a flood whose SYNs are answered by
   * challenges (and so stop adding entries) does not switch verification off and on again as the
   * load it caused drains.
   *
   * The table is shared by every service: a flood of new UDP flows from random sources (a new
   * entry each datagram) at a service without thresholds fills it, and a first-time TCP client of
   * any service, unverified, ranks no higher than the flood's entries and is refused `table-full`
   * (lab, `udp-flood` at ~77k pps with the UDP service's thresholds off: 0.905). Verified, its SYN
   * outranks them and evicts one (EvictLowestPriority). IPVS switches its defenses on by memory
   * for the same reason (amemthresh).
   */
  private verification(topo: DefenseTopology, now: number): void {
    const state = this.parts.state;
    const reals = this.parts.reals;
    const w = topo.verifyWatermark;
    const connections = this.parts.connections;
    const tableFull = connections.count() >= w * connections.capacity;
    const services = Math.min(state.services, topo.serviceMembers.length);
    for (let svc = 0; svc < services; svc++) {
      let on = 0;
      if (topo.verifyMode === VerifyModeCode.always) on = 1;
      else if (topo.verifyMode === VerifyModeCode.auto) {
        const members = topo.serviceMembers[svc];
        let total = 0;
        let capacity = 0;
        let pressure = tableFull;
        for (let i = 0; i < members.length; i++) {
          const m = members[i];
          const upper = topo.realUpper[m];
          if (upper <= 0) continue;
          const load = reals.load(m);
          if (load >= w * upper) pressure = true;
          total += load;
          capacity += upper;
        }
        if (capacity > 0 && total >= w * capacity) pressure = true;
        if (pressure) {
          this.lastPressure[svc] = now === 0 ? 1 : now;
          on = 1;
        } else if (state.verifying(svc) === 1) {
          const last = this.lastPressure[svc];
          on = last !== 0 && ((now - last) | 0) < topo.verifyHoldMs ? 1 : 0;
        }
      }
      if (state.verifying(svc) !== on) state.setVerifying(svc, on);
    }
  }
}
