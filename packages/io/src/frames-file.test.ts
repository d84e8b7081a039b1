import { describe, expect, it } from 'vitest';
import { encodeFramesFile } from './index.ts';

describe('encodeFramesFile: sluice-gen input', () => {
  it('writes each frame as a 2-byte big-endian length and its bytes, in order', () => {
    const big = new Uint8Array(0x1234).fill(7);
    const out = encodeFramesFile([Uint8Array.of(1, 2, 3), new Uint8Array(0), big]);
    expect(out.length).toBe(2 + 3 + 2 + 2 + 0x1234);
    expect([...out.subarray(0, 7)]).toEqual([0, 3, 1, 2, 3, 0, 0]);
    expect([...out.subarray(7, 9)]).toEqual([0x12, 0x34]);
    expect(out.subarray(9).every((b) => b === 7)).toBe(true);
  });

  it('refuses a frame its record cannot hold, rather than writing a wrong length', () => {
    expect(() => encodeFramesFile([new Uint8Array(0x10000)])).toThrow(RangeError);
    expect(encodeFramesFile([new Uint8Array(0xffff)]).length).toBe(0x10001);
  });
});
