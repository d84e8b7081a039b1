import { describe, expect, it } from 'vitest';
import { DefenseError, VICTIM_GLOBAL, VictimIndex } from './index.ts';

const arr = (xs: number[]) => Int32Array.from(xs);

describe('VictimIndex', () => {
  it('hands out a published list worst first, each entry once, then nothing', () => {
    const v = VictimIndex.create(4, 8);
    v.publish(2, arr([10, 11, 12]), arr([100, 110, 120]), arr([15, 14, 9]), arr([3, 2, 1]), 0, 3, 40);
    const reader = VictimIndex.attach(v.sab);
    expect(reader.remaining(2)).toBe(3);
    expect(reader.takeVictim(2)).toBe(10);
    expect([reader.outTag, reader.outPriority, reader.outIdleMs]).toEqual([100, 15, 3]);
    expect(v.takeVictim(2)).toBe(11);
    expect(reader.takeVictim(2)).toBe(12);
    expect(reader.outPriority).toBe(9);
    expect(reader.outListMark).toBe(40); // the stamp the list was published with
    expect(reader.takeVictim(2)).toBe(-1);
    expect(reader.takeVictim(1)).toBe(-1);
    expect(reader.takeVictim(4)).toBe(-1); // out of range
    expect(reader.remaining(2)).toBe(0);
    // a new publication replaces the list and resets the cursor
    v.publish(2, arr([20]), arr([200]), arr([7]), arr([0]), 0, 1, 41);
    expect(reader.entries(2)).toEqual([{ slot: 20, tag: 200, priority: 7, idleMs: 0 }]);
    expect(reader.takeVictim(2)).toBe(20);
    expect(reader.outListMark).toBe(41);
  });

  it('never publishes or hands out priority 0; truncates to perList; global list', () => {
    const v = VictimIndex.create(2, 2);
    v.publish(v.reals, arr([1, 2, 3, 4]), arr([1, 2, 3, 4]), arr([5, 0, 4, 3]), arr([0, 0, 0, 0]), 0, 4, 0);
    expect(v.entries(VICTIM_GLOBAL).map((e) => e.slot)).toEqual([1, 3]);
    expect(v.takeVictim(VICTIM_GLOBAL)).toBe(1);
    expect(v.takeVictim(VICTIM_GLOBAL)).toBe(3);
    expect(v.takeVictim(VICTIM_GLOBAL)).toBe(-1);
  });

  it('rejects bad layouts with typed errors', () => {
    expect(() => VictimIndex.create(0)).toThrow(DefenseError);
    expect(() => VictimIndex.create(4, 256)).toThrow(/perList/);
    expect(() => VictimIndex.attach(new SharedArrayBuffer(64))).toThrow(/victim index/);
  });
});
