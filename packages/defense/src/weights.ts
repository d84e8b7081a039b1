// PriorityWeights: every number the priority function uses, as configuration with documented
// defaults. Priorities run 0 (highest, never shed) .. 15 (lowest, shed first).
//
// The principle: evidence counts only where a spoofer cannot produce it blind, or where an
// attacker with a real address pays for it. Under direct routing the director sees the client's
// packets only, and everything in them (options, TTL, retransmissions, a handshake ACK, payload,
// acknowledgement numbers) can be sent blind, except an answer to something the director sent
// itself. So priorities come in two bands:
//   verified    1..7   the source answered the director's challenge (it receives packets at its
//                      address); its connections start at `verifiedBase` and move with what a
//                      real-address attacker must pay for: server progress, time, its share
//   unverified  8..14  everything else, ordered among themselves by the SYN's shape (a flood
//                      tool's bare SYN sinks below a kernel's), never above any verified one
//   15                 closed or reset by the client
// so every verified connection outranks every unverified one, and nothing a spoofer sends can move
// an entry across the line. How the defaults place the populations (adjust.ts has the formula):
//   a verified client, new:                   4 → receiving its response 2
//   a verified client idle 1 s after it:      4 + 1 = 5 (an idle keep-alive connection), → 7 at 4 s
//   a verified slow-header client:            4 → stalled (talked, server silent 5 s, or it added
//                                             to its unanswered head after 1 s) 7
//   a verified slow reader:                   4 → its window shut 1 s (stalled) 7
//   a verified silent holder (handshake only): 4 → silent after 1 s 7
//   a verified half-open entry:               4 → past halfOpenHoldMs (1 s) 7
//   an unverified kernel-shaped SYN:          8 (→ half-open past 3 s: 11)
//   hping3's bare SYN:                        8 + 3 + 1 = 12 (→ 15 with half-open)
// A new verified SYN (4) displaces any stalled, silent or long-idle verified entry (≥ 5) and any
// unverified one; it never displaces a verified client that is being served (2..4).

import { DefenseError, DefenseErrorCode } from './errors.ts';

