// What the four tables share through shared-table.ts (TableView, the create and attach helpers):
// each attaches only to a buffer of its own layout, and sizes and makes its buffer from it.
import { describe, expect, it } from 'vitest';
import { ConnectionTable, PersistenceTable, SourceTable, VerifiedSourceTable } from './index.ts';

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
    expect(t.verify(0, 0, 0xffff, 0x0a000001, 5000, 1000)).toBe(1);
    expect(other.count()).toBe(1);
    expect(other.epochMs).toBe(5000);
    expect(other.capacity).toBe(t.capacity);
    expect(SourceTable.create(64).sab.byteLength).toBe(SourceTable.byteLength(64));
    expect(PersistenceTable.create(64).sab.byteLength).toBe(PersistenceTable.byteLength(64));
    expect(ConnectionTable.create(64).sab.byteLength).toBe(ConnectionTable.byteLength(64));
  });
});
