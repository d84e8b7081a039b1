// The priority of a scored (non-rule) connection as a function of its record: the score its SYN
// earned (the record's initial-priority byte) moved by what the client did since — handshake,
// data, packet count — and by time: idle seconds, a handshake still missing after a grace period,
// and, from the re-scorer, its source hoarding idle connections.
//
// Why a function of the record and not a running total: the packet path (PriorityScorer.onPacket,
// idle = 0) and the background re-scorer (real idle time) compute the same thing, so neither
// undoes the other, an idle connection that wakes up climbs back at once, and the result is
// monotone by construction (more packets or data never lowers standing). Clamped to 1..15: 0 is
// reserved for operator rules, so no connection can earn immunity from shedding.

import { ConnFlag } from '@sluice/conntrack';
import { PRIORITY_LOWEST } from './priority-rules.ts';
import type { PriorityWeights } from './weights.ts';

/** Best priority a scored (non-rule) connection can reach; 0 belongs to operator rules. */
export const PRIORITY_BEST_SCORED = 1;

export class PriorityAdjuster {
  private readonly handshake: number;
  private readonly data: number;
  private readonly packetsFree: number;
  private readonly packetsPerStep: number;
  private readonly packetBonusMax: number;
  private readonly halfOpen: number;
  private readonly halfOpenGraceMs: number;
  private readonly silent: number;
  private readonly silentGraceMs: number;
  private readonly idlePerMs: number;
  private readonly idleMax: number;

  constructor(w: PriorityWeights) {
    this.handshake = w.handshake;
    this.data = w.data;
    this.packetsFree = w.packetsFree;
    this.packetsPerStep = w.packetsPerStep;
    this.packetBonusMax = w.packetBonusMax;
    this.halfOpen = w.halfOpen;
    this.halfOpenGraceMs = w.halfOpenGraceMs;
    this.silent = w.silent;
    this.silentGraceMs = w.silentGraceMs;
    this.idlePerMs = w.idlePenaltyPerSecond / 1000;
    this.idleMax = w.idlePenaltyMax;
  }

  /**
   * Priority for a connection whose SYN scored `initial`, with ConnFlag bits `cflags`, `packets`
   * seen (uint32 bit pattern), `idleMs` since its last packet, plus `extra` points (source
   * aggregates). Pure and allocation-free.
   */
  priority(initial: number, cflags: number, packets: number, idleMs: number, extra: number): number {
    // A connection the client already closed or reset holds a slot the real server has freed or
    // is freeing: shedding it costs nobody anything, so it goes first.
    if ((cflags & (ConnFlag.fin | ConnFlag.rst)) !== 0) return PRIORITY_LOWEST;
    let p = initial;
    if ((cflags & ConnFlag.udp) === 0) {
      if ((cflags & ConnFlag.handshake) !== 0) p -= this.handshake;
      else if (idleMs >= this.halfOpenGraceMs) p += this.halfOpen;
      if ((cflags & ConnFlag.data) !== 0) p -= this.data;
      else if ((cflags & ConnFlag.handshake) !== 0 && idleMs >= this.silentGraceMs) p += this.silent;
    }
    const counted = (packets >>> 0) - this.packetsFree;
    if (counted >= this.packetsPerStep) {
      const bonus = Math.floor(counted / this.packetsPerStep);
      p -= bonus > this.packetBonusMax ? this.packetBonusMax : bonus;
    }
    if (idleMs > 0) {
      const idle = Math.floor(idleMs * this.idlePerMs);
      p += idle > this.idleMax ? this.idleMax : idle;
    }
    p += extra;
    return p < PRIORITY_BEST_SCORED ? PRIORITY_BEST_SCORED : p > PRIORITY_LOWEST ? PRIORITY_LOWEST : p;
  }
}
