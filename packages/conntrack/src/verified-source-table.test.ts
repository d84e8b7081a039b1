import { describe, expect, it } from 'vitest';
import { SLOTS_PER_BUCKET, Verified, VerifiedSourceTable } from './index.ts';

const v4 = (a: number) => [0, 0, 0xffff, a] as const;

describe('VerifiedSourceTable', () => {
  it('knows an address from its answer until its verification expires, and forgets it after', () => {
    const t = VerifiedSourceTable.create(64, 0);
    expect(t.isVerified(...v4(0x0b000001), 0)).toBe(0);
    expect(t.verify(...v4(0x0b000001), 100, 1000)).toBe(1);
    expect(t.isVerified(...v4(0x0b000001), 100)).toBe(1);
    expect(t.isVerified(...v4(0x0b000001), 1099)).toBe(1);
    expect(t.isVerified(...v4(0x0b000001), 1100)).toBe(0);
    expect(t.isVerified(...v4(0x0b000002), 100)).toBe(0);
    // a second answer refreshes it, one entry still
    t.verify(...v4(0x0b000001), 1000, 1000);
    expect(t.isVerified(...v4(0x0b000001), 1500)).toBe(1);
    expect(t.count()).toBe(1);
    const rec = new Int32Array(Verified.snapshotWords);
    const slot = t.find(...v4(0x0b000001));
    expect(t.readRecord(slot, rec)).toBe(true);
    expect([rec[Verified.verifiedAt], rec[Verified.answers], rec[Verified.expires]]).toEqual([1000, 2, 2000]);
    expect(t.expireStep(2000, t.capacity)).toBe(1);
    expect(t.count()).toBe(0);
  });

  it('keys IPv6 by the whole address: one host of a /64 does not verify its neighbours', () => {
    const t = VerifiedSourceTable.create(64, 0);
    t.verify(0x20010db8, 0, 0, 1, 0, 1000);
    expect(t.isVerified(0x20010db8, 0, 0, 1, 10)).toBe(1);
    expect(t.isVerified(0x20010db8, 0, 0, 2, 10)).toBe(0);
  });

  it('when full, makes room with the verification closest to expiry: answers keep coming in', () => {
    const t = VerifiedSourceTable.create(16, 0);
    for (let i = 0; i < 200; i++) expect(t.verify(...v4(0x0c000000 + i), i, 10_000)).toBe(1);
    expect(t.count()).toBeLessThanOrEqual(t.capacity);
    // the latest answers are all there: an entry goes only when every slot of the newcomer's
    // buckets is at least as recent, so the last SLOTS_PER_BUCKET are certain (its two buckets may
    // be one: the hash seed is random, and asking for the last 10 failed 4 times in 3000 seeds)
    for (let i = 200 - SLOTS_PER_BUCKET; i < 200; i++)
      expect(t.isVerified(...v4(0x0c000000 + i), 200)).toBe(1);
  });
});
