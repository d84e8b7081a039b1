// The packet fuzzer, short (5 s per port; `npm run fuzz -- packets` runs a minute each): random
// and mutated VXLAN datagrams at full rate through the real worker path of a daemon in its own
// process, with the native batched port and with dgram. The daemon stays up with its workers, and
// every datagram sent is either classified (a verdict counter) or dropped by the kernel on the
// workers' sockets: none is unaccounted for.
import { describe, expect, it } from 'vitest';
import { runPacketFuzz } from './packet-fuzz.ts';

describe('packet fuzzing through the worker path', () => {
  for (const io of ['native', 'dgram'] as const) {
    it(`${io}: no crash, every datagram accounted for`, async () => {
      const r = await runPacketFuzz({ io, seconds: 5, corpus: 20_000 });
      expect(r.failures, `seed ${r.seed}`).toEqual([]);
      expect(r.unaccounted).toBe(0);
      expect(r.alive).toBe(true);
      expect(r.classified).toBeGreaterThan(1000);
      // The corpus reaches every verdict: real servers got frames, ARP/ND got answers, junk was dropped.
      expect(r.verdicts.forward).toBeGreaterThan(0);
      expect(r.verdicts.reply).toBeGreaterThan(0);
      expect(r.verdicts.drop).toBeGreaterThan(0);
    }, 120_000);
  }
});
