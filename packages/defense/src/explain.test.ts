import { Conn, ConnBit, ConnFlag, packStatePrio } from '@sluice/conntrack';
import { describe, expect, it } from 'vitest';
import { explainPriority } from './explain.ts';
import { DefenseConnFlag, ScoreReason, StoredReason, storedReasons } from './scorer.ts';
import { DEFENSE_WEIGHTS } from './weights.ts';

/** A record first seen at 0 and last seen at `lastSeen`, with `flags`. */
function rec(prio: number, reasons: number, flags: number, lastSeen = 0): Int32Array {
  const r = new Int32Array(Conn.snapshotWords);
  r[Conn.statePrio] = packStatePrio(1, prio, prio, reasons);
  r[Conn.flagsSyn] = flags | (1 << 16) | ConnFlag.held;
  r[Conn.lastSeen] = lastSeen;
  return r;
}
const V = ConnFlag.verified;

describe('explainPriority', () => {
  it('names the band and what the SYN scored, kept in the record', () => {
    const stored = storedReasons(ScoreReason.noOptions | ScoreReason.smallWindow | ScoreReason.badTtl);
    expect(stored).toBe(StoredReason.noOptions | StoredReason.smallWindow | StoredReason.ttl);
    expect(explainPriority(rec(13, stored, 0), 0, DEFENSE_WEIGHTS)).toEqual([
      'unverified',
      'syn-no-options',
      'syn-ttl',
      'syn-small-window',
    ]);
    const history = storedReasons(ScoreReason.highSynRate | ScoreReason.overShare);
    expect(explainPriority(rec(6, history, V), 0, DEFENSE_WEIGHTS)).toEqual([
      'verified',
      'source-syn-rate',
      'source-over-share',
    ]);
  });

  it('names what the record says now: half-open, silent, served, stalled, forged, not held, idle, closed', () => {
    expect(explainPriority(rec(11, 0, 0), 1999, DEFENSE_WEIGHTS)).toEqual(['unverified']);
    expect(explainPriority(rec(12, 0, 0), 3000, DEFENSE_WEIGHTS)).toEqual([
      'unverified',
      'half-open',
      'idle',
    ]);
    expect(explainPriority(rec(4, 0, V | ConnFlag.handshake), 999, DEFENSE_WEIGHTS)).toEqual(['verified']);
    expect(explainPriority(rec(7, 0, V | ConnFlag.handshake), 1000, DEFENSE_WEIGHTS)).toEqual([
      'verified',
      'silent',
    ]);
    const served = V | ConnFlag.handshake | ConnFlag.data | ConnFlag.progress;
    expect(explainPriority(rec(7, 0, served), 30_000, DEFENSE_WEIGHTS)).toEqual([
      'verified',
      'served-idle',
      'idle',
    ]);
    const answered = rec(2, 0, served);
    answered[Conn.lastSeen] = 29_500;
    expect(explainPriority(answered, 30_000, DEFENSE_WEIGHTS)).toEqual(['verified', 'served']);
    const quiet = rec(5, 0, served | ConnBit.serverQuiet);
    quiet[Conn.lastSeen] = 29_500;
    expect(explainPriority(quiet, 30_000, DEFENSE_WEIGHTS)).toEqual(['verified', 'server-quiet']);
    quiet[Conn.lastSeen] = 28_000;
    expect(explainPriority(quiet, 30_000, DEFENSE_WEIGHTS)).toEqual([
      'verified',
      'server-quiet',
      'served-idle',
      'idle',
    ]);
    const stalled = rec(7, 0, V | ConnFlag.handshake | ConnFlag.data | ConnFlag.awaiting, 6000);
    stalled[Conn.awaitingSince] = 1000;
    expect(explainPriority(stalled, 6000, DEFENSE_WEIGHTS)).toEqual(['verified', 'stalled']);
    const growing = rec(
      7,
      0,
      V | ConnFlag.handshake | ConnFlag.data | ConnFlag.awaiting | ConnBit.holdsUp,
      2500,
    );
    growing[Conn.awaitingSince] = 1000;
    expect(explainPriority(growing, 2500, DEFENSE_WEIGHTS)).toEqual([
      'verified',
      'stalled',
      'holds-server-up',
    ]);
    const forged = V | ConnFlag.handshake | ConnFlag.data | ConnFlag.progress | ConnFlag.ackForged;
    expect(explainPriority(rec(7, 0, forged, 10), 10, DEFENSE_WEIGHTS)).toEqual(['verified', 'ack-forged']);
    const released = rec(11, 0, 0);
    released[Conn.flagsSyn] &= ~ConnFlag.held;
    expect(explainPriority(released, 500, DEFENSE_WEIGHTS)).toEqual(['unverified', 'not-held']);
    expect(explainPriority(rec(15, 0, ConnFlag.handshake | ConnFlag.fin), 0, DEFENSE_WEIGHTS)).toEqual([
      'closed',
      'unverified',
    ]);
  });

  it('a rule decides alone once its source is verified (or it does not verify); without the priority strategy only facts are named', () => {
    expect(explainPriority(rec(0, 0, DefenseConnFlag.priorityFixed), 60_000, DEFENSE_WEIGHTS)).toEqual([
      'rule-priority-0',
    ]);
    expect(explainPriority(rec(4, 0, DefenseConnFlag.priorityFixed), 60_000, DEFENSE_WEIGHTS)).toEqual([
      'rule',
    ]);
    expect(
      explainPriority(rec(8, 0, DefenseConnFlag.priorityFixed | ConnBit.ruleNeedsVerify), 0, DEFENSE_WEIGHTS),
    ).toEqual(['unverified', 'rule-awaits-verification']);
    expect(explainPriority(rec(8, 0, ConnFlag.handshake), 60_000, null)).toEqual(['unverified']);
  });
});
