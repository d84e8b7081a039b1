// The simulator's contract: a run is a function of its parameters and seed; with no attack every
// strategy serves every valid client (otherwise the model, not the defense, is what fails); a
// SYN flood with no defense must cost valid clients (a full backlog and full thresholds refuse
// them — if it did not, the servers would be modelled wrong); and the priority defense keeps
// valid clients served and never sheds the priority-0 partner. Runs are the quick grid's shape.
import { describe, expect, it } from 'vitest';
import { STRATEGIES } from './director.ts';
import { QUICK_PARAMS, runSim, type SimResult } from './sim.ts';

const quick = (over: Partial<Parameters<typeof runSim>[0]>): SimResult =>
  runSim({ ...QUICK_PARAMS, scenario: 'syn-flood', strategy: 'priority', attackPps: 0, ...over });

const withoutWallTime = (r: SimResult) => ({ ...r, wallMs: 0 });

describe('simulator', () => {
  it('is deterministic for a seed, and a different seed gives a different run', () => {
    const a = quick({ scenario: 'mixed', attackPps: 6_000, seed: 7 });
    const b = quick({ scenario: 'mixed', attackPps: 6_000, seed: 7 });
    const c = quick({ scenario: 'mixed', attackPps: 6_000, seed: 8 });
    expect(withoutWallTime(a)).toEqual(withoutWallTime(b));
    expect(withoutWallTime(c)).not.toEqual(withoutWallTime(a));
  });

  it.each(STRATEGIES)('serves every valid client with no attack (%s)', (strategy) => {
    const r = quick({ strategy, attackPps: 0 });
    expect(r.validAttempts).toBeGreaterThan(100);
    expect(r.validSuccess).toBe(1);
    expect(r.partnerSuccess).toBe(1);
    expect(r.validFalselyReset).toBe(0);
    expect(r.attackerSlots).toBe(0);
    // Every attempt got in on its first SYN: no setup took a retransmission.
    expect(r.setupP99Ms).toBeLessThan(1_000);
  });

  it('a SYN flood with no defense costs valid clients (full backlogs and thresholds refuse them)', () => {
    const r = quick({ strategy: 'none', attackPps: 20_000 });
    expect(r.validSuccess).toBeLessThan(0.5);
    expect(r.attackerSlots).toBeGreaterThan(0.5);
    expect(r.directorDrops['no-real-server']).toBeGreaterThan(0);
  });

  it('the priority defense keeps valid clients served under a SYN flood and never sheds priority 0', () => {
    const r = quick({ strategy: 'priority', attackPps: 20_000 });
    expect(r.priority0Shed).toBe(0);
    expect(r.partnerSuccess).toBe(1);
    expect(r.validSuccess).toBeGreaterThanOrEqual(0.99);
  });
});
