// The Internet checksum (RFC 1071): a ones'-complement sum of 16-bit words, folded and
// complemented; the pseudo-header sums TCP/UDP/ICMPv6 checksums cover; and the incremental
// update of RFC 1624 (eqn. 3), for changing one field without summing the packet again.
// All allocation-free: sums are plain numbers, addresses come from buffers or 32-bit words.

/** Ones'-complement sum of buf[off, off+len) added to `initial`, folded to 16 bits (not complemented). */
export function onesSum(buf: Uint8Array, off: number, len: number, initial: number): number {
  let sum = initial;
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i === end) sum += buf[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Folds and complements a sum into the 16-bit value written in a header. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The checksum of buf[off, off+len) with `initial` (e.g. a pseudo-header sum). */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return finishChecksum(onesSum(buf, off, len, initial));
}

function addWord(sum: number, w: number): number {
  return sum + ((w >>> 16) & 0xffff) + (w & 0xffff);
}

/**
 * Pseudo-header sum from 32-bit address words (FrameInfo's form). `ipVersion` 4 uses word 3 of
 * each address only (RFC 768/793); 6 uses all four (RFC 8200 §8.1). Folded, not complemented.
 */
export function pseudoHeaderSumWords(
  ipVersion: number,
  s0: number,
  s1: number,
  s2: number,
  s3: number,
  d0: number,
  d1: number,
  d2: number,
  d3: number,
  proto: number,
  l4Len: number,
): number {
  let sum = proto + (l4Len & 0xffff) + (ipVersion === 6 ? l4Len >>> 16 : 0);
  sum = addWord(addWord(sum, s3), d3);
  if (ipVersion === 6)
    sum = addWord(addWord(addWord(addWord(addWord(addWord(sum, s0), s1), s2), d0), d1), d2);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Pseudo-header sum with the addresses read from a buffer (4 or 16 bytes each). */
export function pseudoHeaderSum(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  addrLen: number,
  proto: number,
  l4Len: number,
): number {
  let sum = proto + (l4Len & 0xffff) + (l4Len >>> 16);
  sum = onesSum(buf, srcOff, addrLen, sum);
  return onesSum(buf, dstOff, addrLen, sum);
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit field changing from m to m'. */
export function checksumAdjust16(checksum: number, oldWord: number, newWord: number): number {
  let sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 for a 32-bit field (e.g. an IPv4 address): two 16-bit updates. */
export function checksumAdjust32(checksum: number, oldValue: number, newValue: number): number {
  const c = checksumAdjust16(checksum, (oldValue >>> 16) & 0xffff, (newValue >>> 16) & 0xffff);
  return checksumAdjust16(c, oldValue & 0xffff, newValue & 0xffff);
}
