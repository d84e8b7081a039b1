// Why a connection has the priority it has, in words an operator can act on: what its SYN scored
// (kept in the record's top statePrio byte by the pipeline: scorer.ts's StoredReason) and what its record
// says now (rule-fixed, closed, half-open, silent, idle, data). The control plane's connection
// listing shows it beside the priority: these are the reasons shedding would go by.
// Not on the packet path; allocates freely.

import { Conn, ConnFlag } from '@sluice/conntrack';
import { DefenseConnFlag, StoredReason } from './scorer.ts';
import type { PriorityWeights } from './weights.ts';

const STORED_NAMES: readonly [number, string][] = [
  [StoredReason.noOptions, 'syn-no-options'],
  [StoredReason.partialOptions, 'syn-odd-options'],
  [StoredReason.ttl, 'syn-ttl'],
  [StoredReason.smallWindow, 'syn-small-window'],
  [StoredReason.sourceBusy, 'source-busy'],
  [StoredReason.retried, 'syn-retransmitted'],
  [StoredReason.sourceNeverSpoke, 'source-never-spoke'],
  [StoredReason.spokeBefore, 'source-spoke-before'],
];

/**
 * The reasons behind a connection's current priority, from its record (`rec`, Conn layout) and
 * how long it has been idle. `weights` null: the connection is not scored (strategy is not
 * priority), only the fixed and closed states are named.
 */
export function explainPriority(rec: Int32Array, idleMs: number, weights: PriorityWeights | null): string[] {
  const sp = rec[Conn.statePrio];
  const fs = rec[Conn.flagsSyn];
  const prio = (sp >>> 8) & 0xff;
  if (prio === 0) return ['rule-priority-0'];
  if ((fs & DefenseConnFlag.priorityFixed) !== 0) return ['rule'];
  const out: string[] = [];
  if ((fs & (ConnFlag.fin | ConnFlag.rst)) !== 0) out.push('closed');
  const stored = (sp >>> 24) & 0xff;
  for (const [bit, name] of STORED_NAMES) if ((stored & bit) !== 0) out.push(name);
  if (weights === null) return out;
  if ((fs & ConnFlag.udp) === 0) {
    const handshake = (fs & ConnFlag.handshake) !== 0;
    const data = (fs & ConnFlag.data) !== 0;
    if (!handshake && idleMs >= weights.halfOpenGraceMs && weights.halfOpen > 0) out.push('half-open');
    if (handshake && !data && idleMs >= weights.silentGraceMs && weights.silent > 0) out.push('silent');
    if (data && weights.data > 0) out.push('data');
  }
  if (Math.floor(idleMs * (weights.idlePenaltyPerSecond / 1000)) > 0) out.push('idle');
  return out;
}
