// The simulation: clients, attackers and real servers around the real director (director.ts), on
// a simulated millisecond clock, and the metrics that say whether valid clients noticed the attack.
//
// Time: integer milliseconds. Each simulated millisecond, the frames due in it reach the director
// in a random (seeded) order, in batches of `batchFrames` as a port would hand them over; after
// each batch the director does a worker's post-batch work, after each millisecond its defense loop.
// A frame the director forwards reaches its real server in the same millisecond (a LAN); what a
// server sends reaches the client half an RTT later (direct return: the director never sees it,
// as in LVS-DR); what the director sends back (a challenge, a probe) too.
//
// Hosts: every address of a valid client, a partner or a bot is a host with a TCP stack. Like any
// kernel it answers a SYN-ACK it did not expect, or one with a wrong acknowledgement number while
// it waits in SYN-SENT, with an RST carrying that number (RFC 9293 §3.10.7.3): that is how a real
// client answers the director's challenge and probes, and how the owner of a spoofed address kills
// a connection a spoofer opened in its name at a server. `linux` stacks send their SYN again 10 ms
// after answering a challenge (measured on Linux 6.18 with a raw-socket responder); `rto`
// stacks only at their next retransmission timeout (1 s, 3 s after the first SYN). A `firewalled`
// host drops both (a stateful firewall that discards invalid and unsolicited segments). A `stealth`
// host sits behind a NAT or firewall that passes only what belongs to a connection it opened: it
// answers the challenge to its own SYN (same ports, in SYN-SENT), and drops the director's probes
// (another port) and servers' SYN-ACKs for connections a spoofer opened in its name.
//
// Populations (owner codes in servers.ts):
//   valid    ~20 new connections/s from a pool of mostly first-time addresses: SYN (retransmitted
//            at 1 s and 3 s), the handshake ACK and an HTTP request, the response acknowledged
//            (the server's progress), a think time, FIN. Success: the response within 4 s.
//   partner  the same from a subnet with a priority-0 rule (which verifies, by default).
//   flood    syn-flood: bare SYNs (no options, as hping3) from random spoofed sources.
//   spoof    a blind spoofer that knows the scoring: a SYN shaped like Linux's, retransmitted like a
//            kernel (1 s, 3 s), a blind ACK and a blind request 50 ms later, and blind ACK
//            "progress" (acknowledgement numbers advancing) after. Its sources: random addresses
//            (spoof-kernel), a priority-0 rule's subnet (spoof-partner), valid clients' addresses
//            the attacker saw (spoof-verified), or random addresses a share of which are live hosts
//            that answer (spoof-responders). spoof-walk: valid clients' addresses again, by an
//            attacker who read the code: 1 ms after the SYN a blind ACK, a blind "progress" ACK and
//            three blind segments each starting just inside the director's sequence window, walking
//            the tracked sequence number 3 MiB ahead, so the address owner's reset of the server's
//            SYN-ACK (which carries the SYN's sequence number + 1) falls outside it. spoof-gone:
//            3000 addresses that answered the director (verified) in the half second before the
//            attack and went offline when it began, so nobody answers for them any more.
//            spoof-guess: half the packets are RSTs guessing the challenge's cookie (15 bits, two
//            time slots: right once in 2^14) for 64 random addresses at random ports; the other
//            half, the spoofed connections above from those addresses, in case one got verified
//            (the attacker never learns which).
//   bot      real addresses (they answer challenges): slow-header (a request head that never ends,
//            one more line every 5 s), slow-forged (the same, every segment acknowledging data the
//            server never sent), idle-hold (a request, then the connection held in silence),
//            trickle-after (a request, then a byte every 1.9 s: a next request that never ends,
//            each byte just inside the idle penalty's step), keepalive-poke (a new complete request
//            every 4 s, just inside the server's keep-alive: it pays with real requests), spread
//            (trickle-after from many /24s, each address at the fair share's floor), slow-read
//            (spread's addresses; a request for a large response, read a segment every 1.9 s
//            through a full receive buffer: zero windows, an acknowledgement number creeping
//            forward, the server's worker blocked in its write, as slowhttptest -X makes it;
//            `--param slowReadOpenWindow=1`: a raw-socket reader that advertises an open window and
//            acknowledges a segment every 1.9 s instead; `=2`: a kernel reader taking a segment
//            every 0.6 s, its window reopening each time); `--param churnMs=N` makes slow-header's
//            and slow-forged's bots spread's addresses that send a first header line, wait N ms in
//            silence, close and open the next at once (each head dropped just under the idle step
//            or the stall's grace), and slow-read's readers close each download N ms after its
//            answer began and open the next (each just under the slow list's grace).
// `attackRate` is packets/s offered for the spoofing and flooding scenarios and connections held
// for the bot scenarios. `mixed` runs a syn-flood, spoof-kernel and slow-header at a third each.
import { AnswerKind, TcpState } from '@sluice/conntrack';
import type { DefenseSnapshot } from '@sluice/dataplane';
import { Defense, DROP_REASON_NAMES, Verdict } from '@sluice/dataplane';
import { DEFAULT_VERIFICATION, DEFENSE_WEIGHTS, QUIET_KEY_WORDS } from '@sluice/defense';
import { type EvalResult, ipvsThresholdFor } from '@sluice/eval-report';
import { SimDirector, type Strategy, VIP_NUM, VPORT } from './director.ts';
import { FrameFactory, FrameKind, REQUEST_BYTES, readSegment, SegmentView, TRICKLE_BYTES } from './frames.ts';
import { EventHeap, TupleQueue } from './queue.ts';
import { Rng } from './rng.ts';
import { ConnState, OWNER_COUNT, OWNER_NAMES, Owner, ServerFarm, SynResult, serverIsn } from './servers.ts';

export type Scenario =
  | 'syn-flood'
  | 'spoof-kernel'
  | 'spoof-partner'
  | 'spoof-verified'
  | 'spoof-responders'
  | 'spoof-walk'
  | 'spoof-gone'
  | 'spoof-guess'
  | 'slow-header'
  | 'slow-forged'
  | 'idle-hold'
  | 'trickle-after'
  | 'keepalive-poke'
  | 'spread'
  | 'slow-read'
  | 'mixed';
export const SCENARIOS: readonly Scenario[] = [
  'syn-flood',
  'spoof-kernel',
  'spoof-partner',
  'spoof-verified',
  'spoof-responders',
  'spoof-walk',
  'spoof-gone',
  'spoof-guess',
  'slow-header',
  'slow-forged',
  'idle-hold',
  'trickle-after',
  'keepalive-poke',
  'spread',
  'slow-read',
  'mixed',
];
/** Scenarios whose attackRate counts connections held (the others: packets per second). */
export const BOT_SCENARIOS: readonly Scenario[] = [
  'slow-header',
  'slow-forged',
  'idle-hold',
  'trickle-after',
  'keepalive-poke',
  'spread',
  'slow-read',
];

