// The lab soak, short (tools/reliability/src/soak-lab.ts): real kernels in namespaces, 40 s of a
// rate-limited hping3 flood, one serving worker killed (30 s after the daemon starts), a config
// change every 5 s, 20 long-lived connections and a few short ones a second. `npm run soak -- --lab`
// runs 10 minutes and judges the table's drain and the RSS curve; this checks the lines it prints
// are well formed and that a kill loses no valid established connection. Root only; run it under
// `flock /tmp/sluice-lab.lock` like every lab user.
import { describe, expect, it } from 'vitest';
import { runLabSoak } from './soak-lab.ts';

describe('soak in the namespace lab, short', () => {
  it('a worker kill and config changes under a flood lose no valid established connection', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const r = await runLabSoak({
      seconds: 40,
      leadInSeconds: 10,
      killEverySeconds: 30,
      configEverySeconds: 5,
      floodIntervalUs: 500,
      longLived: 20,
      shortPerSecond: 2,
      drainSeconds: 0,
      labName: 'lsoakt',
      subnet: 238,
      onLine: (l) => lines.push(JSON.parse(JSON.stringify(l)) as Record<string, unknown>),
    });
    expect(r.failures, JSON.stringify({ r, lines })).toEqual([]);
    const kinds = lines.map((l) => l.soak);
    expect(kinds).toContain('valid-load');
    expect(kinds).toContain('minute');
    expect(kinds).toContain('kill-check');
    expect(kinds).toContain('flood-stopped');
    for (const l of lines) {
      expect(typeof l.t).toBe('number');
      if (l.soak === 'minute')
        expect(l).toMatchObject({ table: expect.any(Number), rssMiB: expect.any(Number) });
      if (l.soak === 'kill-check') expect(l).toMatchObject({ delayed: expect.any(Number), missing: 0 });
    }
    expect(r.soak).toBe('lab');
    expect(r.workersKilled).toBeGreaterThanOrEqual(1);
    expect(r.workerReplacements).toBe(r.workersKilled);
    expect(r.longLivedOpened).toBe(20);
    expect(r.lostOnReplacement).toBe(0);
    expect(r.died).toBe(0);
    expect(r.missingEntries).toBe(0);
    expect(r.configChanges).toBeGreaterThanOrEqual(5);
    expect(r.floodSent).toBeGreaterThan(0);
    expect(r.shortOk).toBeGreaterThan(0);
    expect(r.rssMiB.length).toBeGreaterThan(0);
    // Every answer is in the histogram, and each kill has its slowest answer after it.
    expect(Object.values(r.answerHistogram).reduce((a, b) => a + b, 0)).toBe(r.longLivedAnswers);
    expect(r.slowestAnswerAfterKillMs).toHaveLength(r.workersKilled);
  }, 300_000);
});
