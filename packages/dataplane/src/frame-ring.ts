// FrameRing: VXLAN datagrams in a SharedArrayBuffer, between a thread that makes them and a serving
// worker, so the worker's own loop (BatchedPort: drain → classify → send) can run on frames that
// never touch a socket: the hot-path benchmark, the synthetic demo and the tests run the code the
// director runs, with a ring where the kernel's socket would be. RingChannel is the worker's side:
// the calls BatchedPort makes on a socket (recv into slots, send from a list, wait), with the
// addon's word layouts and status codes, over one ring in and, optionally, one ring out.
//
// A ring is one of three kinds, fixed at creation:
//   queue   single producer, single consumer: push() copies a datagram into the next slot, the
//           channel's recv copies it out into the port's batch slot (as recvmmsg copies a
//           datagram out of the kernel) and frees the slot. The consumer sleeps in Atomics.wait
//           on the head word when the ring is empty; push wakes it.
//   replay  loaded once (push, then startReplay()), then received forever in a loop without being
//           consumed: a load that never runs dry, for the benchmark. A frame pushed with a
//           `freshSourceAt` offset gets a new pseudo-random IPv4 address at that offset of the
//           copy each time it is replayed, so a replayed SYN flood keeps coming from new sources
//           (hping3 --rand-source); the ring's own bytes never change.
//   sink    the port's sends are counted (frames, bytes) and kept nowhere: the far end of a
//           benchmark, where a real server's socket would be.
//
// Layout (Int32 words, the only place it is written down; head and tail 64 bytes apart so the
// producer and the consumer do not write one cache line):
//   header  [0] head: slots pushed (wrapping uint32)   [1] slots  [2] slotBytes  [3] kind
//           [4] replayFrames   [5] lost: pushes refused, ring full   [6] bytes sent to a sink (low)
//           [7] bytes (high)
//           [16] tail: slots consumed (queue), frames received (replay) or sent (sink)
//   meta    4 words per slot: [length, address (IPv4, host order), port, freshSourceAt]
//   data    slots × slotBytes, each datagram at its slot's start
import { RecvFlag, RecvWord, SendWord } from '@sluice/io';

export const RingKind = { queue: 0, replay: 1, sink: 2 } as const;
export type RingKind = (typeof RingKind)[keyof typeof RingKind];

const H = {
  head: 0,
  slots: 1,
  slotBytes: 2,
  kind: 3,
  replayFrames: 4,
  lost: 5,
  bytesLo: 6,
  bytesHi: 7,
} as const;
const TAIL = 16;
const HEADER_WORDS = 32;
const META_WORDS = 4;
const M = { length: 0, address: 1, port: 2, fresh: 3 } as const;
/** Default slot size: BatchedPort's (a VXLAN frame of a 1500-byte inner MTU and then some). */
const DEFAULT_SLOT_BYTES = 2048;
/** Most datagrams one recv or send moves, as the addon's MAX_BATCH. */
const RING_MAX_BATCH = 1024;

export class FrameRingError extends Error {
  readonly code = 'SLUICE_ERR_DATAPLANE_RING';
}

export interface FrameRingOptions {
  kind: 'queue' | 'replay' | 'sink';
  /** A power of two (queue and replay); a sink keeps no slots. */
  slots?: number;
  /** Bytes per slot, a multiple of 8; a longer datagram is cut and received flagged truncated. */
  slotBytes?: number;
}

/** A datagram taken off a queue ring by the thread that reads it (tests, the synthetic demo). */
export interface RingDatagram {
  bytes: Uint8Array;
  /** IPv4 address (host order, as the addon reports it): the destination of a sent frame. */
  address: number;
  port: number;
}

export class FrameRing {
  readonly sab: SharedArrayBuffer;
  readonly kind: RingKind;
  readonly slots: number;
  readonly slotBytes: number;
  private readonly header: Int32Array;
  private readonly meta: Int32Array;
  readonly data: Uint8Array;

