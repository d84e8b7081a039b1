// The trie against the obvious definition: a linear scan for the longest prefix containing the
// address, over random IPv4 and IPv6 prefix sets and addresses drawn near them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrefixTrie, wordMask } from './index.ts';

interface P {
  words: number[];
  length: number;
  value: number;
}

function contains(p: P, a: readonly number[]): boolean {
  for (let i = 0; i < 4; i++) {
    const m = wordMask(p.length, i);
    if ((a[i] & m) !== (p.words[i] & m)) return false;
  }
  return true;
}

function naive(ps: readonly P[], a: readonly number[]): number {
  let best = -1;
  let bestLen = -1;
  for (const p of ps) {
    if (p.length > bestLen && contains(p, a)) {
      best = p.value;
      bestLen = p.length;
    }
  }
  return best;
}

function masked(words: readonly number[], length: number): number[] {
  return words.map((w, i) => (w & wordMask(length, i)) | 0);
}

const word = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const v4addr = word.map((w) => [0, 0, 0xffff, w]);
const v6addr = fc.tuple(word, word, word, word).map((t) => [...t]);
// Few distinct leading words, so prefixes nest and overlap instead of never meeting.
const v6near = fc
  .tuple(
    fc.constantFrom(0x20010db8, 0, 0xfe800000 | 0, 0x20010db9),
    fc.constantFrom(0, 1, 0xffff),
    word,
    word,
  )
  .map((t) => [...t]);
const addr = fc.oneof(v4addr, v6addr, v6near);
const prefix = fc.oneof(
  fc.tuple(v4addr, fc.integer({ min: 96, max: 128 })),
  fc.tuple(fc.oneof(v6addr, v6near), fc.integer({ min: 0, max: 128 })),
);
const prefixSet = fc.array(prefix, { maxLength: 40 }).map((list) => {
  const seen = new Set<string>();
  const out: P[] = [];
  for (const [w, len] of list) {
    const words = masked(w, len);
    const key = `${words}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ words, length: len, value: out.length });
  }
  return out;
});

describe('PrefixTrie', () => {
  it('agrees with a linear longest-prefix scan (random v4 and v6 prefixes)', () => {
    fc.assert(
      fc.property(prefixSet, fc.array(addr, { minLength: 1, maxLength: 30 }), (ps, addrs) => {
        const trie = PrefixTrie.build(ps);
        // Addresses inside every prefix too, where the answers are decided.
        const probes = [
          ...addrs,
          ...ps.map((p) => p.words),
          ...ps.map((p, i) =>
            addrs[i % addrs.length].map(
              (w, j) => (p.words[j] & wordMask(p.length, j)) | (w & ~wordMask(p.length, j)),
            ),
          ),
        ];
        for (const a of probes) expect(trie.lookup(a[0], a[1], a[2], a[3])).toBe(naive(ps, a));
      }),
      { numRuns: 400 },
    );
  });

  it('covers the v4-mapped path from above: ::/0, ::ffff:0:0/96 and /80 apply to IPv4', () => {
    const ps: P[] = [
      { words: [0, 0, 0, 0], length: 0, value: 0 },
      { words: [0, 0, 0, 0], length: 80, value: 1 },
      { words: [0, 0, 0xffff, 0], length: 96, value: 2 },
      { words: [0, 0, 0xffff, 0x0a000000], length: 104, value: 3 },
    ];
    const t = PrefixTrie.build(ps);
    expect(t.lookup(0, 0, 0xffff, 0x0a010203)).toBe(3);
    expect(t.lookup(0, 0, 0xffff, 0x0b010203)).toBe(2);
    expect(t.lookup(0, 0, 0xfffe, 1)).toBe(1);
    expect(t.lookup(0x20010db8, 0, 0, 1)).toBe(0);
    const only0 = PrefixTrie.build([ps[0]]);
    expect(only0.lookup(0, 0, 0xffff, 5)).toBe(0);
    expect(PrefixTrie.build([]).lookup(0, 0, 0xffff, 5)).toBe(-1);
  });

  it('host routes at depth 128 and every length in between', () => {
    const a = [0x20010db8, 0x12345678, 0x9abcdef0 | 0, 0x0fedcba9];
    const ps: P[] = [];
    for (let len = 0; len <= 128; len += 1) ps.push({ words: masked(a, len), length: len, value: len });
    const t = PrefixTrie.build(ps);
    expect(t.lookup(a[0], a[1], a[2], a[3])).toBe(128);
    for (let flip = 0; flip < 128; flip++) {
      const b = [...a];
      b[flip >> 5] ^= 1 << (31 - (flip & 31));
      expect(t.lookup(b[0], b[1], b[2], b[3])).toBe(flip);
    }
  });
});
