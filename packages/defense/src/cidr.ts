// CIDR parsing for priority rules and source checks. Every address in Sluice is four big-endian
// 32-bit words with IPv4 v4-mapped (0, 0, 0xffff, addr) — the form FrameInfo and the connection
// table use — so a prefix is parsed straight into that 128-bit space: an IPv4 /n becomes a /96+n
// under ::ffff:0:0/96, and one longest-prefix structure serves both families.
// Strict on purpose: configuration is where a typo should fail loudly. Host bits set
// ("10.1.2.3/8"), leading zeros in an IPv4 octet (octal in some tools), zone ids and classful
// shorthand ("10/8") are rejected rather than guessed at. Runs at configuration time only.

import { DefenseError, DefenseErrorCode } from './errors.ts';

export interface Cidr {
  /** The prefix's four words (int32 bit patterns), host bits zero. */
  readonly words: readonly [number, number, number, number];
  /** Prefix length in the 128-bit space (an IPv4 /n is 96 + n). */
  readonly length: number;
  /** How it was written: 4 or 6. */
  readonly family: 4 | 6;
}

function parseV4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v | 0;
}

/** Parses an IPv6 address (with an optional dotted-quad tail) into eight 16-bit groups. */
function parseV6(text: string): number[] | null {
  if (text.length === 0 || text.includes('%')) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string, allowV4Tail: boolean): number[] | null => {
    if (s === '') return [];
    const parts = s.split(':');
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseV4(p);
        if (v4 === null) return null;
        out.push((v4 >>> 16) & 0xffff, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(Number.parseInt(p, 16));
      }
    }
    return out;
  };
  if (halves.length === 1) {
    const g = parseGroups(halves[0], true);
    return g !== null && g.length === 8 ? g : null;
  }
  const head = parseGroups(halves[0], false);
  const tail = parseGroups(halves[1], true);
  if (head === null || tail === null || head.length + tail.length > 7) return null;
  const zeros = new Array<number>(8 - head.length - tail.length).fill(0);
  return [...head, ...zeros, ...tail];
}

/**
 * Parses "a.b.c.d/n" or "x:x::x/n" (no "/n" means a single host). `index` names the entry in
 * error messages. Throws DefenseError SLUICE_ERR_DEFENSE_CIDR.
 */
export function parseCidr(text: string, index = -1): Cidr {
  const where = index >= 0 ? `entry ${index}: ` : '';
  const fail = (why: string): never => {
    throw new DefenseError(
      DefenseErrorCode.cidr,
      `${where}${JSON.stringify(text)} is not a CIDR: ${why}`,
      index,
    );
  };
  if (typeof text !== 'string') fail('not a string');
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? null : text.slice(slash + 1);
  const isV6 = addr.includes(':');
  const max = isV6 ? 128 : 32;
  let len = max;
  if (lenText !== null) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) fail('prefix length must be a decimal integer');
    len = Number(lenText);
    if (len > max) fail(`prefix length must be at most ${max}`);
  }
  const w = [0, 0, 0, 0];
  if (isV6) {
    const g = parseV6(addr);
    if (g === null) fail('bad IPv6 address');
    const groups = g as number[];
    for (let i = 0; i < 4; i++) w[i] = (groups[2 * i] << 16) | groups[2 * i + 1] | 0;
  } else {
    const v4 = parseV4(addr);
    if (v4 === null) fail('bad IPv4 address (four decimal octets, no leading zeros)');
    w[2] = 0xffff;
    w[3] = v4 as number;
    len += 96;
  }
  for (let i = 0; i < 4; i++) {
    const mask = wordMask(len, i);
    if ((w[i] & ~mask) !== 0) fail('host bits are set (did you mean the network address?)');
  }
  return { words: [w[0], w[1], w[2], w[3]], length: len, family: isV6 ? 6 : 4 };
}

/** The mask of word `i` (0..3) for a prefix of `len` bits in the 128-bit space, as int32. */
export function wordMask(len: number, i: number): number {
  const bits = len - 32 * i;
  if (bits <= 0) return 0;
  if (bits >= 32) return -1;
  return (-1 << (32 - bits)) | 0;
}

/** Formats a prefix back to text (for listings and error messages). */
export function formatCidr(c: Cidr): string {
  const [w0, w1, w2, w3] = c.words;
  if (c.family === 4) {
    return `${w3 >>> 24}.${(w3 >>> 16) & 0xff}.${(w3 >>> 8) & 0xff}.${w3 & 0xff}/${c.length - 96}`;
  }
  const groups = [w0, w1, w2, w3].flatMap((w) => [(w >>> 16) & 0xffff, w & 0xffff]);
  // Compress the longest run of two or more zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text =
    bestStart < 0
      ? hex.join(':')
      : `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
  return `${text}/${c.length}`;
}