  static create(opts: FrameRingOptions): FrameRing {
    const kind = RingKind[opts.kind];
    if (kind === undefined)
      throw new FrameRingError(`ring kind must be queue, replay or sink, not ${opts.kind}`);
    const slots = kind === RingKind.sink ? 0 : (opts.slots ?? 1024);
    const slotBytes = opts.slotBytes ?? DEFAULT_SLOT_BYTES;
    if (kind !== RingKind.sink && (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0))
      throw new FrameRingError(`ring slots must be a power of two, got ${slots}`);
    if (!Number.isInteger(slotBytes) || slotBytes < 64 || slotBytes % 8 !== 0)
      throw new FrameRingError(`ring slotBytes must be a multiple of 8 of at least 64, got ${slotBytes}`);
    const sab = new SharedArrayBuffer((HEADER_WORDS + slots * META_WORDS) * 4 + slots * slotBytes);
    const h = new Int32Array(sab, 0, HEADER_WORDS);
    h[H.slots] = slots;
    h[H.slotBytes] = slotBytes;
    h[H.kind] = kind;
    return new FrameRing(sab);
  }

  /** The same ring in another thread. */
  static attach(sab: SharedArrayBuffer): FrameRing {
    return new FrameRing(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.header = new Int32Array(sab, 0, HEADER_WORDS);
    this.slots = this.header[H.slots];
    this.slotBytes = this.header[H.slotBytes];
    this.kind = this.header[H.kind] as RingKind;
    this.meta = new Int32Array(sab, HEADER_WORDS * 4, this.slots * META_WORDS);
    this.data = new Uint8Array(sab, (HEADER_WORDS + this.slots * META_WORDS) * 4);
  }

  /** Slots pushed and not yet consumed (queue), or loaded (replay). */
  get pending(): number {
    if (this.kind === RingKind.replay) return this.header[H.replayFrames];
    return (Atomics.load(this.header, H.head) - Atomics.load(this.header, TAIL)) >>> 0;
  }

  /** Datagrams pushed since creation (wrapping at 2^32). */
  get pushed(): number {
    return Atomics.load(this.header, H.head) >>> 0;
  }

  /** Datagrams consumed from a queue, received from a replay ring, or sent into a sink (wrapping). */
  get taken(): number {
    return Atomics.load(this.header, TAIL) >>> 0;
  }

  /** Pushes (or sends) refused because a queue was full. */
  get lost(): number {
    return Atomics.load(this.header, H.lost);
  }

  /** Bytes sent into a sink. */
  get sinkBytes(): number {
    return (this.header[H.bytesHi] >>> 0) * 2 ** 32 + (this.header[H.bytesLo] >>> 0);
  }

  /**
   * The producer's side: copies a datagram into the next slot (cut to the slot, its real length
   * kept) from IPv4 `address`:`port`; false when the ring is full (counted in `lost`). On a replay
   * ring, only before startReplay(). `freshSourceAt` (replay): the byte offset of an IPv4 source
   * address in the datagram to renew on every replay (0: none).
   */
  push(bytes: Uint8Array, address: number, port = 4789, freshSourceAt = 0): boolean {
    const h = this.header;
    if (this.kind === RingKind.sink) throw new FrameRingError('a sink ring takes no pushes');
    if (this.kind === RingKind.replay && h[H.replayFrames] !== 0)
      throw new FrameRingError('a replay ring is loaded before startReplay()');
    const head = h[H.head];
    if ((head - Atomics.load(h, TAIL)) >>> 0 >= this.slots) {
      Atomics.add(h, H.lost, 1);
      return false;
    }
    const slot = head & (this.slots - 1);
    const len = Math.min(bytes.length, this.slotBytes);
    this.data.set(len === bytes.length ? bytes : bytes.subarray(0, len), slot * this.slotBytes);
    const m = slot * META_WORDS;
    this.meta[m + M.length] = bytes.length;
    this.meta[m + M.address] = address;
    this.meta[m + M.port] = port;
    this.meta[m + M.fresh] = freshSourceAt;
    Atomics.store(h, H.head, (head + 1) | 0);
    if (this.kind === RingKind.queue) Atomics.notify(h, H.head, 1);
    return true;
  }

  /** Turns a loaded replay ring on: from now on its frames are received in a loop. */
  startReplay(): void {
    if (this.kind !== RingKind.replay) throw new FrameRingError('only a replay ring replays');
    const n = this.header[H.head];
    if (n === 0) throw new FrameRingError('load a replay ring before starting it');
    this.header[H.replayFrames] = n;
  }

  /** The consumer's side of a queue read from JavaScript (what a port sent): the next datagram, or null. */
  shift(): RingDatagram | null {
    if (this.kind !== RingKind.queue) throw new FrameRingError('only a queue ring is read with shift()');
    const h = this.header;
    const tail = h[TAIL];
    if (Atomics.load(h, H.head) === tail) return null;
    const slot = tail & (this.slots - 1);
    const m = slot * META_WORDS;
    const len = Math.min(this.meta[m + M.length], this.slotBytes);
    const at = slot * this.slotBytes;
    const out = {
      bytes: this.data.slice(at, at + len),
      address: this.meta[m + M.address],
      port: this.meta[m + M.port],
    };
    Atomics.store(h, TAIL, (tail + 1) | 0);
    return out;
  }

  /** Every datagram waiting now, in order. */
  drain(): RingDatagram[] {
    const out: RingDatagram[] = [];
    for (let d = this.shift(); d !== null; d = this.shift()) out.push(d);
    return out;
  }

  /** For RingChannel: the raw views (one thread consumes, one produces). */
  get words(): { header: Int32Array; meta: Int32Array } {
    return { header: this.header, meta: this.meta };
  }
}

/**
 * BatchedPort's calls over rings: `recv` drains the inbound ring into the port's slots, `send`
 * queues each listed frame with its destination on the outbound ring (or counts it into a sink),
 * `wait` sleeps until the producer pushes. Status codes as the addon's: a count, never a throw.
 * Allocates nothing per datagram: frames are copied word by word through Int32 views made once.
 */
export class RingChannel {
  readonly maxBatch = RING_MAX_BATCH;
  private readonly inbound: FrameRing;
  private readonly outbound: FrameRing | null;
  private readonly inHeader: Int32Array;
  private readonly inMeta: Int32Array;
  private readonly inWords: Int32Array;
  private readonly outHeader: Int32Array | null;
  private readonly outMeta: Int32Array | null;
  private readonly outWords: Int32Array | null;
  /** The port's data buffer as Int32 words, made on its first call (the port always passes the same one). */
  private portData: Uint8Array | null = null;
  private portWords: Int32Array = new Int32Array(0);
  /** Replay position and the fresh-source generator (xorshift32), private to this consumer. */
  private replayAt = 0;
  private rng = 0x9e3779b9;

