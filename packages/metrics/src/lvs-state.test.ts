import { LvsDefense, type LvsDefenseConfig, lvsSettings } from '@sluice/defense';
import { describe, expect, it } from 'vitest';
import { lvsDefenseState } from './lvs-state.ts';

const CAPACITY = 6400; // default amemthresh: 100 free entries

/** The main thread's instance as the director runs it: lvsSettings, ticked from the table. */
function observer(configured: LvsDefenseConfig | null, available: number): LvsDefense {
  const o = new LvsDefense(CAPACITY);
  o.reconfigure(lvsSettings(configured, CAPACITY));
  o.updateAvailable(5000, available);
  return o;
}

/** A packet worker's instance, with every mode configured, after the same measurement. */
function worker(configured: LvsDefenseConfig, available: number): LvsDefense {
  const w = new LvsDefense(CAPACITY);
  w.reconfigure({
    ...configured,
    amemthresh: configured.amemthresh > 0 ? configured.amemthresh : w.amemthresh,
  });
  w.updateAvailable(5000, available);
  return w;
}

describe('lvsDefenseState', () => {
  it('is all off when the strategy is not an LVS one', () => {
    expect(lvsDefenseState(observer(null, 0))).toEqual({
      dropEntry: 0,
      dropPacket: 0,
      secureTcp: 0,
      dropRate: 0,
    });
  });

  it('equals what a packet worker computes, for every mode, with and without the table short of room', () => {
    for (const mode of [0, 1, 2, 3]) {
      for (const amemthresh of [0, 400]) {
        // Plenty of room, just under the threshold, nearly full, full.
        for (const available of [CAPACITY, 99, 399, 10, 0]) {
          const configured = {
            dropEntry: mode,
            dropPacket: mode,
            secureTcp: mode,
            amemthresh,
            amDroprate: 7,
          };
          const w = worker(configured, available);
          const where = `mode ${mode}, amemthresh ${amemthresh}, available ${available}`;
          expect(lvsDefenseState(observer(configured, available)), where).toEqual({
            dropEntry: w.dropEntryMode,
            dropPacket: w.dropPacketMode,
            secureTcp: w.secureTcpMode,
            dropRate: w.dropRate,
          });
        }
      }
    }
  });

  it('shows automatic modes switching on, and the drop rate rising as the table fills', () => {
    const auto = { dropEntry: 1, dropPacket: 1, secureTcp: 1, amemthresh: 0, amDroprate: 10 };
    expect(lvsDefenseState(observer(auto, 500))).toEqual({
      dropEntry: 1,
      dropPacket: 1,
      secureTcp: 1,
      dropRate: 0,
    });
    // 100 is the threshold; 50 free: drop 1 in 100 / (100 - 50) = 2.
    expect(lvsDefenseState(observer(auto, 50))).toEqual({
      dropEntry: 2,
      dropPacket: 2,
      secureTcp: 2,
      dropRate: 2,
    });
    const always = { ...auto, dropPacket: 3 };
    expect(lvsDefenseState(observer(always, 500)).dropRate).toBe(10);
  });
});
