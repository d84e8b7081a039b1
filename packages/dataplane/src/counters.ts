// CounterBlock: the shared block of counters every worker writes and the metrics package reads
// at scrape time. Each worker owns one region (a Float64Array slice, exact up to 2^53), so
// counting is a plain `+= 1` with no atomics and no cache line shared between cores; a reader
// sums the regions. A worker that dies leaves its region behind and its replacement keeps
// counting there, so totals never go backwards.
//
// Region layout (float64 indices), computed once from the limits; the only place it is written:
//   verdicts | drop reasons | removals by reason | batch latency histogram | defense | per service
//   | per real | QUIC routing per service
import { DROP_REASON_COUNT } from './verdict.ts';

export const VERDICT_COUNT = 4;
export const REMOVE_REASON_COUNT = 8;
/** Upper bounds of the batch latency histogram, in seconds (Prometheus `le`). */
export const BATCH_LATENCY_BUCKETS: readonly number[] = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
];
const HISTO_WORDS = BATCH_LATENCY_BUCKETS.length + 3; // buckets, +Inf, sum, count

/** The defense's counters: RSTs sent, and connections reset by priority (0..15) and reason. */
export const Defense = {
  rstSent: 0,
  shedByPriority: 1,
  displacedByPriority: 17,
  dropEntryByPriority: 33,
  /** SYNs answered with a challenge instead of being forwarded (their source unverified, under pressure) */
  challengesSent: 49,
  /** probes sent to the source of an unverified connection's packet (a SYN-ACK to another port) */
  probesSent: 50,
  /** RSTs that carried a valid cookie: a source verified */
  sourcesVerified: 51,
  /** RSTs for no connection whose sequence number was no valid cookie (a guess, or a late RST) */
  answersWrong: 52,
  /** client segments outside the tracked sequence window: forwarded, but they move no state */
  outOfWindow: 53,
  /** verified sources' connections that ended their provisional time unanswered: the source's verification ended */
  reconfirmFailed: 54,
  /**
   * half-open entries the shedder or a displacing SYN released from their real server's
   * count instead of resetting (a server with syncookies holds nothing for them; a real client's
   * ACK holds the slot again)
   */
  halfOpenReleased: 55,
  /**
   * SYNs in good standing (shedFloor or better) forwarded to a full service because nothing they
   * outrank could give up a slot (Pipeline.displace)
   */
  admittedOverCapacity: 56,
  /**
   * connections shed or displaced that had been answered and asked nothing since (ConnFlag
   * progress, not awaiting, nothing forged, not closed): idle keep-alive connections closed at
   * capacity (weights.servedIdle), which cost their clients a new connection, not a request
   */
  keepAliveClosed: 57,
  words: 58,
} as const;

/** Per-service and per-real counters. */
export const Per = { packets: 0, bytes: 1, connections: 2, words: 4 } as const;

/** Per QUIC service: how its datagrams were routed (quic-route.ts). */
export const Quic = {
  /** long headers (Initial, 0-RTT, Handshake, ...): the 5-tuple entry or the scheduler */
  longHeader: 0,
  /** short headers sent to the real server their connection ID's server ID names */
  cidRouted: 1,
  /** short headers whose server ID no real server of the service owns: 5-tuple entry or scheduler */
  unknownServerId: 2,
  /** short headers too short for the configured CID, or (QUIC-LB) of another config rotation
   * codepoint, 0b111 included: 5-tuple entry or scheduler */
  unroutable: 3,
  /** CID-routed datagrams whose 5-tuple had no entry: a new path (NAT rebinding, migration),
   * recorded as an entry on the named real server */
  newPath: 4,
  /** CID-routed datagrams whose 5-tuple entry named another real server: the entry follows the CID */
  repointed: 5,
  words: 8,
} as const;

export interface CounterLimits {
  maxWorkers: number;
  maxServices: number;
  maxReals: number;
}

export class CounterLayout {
  readonly verdicts = 0;
  readonly drops = VERDICT_COUNT;
  readonly removals = VERDICT_COUNT + DROP_REASON_COUNT;
  readonly histogram = VERDICT_COUNT + DROP_REASON_COUNT + REMOVE_REASON_COUNT;
  readonly defense = VERDICT_COUNT + DROP_REASON_COUNT + REMOVE_REASON_COUNT + HISTO_WORDS;
  readonly services: number;
  readonly reals: number;
  readonly quic: number;
  readonly regionWords: number;
  readonly maxWorkers: number;
  readonly maxServices: number;
  readonly maxReals: number;

  constructor(limits: CounterLimits) {
    this.maxWorkers = limits.maxWorkers;
    this.maxServices = limits.maxServices;
    this.maxReals = limits.maxReals;
    this.services = this.defense + Defense.words;
    this.reals = this.services + limits.maxServices * Per.words;
    this.quic = this.reals + limits.maxReals * Per.words;
    // Round each region to 8 doubles (a cache line) so two workers never share one.
    this.regionWords = Math.ceil((this.quic + limits.maxServices * Quic.words) / 8) * 8;
  }
}

const HEADER_WORDS = 8; // [maxWorkers, maxServices, maxReals, ...] as float64

export class CounterBlock {
  readonly sab: SharedArrayBuffer;
  readonly layout: CounterLayout;
  readonly all: Float64Array;

  static create(limits: CounterLimits): CounterBlock {
    const layout = new CounterLayout(limits);
    const sab = new SharedArrayBuffer((HEADER_WORDS + layout.regionWords * limits.maxWorkers) * 8);
    const f = new Float64Array(sab);
    f[0] = limits.maxWorkers;
    f[1] = limits.maxServices;
    f[2] = limits.maxReals;
    return new CounterBlock(sab);
  }

  static attach(sab: SharedArrayBuffer): CounterBlock {
    return new CounterBlock(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    const f = new Float64Array(sab);
    this.sab = sab;
    this.all = f;
    this.layout = new CounterLayout({ maxWorkers: f[0], maxServices: f[1], maxReals: f[2] });
  }

  /** The region worker `w` writes: index it with the layout's offsets. */
  region(w: number): Float64Array {
    if (!(w >= 0 && w < this.layout.maxWorkers)) throw new RangeError(`worker slot ${w} out of range`);
    const start = HEADER_WORDS + w * this.layout.regionWords;
    return this.all.subarray(start, start + this.layout.regionWords);
  }

  /** Sum of one counter over every worker region (for scrapes and tests). */
  sum(index: number): number {
    const { regionWords, maxWorkers } = this.layout;
    let s = 0;
    for (let w = 0; w < maxWorkers; w++) s += this.all[HEADER_WORDS + w * regionWords + index];
    return s;
  }
}

/** Records one batch's processing time into a region's histogram (once per batch, not per packet). */
export function observeBatchSeconds(region: Float64Array, layout: CounterLayout, seconds: number): void {
  const base = layout.histogram;
  const n = BATCH_LATENCY_BUCKETS.length;
  let i = 0;
  while (i < n && seconds > BATCH_LATENCY_BUCKETS[i]) i++;
  region[base + i] += 1; // non-cumulative here; the reader accumulates into `le` buckets
  region[base + n + 1] += seconds;
  region[base + n + 2] += 1;
}