  constructor(inbound: FrameRing, outbound: FrameRing | null) {
    if (inbound.kind === RingKind.sink) throw new FrameRingError('a sink ring cannot be received from');
    if (outbound !== null && outbound.kind === RingKind.replay)
      throw new FrameRingError('a replay ring cannot be sent into');
    if (inbound.slotBytes % 4 !== 0) throw new FrameRingError('ring slots must be word-aligned');
    this.inbound = inbound;
    this.outbound = outbound;
    this.inHeader = inbound.words.header;
    this.inMeta = inbound.words.meta;
    this.inWords = new Int32Array(
      inbound.data.buffer,
      inbound.data.byteOffset,
      inbound.data.byteLength >>> 2,
    );
    this.outHeader = outbound === null ? null : outbound.words.header;
    this.outMeta = outbound === null ? null : outbound.words.meta;
    this.outWords =
      outbound === null
        ? null
        : new Int32Array(outbound.data.buffer, outbound.data.byteOffset, outbound.data.byteLength >>> 2);
  }

  open(): number {
    return 0;
  }

  localPort(): number {
    return 0;
  }

  private wordsOf(data: Uint8Array): Int32Array {
    if (this.portData !== data) {
      this.portData = data;
      // Slots start at multiples of the slot size from an 8-aligned data start (Batch's layout).
      this.portWords = new Int32Array(data.buffer, data.byteOffset, data.byteLength >>> 2);
    }
    return this.portWords;
  }

