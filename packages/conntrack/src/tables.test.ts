// What the four tables share through shared-table.ts (TableView, the create and attach helpers):
// each attaches only to a buffer of its own layout, and sizes and makes its buffer from it.
import { describe, expect, it } from 'vitest';
import {
  ConnectionTable,
  fmix32,
  hash5,
  hashWords,
  PersistenceTable,
  SharedHashTable,
  SourceTable,
  VerifiedSourceTable,
} from './index.ts';

describe('the tables over SharedHashTable', () => {
  it('attach only to a buffer of their own layout', () => {
    const source = SourceTable.create(64).sab;
    const verified = VerifiedSourceTable.create(64).sab;
    expect(() => ConnectionTable.attach(source)).toThrow('buffer does not hold a connection table');
    expect(() => SourceTable.attach(verified)).toThrow('buffer does not hold a source table');
    expect(() => PersistenceTable.attach(source)).toThrow('buffer does not hold a persistence table');
    expect(() => VerifiedSourceTable.attach(source)).toThrow('buffer does not hold a verified-source table');
    expect(() => SourceTable.attach(new SharedArrayBuffer(64 * 4))).toThrow(/bad magic word/);
  });

  it('share the buffer they make, sized by byteLength, with every attached view', () => {
    const t = VerifiedSourceTable.create(64, 5000);
    expect(t.sab.byteLength).toBe(VerifiedSourceTable.byteLength(64));
    const other = VerifiedSourceTable.attach(t.sab);
    expect(t.verify(0, 0, 0xffff, 0x0a000001, 40000, 1, 5000, 1000)).toBe(1);
    expect(other.count()).toBe(1);
    expect(other.epochMs).toBe(5000);
    expect(other.capacity).toBe(t.capacity);
    expect(SourceTable.create(64).sab.byteLength).toBe(SourceTable.byteLength(64));
    expect(PersistenceTable.create(64).sab.byteLength).toBe(PersistenceTable.byteLength(64));
    expect(ConnectionTable.create(64).sab.byteLength).toBe(ConnectionTable.byteLength(64));
  });
});

describe('hash5', () => {
  it('is hashWords over the same five words (the connection key hashed without its array)', () => {
    const key = new Int32Array(5);
    let x = 0x2545f491;
    for (let n = 0; n < 200; n++) {
      for (let i = 0; i < 5; i++) key[i] = x = fmix32(x + i + 1);
      const seed = fmix32(x ^ n);
      expect(hash5(key[0], key[1], key[2], key[3], key[4], seed)).toBe(hashWords(key, 5, seed));
    }
    const core = SharedHashTable.create({ capacity: 64, recordWords: 16, keyWords: 5 });
    core.key.set(key);
    const h = core.hashKey();
    const b1 = core.bucket1;
    const b2 = core.bucket2;
    expect(core.useHash(hash5(key[0], key[1], key[2], key[3], key[4], core.seed))).toBe(h);
    expect([core.bucket1, core.bucket2]).toEqual([b1, b2]);
  });
});

describe('the expiry sweep', () => {
  it('hands each thread the next slots of the shared cursor, wrapping around the table', () => {
    const core = SharedHashTable.create({ capacity: 16, recordWords: 8, keyWords: 4 });
    const other = new SharedHashTable(core.sab);
    const take = (t: SharedHashTable): number[] => {
      const slots: number[] = [];
      for (let s = t.nextSweepSlot(); s >= 0; s = t.nextSweepSlot()) slots.push(s);
      return slots;
    };
    core.beginSweep(10);
    other.beginSweep(10);
    expect(take(core)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(take(other)).toEqual([10, 11, 12, 13, 14, 15, 0, 1, 2, 3]);
    expect(core.nextSweepSlot()).toBe(-1);
  });
});