export interface PriorityWeights {
  // --- bands ---
  /** Priority of a verified source's new connection. 4: room below for progress, above for sinking. */
  verifiedBase: number;
  /** Lowest priority number (best) of the unverified band, which runs to 14. 8. */
  unverifiedBase: number;
  // --- the SYN's shape: orders unverified entries among themselves only ---
  /** SYN with no TCP options at all. +3: every mainstream stack sends MSS at least; hping3, nping and most raw-socket flooders send none. */
  noOptions: number;
  /** Options present but not in a known kernel's layout (or no MSS). +1: odd stacks exist, so mild. */
  partialOptions: number;
  /** Known layout whose kernel uses another initial TTL. +1: proxies re-originate, so mild. */
  osMismatch: number;
  /** TTL not within `maxHops` below 64, 128 or 255. +1: randomised-TTL tools. */
  badTtl: number;
  /** Hops a real path may take. 30. */
  maxHops: number;
  /** SYN window below `smallWindowBelow`. +1: hping3 uses 512; kernels offer 64 KiB or near. */
  smallWindow: number;
  smallWindowBelow: number;
  /** Unverified source's SYN rate at or above `highSynRateThreshold`/s. +2 (unverified band only: a spoofer could push a verified client's rate up). */
  highSynRate: number;
  /** 20/s: several page loads a second. */
  highSynRateThreshold: number;
  // --- per-source fairness (both bands) ---
  /**
   * Penalty on every connection of a source holding more than its share, while a service is under
   * pressure: the capacity of the real servers divided among the sources holding connections,
   * never below `fairShareFloor`. +3: a connection being served (2) then ranks below a new client
   * (4), so under a full cluster a source hoarding slots loses them first to those with none.
   */
  hogPenalty: number;
  /**
   * The smallest share. 2: a botnet of N addresses holds at most 2N slots before it sinks (with 8,
   * 50 addresses could hold a 400-slot cluster at full standing); a browser with six connections to
   * a full cluster keeps them, only ranked below clients that hold fewer (the cost falls on a NAT
   * or an office behind one address when, and only when, the cluster is full).
   */
  fairShareFloor: number;
  /**
   * Penalty on a new connection from a source one of whose connections misbehaved in the last
   * `misbehavedMemoryMs` (stalled, silent after its handshake, forged acknowledgements). +3: a
   * slow-header bot's next connection (4 + 3) cannot displace its own stalled ones (7), while a
   * client with a clean record (4) can: a real address pays for what it did with it.
   */
  misbehaved: number;
  /** 10000 ms: a few re-scorer passes; a source that stops misbehaving is forgiven this long after. */
  misbehavedMemoryMs: number;
  // --- server progress (the client's acknowledgement numbers) ---
  /** Credit once the client acknowledged data from the server: it is being served. 2. */
  progress: number;
  /**
   * The credit lapses while the client's payload has waited this long for an answer: a request
   * the server is still working on keeps it, a next request trickled out and never finished does
   * not. 1000 ms.
   */
  progressHoldMs: number;
  /**
   * Points on an answered connection with no request waiting, idle `servedIdleMs`, instead of its
   * progress credit: an idle keep-alive connection ranks below a new client (verifiedBase + 1), so
   * at a full real server the shedder and a new client's SYN may take its slot. Its client has had
   * what it asked for, and a browser opens a new connection (or retries an idempotent request) when
   * its idle one was closed: what Apache's event MPM and nginx do themselves when they run out of
   * connections (closing keep-alive connections before their timeout). Under a real-address botnet
   * that holds the cluster with slow keep-alive connections, their idle seconds after each response
   * no longer count as being served, and the valid clients' idle connections stop holding workers
   * the queued requests wait for. +1.
   */
  servedIdle: number;
  /**
   * How long an answered connection with no request waiting may idle before `servedIdle` applies.
   * 1000 ms (set on simulator seed 1: spread at 4000 connections 0.745 → 0.875 at 1000 ms, 0.720
   * at 2000, and 0.891 at 500, which reset more valid clients' connections, 44% against 39%;
   * slow-read at 4000 0.956 → 0.994). Above the quiet time of any push stream the service carries
   * (an idle WebSocket ranks the same). 0: off (served connections sink only with the idle penalty).
   */
  servedIdleMs: number;
  /** Penalty when the client's acknowledgement went backward: the progress it showed was forged. +3. */
  ackForged: number;
  /**
   * Penalty when the client sent payload and the server has sent nothing since, for
   * `stallGraceMs`: a request head that never ends (slow-header and slow-body attacks); and at
   * once when the client adds bytes to a request that has already waited `progressHoldMs`
   * unanswered (ConnBit.holdsUp): a head trickled out byte by byte, each just inside the idle
   * step, where a client whose request waits for a busy server sends nothing more. A receive
   * window shut (zero) is the same wait turned round: the server has bytes the client will not
   * take (slow read); its acknowledgements then earn no progress, and a window still shut after
   * `progressHoldMs` stalls at once. +3. The cost falls on uploads that stream a body without a
   * 100-continue and on clients that stop reading a download: under pressure they rank with
   * stalled heads (still above every unverified entry).
   */
  stall: number;
  /** 5000 ms: a server answers a complete request in well under that; an upload this long without a 100-continue sinks too, but stays above every unverified entry. */
  stallGraceMs: number;
  // --- time (the re-scorer applies them; a packet resets idle time) ---
  /** Penalty for an entry without a completed handshake `halfOpenGraceMs` after its SYN (a verified one's: `halfOpenHoldMs`, when shorter; adjust.ts halfOpenGraceMs). +3. */
  halfOpen: number;
  /** 3000 ms: three times a slow RTT plus the first SYN retransmission. */
  halfOpenGraceMs: number;
  /**
   * Penalty for a connection that completed its handshake but sent no payload `silentGraceMs`
   * after its SYN: a slot holder. +3. Set it to 0 for a server-speaks-first service (SMTP, FTP,
   * IMAP), whose clients wait in silence for the greeting.
   */
  silent: number;
  /** 1000 ms: an HTTP or TLS client sends its request with or right after the handshake's ACK. */
  silentGraceMs: number;
  /**
   * Idle penalty per second since the last packet. 0.5: a point per 2 s, so a connection held
   * idle after its response (2) reaches 5 after 6 s and a new verified client (4) may take its
   * slot; a web server's own keep-alive timeout (Apache's 5 s) has closed it by then anyway.
   */
  idlePenaltyPerSecond: number;
  /** Most the idle penalty can add. 3. */
  idlePenaltyMax: number;
  /**
   * The shedder never resets a connection at this priority or better: at the high watermark it
   * takes the worst entries, but a verified client that is new or being served (4 or better) is
   * no one's to take: freeing its slot would only hand it to the next attacker's SYN. 4.
   */
  shedFloor: number;
  /**
   * The real servers' keep-alive timeout, when the operator knows it (Apache's KeepAliveTimeout
   * is 5 s, nginx's keepalive_timeout 75 s). A connection idle this long after the server's last
   * response has been closed by the server: it no longer holds a slot, and ranks as closed. 0:
   * unknown (off); such idle connections only sink with `idlePenalty*`.
   */
  serverKeepAliveMs: number;
  // --- capacity ---
  /**
   * A half-open entry stops holding a slot (RealServerCounters.held) this long after its SYN: a
   * real server keeps no worker for it, and with syncookies nothing for a spoofed SYN. 1000 ms: the
   * client's ACK follows the server's SYN-ACK within one round trip. (A verified source's entry,
   * provisional at first, holds only once its handshake completes: reconfirm.ts.)
   */
  halfOpenHoldMs: number;
  /**
   * A verified source's new entry starts provisional: not held until this long after its SYN. A
   * spoofer using a verified client's address opens entries the address's owner resets within a
   * round trip (a host that answered the challenge's unexpected SYN-ACK answers the server's too);
   * counted at once, they fill the watermarks with connections no server holds. Not ended by the
   * server's progress: a blind spoofer forges that. 500 ms: a round trip to nearly anywhere, with
   * margin; what it costs is that much under-counting of real connections. Held at its end only
   * with its handshake complete (a half-open one from its ACK on: reconfirm.ts
   * HOLDS_AFTER_PROVISIONAL). 0: counted at once.
   */
  provisionalMs: number;
  /**
   * The longest a provisional time may last for a source farther away than provisionalMs: one
   * whose probe's answer took a round trip r lasts 1.5 r (reconfirm.ts provisionalFor), so a
   * spoofer using the address of a client 400-700 ms away (a satellite link) has its entries reset
   * by their owner before they count. What it costs is the far client's own connections uncounted
   * that long, and a real-address bot can look far (it holds its answers to probes) to stretch
   * its own to this: 1000 ms (round trips to 667 ms with half a trip of margin, to 1 s without;
   * set on simulator seed 1: bots that hold probe answers 1 s in `spread` at 1000 connections
   * served 0.941 at 800 ms, 0.919 at 1000, 0.875 at 1500, against 0.981 with no delay; spoofers
   * of owners 400-700 ms away 1.000 at 800 and above).
   */
  provisionalMaxMs: number;
  /**
   * A verified source whose last answer is older than this when it opens a connection is probed
   * again (in the background: the SYN goes on at once, at most one probe per source this often),
   * and the connection ends its provisional time in the verified band only if the source answered
   * since (reconfirm.ts); asked and silent, it drops to the unverified band and the address is
   * verified no more. So an address whose owner has gone offline lends a spoofer its verification
   * for this long at most. 200 ms (set on simulator seed 1 against spoof-gone: 1000 ms left
   * 0.83-0.89 there). A network that drops packets to closed ports (a "stealth" NAT) does not
   * answer probes: its clients' connections leave the verified band after provisionalMs, and
   * their next SYN is challenged on its own port, which they do answer.
   */
  reconfirmAfterMs: number;
}