export interface SimParams {
  scenario: Scenario;
  strategy: Strategy;
  /** Packets/s for floods and spoofers; connections held for bot scenarios. */
  attackRate: number;
  seed: number;
  /**
   * New valid connections are opened during [0, durationMs); those opened from attackStartMs on
   * are measured (the first seconds are a warm-up in which some sources come back).
   */
  durationMs: number;
  /** Then the run goes on this long (attack included) so the last attempts resolve. */
  tailMs: number;
  attackStartMs: number;
  reals: number;
  /** Per real server: workers, = its upperThreshold. */
  capacity: number;
  /** Per real server: SYN queue and accept queue. */
  backlog: number;
  acceptBacklog: number;
  /** 1: the servers answer with syncookies when their SYN queue is full (Linux's default). */
  syncookies: number;
  /** Valid (non-partner) new connections per second. */
  validRate: number;
  /** Partner (priority-0 subnet) new connections per second. */
  partnerRate: number;
  /** Valid clients' addresses: the pool new connections draw from (most are used once or twice). */
  validAddresses: number;
  partnerAddresses: number;
  /** Share of valid and partner hosts whose stack waits for its RTO after answering a challenge. */
  rtoStackShare: number;
  /** Share of valid and partner hosts behind a firewall that drops unsolicited and invalid segments. */
  firewalledShare: number;
  /** Share of valid and partner hosts behind a stealth NAT: only their own connections' segments reach them. */
  stealthShare: number;
  /** spoof-responders: share of the spoofed addresses that are live hosts answering. */
  responderShare: number;
  /**
   * spoof-verified and spoof-walk: this share of the spoofed connections come from random
   * addresses instead, `responderShare` of them live hosts whose answers spend the director's
   * probe budget (an attacker who read it).
   */
  responderMix: number;
  /**
   * spoof-verified and spoof-walk: above 0, the attacker spoofs only the N client addresses
   * (valid or partner) that connected for the first time most recently (looked at every 100 ms):
   * the whole flood on the newest clients, while their first connections wait for verification.
   */
  targetAddresses: number;
  /**
   * spoof-verified and spoof-walk: 1, the attacker spoofs only the partner hosts' addresses it
   * has seen connect (verified, inside the priority-0 rule: each spoof is priority 0 until the
   * partner resets it).
   */
  targetPartners: number;
  /**
   * Every host's round-trip time to the director and servers is drawn uniformly from
   * [rttMinMs, rttMaxMs] (10-80 by default: a continent; 100-400 puts mobile and intercontinental
   * clients in, whose answers come later than any of the defense's round-trip timers assume).
   */
  rttMinMs: number;
  rttMaxMs: number;
  /** 1: the director verifies always (`defense.verification.mode: always`), not only under pressure. */
  verifyAlways: number;
  /**
   * 1: the bot scenarios' bots are ghosts (between 0 and 1: that share of the bots' addresses,
   * the rest real bots). From their real addresses they answer the director,
   * but ignore the server's SYN-ACK and send the handshake's ACK, a request and advancing
   * acknowledgements blind (a wrong acknowledgement number, so the server keeps nothing), one
   * every TRICKLE_AFTER_MS: a served keep-alive client to the director, nothing to the servers.
   */
  ghostBots: number;
  /**
   * The bots hold their answer to a probe (a SYN-ACK to a port with no connection of theirs) this
   * many ms, answering challenges at once: the director measures them that far away, so their
   * connections stay provisional (uncounted) up to weights.provisionalMaxMs. 0: no delay.
   */
  botProbeDelayMs: number;
  /**
   * slow-read: 0, the bot's kernel advertises a zero window (its buffer is full: it is not
   * reading); 1, the bot advertises an open window and acknowledges a segment each time (a raw
   * socket that withholds its acknowledgements: what sits under the zero-window rule); 2, a
   * kernel reader that takes a segment every 0.6 s, so its window reopens (a window update)
   * before each second shut is up.
   */
  slowReadOpenWindow: number;
  /**
   * Above 0: how often (ms) each bot acts once it has had its response, instead of its scenario's
   * own interval: trickle-after's and spread's byte (1.9 s), keepalive-poke's request (4 s),
   * slow-read's read (1.9 s; not with slowReadOpenWindow 2) and the ghosts' acknowledgement. An
   * attacker who read weights.servedIdleMs acts just inside it.
   */
  botIntervalMs: number;
  /**
   * idle-hold and spread: above 0, each bot sends an empty ACK (nothing new acknowledged, no payload) this
   * often (ms) once it has had its response, as a TCP keepalive would at that interval: an idle
   * connection that is never idle to a clock every packet refreshes. The server's own keep-alive
   * timer ignores such ACKs and closes it all the same.
   */
  botBareAckMs: number;
  /**
   * With botBareAckMs: 1, the bot goes on sending its empty ACKs after the server closed its
   * connection (the server answers them with RSTs the director does not see), opening a new
   * connection all the same: each dead one still looks, to the director, like a live one.
   */
  botZombie: number;
  /**
   * With botBareAckMs: 1, each of those ACKs acknowledges a segment more than the server sent (an
   * acknowledgement of unsent data, which the server's stack ignores): "progress" that costs the
   * bot nothing, where an empty ACK shows none.
   */
  botForwardAck: number;
  /**
   * With botBareAckMs: above 0, this often (ms) the bot first sends a byte of a next request (a
   * head it never finishes: the server's header timer starts at the first), then its ACK, which
   * (with botForwardAck) "answers" it: a request every interval to the director, one never-ending
   * head to the server. What sits under every rule that reads the client's side at once
   * (docs/DEFENSE.md §6), and under a ceiling on the credit after the last request (§3).
   */
  botRenewMs: number;
  /**
   * slow-header and slow-forged: above 0, the bot sends its first header line, waits this long
   * (ms) in silence and closes (FIN), and opens a new connection at once: a head that never ends,
   * each one short enough to stay under the stall rule's grace and the idle step, the slot held by
   * a stream of fresh connections. slow-read: each reader closes its download this long after its
   * answer began and opens the next at once: each download just under the agent's slow grace.
   */
  churnMs: number;
  /**
   * syn-flood: above 0, its bare SYNs come from this many fixed addresses, each a live host (the
   * host of anyone running `hping3 --flood -S` without --rand-source): its kernel answers every
   * challenge and resets every server's SYN-ACK, so it verifies at once and is forwarded.
   */
  floodSources: number;
  /**
   * With floodSources: 1 makes the flooding hosts answer the director's challenges (a raw socket
   * that sends the RST a kernel would) but never the servers' SYN-ACKs, so every forwarded SYN
   * stays half-open at the director, from a verified source.
   */
  floodIgnoresSynAck: number;
  /**
   * Above 0: every real server runs a load agent (@sluice/agent) the director polls this often
   * (ms). The agent counts what the modelled server holds (accept queue and workers: the sockets
   * /proc/net/tcp lists as ESTABLISHED); its answer lands AGENT_RTT_MS after
   * the probe and goes through RealServerCounters.correctHeld, as the daemon applies it.
   */
  agentIntervalMs: number;
  /**
   * 1 (the agent's default, `--quiet-ms 1000`): each agent's answer also lists the connections
   * whose server has sent no data for a second (ServerFarm.quiet), which the director marks
   * ConnBit.serverQuiet through ServerQuietMarks as the daemon does; 0: the count alone.
   */
  agentQuiet: number;
  /**
   * The agent's slow floor (`--slow-bps`, bytes/s; its default 2048): each answer also lists the
   * connections whose server has been busy sending for agentSlowGraceMs or more and delivered under
   * this many bytes per second of it (ServerFarm.slow), marked like the quiet ones; 0: no slow list.
   */
  agentSlowBps: number;
  /** The agent's slow grace (`--slow-grace-ms`; its default 2000). */
  agentSlowGraceMs: number;
  /**
   * slow-read: bytes the bot takes (and acknowledges) at each read, 1448 (a segment) by default;
   * an attacker who read the agent's floor reads just enough to stay above it.
   */
  slowReadBytes: number;
  /**
   * Valid clients on slow links: this share of valid connections downloads a large answer at
   * validSlowBps bytes/s for validSlowMs, its window open, acknowledging what arrives every 0.9 s,
   * its server's worker held throughout (as a real download holds one), then closes. It succeeds
   * when its answer begins within 4 s, as any; `validSlowCut` is the share of those downloads the
   * director reset before their end: what the slow list costs an honest slow client. 0: none.
   */
  validSlowShare: number;
  validSlowBps: number;
  validSlowMs: number;
  botAddresses: number;
  tableCapacity: number;
  batchFrames: number;
  /** Re-scorer slots examined per simulated ms (its own thread in the daemon). */
  rescorerSlotsPerMs: number;
  /** Priority weights over the defaults (`--weight name=value`), for tuning runs. */
  weights?: Record<string, number>;
}

export const DEFAULT_PARAMS: Omit<SimParams, 'scenario' | 'strategy' | 'attackRate'> = {
  seed: 1,
  durationMs: 20_000,
  tailMs: 8_000,
  attackStartMs: 3_000,
  reals: 4,
  capacity: 100,
  backlog: 128,
  acceptBacklog: 128,
  syncookies: 1,
  validRate: 20,
  partnerRate: 2,
  validAddresses: 250,
  partnerAddresses: 50,
  rtoStackShare: 0.5,
  firewalledShare: 0,
  stealthShare: 0,
  responderShare: 0.3,
  responderMix: 0,
  targetAddresses: 0,
  targetPartners: 0,
  rttMinMs: 10,
  rttMaxMs: 80,
  verifyAlways: 0,
  ghostBots: 0,
  botProbeDelayMs: 0,
  slowReadOpenWindow: 0,
  botIntervalMs: 0,
  botBareAckMs: 0,
  botZombie: 0,
  botForwardAck: 0,
  botRenewMs: 0,
  churnMs: 0,
  floodSources: 0,
  floodIgnoresSynAck: 0,
  agentIntervalMs: 0,
  agentQuiet: 1,
  agentSlowBps: 2048,
  agentSlowGraceMs: 2000,
  slowReadBytes: 1448,
  validSlowShare: 0,
  validSlowBps: 1500,
  validSlowMs: 20_000,
  botAddresses: 100,
  tableCapacity: 1 << 16,
  batchFrames: 64,
  rescorerSlotsPerMs: 4096,
};

/** For tests and `--quick`: shorter, the same shape. */
export const QUICK_PARAMS: Omit<SimParams, 'scenario' | 'strategy' | 'attackRate'> = {
  ...DEFAULT_PARAMS,
  durationMs: 8_000,
  tailMs: 8_000,
  attackStartMs: 2_000,
};

/** A load agent's exchange: probe to applied report, in simulated ms (even: the agent reads at half). */
const AGENT_RTT_MS = 2;
/** The agent's quiet floor (`--quiet-ms`, its default) and list cap (QUIET_MAX in @sluice/agent). */
const AGENT_QUIET_MS = 1000;
const AGENT_QUIET_MAX = 65_536;

