// PriorityWeights: every number the scorer uses, as configuration with documented defaults.
// Priorities run 0 (highest, never shed) .. 15 (lowest, shed first). A scored connection starts at
// `base`, SYN evidence adds penalties or subtracts credits, and later packets and idle time move it;
// the result is clamped to 1..15, because 0 is reserved for operator rules (a connection must never
// earn its way out of shedding).
//
// How the defaults separate the populations (see scorer.ts for the formula; docs/DEFENSE.md has
// the simulator and lab runs that chose them):
//   a browser's SYN from a new source:            8  → handshake 8 → data 6 → busy 3
//   the same client, its source having spoken:    6  → … → 1
//   a kernel that had to retransmit its SYN:       5 (even if its first SYN was refused: SynMemory)
//   hping3's bare SYN (no options, window 512):   12  → half-open after 3 s: 15
//   a spoofed SYN shaped like a kernel's:          8  → half-open after 3 s: 11 → idle: 15
//   the same with a blind ACK 50 ms later:         8  → silent after 1 s: 12
//   a bot's real handshake, then nothing:          8 (+3 once its source has 4 silent handshakes)
//                                                     → silent after 1 s: 12 (15)
// so under shedding every spoofed or silent entry goes before any client that sent data, and a
// new client's SYN outranks them all once they have been silent for a second.

import { DefenseError, DefenseErrorCode } from './errors.ts';

export interface PriorityWeights {
  /** Starting score of a connection not matched by a rule. 8: the middle, room both ways. */
  base: number;
  // --- the SYN's shape ---
  /** SYN with no TCP options at all. +3: every mainstream stack sends MSS at least; hping3, nping and most raw-socket flooders send none. */
  noOptions: number;
  /** Options present but not in a known kernel's layout (or no MSS). +1: odd stacks exist (embedded, middleboxes rewrite), so mild. */
  partialOptions: number;
  /** Known layout whose kernel uses another initial TTL (Linux layout, TTL from 128). +1: tools copy layouts, rarely TTLs; but proxies re-originate, so mild. */
  osMismatch: number;
  /** TTL not within `maxHops` below 64, 128 or 255. +1: randomised-TTL tools; real paths are short. */
  badTtl: number;
  /** Hops a real path may take. 30: internet paths are rarely over 25 hops. */
  maxHops: number;
  /** SYN window below `smallWindowBelow`. +1: hping3 uses 512; kernels offer 64 KiB or near. */
  smallWindow: number;
  smallWindowBelow: number;
  // --- the source's history (per-source table) ---
  /** Source's SYN rate at or above `highSynRateThreshold`/s. +3: a browser opens ~6 connections per page. */
  highSynRate: number;
  /** 20/s: several page loads a second; a NATed office stays under it, a flood does not. */
  highSynRateThreshold: number;
  /** Source already holds `manyConcurrentThreshold` connections. +2. */
  manyConcurrent: number;
  /** 64: far above one host's needs, low enough to catch one source hoarding slots (CGN users share IPv4 addresses, so not lower). */
  manyConcurrentThreshold: number;
  /** Source has opened `neverCompletedAfter` connections and completed none. +3: spoofed or scanning. */
  neverCompleted: number;
  /** 4: a real client's first connection completes within an RTT. */
  neverCompletedAfter: number;
  /**
   * Credit when the source's earlier connections carried data. 2 (subtracted): a handshake alone
   * earns nothing here, because a blind-ACK spoofer fakes one and a slot-holding bot completes
   * them by the thousand; an attacker must send payload from that real address to earn it.
   */
  spokeBefore: number;
  /** Source completed `silentSourceAfter` handshakes and sent data on none. +3: slot holders. */
  silentSource: number;
  /** 4: a client of a client-speaks-first service has spoken by its second connection. */
  silentSourceAfter: number;
  // --- retransmitted SYN ---
  /** Credit for a retransmitted SYN of the same flow. 3 (subtracted): a real stack retries after about 1 s; flood tools do not retry. */
  retransmit: number;
  /** The retransmission must come this long after the first SYN. 700 ms: Linux/macOS retry at 1 s, Windows at 1 s or 3 s; a tool resending at once does not qualify. */
  retransmitMinGapMs: number;
  // --- later packets ---
  /**
   * Credit for the handshake-completing ACK. 0: under direct routing it is faked blind for free
   * (the seed's point). What the handshake is worth shows elsewhere: it ends the half-open
   * penalty, and the data that follows it earns `data`.
   */
  handshake: number;
  /** Credit once the client sent payload. 2 (subtracted): a faker must also send data. */
  data: number;
  /** Packets that earn nothing by count. 3: SYN, ACK and the first request are all a faker needs to send. */
  packetsFree: number;
  /** One point of credit per this many packets beyond `packetsFree`. 8. */
  packetsPerStep: number;
  /** Most credit the packet count can earn. 3: volume alone must not buy immunity. */
  packetBonusMax: number;
  // --- time (applied by the re-scorer; a packet resets idle time) ---
  /** Penalty for an entry without a completed handshake idle for `halfOpenGraceMs`. +3: spoofed SYNs never complete. */
  halfOpen: number;
  /** 3000 ms: three times a slow RTT plus the first SYN retransmission. */
  halfOpenGraceMs: number;
  /**
   * Penalty for a connection that completed its handshake but sent no payload for
   * `silentGraceMs`. +4: an HTTP or TLS client sends its request with or right after the
   * handshake's ACK; a bot that completes handshakes to hold slots, or a blind SYN-then-ACK
   * spoofer, sends nothing. +4 puts such an entry (8 → 12) below a new client's SYN (8), so new
   * clients displace it and shedding takes it before any client that spoke. Set it to 0 for a
   * server-speaks-first service (SMTP, FTP, IMAP) whose server delays its greeting, where a
   * silent client is normal.
   */
  silent: number;
  /** 1000 ms: several round trips; a client-speaks-first client's request follows the ACK at once. */
  silentGraceMs: number;
  /** Idle penalty per second since the last packet. 0.1: one point per 10 s. */
  idlePenaltyPerSecond: number;
  /** Most the idle penalty can add. 6: a long-idle keep-alive sinks below active clients but stays above nothing. */
  idlePenaltyMax: number;
  // --- per-source aggregates (re-scorer) ---
  /** An entry counts as idle for the aggregate after this long. 30000 ms. */
  hogIdleMs: number;
  /** A source holding this many idle entries is hoarding. 16. */
  hogIdleConnections: number;
  /** Penalty on each idle entry of a hoarding source. +2: slot-holding attacks (Slowloris-style) sink first. */
  hogPenalty: number;
}