export const DEFENSE_WEIGHTS: Readonly<PriorityWeights> = Object.freeze({
  verifiedBase: 4,
  unverifiedBase: 8,
  noOptions: 3,
  partialOptions: 1,
  osMismatch: 1,
  badTtl: 1,
  maxHops: 30,
  smallWindow: 1,
  smallWindowBelow: 1024,
  highSynRate: 2,
  highSynRateThreshold: 20,
  hogPenalty: 3,
  fairShareFloor: 2,
  misbehaved: 3,
  misbehavedMemoryMs: 10_000,
  progress: 2,
  progressHoldMs: 1000,
  servedIdle: 1,
  servedIdleMs: 1000,
  ackForged: 3,
  stall: 3,
  stallGraceMs: 5000,
  halfOpen: 3,
  halfOpenGraceMs: 3000,
  silent: 3,
  silentGraceMs: 1000,
  idlePenaltyPerSecond: 0.5,
  idlePenaltyMax: 3,
  shedFloor: 4,
  serverKeepAliveMs: 0,
  halfOpenHoldMs: 1000,
  provisionalMs: 500,
  provisionalMaxMs: 1000,
  reconfirmAfterMs: 200,
});

/** Fields that may be fractional; every other weight is a non-negative integer. */
const FRACTIONAL: ReadonlySet<string> = new Set(['idlePenaltyPerSecond', 'highSynRateThreshold']);
/** Fields that must be at least 1 (divisors and thresholds that would otherwise always fire). */
const POSITIVE: ReadonlySet<string> = new Set(['maxHops', 'fairShareFloor', 'verifiedBase']);

/**
 * Defaults overlaid with `overrides`, validated. Throws DefenseError SLUICE_ERR_DEFENSE_WEIGHTS
 * naming the field for an unknown name or a value that is negative, not finite, fractional where
 * an integer is needed, or too large to mean anything; and when the bands would overlap.
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
  if (out.verifiedBase >= out.unverifiedBase) {
    throw new DefenseError(
      DefenseErrorCode.weights,
      'verifiedBase must be below unverifiedBase (every verified connection outranks every unverified one)',
      -1,
      'verifiedBase',
    );
  }
  if (out.unverifiedBase > PRIORITY_UNVERIFIED_WORST) {
    throw new DefenseError(
      DefenseErrorCode.weights,
      'unverifiedBase must be from 2 to 14',
      -1,
      'unverifiedBase',
    );
  }
  return out;
}

/** The worst priority an open connection can have; 15 is for closed ones. */
export const PRIORITY_UNVERIFIED_WORST = 14;