export const PARTNER_CIDR = '44.1.0.0/16';
const PARTNER_BASE = (44 << 24) | (1 << 16);
const VALID_BASE = 11 << 24;
const BOT_BASE = 150 << 24;
/** spoof-gone: the warm-up clients that go offline, one connection each. */
const GONE_BASE = 12 << 24;
const GONE_ADDRESSES = 3000;
/** syn-flood with floodSources: the flooding hosts' addresses, FLOOD_BASE + 1 up. */
const FLOOD_BASE = 13 << 24;
/** spoof-guess: the addresses the attacker guesses cookies for (fewer: each is tried more often). */
const GUESS_ADDRESSES = 64;
/** How long a verification lasts in the simulated director (the default config's ttlSeconds). */
const VERIFIED_TTL_MS = 3_600_000;
/** Linux's SYN retransmissions (1 s initial RTO, doubled) and when a client gives up. */
const SYN_RETRIES_MS = [1_000, 3_000];
const GIVE_UP_MS = 7_000;
/** A valid attempt succeeds when its response arrives within this long of its first SYN. */
const SUCCESS_WITHIN_MS = 4_000;
/** A linux stack sends its SYN again this long after answering a challenge; at most this often. */
const QUICK_RETRY_MS = 10;
const QUICK_RETRIES = 3;
const RESPONSE_BYTES = 4_000;
const SPOOF_ACK_DELAY_MS = 50;
const SPOOF_PROGRESS_MS = [300, 600, 900];
/** Packets a spoofed connection costs the attacker: SYN ×3, ACK, request, 3 progress ACKs. */
const SPOOF_PACKETS = 8;
/** spoof-walk: how far past the tracked sequence number each walking segment starts (the director's window, less a byte). */
const WALK_STEP = (1 << 20) - 1;
const TRICKLE_MS = 5_000;
/** The servers' keep-alive timeout (Apache's KeepAliveTimeout default). */
const KEEP_ALIVE_MS = 5_000;
const TRICKLE_AFTER_MS = 1_900;
const POKE_MS = 4_000;
/** slow-read: how often the bot reads, and what its acknowledgement then advances by. */
const SLOW_READ_MS = 1_900;
/** slow-read with slowReadOpenWindow 2: a segment read (its window reopened) this often, inside each second. */
const SLOW_READ_REOPEN_MS = 600;
/** The servers' write timeout (Apache's Timeout). */
const SEND_TIMEOUT_MS = 60_000;
/** One full segment's payload (a 1500-byte MTU's MSS with timestamps). */
const SEGMENT_BYTES = 1_448;
const SAMPLE_EVERY_MS = 100;
/** A valid slow download acknowledges what arrived this often (validSlowShare). */
const VALID_READ_MS = 900;
/** How long a live host behind a spoofed address takes to answer (a constant: one FIFO keeps them). */
const RESPONDER_MS = 40;

/**
 * Director TCP timeouts: IPVS's (ip_vs_proto_tcp.c). Closed connections no longer hold a
 * threshold slot with the priority strategy (it counts what the servers hold); the baselines
 * count as IPVS does, FIN_WAIT and TIME_WAIT included.
 */
export const SIM_TCP_TIMEOUTS_MS = [
  2_000, 900_000, 120_000, 60_000, 120_000, 120_000, 10_000, 60_000, 30_000, 120_000, 120_000,
];

/**
 * Each real server's upperThreshold for a strategy. The priority defense counts what the servers
 * hold, so its threshold is their capacity (workers); the LVS baselines count IPVS's way and run
 * with the threshold an operator would size for that (eval-report's ipvsThresholdFor); `none` has
 * no threshold (the IPVS default).
 */
export function thresholdFor(strategy: Strategy, p: SimParams): number {
  if (strategy === 'none') return 0;
  if (strategy === 'priority') return p.capacity;
  const finWaitS = SIM_TCP_TIMEOUTS_MS[TcpState.finWait] / 1000;
  return ipvsThresholdFor(p.capacity, p.validRate + p.partnerRate, p.reals, finWaitS);
}

/**
 * The defense section for a strategy. The LVS baselines run in automatic mode (1): mode 3 would
 * drop valid SYNs with no attack at all (drop_packet's 1 in am_droprate), which is not how an
 * operator runs it; their amemthresh is sized so the automatic modes engage once the table holds
 * three quarters of the cluster's capacity (they measure memory; Sluice, table entries).
 */
export function defenseFor(strategy: Strategy, p: SimParams): DefenseSnapshot {
  const engageAt = Math.floor(0.75 * p.reals * p.capacity);
  return {
    strategy: strategy === 'none-thresholds' ? 'none' : strategy,
    highWatermark: 0.98,
    lowWatermark: 0.95,
    // The baselines count as IPVS does; the priority defense counts what the servers hold.
    countInactive: strategy !== 'priority',
    lvs: {
      dropEntry: 1,
      dropPacket: 1,
      secureTcp: 1,
      amemthresh: p.tableCapacity - engageAt,
      amDroprate: 10,
    },
    // The operator tells the director what its servers' keep-alive timeout is (the modelled
    // servers': Apache's default 5 s), as it tells it their capacity.
    weights: { serverKeepAliveMs: KEEP_ALIVE_MS, ...p.weights },
    rules: [{ cidr: PARTNER_CIDR, priority: 0 }],
    sourceChecks: { enabled: true, action: 'lowest' },
    ...(p.verifyAlways === 1 ? { verification: { ...DEFAULT_VERIFICATION, mode: 'always' as const } } : {}),
  };
}

/** One run: the evaluations' shared result line, and the simulator's diagnostics. */
export interface SimResult extends EvalResult {
  mode: 'sim';
  scenario: Scenario;
  strategy: Strategy;
  validSuccessNew: number;
  validSuccessReturning: number;
  partnerSuccess: number;
  /** Partner connections the director reset (only those not yet at priority 0: unverified). */
  partnerFalselyReset: number;
  validAttempts: number;
  validAttemptsNew: number;
  partnerAttempts: number;
  /** With validSlowShare: valid slow downloads begun in the window, and the share reset before their end. */
  validSlowDownloads?: number;
  validSlowCut?: number;
  probesSent: number;
  /** Diagnostics: director drops by reason, RSTs it sent, server refusals by population. */
  directorDrops: Record<string, number>;
  resetsDisplaced: number;
  resetsShed: number;
  resetsForNothing: number;
  lvsDroppedEntries: number;
  lvsDroppedSyns: number;
  validFailedHow: Record<string, number>;
  serverCookies: Record<string, number>;
  serverAcceptDrops: Record<string, number>;
  resetByDirector: Record<string, number>;
  frames: number;
  wallMs: number;
}

/** Host behaviours. */
const Stack = { linux: 0, rto: 1 } as const;

interface Host {
  owner: number;
  rtt: number;
  stack: number;
  firewalled: boolean;
  stealth: boolean;
  /** Connections this host made in the run so far (valid: 0 means first time). */
  seen: number;
  /** spoof-gone: offline from the attack's start (answers nothing). */
  gone: boolean;
}

const Ev = {
  syn: 0,
  synAck: 1,
  response: 2,
  close: 3,
  lastAck: 4,
  giveUp: 5,
  rstAnswer: 6,
  retryRequest: 7,
  trickle: 8,
  poke: 9,
  ghostAck: 10,
  slowRead: 11,
  churn: 12,
  bareAck: 13,
  validRead: 14,
} as const;

interface Conn {
  id: number;
  owner: number;
  host: Host;
  addr: number;
  port: number;
  key: number;
  t0: number;
  isn: number;
  /** Bytes of payload sent so far (the next sequence number is isn + 1 + sent). */
  sent: number;
  /** Bytes of response received (acknowledged). */
  got: number;
  firstTime: boolean;
  /** Counted in its host's connections (at its first SYN). */
  counted: boolean;
  established: boolean;
  setupMs: number;
  /** 0 pending, 1 success, 2 failure */
  outcome: number;
  failedHow: string;
  reset: boolean;
  /** reset by the director after its response, idle since (a subset of `reset`) */
  resetIdle: boolean;
  closed: boolean;
  quickRetries: number;
  /** For rstAnswer events: the sequence number (cookie) and port to answer from. */
  rstSeq: number;
  rstPort: number;
  /** bots: forged acknowledgement advance (slow-forged). */
  forged: number;
  /** bots with botRenewMs: when the bot last sent a byte of a next request (0: never). */
  renewedAt: number;
  /** A valid client's slow download (validSlowShare): when it ends; 0 for any other connection. */
  slowUntil: number;
  /** That download was reset by the director before its end. */
  slowCut: boolean;
}

interface Event {
  c: Conn;
  ev: number;
}

