// SynMemory: remembers SYNs the director refused for capacity, so that the client's
// retransmission of the same SYN is recognised and credited (weights.retransmit) even though no
// connection entry survived the first attempt. Without it the retransmission credit only reaches
// connections whose first SYN got an entry, and under a flood the first SYN of a valid client is
// exactly the one that was refused: its second try would look as new as the flood's.
//
// A retransmitted SYN carries the same addresses, ports and initial sequence number, and a kernel
// sends it about a second later (Linux, macOS and Windows start their SYN timer at 1 s). A flood
// tool that does not retransmit never matches; one that does pays a second packet per attempt
// and earns no more than a real client's retry.
//
// Layout: a direct-mapped table in a SharedArrayBuffer, two Int32 words per entry: a fingerprint
// of (client address, client port, service, ISN), never 0, and the clock (ms) of the refusal. A
// newer refusal overwrites whatever shares its entry: under a flood the table forgets old
// refusals first, and the size decides for how long a refusal is kept (entries / refusals per
// second, see `defense.synMemoryEntries`). Workers write without locks: two words written apart
// can pair one SYN's fingerprint with another's clock, which at worst misdates one credit; the
// clock check bounds even that. Nothing allocates, nothing throws.

import { elapsed, fmix32, hash5 } from '@sluice/conntrack';
import { DefenseError, DefenseErrorCode } from './errors.ts';

const HEADER_WORDS = 4;
const MAGIC = 0x53594e4d; // "SYNM"
const SEED = 0x2f6b1e4d;
/** Longest gap still taken for a retransmission: Linux's third try comes 7 s after the first. */
const MAX_GAP_MS = 15_000;

export class SynMemory {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  /** Entries (a power of two). */
  readonly entries: number;
  private readonly mask: number;
  /** Set by `seen`: ms since the remembered refusal (valid when `seen` returned 1). */
  lastGapMs = 0;
  /** The fingerprint entryOf computed last. */
  private fp = 0;

  static byteLength(entries: number): number {
    return (HEADER_WORDS + entries * 2) * 4;
  }

  /** `entries` is rounded up to a power of two, from 1024 to 2^26. */
  static create(entries: number): SynMemory {
    if (!Number.isInteger(entries) || entries < 1 || entries > 1 << 26) {
      throw new DefenseError(
        DefenseErrorCode.layout,
        'SYN memory entries must be an integer from 1 to 67108864',
        -1,
        'synMemoryEntries',
      );
    }
    let n = 1024;
    while (n < entries) n *= 2;
    const sab = new SharedArrayBuffer(SynMemory.byteLength(n));
    const i32 = new Int32Array(sab);
    i32[0] = MAGIC;
    i32[1] = n;
    return new SynMemory(sab);
  }

  static attach(sab: SharedArrayBuffer): SynMemory {
    return new SynMemory(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    const i32 = new Int32Array(sab);
    if (i32[0] !== MAGIC || sab.byteLength < SynMemory.byteLength(i32[1])) {
      throw new DefenseError(DefenseErrorCode.layout, 'buffer does not hold a SYN memory');
    }
    this.sab = sab;
    this.i32 = i32;
    this.entries = i32[1];
    this.mask = this.entries - 1;
  }

  /** Remembers a refused SYN at `now`. `portService` is (client port << 16) | service index. */
  remember(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    portService: number,
    isn: number,
    now: number,
  ): void {
    const e = this.entryOf(a0, a1, a2, a3, portService, isn);
    this.i32[e] = this.fp;
    this.i32[e + 1] = now | 0;
  }

  /**
   * 1 when this SYN was refused between `minGapMs` and 15 s ago (a retransmission), else 0.
   * Sets lastGapMs. A matched entry is cleared, so one refusal earns one credit.
   */
  seen(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    portService: number,
    isn: number,
    minGapMs: number,
    now: number,
  ): number {
    const e = this.entryOf(a0, a1, a2, a3, portService, isn);
    const i32 = this.i32;
    if (i32[e] !== this.fp) return 0;
    const gap = elapsed(i32[e + 1], now);
    if (gap < minGapMs || gap > MAX_GAP_MS) return 0;
    i32[e] = 0;
    this.lastGapMs = gap;
    return 1;
  }

  /** The entry's word index for this SYN; its check word goes to `fp`. */
  private entryOf(a0: number, a1: number, a2: number, a3: number, portService: number, isn: number): number {
    const h = hash5(a0 ^ isn, a1, a2, a3, portService, SEED);
    this.fp = fingerprint(h);
    return HEADER_WORDS + (h & this.mask) * 2;
  }
}

/** The entry's check word: a second mix of the hash (its low bits chose the entry), never 0. */
function fingerprint(h: number): number {
  const f = fmix32(h ^ 0x7f4a7c15);
  return f === 0 ? 1 : f;
}
