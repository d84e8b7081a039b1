import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipHashOut, sipHash24 } from './siphash.ts';

// The reference implementation's key 00..0f and messages 00..(n-1) (vectors.h of SipHash's
// reference code: vectors_sip64[n], little-endian bytes read as one 64-bit number).
const KEY = Uint32Array.of(0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c);
const VECTORS: [number, bigint][] = [
  [0, 0x726fdb47dd0e0e31n],
  [1, 0x74f839c593dc67fdn],
  [7, 0xab0200f58b01d137n],
  [8, 0x93f5f5799a932462n],
  [15, 0xa129ca6149be45e5n],
  [40, 0x0e3ea96b5304a7d0n],
  [63, 0x958a324ceb064572n],
];

function hash(key: ArrayLike<number>, bytes: Uint8Array, off = 0, len = bytes.length): bigint {
  const out = new SipHashOut();
  sipHash24(key, bytes, off, len, out);
  return (BigInt(out.hi) << 32n) | BigInt(out.lo);
}

describe('sipHash24', () => {
  it('gives the reference test vectors', () => {
    for (const [n, expected] of VECTORS) {
      const msg = Uint8Array.from({ length: n }, (_, i) => i);
      expect(hash(KEY, msg), `message of ${n} bytes`).toBe(expected);
    }
  });

  it('hashes a window of a larger buffer the same as the bytes alone', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(16), (bytes, pad) => {
        const big = new Uint8Array(pad + bytes.length + 5).fill(0xee);
        big.set(bytes, pad);
        expect(hash(KEY, big, pad, bytes.length)).toBe(hash(KEY, bytes));
      }),
    );
  });

  it('changes with every key word and every message byte', () => {
    const msg = Uint8Array.from({ length: 40 }, (_, i) => i * 7);
    const base = hash(KEY, msg);
    for (let w = 0; w < 4; w++) {
      const k = Uint32Array.from(KEY);
      k[w] ^= 1;
      expect(hash(k, msg)).not.toBe(base);
    }
    for (let i = 0; i < msg.length; i++) {
      const m = Uint8Array.from(msg);
      m[i] ^= 0x80;
      expect(hash(KEY, m)).not.toBe(base);
    }
  });
});
