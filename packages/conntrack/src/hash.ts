// Key hashing for the shared tables: murmur3's 32-bit mixing over the key words, done with
// Math.imul so it stays in small integers and never allocates. Two bucket choices come from one
// hash so a key costs one hash computation.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixWord(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3 finaliser: spreads every input bit over the whole word. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/** Hash of the words key[0..n) with a seed; the result is a signed 32-bit integer. */
export function hashWords(key: Int32Array, n: number, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < n; i++) h = mixWord(h, key[i]);
  return fmix32(h ^ (n << 2));
}

/** Hash of five words passed as arguments (the connection key), without a key array. */
export function hash5(a: number, b: number, c: number, d: number, e: number, seed: number): number {
  // deliberately unrolled: hashWords over five words, once per packet; equal results are tested.
  let h = seed | 0;
  h = mixWord(h, a);
  h = mixWord(h, b);
  h = mixWord(h, c);
  h = mixWord(h, d);
  h = mixWord(h, e);
  return fmix32(h ^ 20);
}

/** The second bucket choice, derived from the first hash so it needs no second pass over the key. */
export function altHash(h: number): number {
  return fmix32(h ^ 0x5bd1e995);
}
