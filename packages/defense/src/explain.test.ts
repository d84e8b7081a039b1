import { Conn, ConnFlag, packStatePrio } from '@sluice/conntrack';
import { describe, expect, it } from 'vitest';
import { explainPriority } from './explain.ts';
import { DefenseConnFlag, ScoreReason, StoredReason, storedReasons } from './scorer.ts';
import { DEFENSE_WEIGHTS } from './weights.ts';

function rec(prio: number, reasons: number, flags: number, synCount = 1): Int32Array {
  const r = new Int32Array(Conn.words);
  r[Conn.statePrio] = packStatePrio(1, prio, prio, reasons);
  r[Conn.flagsSyn] = flags | (synCount << 16);
  return r;
}

describe('explainPriority', () => {
  it('names what the SYN scored, kept in the record', () => {
    const stored = storedReasons(ScoreReason.noOptions | ScoreReason.smallWindow | ScoreReason.badTtl);
    expect(stored).toBe(StoredReason.noOptions | StoredReason.smallWindow | StoredReason.ttl);
    expect(explainPriority(rec(13, stored, 0), 0, DEFENSE_WEIGHTS)).toEqual([
      'syn-no-options',
      'syn-ttl',
      'syn-small-window',
    ]);
    const history = storedReasons(ScoreReason.spokeBefore | ScoreReason.retried);
    expect(explainPriority(rec(3, history, ConnFlag.handshake | ConnFlag.data), 0, DEFENSE_WEIGHTS)).toEqual([
      'syn-retransmitted',
      'source-spoke-before',
      'data',
    ]);
    expect(storedReasons(ScoreReason.silentSource)).toBe(StoredReason.sourceNeverSpoke);
    expect(storedReasons(ScoreReason.manyConcurrent)).toBe(StoredReason.sourceBusy);
  });

  it('names what the record says now: half-open, silent, idle, closed', () => {
    expect(explainPriority(rec(11, 0, 0), 3000, DEFENSE_WEIGHTS)).toEqual(['half-open']);
    expect(explainPriority(rec(8, 0, ConnFlag.handshake), 999, DEFENSE_WEIGHTS)).toEqual([]);
    expect(explainPriority(rec(12, 0, ConnFlag.handshake), 1000, DEFENSE_WEIGHTS)).toEqual(['silent']);
    expect(explainPriority(rec(9, 0, ConnFlag.handshake | ConnFlag.data), 30_000, DEFENSE_WEIGHTS)).toEqual([
      'data',
      'idle',
    ]);
    expect(explainPriority(rec(15, 0, ConnFlag.handshake | ConnFlag.fin), 0, DEFENSE_WEIGHTS)).toEqual([
      'closed',
    ]);
  });

  it('a rule decides alone; without the priority strategy only facts are named', () => {
    expect(explainPriority(rec(0, 0, 0), 60_000, DEFENSE_WEIGHTS)).toEqual(['rule-priority-0']);
    expect(explainPriority(rec(4, 0, DefenseConnFlag.priorityFixed), 60_000, DEFENSE_WEIGHTS)).toEqual([
      'rule',
    ]);
    expect(explainPriority(rec(8, StoredReason.noOptions, ConnFlag.fin), 60_000, null)).toEqual([
      'closed',
      'syn-no-options',
    ]);
  });
});
