// Internet checksum for building test traffic (RFC 1071). The director's own builders use
// @sluice/wire's; this stays here so traffic generation does not depend on the codec under test.

export function onesSum(b: Uint8Array, off: number, len: number, initial: number): number {
  let sum = initial;
  let i = off;
  const end = off + len - 1;
  for (; i < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i === end) sum += b[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(b: Uint8Array, off: number, len: number, initial: number): number {
  return ~onesSum(b, off, len, initial) & 0xffff;
}

export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  let sum = onesSum(src, 0, src.length, 0) + onesSum(dst, 0, dst.length, 0) + proto + len;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
