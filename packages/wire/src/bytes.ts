// Big-endian (network order) reads and writes of 16- and 32-bit fields, for the parsers and the
// builders alike. Plain byte arithmetic: no DataView per buffer, nothing allocated per call.

export function be16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** An int32 bit pattern (FrameInfo's form for 32-bit fields). */
export function be32(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

export function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}

export function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 24) & 0xff;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
