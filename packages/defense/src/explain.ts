// Why a connection has the priority it has, in words an operator can act on: its band (verified
// or not), what its SYN scored (kept in the record's top statePrio byte by the pipeline:
// scorer.ts's StoredReason) and what its record says now (rule-fixed, closed, half-open, silent,
// stalled, being served, idle). The control plane's connection listing shows it beside the
// priority: these are the reasons shedding would go by. Not on the packet path; allocates freely.

import { Conn, ConnBit, ConnFlag, elapsed, statePrioPriority, statePrioReasons } from '@sluice/conntrack';
import { halfOpenGraceMs, isIdleKeepAlive } from './adjust.ts';
import { StoredReason } from './scorer.ts';
import type { PriorityWeights } from './weights.ts';

const STORED_NAMES: readonly [number, string][] = [
  [StoredReason.noOptions, 'syn-no-options'],
  [StoredReason.partialOptions, 'syn-odd-options'],
  [StoredReason.ttl, 'syn-ttl'],
  [StoredReason.smallWindow, 'syn-small-window'],
  [StoredReason.highSynRate, 'source-syn-rate'],
  [StoredReason.overShare, 'source-over-share'],
  [StoredReason.misbehaved, 'source-misbehaved'],
];

/**
 * The reasons behind a connection's current priority, from its record (`rec`, Conn layout) at
 * clock `now` (ms, the table's clock). `weights` null: the connection is not scored (strategy is
 * not priority), only the fixed and closed states are named.
 */
export function explainPriority(rec: Int32Array, now: number, weights: PriorityWeights | null): string[] {
  const sp = rec[Conn.statePrio];
  const fs = rec[Conn.flagsSyn];
  const prio = statePrioPriority(sp);
  const verified = (fs & ConnFlag.verified) !== 0;
  const fixed = (fs & ConnFlag.priorityFixed) !== 0;
  if (fixed && (verified || (fs & ConnBit.ruleNeedsVerify) === 0)) {
    return prio === 0 ? ['rule-priority-0'] : ['rule'];
  }
  const out: string[] = [];
  if ((fs & (ConnFlag.fin | ConnFlag.rst)) !== 0) out.push('closed');
  out.push(verified ? 'verified' : 'unverified');
  if (fixed) out.push('rule-awaits-verification');
  const stored = statePrioReasons(sp);
  for (const [bit, name] of STORED_NAMES) if ((stored & bit) !== 0) out.push(name);
  if (weights === null) return out;
  const age = elapsed(rec[Conn.firstSeen], now);
  const idle = elapsed(rec[Conn.lastSeen], now);
  if ((fs & ConnFlag.udp) === 0) {
    const handshake = (fs & ConnFlag.handshake) !== 0;
    const data = (fs & ConnFlag.data) !== 0;
    if (!handshake && age >= halfOpenGraceMs(weights, verified) && weights.halfOpen > 0)
      out.push('half-open');
    if (handshake && !data && age >= weights.silentGraceMs && weights.silent > 0) out.push('silent');
    if ((fs & ConnBit.serverQuiet) !== 0) out.push('server-quiet');
    if ((fs & ConnFlag.ackForged) !== 0) out.push('ack-forged');
    else if ((fs & ConnFlag.progress) !== 0) {
      if (isIdleKeepAlive(fs, idle, weights.servedIdleMs)) out.push('served-idle');
      else if ((fs & ConnBit.serverQuiet) === 0 && weights.progress > 0) out.push('served');
    }
    if (
      (fs & ConnFlag.awaiting) !== 0 &&
      (elapsed(rec[Conn.awaitingSince], now) >= weights.stallGraceMs || (fs & ConnBit.holdsUp) !== 0) &&
      weights.stall > 0
    ) {
      out.push('stalled');
      if ((fs & ConnBit.holdsUp) !== 0) out.push('holds-server-up');
    }
    if ((fs & ConnFlag.provisional) !== 0) out.push('provisional');
    else if ((fs & ConnFlag.held) === 0 && (fs & (ConnFlag.fin | ConnFlag.rst)) === 0) out.push('not-held');
  }
  if (Math.floor(idle * (weights.idlePenaltyPerSecond / 1000)) > 0) out.push('idle');
  return out;
}
