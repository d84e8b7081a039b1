// PrefixTrie: longest-prefix match over the 128-bit address space (IPv4 v4-mapped), built once
// from a list of prefixes and then read on the packet path without allocating.
//
// Why this shape: a multibit trie with a 4-bit stride (16-way nodes) held in typed arrays. A
// binary trie would take up to 128 dependent reads for an IPv6 address; a stride of 4 takes at
// most 32, and controlled prefix expansion (a /n whose n is not a multiple of 4 is written into
// every entry of its node that it covers, the longest prefix winning each entry) keeps lookup a
// plain walk: read the entry's value, remember it if set, follow the child, stop at a missing child.
// IPv4 lookups skip the 24 nibbles of ::ffff:0:0/96, whose outcome is computed once at build
// time, so an IPv4 source costs at most 8 steps. Sorted ranges with binary search would also
// work but need 128-bit comparisons; the trie needs only shifts and masks on int32 words.
// Memory is 144 bytes per node, at most 32 nodes per prefix and far fewer when prefixes share
// their leading bits — meant for rule lists of up to tens of thousands of prefixes.

export interface TriePrefix {
  /** Four int32 words, host bits zero. */
  words: readonly [number, number, number, number] | readonly number[];
  /** 0..128 */
  length: number;
  /** A non-negative integer returned by `lookup` for addresses this prefix is the longest match of. */
  value: number;
}

const STRIDE = 4;
const FANOUT = 1 << STRIDE;

function nibbleAt(words: readonly number[], depth: number): number {
  return (words[depth >> 3] >>> (28 - STRIDE * (depth & 7))) & (FANOUT - 1);
}

export class PrefixTrie {
  /** Child node index per (node, nibble); 0 = none (the root is never anyone's child). */
  readonly child: Int32Array;
  /** Value per (node, nibble); -1 = no prefix ends here. */
  readonly value: Int32Array;
  /** Length of the prefix that set `value` (so the longest wins during expansion). */
  readonly valueLen: Uint8Array;
  readonly nodeCount: number;
  readonly prefixCount: number;
  /** Node at depth 24 on the ::ffff path (where IPv4 lookups start), or -1 when no prefix goes below it. */
  private readonly v4Node: number;
  /** Best value found on the way down to `v4Node` (e.g. ::/0 or ::ffff:0:0/96), or -1. */
  private readonly v4Best: number;
  /** Scratch for the walk: the best value so far. A field, so the walk returns one number. */
  private best = -1;

  static build(prefixes: readonly TriePrefix[]): PrefixTrie {
    const child: number[] = new Array<number>(FANOUT).fill(0);
    const value: number[] = new Array<number>(FANOUT).fill(-1);
    const valueLen: number[] = new Array<number>(FANOUT).fill(0);
    let nodes = 1;
    for (const p of prefixes) {
      const len = p.length;
      if (!Number.isInteger(len) || len < 0 || len > 128) throw new RangeError(`prefix length ${len}`);
      if (!Number.isInteger(p.value) || p.value < 0) throw new RangeError(`prefix value ${p.value}`);
      // A /0 fills all 16 entries of the root; else the last nibble holding prefix bits is at
      // depth (len - 1) >> 2, with 1..4 of its bits significant.
      const depth = len === 0 ? 0 : (len - 1) >> 2;
      const sig = len === 0 ? 0 : len - STRIDE * depth;
      let node = 0;
      for (let d = 0; d < depth; d++) {
        const e = node * FANOUT + nibbleAt(p.words, d);
        if (child[e] === 0) {
          child[e] = nodes++;
          for (let k = 0; k < FANOUT; k++) {
            child.push(0);
            value.push(-1);
            valueLen.push(0);
          }
        }
        node = child[e];
      }
      const span = 1 << (STRIDE - sig);
      const start = len === 0 ? 0 : nibbleAt(p.words, depth) & ~(span - 1);
      for (let k = start; k < start + span; k++) {
        const e = node * FANOUT + k;
        if (value[e] < 0 || valueLen[e] <= len) {
          value[e] = p.value;
          valueLen[e] = len;
        }
      }
    }
    return new PrefixTrie(
      Int32Array.from(child),
      Int32Array.from(value),
      Uint8Array.from(valueLen),
      prefixes.length,
    );
  }

  private constructor(child: Int32Array, value: Int32Array, valueLen: Uint8Array, prefixCount: number) {
    this.child = child;
    this.value = value;
    this.valueLen = valueLen;
    this.nodeCount = child.length / FANOUT;
    this.prefixCount = prefixCount;
    this.best = -1;
    let node = this.walkWord(0, 0);
    if (node >= 0) node = this.walkWord(node, 0);
    if (node >= 0) node = this.walkWord(node, 0xffff);
    this.v4Node = node;
    this.v4Best = this.best;
  }

  /** Value of the longest prefix containing the address, or -1. Allocation-free. */
  lookup(a0: number, a1: number, a2: number, a3: number): number {
    if (a0 === 0 && a1 === 0 && a2 === 0xffff) {
      this.best = this.v4Best;
      if (this.v4Node >= 0) this.walkWord(this.v4Node, a3);
      return this.best;
    }
    this.best = -1;
    let node = this.walkWord(0, a0);
    if (node >= 0) node = this.walkWord(node, a1);
    if (node >= 0) node = this.walkWord(node, a2);
    if (node >= 0) this.walkWord(node, a3);
    return this.best;
  }

  /** Walks the 8 nibbles of one word from `node`; returns the node after it, or -1 where the path ends. */
  private walkWord(node: number, w: number): number {
    const child = this.child;
    const value = this.value;
    for (let shift = 28; shift >= 0; shift -= STRIDE) {
      const e = (node << STRIDE) | ((w >>> shift) & (FANOUT - 1));
      const v = value[e];
      if (v >= 0) this.best = v;
      node = child[e];
      if (node === 0) return -1;
    }
    return node;
  }
}