export const DEFENSE_WEIGHTS: Readonly<PriorityWeights> = Object.freeze({
  base: 8,
  noOptions: 3,
  partialOptions: 1,
  osMismatch: 1,
  badTtl: 1,
  maxHops: 30,
  smallWindow: 1,
  smallWindowBelow: 1024,
  highSynRate: 3,
  highSynRateThreshold: 20,
  manyConcurrent: 2,
  manyConcurrentThreshold: 64,
  neverCompleted: 3,
  neverCompletedAfter: 4,
  spokeBefore: 2,
  silentSource: 3,
  silentSourceAfter: 4,
  retransmit: 3,
  retransmitMinGapMs: 700,
  handshake: 0,
  data: 2,
  packetsFree: 3,
  packetsPerStep: 8,
  packetBonusMax: 3,
  halfOpen: 3,
  halfOpenGraceMs: 3000,
  silent: 4,
  silentGraceMs: 1000,
  idlePenaltyPerSecond: 0.1,
  idlePenaltyMax: 6,
  hogIdleMs: 30_000,
  hogIdleConnections: 16,
  hogPenalty: 2,
});

/** Fields that may be fractional; every other weight is a non-negative integer. */
const FRACTIONAL: ReadonlySet<string> = new Set(['idlePenaltyPerSecond', 'highSynRateThreshold']);
/** Fields that must be at least 1 (divisors and thresholds that would otherwise always fire). */
const POSITIVE: ReadonlySet<string> = new Set([
  'packetsPerStep',
  'maxHops',
  'neverCompletedAfter',
  'hogIdleConnections',
  'silentSourceAfter',
]);

/**
 * Defaults overlaid with `overrides`, validated. Throws DefenseError SLUICE_ERR_DEFENSE_WEIGHTS
 * naming the field for an unknown name or a value that is negative, not finite, fractional where
 * an integer is needed, or too large to mean anything.
 */
export function resolveWeights(overrides: Partial<PriorityWeights> = {}): PriorityWeights {
  if (overrides === null || typeof overrides !== 'object') {
    throw new DefenseError(DefenseErrorCode.weights, 'weights must be an object');
  }
  const out: PriorityWeights = { ...DEFENSE_WEIGHTS };
  for (const [k, v] of Object.entries(overrides)) {
    if (!Object.hasOwn(DEFENSE_WEIGHTS, k)) {
      throw new DefenseError(DefenseErrorCode.weights, `unknown weight ${JSON.stringify(k)}`, -1, k);
    }
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1e9) {
      throw new DefenseError(DefenseErrorCode.weights, `${k} must be a finite number from 0 to 1e9`, -1, k);
    }
    if (!FRACTIONAL.has(k) && !Number.isInteger(v)) {
      throw new DefenseError(DefenseErrorCode.weights, `${k} must be an integer`, -1, k);
    }
    if (POSITIVE.has(k) && v < 1) {
      throw new DefenseError(DefenseErrorCode.weights, `${k} must be at least 1`, -1, k);
    }
    (out as unknown as Record<string, number>)[k] = v;
  }
  if (out.base < 1 || out.base > 15) {
    throw new DefenseError(DefenseErrorCode.weights, 'base must be from 1 to 15', -1, 'base');
  }
  return out;
}
