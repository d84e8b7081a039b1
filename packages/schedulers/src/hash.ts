// The hash functions the hashing schedulers share, chosen to match the kernel's:
// - hash32: include/linux/hash.h hash_32() (multiply by GOLDEN_RATIO_32, keep the top bits), what
//   ip_vs_sh.c and ip_vs_dh.c use for their 256-bucket tables.
// - HalfSipHash-1-3: lib/siphash.c hsiphash() as built on 32-bit kernels, what ip_vs_mh.c keys with
//   two fixed secrets. (64-bit kernels build hsiphash from SipHash-1-3 on 64-bit words; that would
//   cost BigInt or word pairs here, and the scheduler needs a good hash, not the same bits.)
// - foldAddress: the kernel's addr_fold; an IPv6 address is folded to 32 bits by XOR.
// All of it is integer arithmetic on numbers: safe on the packet path (no allocation).

import type { FlowView } from './spec.ts';

/** include/linux/hash.h GOLDEN_RATIO_32. */
const GOLDEN_RATIO_32 = 0x61c88647;

/** hash_32(v, bits): the top `bits` bits of v * GOLDEN_RATIO_32 (mod 2^32). 1 <= bits <= 32. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v, GOLDEN_RATIO_32) >>> (32 - bits);
}

/**
 * The kernel's addr_fold over a FlowView address (four big-endian words, IPv4 as ::ffff:a.b.c.d):
 * an IPv4 address is itself, an IPv6 address is w0 ^ w1 ^ w2 ^ w3. Returned as an int32.
 */
export function foldAddress(a0: number, a1: number, a2: number, a3: number): number {
  if (a0 === 0 && a1 === 0 && a2 === 0xffff) return a3 | 0;
  return a0 ^ a1 ^ a2 ^ a3;
}

/**
 * The key sh and mh hash a flow by: port + addr_fold(source), the port being the source port with
 * --sh-port / --mh-port and 0 without (ip_vs_sh_hashkey(), ip_vs_mh_hashkey()). An int32.
 */
export function sourceKey(flow: FlowView, usePort: boolean): number {
  return ((usePort ? flow.srcPort : 0) + foldAddress(flow.src0, flow.src1, flow.src2, flow.src3)) | 0;
}

/** A HalfSipHash key: two 32-bit words. */
export interface HalfSipKey {
  readonly k0: number;
  readonly k1: number;
}

/** ip_vs_mh.c generate_hash_secret(): fixed, so every director builds the same table. */
export const MH_KEY1: HalfSipKey = { k0: 2654435761, k1: 2654435761 };
export const MH_KEY2: HalfSipKey = { k0: 2654446892, k1: 2654446892 };

/** HalfSipHash-1-3 of one 32-bit word (the message is its four bytes, little-endian). */
export function halfSipHash32(k0: number, k1: number, m: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  // Deliberately unrolled: all five rounds below are sipRound() inlined on locals, because mh
  // hashes every new connection (up to M times with mh-fallback) and sipRound's Int32Array state
  // would cost a call and eight memory round trips per round. Keep them in step with sipRound().
  // One compression round for the word...
  v3 ^= m;
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= m;
  // ...one for the final block, which holds only the length (4 << 24)...
  const b = 4 << 24;
  v3 ^= b;
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  v0 ^= b;
  // ...and three finalisation rounds (inline: no call, no allocation on the packet path).
  v2 ^= 0xff;
  for (let r = 0; r < 3; r++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}

/** HalfSipHash-1-3 of a byte string; construction time only (member keys), not the packet path. */
export function halfSipHashBytes(k0: number, k1: number, data: Uint8Array): number {
  const s = new Int32Array([k0, k1, 0x6c796765 ^ k0, 0x74656462 ^ k1]);
  const len = data.length;
  const whole = len & ~3;
  for (let i = 0; i < whole; i += 4) {
    compress(s, data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
  }
  let b = len << 24;
  for (let i = whole; i < len; i++) b |= data[i] << ((i - whole) * 8);
  compress(s, b);
  s[2] ^= 0xff;
  sipRound(s);
  sipRound(s);
  sipRound(s);
  return (s[1] ^ s[3]) >>> 0;
}

/** One 32-bit message word through the compression round (state s as v0..v3). */
function compress(s: Int32Array, m: number): void {
  s[3] ^= m;
  sipRound(s);
  s[0] ^= m;
}

function sipRound(s: Int32Array): void {
  let v0 = s[0];
  let v1 = s[1];
  let v2 = s[2];
  let v3 = s[3];
  v0 = (v0 + v1) | 0;
  v1 = (v1 << 5) | (v1 >>> 27);
  v1 ^= v0;
  v0 = (v0 << 16) | (v0 >>> 16);
  v2 = (v2 + v3) | 0;
  v3 = (v3 << 8) | (v3 >>> 24);
  v3 ^= v2;
  v0 = (v0 + v3) | 0;
  v3 = (v3 << 7) | (v3 >>> 25);
  v3 ^= v0;
  v2 = (v2 + v1) | 0;
  v1 = (v1 << 13) | (v1 >>> 19);
  v1 ^= v2;
  v2 = (v2 << 16) | (v2 >>> 16);
  s[0] = v0;
  s[1] = v1;
  s[2] = v2;
  s[3] = v3;
}

/** HalfSipHash-1-3 of a string's UTF-8 bytes (member identities for Maglev's permutations). */
export function halfSipHashString(key: HalfSipKey, s: string): number {
  return halfSipHashBytes(key.k0, key.k1, new TextEncoder().encode(s));
}
