import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldAddress, halfSipHash32, halfSipHashBytes, hash32 } from './hash.ts';

describe('HalfSipHash-1-3', () => {
  // The kernel's self-test vectors for hsiphash on 32-bit builds (lib/test_siphash.c):
  // key 03020100 07060504, message = bytes 0, 1, …, len-1.
  const vectors = [
    0x5814c896, 0xe7e864ca, 0xbc4b0e30, 0x01539939, 0x7e059ea6, 0x88e3d89b, 0xa0080b65, 0x9d38d9d6,
    0x577999b1, 0xc839caed, 0xe4fa32cf, 0x959246ee, 0x6b28096c, 0x66dd9cd6, 0x16658a7c, 0xd0257b04,
    0x8b31d501,
  ];
  it('matches the kernel self-test vectors', () => {
    vectors.forEach((v, len) => {
      const msg = Uint8Array.from({ length: len }, (_, i) => i);
      expect(halfSipHashBytes(0x03020100, 0x07060504, msg)).toBe(v);
    });
  });

  it('the one-word form equals the byte form on the word little-endian', () => {
    expect(halfSipHash32(0x03020100, 0x07060504, 0x03020100)).toBe(vectors[4]);
    fc.assert(
      fc.property(fc.integer(), fc.integer(), fc.integer(), (k0, k1, m) => {
        const bytes = new Uint8Array(new Int32Array([m]).buffer); // little-endian on every Node target
        expect(halfSipHash32(k0, k1, m)).toBe(halfSipHashBytes(k0, k1, bytes));
      }),
    );
  });
});

describe('hash_32 and addr_fold', () => {
  it('hash32 is the top bits of v * 0x61c88647 mod 2^32', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 32 }), (v, bits) => {
        const product = (BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn;
        expect(hash32(v, bits)).toBe(Number(product >> BigInt(32 - bits)));
      }),
    );
  });

  it('folds IPv4-mapped addresses to the IPv4 address and IPv6 addresses by XOR', () => {
    expect(foldAddress(0, 0, 0xffff, 0xc0a80001) >>> 0).toBe(0xc0a80001);
    expect(foldAddress(0x20010db8, 0, 0, 1) >>> 0).toBe((0x20010db8 ^ 1) >>> 0);
  });
});
