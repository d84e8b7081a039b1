// The soak, short (15 s of flood at 5,000 SYN/s, a worker killed every 8 s, a config change every
// 2 s; `npm run soak` runs 10 minutes at 20,000/s with a kill a minute and judges the table's
// drain and the RSS curve): the daemon stays up, every killed worker is replaced, no valid
// established connection is lost or moved to another real server by a replacement, and every
// config change is applied.
import { describe, expect, it } from 'vitest';
import { runSoak } from './soak.ts';

describe('soak on loopback, short', () => {
  it('worker kills and config changes under a flood lose no valid established connection', async () => {
    const r = await runSoak({
      seconds: 15,
      leadInSeconds: 5,
      killEverySeconds: 8,
      configEverySeconds: 2,
      floodPps: 5000,
      longLived: 100,
      shortPerSecond: 20,
      drainSeconds: 0,
    });
    expect(r.failures, `seed ${r.seed}`).toEqual([]);
    expect(r.workersKilled).toBeGreaterThanOrEqual(2);
    expect(r.workerReplacements).toBe(r.workersKilled);
    expect(r.lostOnReplacement).toBe(0);
    expect(r.missingEntries).toBe(0);
    expect(r.wrongRealServer).toBe(0);
    expect(r.configChanges).toBeGreaterThanOrEqual(5);
    expect(r.floodSent).toBeGreaterThan(0);
  }, 180_000);
});
