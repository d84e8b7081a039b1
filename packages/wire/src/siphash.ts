// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash whose outputs an attacker who does not
// know the 128-bit key cannot predict, so a value derived from it can stand as a cookie (the
// director's challenge: the acknowledgement number a client must echo). 64-bit arithmetic on pairs
// of 32-bit halves; allocation-free; the message is bytes of a caller's buffer. Checked against the
// reference implementation's test vectors (siphash.test.ts).

/** The 64-bit result of the last `sipHash24`, as two 32-bit halves. */
export class SipHashOut {
  hi = 0;
  lo = 0;
}

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/**
 * SipHash-2-4 of `len` bytes of `data` at `off` under the key k (four 32-bit words: k[0] the low
 * half of the key's first 64-bit little-endian word, k[1] its high half, k[2], k[3] the second
 * word's). The 64-bit result goes to `out`.
 *
 * One function, the state in locals: optimised code keeps them as raw 32-bit words in registers.
 * The state once lived in module-level variables shared by a round helper, and every store of a
 * value above 2^30 boxed a heap number: 2 µs per 40-byte hash, most of a challenge's cost under
 * a SYN flood (tools/bench hotpath --verify always). The round is written once, in a loop that
 * runs two rounds per message word and four to finish.
 */
export function sipHash24(
  k: ArrayLike<number>,
  data: Uint8Array,
  off: number,
  len: number,
  out: SipHashOut,
): void {
  const k0l = k[0] >>> 0;
  const k0h = k[1] >>> 0;
  const k1l = k[2] >>> 0;
  const k1h = k[3] >>> 0;
  // "somepseudorandomlygeneratedbytes"
  let v0h = (0x736f6d65 ^ k0h) >>> 0;
  let v0l = (0x70736575 ^ k0l) >>> 0;
  let v1h = (0x646f7261 ^ k1h) >>> 0;
  let v1l = (0x6e646f6d ^ k1l) >>> 0;
  let v2h = (0x6c796765 ^ k0h) >>> 0;
  let v2l = (0x6e657261 ^ k0l) >>> 0;
  let v3h = (0x74656462 ^ k1h) >>> 0;
  let v3l = (0x79746573 ^ k1l) >>> 0;
  const words = len >>> 3;
  // Message words 0..words-1 from the data; word `words` is the last block: the remaining
  // bytes, little-endian, with len mod 256 in the top byte; then finalisation.
  for (let w = 0; w <= words + 1; w++) {
    let ml = 0;
    let mh = 0;
    let rounds = 2;
    if (w < words) {
      ml = le32(data, off + 8 * w);
      mh = le32(data, off + 8 * w + 4);
    } else if (w === words) {
      const p = off + 8 * words;
      mh = ((len & 0xff) << 24) >>> 0;
      const rest = len & 7;
      for (let i = 0; i < rest; i++) {
        const byte = data[p + i];
        if (i < 4) ml = (ml | (byte << (8 * i))) >>> 0;
        else mh = (mh | (byte << (8 * (i - 4)))) >>> 0;
      }
    } else {
      v2l = (v2l ^ 0xff) >>> 0;
      rounds = 4;
    }
    v3l = (v3l ^ ml) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    for (let r = 0; r < rounds; r++) {
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      let lo = (v0l + v1l) >>> 0;
      v0h = (v0h + v1h + (lo < v0l ? 1 : 0)) >>> 0;
      v0l = lo;
      let h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
      let l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
      v1h = (h ^ v0h) >>> 0;
      v1l = (l ^ v0l) >>> 0;
      h = v0h;
      v0h = v0l;
      v0l = h;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      lo = (v2l + v3l) >>> 0;
      v2h = (v2h + v3h + (lo < v2l ? 1 : 0)) >>> 0;
      v2l = lo;
      h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
      l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
      v3h = (h ^ v2h) >>> 0;
      v3l = (l ^ v2l) >>> 0;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      lo = (v0l + v3l) >>> 0;
      v0h = (v0h + v3h + (lo < v0l ? 1 : 0)) >>> 0;
      v0l = lo;
      h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
      l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
      v3h = (h ^ v0h) >>> 0;
      v3l = (l ^ v0l) >>> 0;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      lo = (v2l + v1l) >>> 0;
      v2h = (v2h + v1h + (lo < v2l ? 1 : 0)) >>> 0;
      v2l = lo;
      h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
      l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
      v1h = (h ^ v2h) >>> 0;
      v1l = (l ^ v2l) >>> 0;
      h = v2h;
      v2h = v2l;
      v2l = h;
    }
    v0l = (v0l ^ ml) >>> 0;
    v0h = (v0h ^ mh) >>> 0;
  }
  out.hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  out.lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}
