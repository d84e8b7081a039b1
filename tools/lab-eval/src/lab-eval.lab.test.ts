// The real-kernel evaluation's --quick grid (priority and none against an hping3 SYN flood and
// against spoof_ack.py's spoofed SYN-then-blind-ACK connections, 5 s each), run as the CLI runs it: root, the namespace lab, the real daemon, curl and hping3. What is
// asserted is the shape of every JSON line and that valid clients get through with the priority
// defense at all; how well each strategy does is what the evaluation reports, never a threshold
// here (a loaded CI machine would make any number flaky). A machine that cannot build the lab
// fails with the lab's own reason, never a silent skip.
import { describe, expect, it } from 'vitest';
import { type LabEvalResult, runLabEval } from './eval.ts';

const NUMBER_FIELDS = [
  'attackPps',
  'validSuccess',
  'validFalselyReset',
  'priority0Shed',
  'attackerSlots',
  'attackOfferedPps',
  'directorPps',
  'validAttempts',
] as const;

describe('lab evaluation --quick (needs root and hping3)', () => {
  it('prints one well-formed line per run, and valid clients get through with priority', async () => {
    const results: LabEvalResult[] = [];
    // Its own lab name and subnet: a CLI evaluation running at the same time keeps its lab.
    for await (const r of runLabEval({ quick: true, labName: 'levt', subnet: 242, log: () => {} })) {
      results.push(JSON.parse(JSON.stringify(r)) as LabEvalResult);
    }
    expect(results.map((r) => `${r.strategy}/${r.scenario}`)).toEqual([
      'priority/syn-flood',
      'priority/syn-ack-spoof',
      'none/syn-flood',
      'none/syn-ack-spoof',
    ]);
    for (const r of results) {
      expect(r.mode).toBe('lab');
      for (const f of NUMBER_FIELDS) expect(typeof r[f], `${f} of ${JSON.stringify(r)}`).toBe('number');
      for (const f of ['validSuccess', 'validFalselyReset', 'attackerSlots'] as const) {
        expect(r[f]).toBeGreaterThanOrEqual(0);
        expect(r[f]).toBeLessThanOrEqual(1);
      }
      for (const f of ['setupP50Ms', 'setupP99Ms'] as const) {
        expect(r[f] === null || typeof r[f] === 'number', `${f}: ${r[f]}`).toBe(true);
      }
      expect(r.shedVerifiedGone === null || typeof r.shedVerifiedGone === 'boolean').toBe(true);
      expect(r.validAttempts).toBeGreaterThan(0);
    }
    const priority = results.find((r) => r.strategy === 'priority')!;
    expect(priority.validSuccess, JSON.stringify(priority)).toBeGreaterThan(0);
  }, 300_000);
});