export function runSim(p: SimParams): SimResult {
  const started = performance.now();
  const rng = new Rng(p.seed);
  const rngValid = rng.fork(1);
  const rngAttack = rng.fork(2);
  const rngOrder = rng.fork(3);
  const rngHost = rng.fork(4);
  const director = new SimDirector(
    {
      reals: p.reals,
      upperThreshold: thresholdFor(p.strategy, p),
      tableCapacity: p.tableCapacity,
      defense: defenseFor(p.strategy, p),
      tcpTimeoutsMs: SIM_TCP_TIMEOUTS_MS,
      rescorerSlotsPerMs: p.rescorerSlotsPerMs,
    },
    p.seed ^ 0x5eed,
  );
  const servers = new ServerFarm({
    reals: p.reals,
    capacity: p.capacity,
    backlog: p.backlog,
    acceptBacklog: p.acceptBacklog,
    syncookies: p.syncookies === 1,
    halfOpenTimeoutMs: 63_000,
    headerTimeoutMs: 40_000,
    keepAliveMs: KEEP_ALIVE_MS,
    sendTimeoutMs: SEND_TIMEOUT_MS,
  });
  /** The agents' probes in flight: Held at the probe, per real (−1: none). */
  const agentHeldAtProbe = new Int32Array(p.reals).fill(-1);
  const agentReported = new Int32Array(p.reals);
  /** Each agent's quiet list at its read (ServerFarm keys, ms since the server last sent). */
  const quietCap = p.agentIntervalMs > 0 && p.agentQuiet > 0 ? AGENT_QUIET_MAX : 0;
  const quietKeys = Array.from({ length: p.reals }, () => new Float64Array(quietCap));
  const quietMs = Array.from({ length: p.reals }, () => new Int32Array(quietCap));
  const quietCount = new Int32Array(p.reals);
  /** Of each list, how many after its quiet ones are slow. */
  const slowCount = new Int32Array(p.reals);
  const quietWords = new Int32Array(quietCap * QUIET_KEY_WORDS);
  const pollAgents = (now: number): void => {
    const reals = director.tables.reals;
    const phase = now % p.agentIntervalMs;
    for (let r = 0; r < p.reals; r++) {
      if (phase === 0) {
        agentHeldAtProbe[r] = Atomics.load(reals.held, r);
      } else if (phase === AGENT_RTT_MS >> 1 && agentHeldAtProbe[r] >= 0) {
        // The agent reads the server's sockets halfway through the exchange: the established ones
        // (a worker's, or waiting in the accept queue). Not the SYN queue: with syncookies a full
        // one turns no client away, and a ghost's half-open entries sit there until they time out.
        agentReported[r] = servers.accepting[r] + servers.working[r];
        if (p.agentQuiet > 0) {
          const n = servers.quiet(r, now, AGENT_QUIET_MS, quietKeys[r], quietMs[r]);
          quietCount[r] = n;
          // The slow list after the quiet one, in what the cap leaves (as the agent writes them).
          slowCount[r] =
            p.agentSlowBps > 0
              ? servers.slow(r, now, p.agentSlowGraceMs, p.agentSlowBps, AGENT_QUIET_MS, quietKeys[r], n)
              : 0;
        }
      } else if (phase === AGENT_RTT_MS && agentHeldAtProbe[r] >= 0) {
        reals.correctHeld(
          r,
          agentHeldAtProbe[r],
          agentReported[r],
          director.config.realUpper[r],
          director.config.realLower[r],
        );
        // After the count, as the daemon applies a report (Director.onAgentReport).
        if (p.agentQuiet > 0) {
          const n = quietCount[r];
          const listed = n + slowCount[r];
          const words = quietWords.subarray(0, listed * QUIET_KEY_WORDS);
          for (let i = 0; i < listed; i++) {
            const k = quietKeys[r][i];
            // The director's key: the client's address as IPv4-mapped words, its port and service 0.
            words.set([0, 0, 0xffff, Math.floor(k / 65536) | 0, (k % 65536) << 16], i * QUIET_KEY_WORDS);
          }
          // Asked at the exchange's start, read halfway, applied now (AGENT_RTT_MS).
          const probeAt = now - AGENT_RTT_MS;
          director.quietMarks.apply(
            r,
            words,
            quietMs[r],
            n,
            director.weights.servedIdleMs,
            now,
            probeAt,
            slowCount[r],
            agentReported[r],
          );
        }
        agentHeldAtProbe[r] = -1;
      }
    }
  };
  const frames = new FrameFactory(director.config.vni, '02:00:00:00:00:01', VIP_NUM, VPORT);
  const seg = new SegmentView();
  const heap = new EventHeap<Event>();
  let now = 0;

  // --- hosts ---
  const hosts = new Map<number, Host>();
  // Hosts are keyed by the unsigned address (pools hold int32 patterns; frames read back unsigned).
  const hostFor = (addr: number, owner: number): Host => {
    let h = hosts.get(addr >>> 0);
    if (h === undefined) {
      h = {
        owner,
        rtt: rngHost.int(p.rttMinMs, p.rttMaxMs),
        stack: owner === Owner.bot ? Stack.linux : rngHost.next() < p.rtoStackShare ? Stack.rto : Stack.linux,
        firewalled: owner !== Owner.bot && rngHost.next() < p.firewalledShare,
        // Drawn only when asked for, so runs without it keep their random sequence.
        stealth: p.stealthShare > 0 && owner !== Owner.bot && rngHost.next() < p.stealthShare,
        seen: 0,
        gone: false,
      };
      hosts.set(addr >>> 0, h);
    }
    return h;
  };
  /** spoof-responders: whether a spoofed address is a live host (deterministic per address). */
  const responder = (addr: number): boolean =>
    ((p.scenario === 'spoof-responders' || p.responderMix > 0) &&
      (Math.imul(addr ^ 0x5bd1e995, 0x27d4eb2d) >>> 0) / 2 ** 32 < p.responderShare) ||
    (p.floodSources > 0 && ((addr >>> 0) - FLOOD_BASE - 1) >>> 0 < p.floodSources);

  // --- connections by key (hosts' own) ---
  const conns = new Map<number, Conn>();
  const allValid: Conn[] = [];
  const nextPort = new Map<number, number>();
  const portFor = (addr: number, r: Rng): number => {
    let port = nextPort.get(addr) ?? r.int(32768, 60999);
    port = port >= 60999 ? 32768 : port + 1;
    nextPort.set(addr, port);
    return port;
  };
  let connId = 0;
  const newConn = (owner: number, addr: number, t0: number, r: Rng): Conn => {
    const host = hostFor(addr, owner);
    const port = portFor(addr, r);
    const c: Conn = {
      id: connId++,
      owner,
      host,
      addr,
      port,
      key: ServerFarm.key(addr, port),
      t0,
      isn: r.u32() | 0,
      sent: 0,
      got: 0,
      firstTime: false,
      counted: false,
      established: false,
      setupMs: -1,
      outcome: 0,
      failedHow: '',
      reset: false,
      resetIdle: false,
      closed: false,
      quickRetries: 0,
      rstSeq: 0,
      rstPort: 0,
      forged: 0,
      renewedAt: 0,
      slowUntil: 0,
      slowCut: false,
    };
    return c;
  };

  // --- the wire into the director ---
  let framesSent = 0;
  let inBatch = 0;
  const toDirector = (kind: number, addr: number, port: number, seq: number, ack: number): number => {
    const buf = frames.frame(kind as FrameKind, addr, port, seq, ack);
    const v = director.frame(buf, now);
    framesSent++;
    if (++inBatch >= p.batchFrames) {
      director.afterBatch(now);
      inBatch = 0;
    }
    if (v === Verdict.reply) {
      readSegment(buf, seg);
      challengeArrives(seg.dst, seg.dstPort, seg.ack);
    }
    return v;
  };
  /** A bare connection record carrying one RST a host sends (no RNG drawn, no port taken). */
  const newAnswer = (h: Host, addr: number, port: number, seq: number): Conn => ({
    id: -1,
    owner: h.owner,
    host: h,
    addr,
    port,
    key: ServerFarm.key(addr, port),
    t0: now,
    isn: 0,
    sent: 0,
    got: 0,
    firstTime: false,
    counted: true,
    established: false,
    setupMs: -1,
    outcome: 0,
    failedHow: '',
    reset: false,
    resetIdle: false,
    closed: false,
    quickRetries: 0,
    rstSeq: seq,
    rstPort: port,
    forged: 0,
    renewedAt: 0,
    slowUntil: 0,
    slowCut: false,
  });

  // What the director sends back reaches the host at the address (if any) half an RTT later; its
  // stack answers with an RST carrying the acknowledgement number, from the port it was sent to.
  const rstFrom = (h: Host, addr: number, port: number, seq: number, delayMs = 0): void => {
    if (h.gone && now >= p.attackStartMs) return;
    const answer = newAnswer(h, addr, port, seq);
    heap.push(now + h.rtt + delayMs, { c: answer, ev: Ev.rstAnswer });
  };
  const challengeArrives = (addr: number, port: number, cookie: number): void => {
    const h = hosts.get(addr >>> 0);
    if (h !== undefined) {
      if (h.firewalled) return;
      // A stack waiting in SYN-SENT for this very connection sends its SYN again.
      const c = conns.get(ServerFarm.key(addr, port));
      if (h.stealth && (c === undefined || c.established)) return;
      rstFrom(h, addr, port, cookie, h.owner === Owner.bot && c === undefined ? p.botProbeDelayMs : 0);
      if (c !== undefined && !c.established && c.outcome === 0 && h.stack === Stack.linux) {
        if (c.quickRetries < QUICK_RETRIES) {
          c.quickRetries++;
          heap.push(now + h.rtt + QUICK_RETRY_MS, { c, ev: Ev.syn });
        }
      }
      return;
    }
    if (responder(addr)) rstQueue.push(now + RESPONDER_MS, addr | 0, port, cookie);
  };
  director.onProbe((datagram) => {
    readSegment(datagram, seg);
    challengeArrives(seg.dst, seg.dstPort, seg.ack);
  });
  // A live host that receives a server's SYN-ACK for a connection it never opened resets it.
  const serverSynAckTo = (addr: number, port: number, ack: number): void => {
    const h = hosts.get(addr >>> 0);
    if (h !== undefined) {
      if (h.firewalled || h.stealth) return;
      if (conns.has(ServerFarm.key(addr, port))) return; // its own
      rstFrom(h, addr, port, ack);
      return;
    }
    if (responder(addr)) rstQueue.push(now + RESPONDER_MS, addr | 0, port, ack);
  };
  /** RSTs from live hosts answering segments they did not expect: due, addr, port, seq. */
  const rstQueue = new TupleQueue(4, 4096);

  // --- director → servers ---
  const validFailedHow: Record<string, number> = {};
  const fail = (c: Conn, how: string): void => {
    if (c.outcome !== 0) return;
    c.outcome = 2;
    c.failedHow = how;
  };
  let priority0Shed = 0;
  director.onReset((addr, port) => {
    const key = ServerFarm.key(addr, port);
    const owner = servers.reset(key, now);
    const c = conns.get(key);
    if (director.resetPrio === 0) priority0Shed++;
    if (c !== undefined && (owner === Owner.valid || owner === Owner.partner)) {
      // Answered already, and idle since (a valid client asks once): a keep-alive connection
      // closed, as a server closes one when it runs out (weights.servedIdle).
      // A slow download cut short is not idle: its client was taking its answer.
      if (c.slowUntil > 0 && !c.reset && !c.closed) c.slowCut = true;
      else if (!c.reset && !c.closed && c.outcome === 1) c.resetIdle = true;
      if (!c.reset && !c.closed) {
        c.reset = true;
        fail(c, `reset-${director.resetKind}`);
      }
    }
    if (c !== undefined && c.owner === Owner.bot) botLost(c);
  });
  /** Forwards a TCP segment of connection `c` to the director; true when forwarded. */
  const send = (c: Conn, kind: number, seq: number, ack: number): boolean => {
    const v = toDirector(kind, c.addr, c.port, seq, ack);
    if (v !== Verdict.forward) {
      if (
        v === Verdict.drop &&
        (c.owner === Owner.valid || c.owner === Owner.partner) &&
        c.t0 >= p.attackStartMs
      ) {
        const why = DROP_REASON_NAMES[director.outReason] || String(director.outReason);
        if (kind === FrameKind.synLinux)
          validFailedHow[`syn-${why}`] = (validFailedHow[`syn-${why}`] ?? 0) + 1;
      }
      return false;
    }
    return true;
  };
  /** Whether bot address `addr` runs ghosts: all with ghostBots 1, a hashed share of them below. */
  const isGhost = (addr: number): boolean =>
    p.ghostBots >= 1 || (p.ghostBots > 0 && (Math.imul(addr, 0x9e3779b1) >>> 0) / 2 ** 32 < p.ghostBots);
  const sIsn = (c: Conn): number => serverIsn(c.key);
  /** A ghost's acknowledgement: made up (not the server's ISN), advancing with `forged`. */
  const ghostAckOf = (c: Conn): number => ((c.isn ^ 0x2545f491) + c.forged) | 0;
  const seqOf = (c: Conn): number => (c.isn + 1 + c.sent) | 0;
  /** What the client acknowledges of what the server really sent. */
  const servedAckOf = (c: Conn): number => (sIsn(c) + 1 + c.got) | 0;
  const ackOf = (c: Conn): number => (servedAckOf(c) + c.forged) | 0;

  // A connection waiting in a server's accept queue takes a worker: its request (sent already) is served.
  servers.onWorker = (key, _owner, t) => {
    const c = conns.get(key);
    if (c !== undefined && c.sent >= REQUEST_BYTES && (c.owner !== Owner.bot || isFullRequestBot())) {
      servers.requestDone(key);
      heap.push(t + serviceMs() + Math.ceil(c.host.rtt / 2), { c, ev: Ev.response });
    }
  };
  const serviceMs = (): number => rngValid.int(5, 30);
  const slowReadAck = p.slowReadOpenWindow === 1 ? FrameKind.ack : FrameKind.ackZeroWindow;
  const slowReadMs =
    p.slowReadOpenWindow === 2 ? SLOW_READ_REOPEN_MS : p.botIntervalMs > 0 ? p.botIntervalMs : SLOW_READ_MS;
  const trickleAfterMs = p.botIntervalMs > 0 ? p.botIntervalMs : TRICKLE_AFTER_MS;
  const pokeMs = p.botIntervalMs > 0 ? p.botIntervalMs : POKE_MS;
  /** A hashed share of valid connections (validSlowShare) are slow downloads; no RNG drawn. */
  const isSlowDownload = (c: Conn): boolean =>
    p.validSlowShare > 0 &&
    (Math.imul(c.addr ^ Math.imul(c.port, 0x85ebca6b), 0x9e3779b1) >>> 0) / 2 ** 32 < p.validSlowShare;
  const isFullRequestBot = (): boolean =>
    p.scenario === 'idle-hold' ||
    p.scenario === 'trickle-after' ||
    p.scenario === 'keepalive-poke' ||
    p.scenario === 'spread' ||
    p.scenario === 'slow-read';

  // --- hosts' events ---
  const hostEvent = (e: Event): void => {
    const c = e.c;
    switch (e.ev) {
      case Ev.syn: {
        if (c.established || c.outcome !== 0 || c.closed) return;
        if (!c.counted) {
          c.counted = true;
          c.host.seen++;
        }
        conns.set(c.key, c);
        if (!send(c, FrameKind.synLinux, c.isn, 0)) return;
        const r = servers.syn(director.outReal, c.key, c.owner, now);
        if (r !== SynResult.dropped) heap.push(now + c.host.rtt, { c, ev: Ev.synAck });
        return;
      }
      case Ev.synAck: {
        if (c.established || c.outcome !== 0 || c.closed) return;
        c.established = true;
        c.setupMs = now - c.t0;
        if (c.owner === Owner.bot && isGhost(c.addr)) {
          // A ghost: the handshake's ACK and the request with an acknowledgement the server never
          // offered; the server answers them with RSTs the ghost drops, and keeps nothing.
          if (send(c, FrameKind.ack, seqOf(c), ghostAckOf(c))) {
            servers.ack(director.outReal, c.key, c.owner, false, now);
          }
          if (send(c, FrameKind.data, seqOf(c), ghostAckOf(c))) c.sent += REQUEST_BYTES;
          heap.push(now + serviceMs() + c.host.rtt, { c, ev: Ev.ghostAck });
          return;
        }
        const okAck = send(c, FrameKind.ack, seqOf(c), ackOf(c));
        const state = okAck ? servers.ack(director.outReal, c.key, c.owner, true, now) : ConnState.free;
        startRequest(c, state);
        return;
      }
      case Ev.retryRequest: {
        if (c.outcome !== 0 || c.closed || c.reset) return;
        // The stack retransmits its unacknowledged request (the server dropped it with the
        // handshake's ACK), not an empty ACK: it is news to the director's idle clock.
        const again = c.sent >= REQUEST_BYTES;
        const okAck = send(
          c,
          FrameKind.data,
          again ? (c.isn + 1 + c.sent - REQUEST_BYTES) | 0 : seqOf(c),
          ackOf(c),
        );
        if (okAck && !again) c.sent += REQUEST_BYTES;
        const state = okAck ? servers.ack(director.outReal, c.key, c.owner, true, now) : ConnState.free;
        if (state === ConnState.working && servers.requestDone(c.key)) {
          heap.push(now + serviceMs() + Math.ceil(c.host.rtt / 2), { c, ev: Ev.response });
        } else if (state === ConnState.free) {
          heap.push(now + 1000, { c, ev: Ev.retryRequest });
        }
        return;
      }
      case Ev.response: {
        if (c.closed || c.reset) return;
        if (!servers.isWorking(c.key)) return;
        if (c.owner === Owner.bot && p.scenario === 'slow-read') {
          // The response's first window fills the bot's buffer; the server's write blocks. (The
          // reopening reader's kernel acknowledges the first segment with its window still open,
          // as a real one does, which ends the request's wait.)
          servers.sending(c.key, now);
          if (p.slowReadOpenWindow === 2) {
            c.got += p.slowReadBytes;
            if (send(c, FrameKind.ack, seqOf(c), ackOf(c))) servers.delivered(c.key, p.slowReadBytes);
          }
          c.got += p.slowReadBytes;
          if (send(c, slowReadAck, seqOf(c), ackOf(c))) servers.delivered(c.key, p.slowReadBytes);
          heap.push(now + slowReadMs, { c, ev: Ev.slowRead });
          if (p.churnMs > 0) heap.push(now + p.churnMs, { c, ev: Ev.churn });
          return;
        }
        if (c.owner === Owner.valid && isSlowDownload(c)) {
          // An honest download on a slow link: the server's worker writes it for validSlowMs.
          servers.sending(c.key, now);
          c.slowUntil = now + p.validSlowMs;
          if (c.outcome === 0) {
            if (now - c.t0 <= SUCCESS_WITHIN_MS) c.outcome = 1;
            else fail(c, 'late-response');
          }
          heap.push(now + VALID_READ_MS, { c, ev: Ev.validRead });
          return;
        }
        servers.responded(c.key, now - Math.ceil(c.host.rtt / 2));
        c.got += RESPONSE_BYTES;
        if (c.owner === Owner.valid || c.owner === Owner.partner) {
          if (c.outcome === 0) {
            if (now - c.t0 <= SUCCESS_WITHIN_MS) c.outcome = 1;
            else fail(c, 'late-response');
          }
        }
        // The client acknowledges the response: the server's progress, as the director sees it.
        send(c, FrameKind.ack, seqOf(c), ackOf(c));
        if (c.owner === Owner.bot) {
          if (p.botBareAckMs > 0 && (p.scenario === 'idle-hold' || p.scenario === 'spread')) {
            // A renewing bot renews at once: its request may have waited long for a worker.
            heap.push(now + (p.botRenewMs > 0 ? 1 : p.botBareAckMs), { c, ev: Ev.bareAck });
          } else if (p.scenario === 'keepalive-poke') heap.push(now + pokeMs, { c, ev: Ev.poke });
          else if (p.scenario === 'trickle-after' || p.scenario === 'spread') {
            heap.push(now + trickleAfterMs, { c, ev: Ev.trickle });
          }
          return; // idle-hold: nothing more, ever
        }
        heap.push(now + rngValid.int(500, 3000), { c, ev: Ev.close });
        return;
      }
      case Ev.validRead: {
        if (c.closed || c.reset || !servers.has(c.key)) return;
        const bytes = Math.round((p.validSlowBps * VALID_READ_MS) / 1000);
        c.got += bytes;
        if (send(c, FrameKind.ack, seqOf(c), ackOf(c))) {
          servers.sending(c.key, now);
          servers.delivered(c.key, bytes);
        }
        const more = now + VALID_READ_MS < c.slowUntil;
        heap.push(now + (more ? VALID_READ_MS : 1), { c, ev: more ? Ev.validRead : Ev.close });
        return;
      }
      case Ev.close: {
        if (c.closed) return;
        c.closed = true;
        if (send(c, FrameKind.fin, seqOf(c), ackOf(c))) servers.close(c.key, now);
        heap.push(now + c.host.rtt, { c, ev: Ev.lastAck });
        return;
      }
      case Ev.lastAck: {
        send(c, FrameKind.ack, (seqOf(c) + 1) | 0, (ackOf(c) + 1) | 0);
        if (conns.get(c.key) === c) conns.delete(c.key);
        return;
      }
      case Ev.giveUp: {
        if (c.owner === Owner.bot) {
          if (!c.established) botLost(c);
          return;
        }
        if (c.outcome === 0) fail(c, c.established ? 'no-response' : 'no-syn-ack');
        if (!c.established && conns.get(c.key) === c) conns.delete(c.key);
        return;
      }
      case Ev.rstAnswer: {
        // <SEQ=SEG.ACK><CTL=RST> from the port the SYN-ACK went to.
        toDirector(FrameKind.rst, c.addr, c.rstPort, c.rstSeq, 0);
        return;
      }
      case Ev.trickle: {
        if (c.closed || c.reset) return;
        // The server still holds it (working, or waiting for a worker)? Else it answered with an RST.
        if (c.established && !servers.has(c.key)) {
          botLost(c);
          return;
        }
        if (p.scenario === 'slow-forged') c.forged += 1460;
        if (send(c, FrameKind.trickle, seqOf(c), ackOf(c))) c.sent += TRICKLE_BYTES;
        const after = p.scenario === 'trickle-after' || p.scenario === 'spread';
        if (after) servers.newRequest(c.key, now); // a next request head begins: its header timer runs
        heap.push(now + (after ? trickleAfterMs : TRICKLE_MS), { c, ev: Ev.trickle });
        return;
      }
      case Ev.ghostAck: {
        if (c.closed || c.reset) return;
        // "Progress": the acknowledgement a segment further each time, as if the server sent it.
        c.forged += 1460;
        send(c, FrameKind.ack, seqOf(c), ghostAckOf(c));
        heap.push(now + trickleAfterMs, { c, ev: Ev.ghostAck });
        return;
      }
      case Ev.slowRead: {
        if (c.closed || c.reset) return;
        if (!servers.has(c.key)) {
          botLost(c);
          return;
        }
        // It reads a segment's worth; the server sends that much more, and the buffer is full again.
        // The reopening reader's kernel first says so with a window update (open, nothing new).
        if (p.slowReadOpenWindow === 2) send(c, FrameKind.ack, seqOf(c), ackOf(c));
        c.got += p.slowReadBytes;
        if (send(c, slowReadAck, seqOf(c), ackOf(c))) {
          servers.sending(c.key, now);
          servers.delivered(c.key, p.slowReadBytes);
        }
        heap.push(now + slowReadMs, { c, ev: Ev.slowRead });
        return;
      }
      case Ev.bareAck: {
        if (c.reset) return;
        // Closed by its server's keep-alive timer: the pool opens another; a zombie acks on.
        if (!servers.has(c.key)) {
          botLost(c);
          if (p.botZombie === 0) return;
        }
        if (p.botRenewMs > 0 && now - (c.renewedAt || c.t0) >= p.botRenewMs) {
          if (c.renewedAt === 0) servers.newRequest(c.key, now);
          c.renewedAt = now;
          // Its own segment carries the true acknowledgement: a server drops a segment that
          // acknowledges data it never sent (RFC 9293 §3.10.7.4, Linux's TCP_ACK_UNSENT_DATA),
          // payload and all. Behind the forged one by what it forged: inside the director's
          // tolerance for ACKs out of order (64 KiB) for the whole run.
          if (send(c, FrameKind.trickle, seqOf(c), servedAckOf(c))) c.sent += TRICKLE_BYTES;
        }
        if (p.botForwardAck > 0) c.forged += SEGMENT_BYTES;
        send(c, FrameKind.ack, seqOf(c), ackOf(c));
        heap.push(now + p.botBareAckMs, { c, ev: Ev.bareAck });
        return;
      }
      case Ev.churn: {
        // Gone already (reset, or its server timed it out)? Else a FIN, and the pool opens the next.
        if (c.closed || c.reset) return;
        if (servers.has(c.key) && send(c, FrameKind.fin, seqOf(c), ackOf(c))) servers.close(c.key, now);
        botLost(c);
        return;
      }
      case Ev.poke: {
        if (c.closed || c.reset) return;
        if (!servers.has(c.key)) {
          botLost(c);
          return;
        }
        // A new request on the kept-alive connection: real work for the server.
        if (send(c, FrameKind.data, seqOf(c), ackOf(c))) {
          c.sent += REQUEST_BYTES;
          servers.newRequest(c.key, now);
          if (servers.requestDone(c.key))
            heap.push(now + serviceMs() + Math.ceil(c.host.rtt / 2), { c, ev: Ev.response });
        }
        return;
      }
    }
  };

  /** After the handshake: the request (valid, partner, full-request bots) or the first header line (slow bots). */
  const startRequest = (c: Conn, state: number): void => {
    const slow = c.owner === Owner.bot && !isFullRequestBot();
    if (slow) {
      if (send(c, FrameKind.trickle, seqOf(c), ackOf(c))) c.sent += TRICKLE_BYTES;
      heap.push(now + (p.churnMs > 0 ? p.churnMs : TRICKLE_MS), {
        c,
        ev: p.churnMs > 0 ? Ev.churn : Ev.trickle,
      });
      return;
    }
    const okData = send(c, FrameKind.data, seqOf(c), ackOf(c));
    if (okData) c.sent += REQUEST_BYTES;
    if (state === ConnState.working && okData && servers.requestDone(c.key)) {
      heap.push(now + serviceMs() + Math.ceil(c.host.rtt / 2), { c, ev: Ev.response });
    } else if (state === ConnState.free) {
      // the accept queue was full (or the ACK refused): the stack retransmits
      heap.push(now + 1000, { c, ev: Ev.retryRequest });
    }
  };

  // --- valid clients and partners ---
  const validPool = Int32Array.from(
    { length: p.validAddresses },
    () => VALID_BASE + rngValid.int(1, 0x5fffff),
  );
  const partnerPool = Int32Array.from({ length: p.partnerAddresses }, (_, i) => PARTNER_BASE + 1 + i);
  const scheduleArrivals = (rate: number, owner: number, pool: Int32Array): void => {
    if (rate <= 0) return;
    for (let t = rngValid.exp(1000 / rate); t < p.durationMs; t += rngValid.exp(1000 / rate)) {
      const addr = pool[rngValid.int(0, pool.length - 1)];
      const c = newConn(owner, addr, Math.floor(t) + 1, rngValid);
      allValid.push(c);
    }
  };
  scheduleArrivals(p.validRate, Owner.valid, validPool);
  scheduleArrivals(p.partnerRate, Owner.partner, partnerPool);
  // spoof-gone: clients that answered the director in the half second before the attack and are
  // offline from its start: the addresses the attacker spoofs (verified where the loop reaches
  // attackStartMs - 500; their own connections are left out, so they add no load).
  const gonePool: number[] = [];
  if (p.scenario === 'spoof-gone') for (let i = 0; i < GONE_ADDRESSES; i++) gonePool.push(GONE_BASE + 1 + i);
  allValid.sort((a, b) => a.t0 - b.t0 || a.owner - b.owner);
  for (const c of allValid) {
    heap.push(c.t0, { c, ev: Ev.syn });
    for (const r of SYN_RETRIES_MS) heap.push(c.t0 + r, { c, ev: Ev.syn });
    heap.push(c.t0 + GIVE_UP_MS, { c, ev: Ev.giveUp });
  }
  // An address's first connection in the run is "new" (decided at its first SYN, in time order).
  const seenAt = new Map<number, number>();
  for (const c of allValid) {
    const first = seenAt.get(c.addr);
    c.firstTime = first === undefined;
    if (first === undefined) seenAt.set(c.addr, c.t0);
  }

  // --- attackers ---
  const sc = p.scenario;
  const share = sc === 'mixed' ? 1 / 3 : 1;
  const floodPps = sc === 'syn-flood' || sc === 'mixed' ? p.attackRate * share : 0;
  const spoofing =
    sc === 'spoof-kernel' ||
    sc === 'spoof-partner' ||
    sc === 'spoof-verified' ||
    sc === 'spoof-responders' ||
    sc === 'spoof-walk' ||
    sc === 'spoof-gone' ||
    sc === 'spoof-guess' ||
    sc === 'mixed';
  const guessPps = sc === 'spoof-guess' ? p.attackRate / 2 : 0;
  const spoofConnPs = spoofing ? (p.attackRate * share - guessPps) / SPOOF_PACKETS : 0;
  const botTarget = BOT_SCENARIOS.includes(sc)
    ? p.attackRate
    : sc === 'mixed'
      ? Math.round((p.attackRate * share) / 25)
      : 0;
  // Bots: spread, slow-read and the churning heads (churnMs) put each address at the fair share's
  // floor (never over any share the director can publish, however many sources hold connections),
  // each in a /24 of its own.
  const spreadBots = sc === 'spread' || sc === 'slow-read' || p.churnMs > 0;
  const botAddrCount = spreadBots
    ? Math.max(1, Math.ceil(botTarget / DEFENSE_WEIGHTS.fairShareFloor))
    : p.botAddresses;
  const botPool = Int32Array.from({ length: botAddrCount }, (_, i) =>
    spreadBots ? BOT_BASE + (i << 8) + 1 + rngAttack.int(0, 200) : BOT_BASE + 1 + i,
  );
  let botsHeld = 0;
  let botNext = 0;
  const botLost = (c: Conn): void => {
    if (c.closed) return;
    c.closed = true;
    botsHeld--;
    if (conns.get(c.key) === c) conns.delete(c.key);
  };
  const openBot = (): void => {
    const addr = botPool[botNext++ % botPool.length];
    const c = newConn(Owner.bot, addr, now, rngAttack);
    botsHeld++;
    conns.set(c.key, c);
    heap.push(now, { c, ev: Ev.syn });
    for (const r of SYN_RETRIES_MS) heap.push(now + r, { c, ev: Ev.syn });
    heap.push(now + GIVE_UP_MS, { c, ev: Ev.giveUp });
  };
  // Spoofed connections' follow-ups, each in its own FIFO (constant delays keep them in order):
  // due, addr, port, isn.
  const spoofRetry1 = new TupleQueue(4, 4096);
  const spoofRetry3 = new TupleQueue(4, 4096);
  const spoofAck = new TupleQueue(4, 4096);
  const spoofWalk = new TupleQueue(4, 4096);
  const spoofProgress = [new TupleQueue(4, 4096), new TupleQueue(4, 4096), new TupleQueue(4, 4096)];
  const knownValid: number[] = [];
  const guessPool = Int32Array.from({ length: GUESS_ADDRESSES }, () => rngAttack.u32() | 0);
  let guessCarry = 0;
  let floodCarry = 0;
  let spoofCarry = 0;
  const spoofSource = (r: Rng): number => {
    if (sc === 'spoof-partner') return PARTNER_BASE + r.int(1, 0xfffe);
    if (sc === 'spoof-gone') return gonePool[r.int(0, gonePool.length - 1)];
    if (sc === 'spoof-guess') return guessPool[r.int(0, GUESS_ADDRESSES - 1)];
    if ((sc === 'spoof-verified' || sc === 'spoof-walk') && knownValid.length > 0) {
      if (p.responderMix > 0 && r.next() < p.responderMix) return r.u32() | 0;
      return knownValid[r.int(0, knownValid.length - 1)];
    }
    return r.u32() | 0;
  };
  const spoofSyn = (addr: number, port: number, isn: number): void => {
    const v = toDirector(FrameKind.synLinux, addr >>> 0, port, isn, 0);
    if (v === Verdict.forward) {
      const key = ServerFarm.key(addr >>> 0, port);
      const r = servers.syn(director.outReal, key, Owner.spoof, now);
      // The server's SYN-ACK goes to the spoofed address: its owner, if live, resets it.
      if (r !== SynResult.dropped) serverSynAckTo(addr >>> 0, port, (isn + 1) | 0);
    }
  };
  const spoofBlind = (
    addr: number,
    port: number,
    isn: number,
    kind: number,
    payload: number,
    ack: number,
  ): void => {
    const v = toDirector(kind, addr >>> 0, port, (isn + 1 + payload) | 0, ack);
    if (v === Verdict.forward && kind === FrameKind.ack && payload === 0) {
      servers.ack(director.outReal, ServerFarm.key(addr >>> 0, port), Owner.spoof, false, now);
    }
  };

  const attackStep = (): void => {
    if (guessPps > 0 && now >= p.attackStartMs) {
      guessCarry += guessPps / 1000;
      for (; guessCarry >= 1; guessCarry--) {
        const addr = guessPool[rngAttack.int(0, GUESS_ADDRESSES - 1)];
        toDirector(FrameKind.rst, addr >>> 0, rngAttack.int(1024, 65535), rngAttack.u32() | 0, 0);
      }
    }
    // follow-ups due now
    while (spoofAck.size > 0 && spoofAck.peek(0) <= now) {
      const addr = spoofAck.peek(1);
      const port = spoofAck.peek(2);
      const isn = spoofAck.peek(3);
      spoofAck.shift();
      const guess = rngAttack.u32() | 0;
      spoofBlind(addr, port, isn, FrameKind.ack, 0, guess);
      spoofBlind(addr, port, isn, FrameKind.data, 0, guess);
      for (let k = 0; k < 3; k++)
        spoofProgress[k].push(now - SPOOF_ACK_DELAY_MS + SPOOF_PROGRESS_MS[k], addr, port, isn);
    }
    while (spoofWalk.size > 0 && spoofWalk.peek(0) <= now) {
      const addr = spoofWalk.peek(1);
      const port = spoofWalk.peek(2);
      const isn = spoofWalk.peek(3);
      spoofWalk.shift();
      const guess = rngAttack.u32() | 0;
      spoofBlind(addr, port, isn, FrameKind.ack, 0, guess);
      spoofBlind(addr, port, isn, FrameKind.ack, 0, (guess + 1460) | 0);
      // Each segment starts one byte inside the window ahead of where the last one ended.
      let off = 0;
      for (let k = 0; k < 3; k++) {
        off += WALK_STEP;
        spoofBlind(addr, port, isn, FrameKind.data, off, (guess + 1460) | 0);
        off += REQUEST_BYTES;
      }
    }
    for (let k = 0; k < 3; k++) {
      const q = spoofProgress[k];
      while (q.size > 0 && q.peek(0) <= now) {
        const addr = q.peek(1);
        const port = q.peek(2);
        const isn = q.peek(3);
        q.shift();
        // blind "progress": an acknowledgement advancing by a segment each time
        spoofBlind(addr, port, isn, FrameKind.ack, REQUEST_BYTES, (isn ^ 0x1234567) + (k + 1) * 1460);
      }
    }
    for (const q of [spoofRetry1, spoofRetry3]) {
      while (q.size > 0 && q.peek(0) <= now) {
        spoofSyn(q.peek(1), q.peek(2), q.peek(3));
        q.shift();
      }
    }
    while (rstQueue.size > 0 && rstQueue.peek(0) <= now) {
      toDirector(FrameKind.rst, rstQueue.peek(1) >>> 0, rstQueue.peek(2), rstQueue.peek(3), 0);
      rstQueue.shift();
    }
  };

  // --- the clock ---
  const end = p.durationMs + p.tailMs;
  const due: Event[] = [];
  let slotSamples = 0;
  let slotSum = 0;
  const totalCapacity = p.reals * p.capacity;
  const onTimeout = (key: number): void => {
    const c = conns.get(key);
    if (c !== undefined && c.owner === Owner.bot) botLost(c);
  };
  for (now = 1; now <= end; now++) {
    const attacking = now >= p.attackStartMs;
    due.length = 0;
    while (heap.peekTime() <= now) due.push(heap.pop());
    let floods = 0;
    let spoofs = 0;
    if (attacking) {
      floodCarry += floodPps / 1000;
      spoofCarry += spoofConnPs / 1000;
      floods = Math.floor(floodCarry);
      floodCarry -= floods;
      spoofs = Math.floor(spoofCarry);
      spoofCarry -= spoofs;
      // bots keep their count up, opening a few per millisecond
      for (let k = 0; k < 4 && botsHeld < botTarget; k++) openBot();
    }
    attackStep();
    let attackLeft = floods + spoofs;
    let validLeft = due.length;
    let vi = 0;
    while (attackLeft + validLeft > 0) {
      if (validLeft > 0 && rngOrder.next() * (attackLeft + validLeft) < validLeft) {
        hostEvent(due[vi++]);
        validLeft--;
        while (heap.peekTime() <= now) {
          due.push(heap.pop());
          validLeft++;
        }
        continue;
      }
      if (rngOrder.next() * attackLeft < floods) {
        floods--;
        // the draws in the same order with or without floodSources: the default runs stay as they were
        const drawn = rngAttack.u32();
        const addr = p.floodSources > 0 ? FLOOD_BASE + 1 + (drawn % p.floodSources) : drawn;
        const port = rngAttack.int(1024, 65535);
        const isn = rngAttack.u32();
        if (toDirector(FrameKind.synBare, addr, port, isn, 0) === Verdict.forward) {
          const r = servers.syn(director.outReal, ServerFarm.key(addr, port), Owner.flood, now);
          if (p.floodSources > 0 && p.floodIgnoresSynAck === 0 && r !== SynResult.dropped) {
            serverSynAckTo(addr, port, (isn + 1) | 0);
          }
        }
      } else {
        spoofs--;
        const addr = spoofSource(rngAttack);
        const port = rngAttack.int(1024, 65535);
        const isn = rngAttack.u32() | 0;
        spoofSyn(addr, port, isn);
        spoofRetry1.push(now + 1000, addr, port, isn);
        spoofRetry3.push(now + 3000, addr, port, isn);
        if (sc === 'spoof-walk') spoofWalk.push(now + 1, addr, port, isn);
        else spoofAck.push(now + SPOOF_ACK_DELAY_MS, addr, port, isn);
      }
      attackLeft--;
    }
    if (inBatch > 0) {
      director.afterBatch(now);
      inBatch = 0;
    }
    director.tick(now);
    servers.expire(now, onTimeout);
    if (p.agentIntervalMs > 0) pollAgents(now);
    if (now === p.attackStartMs - 500) {
      // spoof-gone: their last answers (the owners go offline at the attack's start)
      for (let i = 0; i < gonePool.length; i++) {
        hostFor(gonePool[i], Owner.valid).gone = true;
        director.tables.verified.verify(
          0,
          0,
          0xffff,
          gonePool[i],
          40000,
          AnswerKind.probe,
          now + (i % 500),
          VERIFIED_TTL_MS,
        );
      }
    }
    // valid sources the spoof-verified attacker has seen connect
    if (
      (sc === 'spoof-verified' || sc === 'spoof-walk') &&
      now % (p.targetAddresses > 0 ? 100 : 1000) === 0
    ) {
      knownValid.length = 0;
      if (p.targetAddresses > 0) {
        const newest = [...seenAt].filter(([, t]) => t <= now).sort((a, b) => b[1] - a[1]);
        for (let i = 0; i < newest.length && i < p.targetAddresses; i++) knownValid.push(newest[i][0]);
      } else {
        const owner = p.targetPartners === 1 ? Owner.partner : Owner.valid;
        for (const [addr, h] of hosts) if (h.owner === owner && h.seen > 0) knownValid.push(addr);
      }
    }
    if (attacking && now % SAMPLE_EVERY_MS === 0) {
      slotSamples++;
      const held = servers.heldBy(Owner.flood) + servers.heldBy(Owner.spoof) + servers.heldBy(Owner.bot);
      slotSum += held / totalCapacity;
    }
  }

  // --- metrics ---
  let validAttempts = 0;
  let validOk = 0;
  let validNew = 0;
  let validNewOk = 0;
  let validReset = 0;
  let validResetIdle = 0;
  let validSlow = 0;
  let validSlowCut = 0;
  let partnerAttempts = 0;
  let partnerOk = 0;
  let partnerReset = 0;
  const setups: number[] = [];
  const setupsNew: number[] = [];
  for (const c of allValid) {
    if (c.t0 < p.attackStartMs) continue;
    if (c.owner === Owner.valid) {
      validAttempts++;
      if (c.outcome === 1) validOk++;
      else validFailedHow[c.failedHow || 'pending'] = (validFailedHow[c.failedHow || 'pending'] ?? 0) + 1;
      if (c.firstTime) {
        validNew++;
        if (c.outcome === 1) validNewOk++;
        if (c.setupMs >= 0) setupsNew.push(c.setupMs);
      }
      if (c.reset) validReset++;
      if (c.resetIdle) validResetIdle++;
      if (c.slowUntil > 0) {
        validSlow++;
        if (c.slowCut) validSlowCut++;
      }
      if (c.setupMs >= 0) setups.push(c.setupMs);
    } else {
      partnerAttempts++;
      if (c.outcome === 1) partnerOk++;
      if (c.reset) partnerReset++;
    }
  }
  setups.sort((a, b) => a - b);
  setupsNew.sort((a, b) => a - b);
  const byOwner = (a: Float64Array): Record<string, number> => {
    const out: Record<string, number> = {};
    for (let o = 0; o < OWNER_COUNT; o++) if (a[o] > 0) out[OWNER_NAMES[o]] = a[o];
    return out;
  };
  const returning = validAttempts - validNew;
  return {
    mode: 'sim',
    scenario: p.scenario,
    strategy: p.strategy,
    attackRate: p.attackRate,
    attackUnit: BOT_SCENARIOS.includes(sc) ? 'connections' : 'pps',
    seed: p.seed,
    validSuccess: round(validAttempts > 0 ? validOk / validAttempts : 1),
    validSuccessNew: round(validNew > 0 ? validNewOk / validNew : 1),
    validSuccessReturning: round(returning > 0 ? (validOk - validNewOk) / returning : 1),
    setupP50Ms: percentile(setups, 0.5),
    setupP99Ms: percentile(setups, 0.99),
    setupP99NewMs: percentile(setupsNew, 0.99),
    validFalselyReset: round(validAttempts > 0 ? validReset / validAttempts : 0),
    validResetIdle: round(validAttempts > 0 ? validResetIdle / validAttempts : 0),
    ...(p.validSlowShare > 0
      ? { validSlowDownloads: validSlow, validSlowCut: round(validSlow > 0 ? validSlowCut / validSlow : 0) }
      : {}),
    priority0Shed,
    partnerFalselyReset: partnerAttempts > 0 ? partnerReset / partnerAttempts : 0,
    attackerSlots: round(slotSamples > 0 ? slotSum / slotSamples : 0),
    partnerSuccess: round(partnerAttempts > 0 ? partnerOk / partnerAttempts : 1),
    validAttempts,
    validAttemptsNew: validNew,
    partnerAttempts,
    challengesSent: director.defenseCount(Defense.challengesSent),
    probesSent: director.defenseCount(Defense.probesSent),
    sourcesVerified: director.defenseCount(Defense.sourcesVerified),
    directorDrops: director.drops(),
    resetsDisplaced: director.resetsDisplaced,
    resetsShed: director.resetsShed,
    resetsForNothing: servers.resetsForNothing,
    lvsDroppedEntries: director.loop.lvs.droppedEntries,
    lvsDroppedSyns: director.pipeline.lvs.droppedSyns,
    validFailedHow,
    serverCookies: byOwner(servers.cookies),
    serverAcceptDrops: byOwner(servers.acceptDrops),
    resetByDirector: byOwner(servers.resetByDirector),
    frames: framesSent,
    wallMs: Math.round(performance.now() - started),
  };
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
