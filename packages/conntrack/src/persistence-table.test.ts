import { describe, expect, it } from 'vitest';
import { Persist, PersistenceTable, prefixWordMask } from './index.ts';

describe('PersistenceTable', () => {
  it('masks v4-mapped addresses by prefix (a /24 netmask is prefix 120 of 128)', () => {
    expect(prefixWordMask(120, 3) >>> 0).toBe(0xffffff00);
    expect(prefixWordMask(120, 2)).toBe(-1);
    expect(prefixWordMask(64, 2)).toBe(0);
    expect(prefixWordMask(128, 3)).toBe(-1);
  });

  it('maps every client of a netmask to the same template while it controls connections', () => {
    const t = PersistenceTable.create(256);
    const s = t.acquire(1, 0, 0, 0xffff, 0x0a000105, 120, true, 0);
    expect(t.created).toBe(1);
    const base = t.recordBase(s);
    t.i32[base + Persist.real] = 3;
    t.i32[base + Persist.controlled] = 1;
    t.i32[base + Persist.expires] = 300_000;
    t.release(s);
    const s2 = t.acquire(1, 0, 0, 0xffff, 0x0a0001fe, 120, true, 10);
    expect(s2).toBe(s);
    expect(t.created).toBe(0);
    t.release(s2);
    // Another /24, or another service, is another template.
    const s3 = t.acquire(1, 0, 0, 0xffff, 0x0a000205, 120, true, 10);
    expect(s3).not.toBe(s);
    t.release(s3);
    // Past its timeout but still controlling a connection, it lives (IPVS n_control).
    const s4 = t.acquire(1, 0, 0, 0xffff, 0x0a000105, 120, false, 400_000);
    expect(s4).toBe(s);
    t.release(s4);
    // The connection ends: the timeout restarts from now, then the sweeper removes it.
    t.connectionEnded(1, 0, 0, 0xffff, 0x0a000105, 120, 300_000, 400_000);
    let removed = 0;
    for (let i = 0; i < t.capacity / 64; i++) removed += t.expireStep(600_000, 64);
    expect(removed).toBe(1); // s3 never had a timeout set and controls nothing
    expect(t.acquire(1, 0, 0, 0xffff, 0x0a000105, 120, false, 600_000)).toBe(s);
    t.release(s);
    removed = 0;
    for (let i = 0; i < t.capacity / 64; i++) removed += t.expireStep(700_001, 64);
    expect(removed).toBe(1);
    expect(t.count()).toBe(0);
  });
});
