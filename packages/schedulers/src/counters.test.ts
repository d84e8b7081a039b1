import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { RealServerCounters } from './index.ts';

describe('RealServerCounters across threads', () => {
  it('keeps exact counts when workers bind, establish and unbind at once', async () => {
    const c = RealServerCounters.create(4);
    const run = (seed: number) =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(new URL('./counters.fixture.ts', import.meta.url), {
          workerData: { sab: c.sab, seed, ops: 200_000 },
        });
        w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exit ${code}`))));
        w.once('error', reject);
      });
    await Promise.all([run(1), run(2), run(3)]);
    // Each worker leaves, per real: 1000 established and 500 not.
    for (let r = 0; r < 4; r++) {
      expect(c.active[r]).toBe(3000);
      expect(c.inactive[r]).toBe(1500);
    }
  });
});
