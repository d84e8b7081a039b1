// Address text for the CLI, spelled as the director's config spells it (packages/config
// address.ts: dotted quad, RFC 5952 for IPv6, v4-mapped IPv6 folded into IPv4) so that lines of
// one ipvsadm file that name the same service in two spellings meet, and what `save` prints
// round-trips. Done with node:net and the URL parser rather than @sluice/config, whose import
// (the dataplane behind it) would cost every CLI call half a second.
import { isIP } from 'node:net';

export interface Ip {
  text: string;
  v4: boolean;
}

/** The canonical spelling of an IP literal, or null when `text` is not one (zones refused). */
export function canonicalIp(text: string): Ip | null {
  const family = isIP(text);
  if (family === 4) return { text, v4: true };
  if (family !== 6 || text.includes('%')) return null;
  // WHATWG's IPv6 serializer is RFC 5952's: lower case, the longest run of two or more zero
  // groups compressed, the first on a tie.
  const v6 = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped !== null) {
    const hi = Number.parseInt(mapped[1], 16);
    const lo = Number.parseInt(mapped[2], 16);
    return { text: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, v4: true };
  }
  return { text: v6, v4: false };
}

/** `10.0.0.1:80`, `[2001:db8::1]:80` (ipvsadm's addrport_to_anyname with -n). */
export function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The 128 bits of a canonical address as four unsigned 32-bit words (IPv4: the last word). */
export function addressWords(address: string): [number, number, number, number] {
  if (!address.includes(':')) {
    const [a, b, c, d] = address.split('.').map(Number);
    return [0, 0, 0, ((a << 24) | (b << 16) | (c << 8) | d) >>> 0];
  }
  const [head, tail] = address.split('::');
  const groups = (s: string | undefined) => (s === undefined || s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t].map((g) =>
    Number.parseInt(g, 16),
  );
  const words: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) words[i] = ((all[2 * i] << 16) | all[2 * i + 1]) >>> 0;
  return words;
}

/** A prefix length as a dotted IPv4 mask (ipvsadm prints -M and `mask` so, through inet_ntoa). */
export function dottedMask(prefix: number): string {
  const m = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 255}.${(m >>> 8) & 255}.${m & 255}`;
}

/** A dotted IPv4 netmask as its prefix length, or null when it is not one or not contiguous. */
export function maskPrefix(text: string): number | null {
  const ip = canonicalIp(text);
  if (ip === null || !ip.v4) return null;
  const [a, b, c, d] = ip.text.split('.').map(Number);
  const inverted = ~(((a << 24) | (b << 16) | (c << 8) | d) >>> 0) >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return null;
  return 32 - Math.log2(inverted + 1);
}
