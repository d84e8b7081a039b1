// A Batch holds the frames one port round works on and their fates, in one buffer: the port
// receives datagrams into it, the Pipeline classifies them in place and writes each verdict beside
// its frame, the port sends them out. A batch lives and dies in the serving worker's own thread
// (frames never cross threads; the tables they are classified against are the shared ones).
//
// Layout (the only place it is written down):
//   Int32 header  [count, dataUsed]
//   Int32 descriptors, 6 words per frame: [offset, length, verdict, arg, peer, spare]
//   bytes: frame data, each frame at an 8-byte aligned offset (the data starts 8-aligned).

export const BatchHeader = {
  count: 0,
  dataUsed: 1,
  words: 2,
} as const;
/**
 * `peer`: the sender VTEP's IPv4 underlay address as a 32-bit word (replies and the defense's probes
 * go back to it).
 */
export const Desc = { offset: 0, length: 1, verdict: 2, arg: 3, peer: 4, words: 6 } as const;

export interface BatchLimits {
  maxFrames: number;
  dataBytes: number;
}

export class Batch {
  readonly buffer: ArrayBuffer;
  readonly header: Int32Array;
  readonly desc: Int32Array;
  readonly data: Uint8Array;
  readonly maxFrames: number;

  static create(limits: BatchLimits): Batch {
    const headerBytes = (BatchHeader.words + limits.maxFrames * Desc.words) * 4;
    return new Batch(new ArrayBuffer(headerBytes + limits.dataBytes), limits.maxFrames);
  }

  private constructor(buffer: ArrayBuffer, maxFrames: number) {
    this.buffer = buffer;
    this.maxFrames = maxFrames;
    this.header = new Int32Array(buffer, 0, BatchHeader.words);
    this.desc = new Int32Array(buffer, BatchHeader.words * 4, maxFrames * Desc.words);
    const dataStart = (BatchHeader.words + maxFrames * Desc.words) * 4;
    this.data = new Uint8Array(buffer, dataStart);
  }

  get count(): number {
    return this.header[BatchHeader.count];
  }

  reset(): void {
    this.header[BatchHeader.count] = 0;
    this.header[BatchHeader.dataUsed] = 0;
  }

  /**
   * Copies one frame in; returns false when the batch has no room for it (the caller sends the
   * batch and starts another). Reserves room for the largest reply built in place.
   */
  push(src: Uint8Array, srcOff: number, len: number, peer: number): boolean {
    const h = this.header;
    const n = h[BatchHeader.count];
    const used = h[BatchHeader.dataUsed];
    if (n >= this.maxFrames || used + len > this.data.length) return false;
    this.data.set(src.subarray(srcOff, srcOff + len), used);
    const d = n * Desc.words;
    this.desc[d + Desc.offset] = used;
    this.desc[d + Desc.length] = len;
    this.desc[d + Desc.verdict] = 0;
    this.desc[d + Desc.arg] = 0;
    this.desc[d + Desc.peer] = peer;
    h[BatchHeader.count] = n + 1;
    h[BatchHeader.dataUsed] = (used + len + 7) & ~7;
    return true;
  }

  offsetOf(i: number): number {
    return this.desc[i * Desc.words + Desc.offset];
  }

  lengthOf(i: number): number {
    return this.desc[i * Desc.words + Desc.length];
  }

  verdictOf(i: number): number {
    return this.desc[i * Desc.words + Desc.verdict];
  }

  argOf(i: number): number {
    return this.desc[i * Desc.words + Desc.arg];
  }

  peerOf(i: number): number {
    return this.desc[i * Desc.words + Desc.peer];
  }

  /** A view of frame i's bytes (allocates a view: for ports and tests, not for the classifier). */
  frame(i: number): Uint8Array {
    const off = this.offsetOf(i);
    return this.data.subarray(off, off + this.lengthOf(i));
  }
}