  /** Up to `max` datagrams into slots `first ..` of `data`, metadata as the addon's RecvWord: count. */
  recv(data: Uint8Array, slotBytes: number, first: number, max: number, meta: Int32Array): number {
    if (max <= 0 || max > RING_MAX_BATCH || (data.byteOffset & 3) !== 0 || (slotBytes & 3) !== 0) return -22;
    const words = this.wordsOf(data);
    const h = this.inHeader;
    const ring = this.inbound;
    const replay = ring.kind === RingKind.replay;
    let n: number;
    let from: number;
    if (replay) {
      n = max;
      from = this.replayAt;
    } else {
      from = h[TAIL];
      n = Math.min(max, (Atomics.load(h, H.head) - from) >>> 0);
      if (n === 0) return 0;
    }
    const frames = replay ? h[H.replayFrames] : 0;
    const mask = ring.slots - 1;
    const inMeta = this.inMeta;
    const src = this.inWords;
    const stride = ring.slotBytes >>> 2;
    let at = from;
    for (let i = 0; i < n; i++) {
      const slot = replay ? at : at & mask;
      const im = slot * META_WORDS;
      const real = inMeta[im + M.length];
      const len = real < slotBytes ? real : slotBytes;
      const copy = len < ring.slotBytes ? len : ring.slotBytes;
      const s = slot * stride;
      const d = ((first + i) * slotBytes) >>> 2;
      const w = (copy + 3) >>> 2;
      for (let k = 0; k < w; k++) words[d + k] = src[s + k];
      const fresh = inMeta[im + M.fresh];
      if (fresh !== 0) this.renewSource(data, (first + i) * slotBytes + fresh);
      const om = i * RecvWord.words;
      meta[om + RecvWord.length] = real;
      meta[om + RecvWord.address] = inMeta[im + M.address];
      meta[om + RecvWord.port] = inMeta[im + M.port];
      meta[om + RecvWord.flags] = real > slotBytes || real > ring.slotBytes ? RecvFlag.truncated : 0;
      at = replay ? (at + 1 === frames ? 0 : at + 1) : at + 1;
    }
    if (replay) {
      this.replayAt = at;
      Atomics.store(h, TAIL, (h[TAIL] + n) | 0);
    } else {
      Atomics.store(h, TAIL, at | 0);
    }
    return n;
  }

  private renewSource(data: Uint8Array, at: number): void {
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    data[at] = x >>> 24;
    data[at + 1] = x >>> 16;
    data[at + 2] = x >>> 8;
    data[at + 3] = x;
  }

  /** `count` frames listed as the addon's SendWord: frames taken (the rest did not fit). */
  send(data: Uint8Array, list: Int32Array, count: number, _flags: number): number {
    const out = this.outbound;
    if (out === null) return count;
    const h = this.outHeader as Int32Array;
    if (out.kind === RingKind.sink) {
      let bytes = 0;
      for (let i = 0; i < count; i++) bytes += list[i * SendWord.words + SendWord.length];
      const lo = (h[H.bytesLo] >>> 0) + bytes;
      h[H.bytesLo] = lo | 0;
      if (lo > 0xffffffff) h[H.bytesHi] += 1;
      Atomics.store(h, TAIL, (h[TAIL] + count) | 0);
      return count;
    }
    if ((data.byteOffset & 3) !== 0) return -22;
    const words = this.wordsOf(data);
    const meta = this.outMeta as Int32Array;
    const dst = this.outWords as Int32Array;
    const stride = out.slotBytes >>> 2;
    const mask = out.slots - 1;
    let head = h[H.head];
    const room = out.slots - ((head - Atomics.load(h, TAIL)) >>> 0);
    const n = count < room ? count : room;
    for (let i = 0; i < n; i++) {
      const l = i * SendWord.words;
      const slot = head & mask;
      const len = list[l + SendWord.length];
      const off = list[l + SendWord.offset];
      const copy = len < out.slotBytes ? len : out.slotBytes;
      const d = slot * stride;
      if ((off & 3) === 0) {
        const s = off >>> 2;
        const w = (copy + 3) >>> 2;
        for (let k = 0; k < w; k++) dst[d + k] = words[s + k];
      } else {
        // Not word-aligned (never from BatchedPort, whose frames sit at aligned offsets).
        out.data.set(data.subarray(off, off + copy), slot * out.slotBytes);
      }
      const m = slot * META_WORDS;
      meta[m + M.length] = len;
      meta[m + M.address] = list[l + SendWord.address];
      meta[m + M.port] = list[l + SendWord.port];
      meta[m + M.fresh] = 0;
      head = (head + 1) | 0;
    }
    Atomics.store(h, H.head, head);
    if (n < count) Atomics.add(h, H.lost, count - n);
    return n;
  }

  /** Sleeps until the inbound queue has a datagram or `timeoutMs` passed: 1 | 0. */
  wait(timeoutMs: number): number {
    const h = this.inHeader;
    if (this.inbound.kind === RingKind.replay) return 1;
    const tail = h[TAIL];
    if (Atomics.load(h, H.head) !== tail) return 1;
    const r = Atomics.wait(h, H.head, tail, timeoutMs);
    return r === 'timed-out' ? 0 : 1;
  }

  /** Datagrams refused because the inbound queue was full (the ring's "receive buffer" drops). */
  drops(): number {
    return this.inbound.lost;
  }

  close(): void {}
}
