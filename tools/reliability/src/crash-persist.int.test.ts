// Config persistence under kill -9, short (6 iterations; `npm run fuzz -- crash` runs 200): a
// real `sluice run` killed at a random moment of a stream of PUT /v1/config leaves a file that
// loads, holding the last acknowledged config or the one in flight, and starts again on it.
import { describe, expect, it } from 'vitest';
import { runCrashPersistence } from './crash-persist.ts';

describe('config persistence under kill -9', () => {
  it('never leaves a file that fails to load, nor one older than what was acknowledged', async () => {
    const r = await runCrashPersistence({ iterations: 6 });
    expect(r.failures, `seed ${r.seed}`).toEqual([]);
    expect(r.iterations).toBe(6);
    expect(r.fileWasAcknowledged + r.fileWasInFlight).toBe(6);
    expect(r.putsAcknowledged).toBeGreaterThan(0);
  }, 180_000);
});
