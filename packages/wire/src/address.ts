// Address text <-> the four big-endian words every Sluice table and FrameInfo uses (IPv4 is
// v4-mapped: 0, 0, 0xffff, addr). Used when compiling configuration, never per packet.
import { isIPv4, isIPv6 } from 'node:net';

export class AddressError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_ADDRESS';
}

function v4Word(text: string): number {
  const parts = text.split('.');
  return (((+parts[0] << 24) | (+parts[1] << 16) | (+parts[2] << 8) | +parts[3]) >>> 0) | 0;
}

/** Parses an IPv4 or IPv6 address into four words (signed 32-bit, as stored in Int32Arrays). */
export function parseAddress(text: string): [number, number, number, number] {
  if (isIPv4(text)) return [0, 0, 0xffff, v4Word(text)];
  if (!isIPv6(text)) throw new AddressError(`not an IP address: ${JSON.stringify(text)}`);
  let s = text;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const w = v4Word(s.slice(lastColon + 1)) >>> 0;
    tail = [w >>> 16, w & 0xffff];
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = new Array<number>(8).fill(0);
  h.forEach((g, i) => {
    groups[i] = Number.parseInt(g, 16);
  });
  r.forEach((g, i) => {
    groups[8 - r.length + i] = Number.parseInt(g, 16);
  });
  if (tail.length === 2) {
    groups[6] = tail[0];
    groups[7] = tail[1];
  }
  return [
    (groups[0] << 16) | groups[1] | 0,
    (groups[2] << 16) | groups[3] | 0,
    (groups[4] << 16) | groups[5] | 0,
    (groups[6] << 16) | groups[7] | 0,
  ];
}

export function isV4Mapped(a0: number, a1: number, a2: number): boolean {
  return a0 === 0 && a1 === 0 && a2 === 0xffff;
}

/** Formats four words as text: dotted quad for v4-mapped, RFC 5952 for IPv6. */
export function formatAddress(a0: number, a1: number, a2: number, a3: number): string {
  if (isV4Mapped(a0, a1, a2)) {
    const w = a3 >>> 0;
    return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
  }
  const g = [a0, a1, a2, a3].flatMap((w) => [(w >>> 16) & 0xffff, w & 0xffff]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses "aa:bb:cc:dd:ee:ff" into six bytes written at `off`. */
export function parseMac(text: string, out: Uint8Array, off: number): void {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(
    text,
  );
  if (m === null) throw new AddressError(`not a MAC address: ${JSON.stringify(text)}`);
  for (let i = 0; i < 6; i++) out[off + i] = Number.parseInt(m[i + 1], 16);
}

export function formatMac(buf: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(buf[off + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}
