import { describe, expect, it } from 'vitest';
import { AnsweredPort, AnsweredPortTable, SLOTS_PER_BUCKET } from './index.ts';

const v4 = (a: number) => [0, 0, 0xffff, a] as const;

describe('AnsweredPortTable', () => {
  it("knows an address's port from its answer for the time it was given, and no other port or address", () => {
    const t = AnsweredPortTable.create(64, 0);
    expect(t.answered(...v4(0x0b000001), 40000, 0)).toBe(0);
    expect(t.record(...v4(0x0b000001), 40000, 100, 4000)).toBe(1);
    expect(t.answered(...v4(0x0b000001), 40000, 4099)).toBe(1);
    expect(t.answered(...v4(0x0b000001), 40000, 4100)).toBe(0);
    expect(t.answered(...v4(0x0b000001), 40001, 200)).toBe(0);
    expect(t.answered(...v4(0x0b000002), 40000, 200)).toBe(0);
    // IPv6: the whole address
    t.record(0x20010db8, 0, 0, 1, 443, 0, 4000);
    expect(t.answered(0x20010db8, 0, 0, 1, 443, 10)).toBe(1);
    expect(t.answered(0x20010db8, 0, 0, 2, 443, 10)).toBe(0);
    // a second answer refreshes the entry in place
    t.record(...v4(0x0b000001), 40000, 3000, 4000);
    expect(t.answered(...v4(0x0b000001), 40000, 6000)).toBe(1);
    expect(t.count()).toBe(2);
    const rec = new Int32Array(AnsweredPort.snapshotWords);
    expect(t.readRecord(t.find(...v4(0x0b000001), 40000), rec)).toBe(true);
    expect([rec[AnsweredPort.port], rec[AnsweredPort.answeredAt], rec[AnsweredPort.expires]]).toEqual([
      40000, 3000, 7000,
    ]);
  });

  it('holds every port of a busy address, and when full makes room with the answer closest to expiry', () => {
    const t = AnsweredPortTable.create(2 * SLOTS_PER_BUCKET, 0);
    const cap = t.capacity;
    // one address, more ports than any per-address record keeps
    for (let p = 0; p < cap; p++) expect(t.record(...v4(0x0b000001), 1000 + p, p, 4000)).toBe(1);
    let known = 0;
    for (let p = 0; p < cap; p++) known += t.answered(...v4(0x0b000001), 1000 + p, cap);
    // (two buckets per key of a small table: a few keys may share both and evict each other)
    expect(known).toBeGreaterThan(cap / 2);
    // a new answer in a full table evicts the oldest of its candidates, never a fresher one
    t.record(...v4(0x0b000002), 1, cap, 4000);
    expect(t.answered(...v4(0x0b000002), 1, cap)).toBe(1);
  });
});
