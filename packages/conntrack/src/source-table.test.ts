import { describe, expect, it } from 'vitest';
import { SourceTable, Src } from './index.ts';

describe('SourceTable', () => {
  it('keys IPv4 by /32 and IPv6 by /64', () => {
    const t = SourceTable.create(256);
    const a = t.acquire(0, 0, 0xffff, 0x0a000001, true, 0);
    t.release(a);
    const b = t.acquire(0, 0, 0xffff, 0x0a000002, true, 0);
    t.release(b);
    expect(a).not.toBe(b);
    const c = t.acquire(0x20010db8, 0x00010002, 0x1111, 0x2222, true, 0);
    t.release(c);
    const d = t.acquire(0x20010db8, 0x00010002, 0x3333, 0x4444, true, 0);
    t.release(d);
    expect(c).toBe(d);
    expect(t.count()).toBe(3);
  });

  it('estimates the SYN rate over a sliding second like HAProxy freq_ctr', () => {
    const t = SourceTable.create(256);
    const slot = t.acquire(0, 0, 0xffff, 7, true, 0);
    const base = t.recordBase(slot);
    let rate = 0;
    for (let i = 0; i < 100; i++) rate = t.countSyn(base, i * 10); // 100 SYNs in the first second
    expect(rate).toBe(100);
    // Half-way through the next second with no new SYNs: half of the previous period still counts.
    t.countSyn(base, 1500);
    expect(t.synRateAt(base, 1500)).toBeCloseTo(1 + 50, 5);
    // Two quiet seconds later the estimate is back to the new SYN only.
    expect(t.countSyn(base, 4000)).toBe(1);
    t.release(slot);
  });

  it('when full, replaces the idlest source holding no connection, and never one holding some', () => {
    const t = SourceTable.create(8); // one bucket of 8
    for (let i = 0; i < 8; i++) {
      const s = t.acquire(0, 0, 0xffff, 100 + i, true, i * 10);
      t.i32[t.recordBase(s) + Src.concurrent] = i === 0 ? 0 : 1;
      t.release(s);
    }
    const s = t.acquire(0, 0, 0xffff, 999, true, 1000);
    expect(s).toBeGreaterThanOrEqual(0);
    t.release(s);
    expect(t.acquire(0, 0, 0xffff, 100, false, 1000)).toBe(-1); // the idle one went
    // Every remaining source but the newcomer holds a connection; the newcomer holds none and goes next.
    const s2 = t.acquire(0, 0, 0xffff, 1000, true, 2000);
    expect(s2).toBe(s);
    t.release(s2);
    t.i32[t.recordBase(s2) + Src.concurrent] = 1;
    expect(t.acquire(0, 0, 0xffff, 1001, true, 3000)).toBe(-1);
  });

  it('expires quiet sources without connections incrementally', () => {
    const t = SourceTable.create(1024);
    for (let i = 0; i < 100; i++) {
      const s = t.acquire(0, 0, 0xffff, i, true, 0);
      if (i < 10) t.i32[t.recordBase(s) + Src.concurrent] = 1;
      t.release(s);
    }
    let removed = 0;
    for (let i = 0; i < t.capacity / 128; i++) removed += t.expireStep(120_000, 128, 60_000);
    expect(removed).toBe(90);
    expect(t.count()).toBe(10);
  });
});
