// Pipeline: the per-frame classifier, one per worker thread. Frame in, verdict out:
// decapsulate VXLAN → parse → (ARP/ND for a VIP: answer in place) → find the service → find or
// create the connection entry (a new one is scheduled and bound to a real server) → advance
// IPVS's TCP state and what the defense tracks → rewrite the inner MACs → forward to real server i.
// Or a reply built in place (ARP, ND, the defense's challenge), or a drop with a reason. ICMP
// errors follow the flow named in their embedded header.
//
// The defense (priority strategy) in the packet path, on evidence a spoofer cannot forge blind:
//   - under pressure (DefenseState: a service verifying) a SYN from a source that has not answered
//     a challenge gets one (a SYN-ACK with a cookie for its acknowledgement number) instead of a
//     real server; the RST that answers it verifies the source (VerifiedSourceTable) and the
//     client's retransmitted SYN goes through (challenge.ts);
//   - a packet of an unverified connection under pressure sends a probe (the same SYN-ACK to
//     another port of the client) at most once per source per interval: a real client answers and
//     its connections join the verified band without being touched;
//   - only segments inside the tracked sequence window move an entry (state, close, progress): a
//     blind spoofer cannot close, age or credit someone else's connection;
//   - the client's acknowledgement numbers show the server's progress; payload since the server
//     last progressed is a request waiting for an answer (Conn.awaitingSince);
//   - RealServerCounters.held counts what the real server holds: not closed connections.
//
// Hot-path rules kept here: every field is set in the constructor with its final type; no
// object, closure, string or exception per frame; integer codes instead of branches on types.
import {
  AcquireFail,
  type AnsweredPortTable,
  AnswerKind,
  Conn,
  ConnBit,
  type ConnectionTable,
  ConnFlag,
  clockNow,
  EvictLowestPriority,
  elapsed,
  nextTcpState,
  Persist,
  type PersistenceTable,
  PORT_ANSWER_MS,
  packStatePrio,
  RefuseWhenFull,
  RemoveReason,
  type SourceTable,
  Src,
  SYN_COUNT_MAX,
  statePrioInitial,
  statePrioPriority,
  statePrioReasons,
  statePrioState,
  TcpState,
  VERIFY_CROWDED,
  Verification,
  type VerifiedSourceTable,
} from '@sluice/conntrack';
import {
  Challenger,
  CookieKind,
  DEMOTED_POINTS,
  type DefenseState,
  HalfOpenRelease,
  HOLDS_AFTER_PROVISIONAL,
  LvsDefense,
  lvsSettings,
  PriorityScorer,
  probePortFor,
  provisionalFor,
  Reconfirm,
  reconfirmVerdict,
  SCORE_DROP,
  SOURCE_LOOKUP,
  storedReasons,
  type VictimIndex,
} from '@sluice/defense';
import type { RealServerCounters } from '@sluice/schedulers';
import {
  buildArpReply,
  buildNeighborAdvert,
  EtherType,
  FrameInfo,
  IpProto,
  ParseStatus,
  parseFrame,
  parseVxlan,
  TcpFlag,
  VxlanInfo,
  writeVxlan,
} from '@sluice/wire';
import { ConnectionAccounting, RESET_QUEUE_LENGTH, type ResetSink, ResetWord } from './accounting.ts';
import { type Batch, BatchHeader, Desc } from './batch.ts';
import { type CompiledConfig, PROTO_TCP, Strategy, VerifyMode } from './compile.ts';
import { type CounterLayout, Defense, observeBatchSeconds, Per } from './counters.ts';
import { QuicRouter } from './quic-route.ts';
import { DropReason, Verdict } from './verdict.ts';

const VXLAN_HEADER = 8;
/**
 * How far behind the tracked next sequence number a client segment may start and still be taken
 * (retransmissions, reordering), and how far ahead (a window of data in flight): outside, a
 * segment is forwarded untouched but moves nothing here. 1 MiB each way: a blind spoofer hits it
 * once in 2^11 guesses of the sequence number, a client never misses it.
 */
const SEQ_WINDOW = 1 << 20;
/** Why a probe is sent (Pipeline.probe). */
const ProbeKind = {
  /** a source not known to be verified, at its connection's packet */
  newSource: 0,
  /** a verified source that has not answered lately, at a provisional connection's packet */
  reconfirm: 1,
  /** a source that just answered a challenge: does it answer on another port too? */
  reachability: 2,
  /**
   * the same, for a source asked connection by connection whose answers come faster than its
   * record remembers their ports (VerifiedSourceTable.verify: VERIFY_CROWDED, one answer in
   * PORT_SLOTS): a spoofer is using it, and only the probe's answer keeps its owner's connections
   * from being lost among the spoofer's. Outside the budget and the source table: a flood of other
   * live hosts' answers takes each second's budget in its first milliseconds and fills the
   * other, and the owner then stayed locked out (simulator: spoof-verified at a tenth of 100k pps
   * on five newcomers, the rest on random addresses, 30% of them live: 26 of 160 first-time
   * clients). It adds one probe to every PORT_SLOTS challenges the director sends the source
   * anyway.
   */
  crowded: 3,
} as const;

/**
 * A young entry (within weights.provisionalMs of its SYN) takes its client's reset from this far
 * behind the tracked next sequence number, and from anywhere behind once a client segment skipped
 * ahead of it (ConnBit.leapt): the address owner's answer to the server's SYN-ACK carries the SYN's
 * sequence number + 1, and a blind spoofer that walked the window to put it out of reach has to
 * send every byte of 16 MiB, or leap. A blind reset must still guess the client's port and land
 * in 16 MiB of 4 GiB, within half a second of the SYN.
 */
const YOUNG_RST_BACK = 1 << 24;
/** An acknowledgement this far below the highest one seen is not reordering: progress was forged. */
const ACK_BACKWARD_TOLERANCE = 1 << 16;
/** Probe frames (VXLAN + Ethernet + IPv6 + TCP + VLAN tag, rounded) the pipeline queues per batch. */
export const PROBE_QUEUE_LENGTH = 32;
export const PROBE_FRAME_BYTES = 96;

export interface PipelineTables {
  connections: ConnectionTable;
  sources: SourceTable;
  persistence: PersistenceTable;
  reals: RealServerCounters;
  /** Lowest-priority entries per real server, kept by the re-scorer; null: no displacement. */
  victims?: VictimIndex | null;
  /** Sources that answered a challenge; null: no source verification. */
  verified?: VerifiedSourceTable | null;
  /** The client ports that answered a challenge lately (a busy address asked connection by connection); null: the verified record's few ports only. */
  answered?: AnsweredPortTable | null;
  /** Which services verify sources now, the cookie key, the fair share; null: no verification. */
  defenseState?: DefenseState | null;
}

/** admit()'s refusal: every real server full and no entry the SYN outranks. */
const REFUSED_CAPACITY = -2;
/** Listed victims one SYN may look at (gone, improved or spared ones are passed over). */
const DISPLACE_TRIES = 8;

export interface PipelineOptions {
  /** Slots of the connection table examined for expiry after each batch. */
  expirySlotsPerBatch: number;
  /** Slots of the source and persistence tables examined after each batch. */
  sideExpirySlotsPerBatch: number;
  /** A source holding no connection is forgotten after this long. */
  sourceIdleMs: number;
}

export const DEFAULT_PIPELINE_OPTIONS: PipelineOptions = {
  expirySlotsPerBatch: 256,
  sideExpirySlotsPerBatch: 64,
  sourceIdleMs: 120_000,
};

export class Pipeline implements ResetSink {
  readonly frame = new FrameInfo();
  readonly vxlan = new VxlanInfo();
  readonly connections: ConnectionTable;
  readonly sources: SourceTable;
  readonly persistence: PersistenceTable;
  readonly reals: RealServerCounters;
  readonly counters: Float64Array;
  readonly layout: CounterLayout;
  readonly options: PipelineOptions;
  config: CompiledConfig;
  /** Clock for the frame being processed (ms, wrapping, see conntrack/clock). */
  now = 0;
  // What processFrame decided beyond its Verdict, one field per meaning, each set only with the
  // verdict it belongs to.
  /** Verdict.forward: the real server's index. */
  real = 0;
  /** Verdict.drop: the DropReason (1..15 are the parser's ParseStatus codes). */
  dropReason = 0;
  /** Verdict.reply (built in place): the new length of the whole datagram. */
  replyLength = 0;
  /** Set by schedule: the persistence template chose the real server it returned. */
  private placedByTemplate = false;
  readonly victims: VictimIndex | null;
  /** Frees a displaced half-open entry's slot without a reset (see displaceOn). */
  private readonly halfOpenRelease: HalfOpenRelease;
  readonly verifiedSources: VerifiedSourceTable | null;
  /** Client ports that answered a challenge lately, beyond the few a verified record keeps. */
  readonly answeredPorts: AnsweredPortTable | null;
  readonly defenseState: DefenseState | null;
  /** Builds challenges and probes and checks answers; null without a DefenseState. */
  readonly challenger: Challenger | null;
  /** The underlay (IPv4, as a 32-bit word) of the VTEP the frame being processed came from. */
  senderVtep = 0;
  /** This worker's LVS defense state (modes flip once a second from the table's free entries). */
  readonly lvs: LvsDefense;
  private lvsFor: CompiledConfig | null = null;
  /** RSTs to send after the batch (displaced and evicted connections); drained by the port. */
  readonly resetQueue = new Int32Array(RESET_QUEUE_LENGTH * ResetWord.words);
  resetCount = 0;
  /** The counts that follow an entry (sources, real servers, persistence): the table's removal listener. */
  readonly accounting: ConnectionAccounting;
  /**
   * Probes to send after the batch (the port sends each to its VTEP): VXLAN datagrams of
   * PROBE_FRAME_BYTES slots, their lengths and VTEPs (32-bit IPv4 underlay addresses).
   */
  readonly probeFrames = new Uint8Array(PROBE_QUEUE_LENGTH * PROBE_FRAME_BYTES);
  readonly probeLengths = new Int32Array(PROBE_QUEUE_LENGTH);
  readonly probeVteps = new Int32Array(PROBE_QUEUE_LENGTH);
  probeCount = 0;
  /** Probes this worker may still send in the current second (config.probesPerSecond). */
  private probeTokens = 0;
  /** Of those, what asking a source again (reconfirmation, a source probed before) may still use. */
  private reprobeTokens = 0;
  private probeSecond = -1;
  private readonly scratch = new Int32Array(Conn.snapshotWords);
  private readonly evictLowest = new EvictLowestPriority();
  private readonly refuseFull = new RefuseWhenFull();
  /** QUIC services: the real server a short header's connection ID names (quic-route.ts). */
  private readonly quic: QuicRouter;

  constructor(
    tables: PipelineTables,
    counters: Float64Array,
    layout: CounterLayout,
    config: CompiledConfig,
    options: PipelineOptions = DEFAULT_PIPELINE_OPTIONS,
  ) {
    this.connections = tables.connections;
    this.sources = tables.sources;
    this.persistence = tables.persistence;
    this.reals = tables.reals;
    this.counters = counters;
    this.layout = layout;
    this.config = config;
    this.options = options;
    this.victims = tables.victims ?? null;
    this.halfOpenRelease = new HalfOpenRelease(tables.connections, tables.reals);
    this.verifiedSources = tables.verified ?? null;
    this.answeredPorts = tables.answered ?? null;
    this.defenseState = tables.defenseState ?? null;
    this.challenger = this.defenseState === null ? null : new Challenger(this.defenseState.key);
    this.lvs = new LvsDefense(this.connections.capacity);
    this.quic = new QuicRouter(counters, layout);
    this.accounting = new ConnectionAccounting(tables, counters, layout, config, this);
    this.connections.listener = this.accounting;
  }

  /** Follows a config change: the LVS modes of the new strategy (kept state otherwise). */
  private syncDefense(now: number): void {
    this.lvsFor = this.config;
    this.lvs.reconfigure(lvsSettings(this.config.lvs, this.connections.capacity), now, this.connections);
    // A full table under the priority defense makes room by evicting the lowest of a new entry's
    // candidates (closed ones first, never priority 0); the LVS baselines refuse, as IPVS would
    // when out of memory.
    this.connections.fullPolicy =
      this.config.strategy === Strategy.priority ? this.evictLowest : this.refuseFull;
  }

  /** Classifies every frame of a batch in place, then does a bounded slice of expiry. */
  processBatch(batch: Batch): void {
    const started = performance.now();
    const now = clockNow(this.connections.epochMs);
    this.now = now;
    if (this.lvsFor !== this.config) this.syncDefense(now);
    const n = batch.header[BatchHeader.count];
    const desc = batch.desc;
    const data = batch.data;
    const c = this.counters;
    if (this.defenseState !== null && this.config.scorer !== null) {
      this.config.scorer.fairShare = this.defenseState.fairShare();
    }
    for (let i = 0; i < n; i++) {
      const d = i * Desc.words;
      this.senderVtep = desc[d + Desc.peer];
      const verdict = this.processFrame(data, desc[d + Desc.offset], desc[d + Desc.length]);
      desc[d + Desc.verdict] = verdict;
      c[verdict] += 1;
      if (verdict === Verdict.forward) {
        desc[d + Desc.arg] = this.real;
      } else if (verdict === Verdict.drop) {
        desc[d + Desc.arg] = this.dropReason;
        c[this.layout.drops + this.dropReason] += 1;
      } else {
        desc[d + Desc.arg] = 0;
        desc[d + Desc.length] = this.replyLength;
      }
    }
    this.maintain(now);
    observeBatchSeconds(c, this.layout, (performance.now() - started) / 1000);
  }

  /** Bounded expiry work; also called on its own when no traffic comes. */
  maintain(now: number): void {
    const o = this.options;
    this.accounting.now = now;
    this.accounting.config = this.config;
    // update_defense_level, once a second: cheap (a count and a few comparisons).
    if (this.lvsFor !== null && ((now - this.lvs.lastUpdate) | 0) >= 1000)
      this.lvs.update(now, this.connections);
    this.connections.expireStep(now, o.expirySlotsPerBatch);
    this.sources.expireStep(now, o.sideExpirySlotsPerBatch, o.sourceIdleMs);
    this.persistence.expireStep(now, o.sideExpirySlotsPerBatch);
  }

  private drop(reason: number): number {
    this.dropReason = reason;
    return Verdict.drop;
  }

  /** One VXLAN datagram: returns a Verdict, and sets the field that goes with it (real, dropReason, replyLength). */
  processFrame(buf: Uint8Array, off: number, len: number): number {
    const st = parseVxlan(buf, off, len, this.vxlan);
    if (st !== ParseStatus.ok) return this.drop(st);
    const cfg = this.config;
    if (this.vxlan.vni !== cfg.vni) return this.drop(DropReason.wrongVni);
    const inner = off + VXLAN_HEADER;
    const f = this.frame;
    const pst = parseFrame(buf, inner, len - VXLAN_HEADER, f);
    if (pst !== ParseStatus.ok) return this.drop(pst);

    if (f.etherType === EtherType.arp) {
      const target = f.arpTargetIp | 0;
      if (f.arpOp !== 1 || (!cfg.isVip4(target) && (target !== cfg.ownAddress4 || target === 0)))
        return this.drop(DropReason.notForUs);
      this.replyLength = VXLAN_HEADER + buildArpReply(buf, inner, f, cfg.directorMac, buf, inner);
      return Verdict.reply;
    }
    if (f.fragOffset > 0) return this.drop(DropReason.fragment);
    const proto = f.ipProto;
    if (proto === IpProto.tcp || proto === IpProto.udp) return this.forwardFlow(buf, inner, len);
    if (proto === IpProto.icmpv6 && f.icmpType === 135) {
      if (f.ndTargetOffset < 0 || !cfg.isVip6At(buf, f.ndTargetOffset)) return this.drop(DropReason.notForUs);
      this.replyLength = VXLAN_HEADER + buildNeighborAdvert(buf, inner, f, cfg.directorMac, buf, inner);
      return Verdict.reply;
    }
    // A neighbour advertisement is an answer to the control plane's probe (neighbour learning).
    if (proto === IpProto.icmpv6 && f.icmpType === 136) return this.drop(DropReason.notForUs);
    if ((proto === IpProto.icmp || proto === IpProto.icmpv6) && f.innerValid === 1) {
      return this.forwardIcmpError(buf, inner, len);
    }
    return this.drop(DropReason.unsupported);
  }

  /** TCP or UDP toward a service: find or create the entry, advance its state, forward. */
  private forwardFlow(buf: Uint8Array, inner: number, len: number): number {
    const f = this.frame;
    const cfg = this.config;
    const proto = f.ipProto;
    const svc = cfg.findService(f.dst0 | 0, f.dst1 | 0, f.dst2 | 0, f.dst3 | 0, f.dstPort, proto);
    if (svc < 0) {
      // A frame to the director's own overlay address (an overlay health check's answer) is the
      // control plane's: punted like ARP answers. Only here, off the path of served traffic.
      const own = cfg.ownAddress4;
      if (own !== 0 && (f.dst3 | 0) === own && f.dst2 === 0xffff && f.dst0 === 0 && f.dst1 === 0)
        return this.drop(DropReason.notForUs);
      return this.drop(DropReason.noService);
    }
    const isTcp = proto === PROTO_TCP;
    const flags = f.tcpFlags;
    // As IPVS: only a SYN (without RST) creates a TCP entry; any UDP datagram creates one.
    const creates = isTcp ? (flags & (TcpFlag.syn | TcpFlag.rst)) === TcpFlag.syn : true;
    const now = this.now;
    const table = this.connections;
    const a0 = f.src0 | 0;
    const a1 = f.src1 | 0;
    const a2 = f.src2 | 0;
    const a3 = f.src3 | 0;
    const strategy = cfg.strategy;
    const scorer = cfg.scorer;
    const verifying = this.verifying(svc);
    // The SYN is scored before the table, so a refused bogon costs nothing and a full table's
    // eviction policy sees the real priority.
    let synPrio = cfg.defaultPriority;
    let rule = -1;
    let slot = -1;
    /** The SYN's own port answered the challenge just before (its retransmission after the answer). */
    let ownAnswer = false;
    if (creates && isTcp && scorer !== null) {
      const vs = this.verifiedSources;
      let verification =
        vs !== null && (verifying || scorer.rules.count > 0)
          ? vs.isVerifiedFor(a0, a1, a2, a3, f.srcPort, now)
          : Verification.none;
      // The record keeps its last few answers' ports; a busy address (a carrier NAT's, answering
      // for all its users) answers more within a retransmission's time, and the rest are here;
      // and a NAT may have given the SYN sent again another port than the one that answered.
      // An answer lets one SYN through: the one it answered, by its port or, moved, by its
      // sequence number; a SYN let through by its port uses up the sequence-number entry too,
      // so a spoofer's guess can only meet the answers of SYNs that have not come again.
      const answered = this.answeredPorts;
      if (answered !== null) {
        const seq = f.tcpSeq | 0;
        if (verification === Verification.askThisConnection) {
          if (answered.answered(a0, a1, a2, a3, f.srcPort, seq, now) === 1) {
            verification = Verification.thisConnectionAnswered;
            answered.takeBySeq(a0, a1, a2, a3, seq, now);
          } else if (answered.takeBySeq(a0, a1, a2, a3, seq, now) === 1) {
            verification = Verification.thisConnectionAnswered;
          }
        } else if (verification === Verification.thisConnectionAnswered) {
          answered.takeBySeq(a0, a1, a2, a3, seq, now);
        }
      }
      // A source asked connection by connection is verified for this SYN only if its port answered.
      const verified =
        verification === Verification.verified || verification === Verification.thisConnectionAnswered
          ? 1
          : 0;
      ownAnswer = verification === Verification.thisConnectionAnswered;
      if (verifying && verified === 0) {
        // A retransmitted SYN of a connection admitted before the pressure carries on; any other
        // SYN from an unverified source is answered by the director instead of a real server, and
        // so is one from a source asked connection by connection (it did not answer a probe)
        // whose port has not answered lately: its owner answers for its own SYN, a spoofer cannot.
        slot = table.acquire(a0, a1, a2, a3, (f.srcPort << 16) | svc, false, 0, now);
        if (slot < 0) {
          if (table.failReason !== AcquireFail.notFound) return this.drop(DropReason.contention);
          return this.challenge(buf, inner);
        }
      } else {
        synPrio = scorer.scoreSyn(f, this.sources, SOURCE_LOOKUP, verified, now);
        if (synPrio === SCORE_DROP) return this.drop(DropReason.sourceCheck);
        rule = scorer.lastRule;
      }
    }
    // --- QUIC (quic-route.ts): the real server a short header's server ID names, else -1.
    const quicReal = isTcp ? -1 : this.quic.route(cfg, svc, buf, f.payloadOffset, f.payloadLen);
    // ---
    if (creates) {
      // Only a creating packet can remove an entry here (an eviction, or a displacement below):
      // accounted on this frame's clock and config.
      const acc = this.accounting;
      acc.now = now;
      acc.config = cfg;
    }
    if (slot < 0) slot = table.acquire(a0, a1, a2, a3, (f.srcPort << 16) | svc, creates, synPrio, now);
    if (slot < 0) {
      const why = table.failReason;
      if (
        why === AcquireFail.notFound &&
        isTcp &&
        this.challenger !== null &&
        strategy === Strategy.priority
      ) {
        if ((flags & (TcpFlag.rst | TcpFlag.ack | TcpFlag.syn)) === TcpFlag.rst)
          return this.answer(buf, inner);
      }
      return this.drop(
        why === AcquireFail.notFound
          ? DropReason.noEntry
          : why === AcquireFail.full
            ? DropReason.tableFull
            : DropReason.contention,
      );
    }
    const i32 = table.i32;
    const base = table.recordBase(slot);
    const created = table.created === 1;
    let real: number;
    let state: number;
    let cflags: number;
    /** The flag word's top byte (ConnBit). */
    let top: number;
    let initial = synPrio;
    /** Its source failed reconfirmation on this packet (reconfirm.ts: DEMOTED_POINTS). */
    let demoted = false;
    // A new entry's top statePrio byte: why its SYN scored as it did (the listing explains it).
    let reasonsByte = 0;
    if (created) {
      let extra = 0;
      if (scorer !== null) {
        if (!isTcp) {
          // Every UDP datagram "creates"; only the first of a flow is scored. UDP cannot be
          // challenged, so its sources count as unverified.
          synPrio = scorer.scoreSyn(f, this.sources, SOURCE_LOOKUP, 0, now);
          if (synPrio === SCORE_DROP) {
            table.abandonHeld(slot);
            return this.drop(DropReason.sourceCheck);
          }
          rule = scorer.lastRule;
        }
        extra = scorer.lastFlags;
        initial = scorer.lastInitial;
      } else if (strategy === Strategy.dropPacket && this.lvs.shouldDropSyn()) {
        // ip_vs_todrop(): 1 in `rate` new connections, before scheduling.
        table.abandonHeld(slot);
        return this.drop(DropReason.dropPacket);
      }
      // QUIC: a new path of a routed connection goes to its server; anything else is scheduled.
      this.placedByTemplate = false;
      real = quicReal >= 0 ? this.quic.newPath(svc) : this.schedule(svc, rule, a0, a1, a2, a3, now);
      if (strategy === Strategy.priority && real < 0) {
        // Every server full: verification switches on at once (the defense loop's next round
        // keeps it on), and a SYN scored without asking is asked now whether its source answered.
        if (this.defenseState !== null && cfg.verifyMode === VerifyMode.auto) {
          this.defenseState.setVerifying(svc, 1);
        }
        if (
          isTcp &&
          scorer !== null &&
          !verifying &&
          (extra & ConnFlag.verified) === 0 &&
          this.verifiedSources !== null &&
          this.verifiedSources.isVerifiedFor(a0, a1, a2, a3, f.srcPort, now) === Verification.verified
        ) {
          synPrio = scorer.scoreSyn(f, this.sources, SOURCE_LOOKUP, 1, now);
          extra = scorer.lastFlags;
          initial = scorer.lastInitial;
        }
        real = this.displace(svc, synPrio);
      }
      if (real < 0) {
        table.abandonHeld(slot);
        return this.drop(real === REFUSED_CAPACITY ? DropReason.capacity : DropReason.noRealServer);
      }
      if (scorer !== null) reasonsByte = storedReasons(scorer.lastReasons);
      // A verified source's entry is provisional at first (weights.provisionalMs): if its address
      // was spoofed, the owner resets it within a round trip and it never counted.
      const provisional = (extra & ConnFlag.verified) !== 0 && cfg.provisionalMs > 0;
      cflags =
        (this.placedByTemplate ? ConnFlag.persistent : 0) |
        (extra & 0xffff) |
        (provisional ? ConnFlag.provisional : ConnFlag.held);
      top = extra & 0xff000000;
      if (ownAnswer) top |= ConnBit.answered;
      if (!(a0 === 0 && a1 === 0 && a2 === 0xffff)) cflags |= ConnFlag.ipv6;
      if (!isTcp) cflags |= ConnFlag.udp;
      i32[base + Conn.real] = real;
      i32[base + Conn.firstSeen] = now;
      this.reals.bind(real, false, cfg.realUpper[real], cfg.realLower[real], !provisional);
      if (isTcp && !provisional) this.reals.noteHalfOpenBound(real);
      cflags |= this.accounting.countNewSource(a0, a1, a2, a3, synPrio, now);
      // A verified source that has not answered for a while is asked again, in the background:
      // its provisional time ends in the verified band only if it answers (reconfirmAfterMs).
      if (
        provisional &&
        !ownAnswer &&
        this.verifiedSources !== null &&
        this.verifiedSources.answeredSince(a0, a1, a2, a3, (now - cfg.reconfirmAfterMs) | 0, now) === 0
      ) {
        this.probe(buf, inner, cfg.reconfirmAfterMs, ProbeKind.reconfirm);
      }
      const c = this.counters;
      c[this.layout.services + svc * Per.words + Per.connections] += 1;
      c[this.layout.reals + real * Per.words + Per.connections] += 1;
      state = TcpState.none;
      i32[base + Conn.nextSeq] = f.tcpSeq | 0;
      // A source not known to be verified is probed in the background (the SYN goes on at once):
      // a rule's priority waits for it, and the clients a flood finds connected are known then.
      if (
        isTcp &&
        (extra & ConnFlag.verified) === 0 &&
        ((top & ConnBit.ruleNeedsVerify) !== 0 ||
          (cfg.probeNewSources &&
            this.verifiedSources !== null &&
            this.verifiedSources.isVerified(a0, a1, a2, a3, now) === 0))
      ) {
        this.probe(buf, inner, cfg.probeIntervalMs, ProbeKind.newSource);
      }
    } else {
      real = i32[base + Conn.real];
      // QUIC: the connection ID outranks the 5-tuple; its entry follows the routed server.
      if (quicReal >= 0 && quicReal !== real)
        real = this.quic.repoint(cfg, table, base, svc, real, this.reals);
      const fs = i32[base + Conn.flagsSyn];
      cflags = fs & 0xffff;
      top = fs & 0xff000000;
      state = statePrioState(i32[base + Conn.statePrio]);
      if (
        isTcp &&
        !this.inWindow(f.tcpSeq | 0, i32[base + Conn.nextSeq]) &&
        !this.disowned(
          flags,
          fs,
          f.tcpSeq | 0,
          i32[base + Conn.nextSeq],
          i32[base + Conn.firstSeen],
          now,
          a0,
          a1,
          a2,
          a3,
        )
      ) {
        // Not this connection's client, or not now: the server judges it; nothing here moves.
        this.counters[this.layout.defense + Defense.outOfWindow] += 1;
        table.release(slot);
        return this.forwardTo(buf, inner, real, svc, len);
      }
    }
    const statePrio = i32[base + Conn.statePrio];
    const flagsSyn = i32[base + Conn.flagsSyn];
    let synCount = (flagsSyn >>> 16) & SYN_COUNT_MAX;
    let shut = flagsSyn & (ConnBit.windowShut | ConnBit.shutBefore);
    // The load agent's word on the server's side, kept as it is: only its next report moves it.
    const quiet = flagsSyn & ConnBit.serverQuiet;
    // Whether this packet is news (Conn.lastSeen, the idle clock): a new entry, any UDP datagram,
    // and a TCP segment that moves something: a SYN, FIN or RST, a state change, payload, or an
    // acknowledgement of new server data. An empty ACK that acknowledges nothing new (a TCP
    // keepalive, a duplicate, a window update) is not: a server's keep-alive timer does not see
    // it either, and an attacker sending one every 0.9 s kept an idle connection "active" to the
    // director (never served-idle, never closed by its server's keep-alive) at no cost.
    let fresh = created || !isTcp || (flags & (TcpFlag.syn | TcpFlag.fin | TcpFlag.rst)) !== 0;
    if (isTcp) {
      if ((flags & TcpFlag.syn) !== 0 && synCount < SYN_COUNT_MAX) synCount++;
      const next = nextTcpState(state, flags, this.lvs.secureTcpActive);
      if (next !== state) {
        fresh = true;
        if ((cflags & ConnFlag.active) !== 0 && next !== TcpState.established) {
          this.reals.unestablish(real);
          cflags &= ~ConnFlag.active;
        } else if ((cflags & ConnFlag.active) === 0 && next === TcpState.established) {
          this.reals.establish(real);
          cflags |= ConnFlag.active;
          if ((cflags & ConnFlag.handshake) === 0) {
            cflags |= ConnFlag.handshake;
            this.accounting.countHandshake(a0, a1, a2, a3, cflags, now);
            // A half-open entry that holds no slot (released past its grace, or a verified one
            // whose provisional time ended before its handshake) is held once it completes: a real
            // client's late ACK.
            if ((cflags & (ConnFlag.held | ConnFlag.provisional | ConnFlag.fin | ConnFlag.rst)) === 0) {
              cflags |= ConnFlag.held;
              this.reals.addHeld(real, 1);
              this.reals.updateOverload(real, cfg.realUpper[real], cfg.realLower[real]);
            }
          }
        }
        state = next;
      }
      if ((flags & TcpFlag.ack) !== 0) {
        // The server's progress, as the client acknowledges it.
        const ack = f.tcpAck | 0;
        // A zero window: the client's receive buffer is full, it is not reading. Bytes it
        // acknowledges then are not being served but parked, and the server's write waits on the
        // client, as it waits on a request head that never ends: the stall's clock runs from the
        // moment the window shut (slowhttptest -X; a kernel that reads a little every few seconds
        // keeps it shut, its window updates waiting for a segment's worth of room).
        const open = f.tcpWindow !== 0 || (flags & TcpFlag.rst) !== 0;
        if (open && (shut & ConnBit.windowShut) !== 0) {
          // Reopened: the client reads again, and the wait its shut window started is over (a
          // window update carries no new acknowledgement, so this is not left to progress). Only
          // a wait the window started: toggling the window must not restart a request's clock.
          // How long it was shut is kept (in awaitingSince, with no wait under way) and counts
          // again when it next shuts: a reader that reopens it a segment at a time, just before
          // each second is up, adds up its seconds all the same.
          i32[base + Conn.awaitingSince] = elapsed(i32[base + Conn.awaitingSince], now);
          shut = ConnBit.shutBefore;
          cflags &= ~ConnFlag.awaiting;
          top &= ~ConnBit.holdsUp;
        }
        if ((top & ConnBit.ackSeen) === 0) {
          top |= ConnBit.ackSeen;
          i32[base + Conn.ackMax] = ack;
        } else {
          const d = (ack - i32[base + Conn.ackMax]) | 0;
          if (d > 0) {
            i32[base + Conn.ackMax] = ack;
            fresh = true;
            cflags |= ConnFlag.progress;
            if (open) {
              cflags &= ~ConnFlag.awaiting;
              top &= ~ConnBit.holdsUp;
            }
          } else if (d < -ACK_BACKWARD_TOLERANCE) {
            cflags |= ConnFlag.ackForged;
          }
        }
        if (!open) {
          if ((cflags & ConnFlag.awaiting) === 0) {
            // The clock starts where the window's earlier shut time left it.
            const before = (shut & ConnBit.shutBefore) !== 0 ? i32[base + Conn.awaitingSince] : 0;
            shut = ConnBit.windowShut;
            cflags |= ConnFlag.awaiting;
            i32[base + Conn.awaitingSince] = (now - before) | 0;
            if (cfg.holdsUpAfterMs > 0 && before >= cfg.holdsUpAfterMs) top |= ConnBit.holdsUp;
          } else if (
            cfg.holdsUpAfterMs > 0 &&
            elapsed(i32[base + Conn.awaitingSince], now) >= cfg.holdsUpAfterMs
          ) {
            top |= ConnBit.holdsUp;
          }
        }
      }
      if (f.payloadLen > 0) {
        fresh = true;
        cflags |= ConnFlag.data;
        // Payload while the window is shut: the wait is a request's now too, and its clock runs on.
        // A new request also starts the window's count afresh.
        shut = 0;
        if ((cflags & ConnFlag.awaiting) === 0) {
          cflags |= ConnFlag.awaiting;
          i32[base + Conn.awaitingSince] = now;
        } else if (
          cfg.holdsUpAfterMs > 0 &&
          ((f.tcpSeq + f.payloadLen - i32[base + Conn.nextSeq]) | 0) > 0 &&
          elapsed(i32[base + Conn.awaitingSince], now) >= cfg.holdsUpAfterMs
        ) {
          // New bytes (not a retransmission) added to a request the server has had time to answer.
          top |= ConnBit.holdsUp;
        }
      }
      if ((flags & TcpFlag.fin) !== 0) cflags |= ConnFlag.fin;
      if ((flags & TcpFlag.rst) !== 0) cflags |= ConnFlag.rst;
      else {
        // The client's next sequence number: what a reset must carry to be accepted. Only moves
        // forward (wrap-safe), so retransmissions and reordering do not pull it back.
        if (!created && ((f.tcpSeq - i32[base + Conn.nextSeq]) | 0) > 0) top |= ConnBit.leapt;
        let end = (f.tcpSeq + f.payloadLen) | 0;
        if ((flags & TcpFlag.syn) !== 0) end = (end + 1) | 0;
        if ((flags & TcpFlag.fin) !== 0) end = (end + 1) | 0;
        if (((end - i32[base + Conn.nextSeq]) | 0) > 0 || created) i32[base + Conn.nextSeq] = end;
      }
      // A provisional entry counts once it outlived its owner's round trip (not at the server's
      // progress: a blind spoofer forges that); closed first, it never counts.
      if ((cflags & ConnFlag.provisional) !== 0) {
        if ((cflags & (ConnFlag.fin | ConnFlag.rst)) !== 0) cflags &= ~ConnFlag.provisional;
        else if (elapsed(i32[base + Conn.firstSeen], now) >= cfg.provisionalMs) {
          // In the verified band only if its source answered around its SYN (reconfirm.ts), or
          // its own port answered the challenge just before it.
          const verdict =
            (top & ConnBit.answered) !== 0
              ? Reconfirm.keep
              : reconfirmVerdict(
                  this.verifiedSources,
                  a0,
                  a1,
                  a2,
                  a3,
                  i32[base + Conn.firstSeen],
                  now,
                  cfg.reconfirmAfterMs,
                  cfg.provisionalMs,
                  cfg.provisionalMaxMs,
                  cflags | shut | quiet | top,
                  i32[base + Conn.awaitingSince],
                );
          if (verdict === Reconfirm.wait) {
            this.probe(buf, inner, cfg.reconfirmAfterMs, ProbeKind.reconfirm);
          } else if (verdict !== Reconfirm.roundTrip) {
            if (verdict === Reconfirm.demote) {
              cflags &= ~ConnFlag.verified;
              demoted = true;
              this.counters[this.layout.defense + Defense.reconfirmFailed] += 1;
            }
            cflags &= ~ConnFlag.provisional;
            if ((cflags & HOLDS_AFTER_PROVISIONAL) !== 0) {
              cflags |= ConnFlag.held;
              this.reals.addHeld(real, 1);
              this.reals.updateOverload(real, cfg.realUpper[real], cfg.realLower[real]);
            }
          }
        }
      }
      // Closed or reset by its client: the real server no longer holds it for long.
      if ((cflags & (ConnFlag.fin | ConnFlag.rst)) !== 0 && (cflags & ConnFlag.held) !== 0) {
        cflags &= ~ConnFlag.held;
        this.reals.addHeld(real, -1);
        this.reals.updateOverload(real, cfg.realUpper[real], cfg.realLower[real]);
      }
      table.setExpires(slot, (now + this.config.tcpTimeouts[state]) | 0);
    } else {
      table.setExpires(slot, (now + this.config.udpTimeout) | 0);
    }
    // Under pressure, an unverified connection's packets ask whether its source has answered
    // since, and probe it at most once an interval: real clients join the verified band.
    if (
      verifying &&
      !created &&
      isTcp &&
      (cflags & (ConnFlag.verified | ConnFlag.fin | ConnFlag.rst)) === 0 &&
      this.verifiedSources !== null
    ) {
      if (this.verifiedSources.isVerified(a0, a1, a2, a3, now) === 1) cflags |= ConnFlag.verified;
      else this.probe(buf, inner, cfg.probeIntervalMs, ProbeKind.newSource);
    }
    i32[base + Conn.statePrio] = created
      ? packStatePrio(state, synPrio, initial, reasonsByte)
      : packStatePrio(
          state,
          statePrioPriority(statePrio),
          demoted ? DEMOTED_POINTS : statePrioInitial(statePrio),
          statePrioReasons(statePrio),
        );
    i32[base + Conn.flagsSyn] = cflags | (synCount << 16) | shut | quiet | top;
    i32[base + Conn.packets] = (i32[base + Conn.packets] + 1) | 0;
    if (fresh) i32[base + Conn.lastSeen] = now;
    if (scorer !== null) {
      const delta = scorer.onPacket(i32, base, now);
      if (delta !== 0) PriorityScorer.applySourceDelta(this.sources, i32, base, delta, now);
    }
    table.release(slot);
    return this.forwardTo(buf, inner, real, svc, len);
  }

  /** 1 when service `svc` verifies sources now: always, or under pressure (the defense loop says). */
  private verifying(svc: number): boolean {
    const mode = this.config.verifyMode;
    if (mode === VerifyMode.off || this.defenseState === null) return false;
    return mode === VerifyMode.always || this.defenseState.verifying(svc) === 1;
  }

  /**
   * 1 for a client reset from behind the window of a young entry (YOUNG_RST_BACK): its address
   * owner disowning what a spoofer opened and walked away from. Young: within provisionalMs of its
   * SYN, or within the provisional time its source's measured round trip gives (a far owner's
   * reset comes later: reconfirm.ts provisionalFor), whether or not the entry is provisional (an
   * entry opened while its source was unverified, verified since, is held from its SYN, and its
   * far owner's reset was ignored behind the window: simulator, spoof-verified with every host
   * 400-700 ms away). `fs` the record's flag word (ConnFlag and ConnBit).
   */
  private disowned(
    flags: number,
    fs: number,
    seq: number,
    next: number,
    firstSeen: number,
    now: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
  ): boolean {
    const d = (seq - next) | 0;
    if ((flags & TcpFlag.rst) === 0 || d >= 0 || (d < -YOUNG_RST_BACK && (fs & ConnBit.leapt) === 0))
      return false;
    const age = elapsed(firstSeen, now);
    const cfg = this.config;
    if (age < cfg.provisionalMs) return true;
    if (this.verifiedSources === null) return false;
    const rtt = this.verifiedSources.roundTrip(a0, a1, a2, a3);
    return rtt !== 0 && age < provisionalFor(rtt, cfg.provisionalMs, cfg.provisionalMaxMs);
  }

  /** A segment starting at `seq` belongs to the connection whose next sequence number is `next`. */
  private inWindow(seq: number, next: number): boolean {
    const d = (seq - next) | 0;
    return d >= -SEQ_WINDOW && d <= SEQ_WINDOW;
  }

  /** Answers the SYN in `buf` with the challenge, in place: a reply to the sender's VTEP. */
  private challenge(buf: Uint8Array, inner: number): number {
    const cfg = this.config;
    const ch = this.challenger as Challenger;
    this.replyLength = VXLAN_HEADER + ch.writeChallenge(buf, inner, this.frame, cfg.directorMac, this.now);
    this.counters[this.layout.defense + Defense.challengesSent] += 1;
    return Verdict.reply;
  }

  /**
   * An RST for no connection: the answer to a challenge or probe verifies its source. Its cookie
   * says which it answered (challenge.ts). A probe went to another port than any the client used:
   * its answer says the host resets SYN-ACKs it did not ask for, so it would reset a spoofer's
   * connections in its name, and it need not be asked connection by connection. A challenge's
   * answer says only that someone there answers for this port, so the source is asked at once
   * whether it also answers on another (a probe there).
   */
  private answer(buf: Uint8Array, inner: number): number {
    const f = this.frame;
    const ch = this.challenger as Challenger;
    const vs = this.verifiedSources;
    const now = this.now;
    const cookie = vs !== null ? ch.isAnswer(f, now) : CookieKind.none;
    if (vs !== null && cookie !== CookieKind.none) {
      const a0 = f.src0 | 0;
      const a1 = f.src1 | 0;
      const a2 = f.src2 | 0;
      const a3 = f.src3 | 0;
      const kind = cookie === CookieKind.probe ? AnswerKind.probe : AnswerKind.challenge;
      const recorded = vs.verify(
        a0,
        a1,
        a2,
        a3,
        f.srcPort,
        kind,
        now,
        this.config.verifiedTtlMs,
        kind === AnswerKind.probe ? this.probedAt(a0, a1, a2, a3) : 0,
      );
      // The port that answered a challenge is its SYN's, and the answer's sequence number says
      // which SYN: remembered on their own until the SYN comes again, however many other ports of
      // the address answer meanwhile.
      if (kind === AnswerKind.challenge && this.answeredPorts !== null) {
        this.answeredPorts.record(a0, a1, a2, a3, f.srcPort, f.tcpSeq | 0, now, PORT_ANSWER_MS);
      }
      this.counters[this.layout.defense + Defense.sourcesVerified] += 1;
      if (kind === AnswerKind.challenge) {
        this.probe(
          buf,
          inner,
          this.config.probeIntervalMs,
          recorded === VERIFY_CROWDED ? ProbeKind.crowded : ProbeKind.reachability,
        );
      }
      return this.drop(DropReason.challengeAnswer);
    }
    this.counters[this.layout.defense + Defense.answersWrong] += 1;
    return this.drop(DropReason.noEntry);
  }

  /** When the director last probed source a0..a3 (Src.probedAt), or 0: its answer's round trip. */
  private probedAt(a0: number, a1: number, a2: number, a3: number): number {
    const s = this.sources;
    const slot = s.acquire(a0, a1, a2, a3, false, this.now);
    if (slot < 0) return 0;
    const at = s.i32[s.recordBase(slot) + Src.probedAt];
    s.release(slot);
    return at;
  }

  /**
   * Whether the budget and the source's interval let a probe of kind `kind` go to the source of
   * the frame just parsed, spending it if so. A budget per second (probesPerSecond): under a
   * spoofed flood every source is new, and probes must not make the director a reflector beyond
   * it.
   *
   * Asking again (reconfirmation, or a source probed before that has not answered) may use only
   * half of the second's budget: addresses whose owners went away are asked again and again, and
   * with one shared budget they took every probe, so first-time clients admitted meanwhile stayed
   * unverified and were shed as the lowest (spoof-gone, simulator seeds 6-11: 0.5-2% of valid
   * connections reset; none with an unlimited budget).
   */
  private budgetProbe(intervalMs: number, kind: number): boolean {
    const f = this.frame;
    const a0 = f.src0 | 0;
    const a1 = f.src1 | 0;
    const a2 = f.src2 | 0;
    const a3 = f.src3 | 0;
    const now = this.now;
    const second = (now / 1000) | 0;
    if (second !== this.probeSecond) {
      this.probeSecond = second;
      this.probeTokens = this.config.probesPerSecond;
      this.reprobeTokens = (this.config.probesPerSecond + 1) >>> 1;
    }
    if (this.probeTokens <= 0) return false;
    const s = this.sources;
    // A source that just answered a challenge has no record yet (its SYN went no further).
    const slot = s.acquire(a0, a1, a2, a3, kind === ProbeKind.reachability, now);
    if (slot < 0) return false;
    const b = s.recordBase(slot);
    const last = s.i32[b + Src.probedAt];
    const again = kind === ProbeKind.reconfirm || last !== 0;
    if ((last !== 0 && elapsed(last, now) < intervalMs) || (again && this.reprobeTokens <= 0)) {
      s.release(slot);
      return false;
    }
    s.i32[b + Src.probedAt] = now === 0 ? 1 : now;
    s.release(slot);
    this.probeTokens--;
    if (again) this.reprobeTokens--;
    // Its silence, if it stays silent, is timed from here (reconfirm.ts).
    if (kind === ProbeKind.reconfirm && this.verifiedSources !== null) {
      this.verifiedSources.noteAsked(a0, a1, a2, a3, now);
    }
    return true;
  }

  /**
   * Queues a probe of the client of the packet in `buf` for the port to send after the batch,
   * unless its source was probed within `intervalMs` (or the budget is spent, or the queue is
   * full; a ProbeKind.crowded probe is neither budgeted nor timed by source). `kind` a
   * ProbeKind. It goes to probePortFor of the packet's port, where no connection of the client's
   * is expected: an answer says a host at the address resets any SYN-ACK it did not ask for.
   */
  private probe(buf: Uint8Array, inner: number, intervalMs: number, kind: number): void {
    const q = this.probeCount;
    if (q >= PROBE_QUEUE_LENGTH || this.challenger === null) return;
    if (kind !== ProbeKind.crowded && !this.budgetProbe(intervalMs, kind)) return;
    const f = this.frame;
    const now = this.now;
    const off = q * PROBE_FRAME_BYTES;
    const cfg = this.config;
    writeVxlan(this.probeFrames, off, cfg.vni);
    const n = this.challenger.writeProbe(
      buf,
      inner,
      f,
      probePortFor(f.srcPort),
      cfg.directorMac,
      now,
      this.probeFrames,
      off + VXLAN_HEADER,
    );
    this.probeLengths[q] = VXLAN_HEADER + n;
    this.probeVteps[q] = this.senderVtep;
    this.probeCount = q + 1;
    this.counters[this.layout.defense + Defense.probesSent] += 1;
  }

  /** An ICMP error about a packet a real server sent as the VIP: forward it to that server. */
  private forwardIcmpError(buf: Uint8Array, inner: number, len: number): number {
    const f = this.frame;
    const cfg = this.config;
    // The embedded packet went VIP:port → client:port; the flow's key is its destination.
    const svc = cfg.findService(
      f.innerSrc0 | 0,
      f.innerSrc1 | 0,
      f.innerSrc2 | 0,
      f.innerSrc3 | 0,
      f.innerSrcPort,
      f.innerProto,
    );
    if (svc < 0) return this.drop(DropReason.icmpNoFlow);
    const table = this.connections;
    const slot = table.acquire(
      f.innerDst0 | 0,
      f.innerDst1 | 0,
      f.innerDst2 | 0,
      f.innerDst3 | 0,
      (f.innerDstPort << 16) | svc,
      false,
      0,
      this.now,
    );
    if (slot < 0) return this.drop(DropReason.icmpNoFlow);
    const real = table.i32[table.recordBase(slot) + Conn.real];
    table.release(slot);
    return this.forwardTo(buf, inner, real, svc, len);
  }

  /** Rewrites the inner MACs (the director's → the real server's) and counts the forward. */
  private forwardTo(buf: Uint8Array, inner: number, real: number, svc: number, len: number): number {
    const cfg = this.config;
    if (cfg.realPresent[real] === 0) return this.drop(DropReason.realGone);
    const mac = cfg.realMac;
    const m = real * 6;
    const own = cfg.directorMac;
    buf[inner] = mac[m];
    buf[inner + 1] = mac[m + 1];
    buf[inner + 2] = mac[m + 2];
    buf[inner + 3] = mac[m + 3];
    buf[inner + 4] = mac[m + 4];
    buf[inner + 5] = mac[m + 5];
    buf[inner + 6] = own[0];
    buf[inner + 7] = own[1];
    buf[inner + 8] = own[2];
    buf[inner + 9] = own[3];
    buf[inner + 10] = own[4];
    buf[inner + 11] = own[5];
    const c = this.counters;
    const bytes = len - VXLAN_HEADER;
    const s = this.layout.services + svc * Per.words;
    c[s + Per.packets] += 1;
    c[s + Per.bytes] += bytes;
    const r = this.layout.reals + real * Per.words;
    c[r + Per.packets] += 1;
    c[r + Per.bytes] += bytes;
    this.real = real;
    return Verdict.forward;
  }

  /**
   * Picks a real server for a new flow, through the service's persistence template when it has
   * one. Returns the real index (placedByTemplate says whether a template chose it), or -1.
   */
  private schedule(
    svc: number,
    rule: number,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    now: number,
  ): number {
    const cfg = this.config;
    const sched = cfg.schedulerFor(svc, rule);
    const timeout = cfg.persistTimeoutMs[svc];
    if (timeout === 0) return sched.pick(this.frame);
    const p = this.persistence;
    const ps = p.acquire(svc, a0, a1, a2, a3, cfg.persistPrefix[svc], true, now);
    if (ps < 0) return sched.pick(this.frame);
    const pb = p.recordBase(ps);
    let real = -1;
    if (p.created === 0) {
      real = p.i32[pb + Persist.real];
      // A template pointing at a server that left the service is no use (IPVS would reschedule).
      if (cfg.realPresent[real] === 0 || cfg.realService[real] !== svc) real = -1;
    }
    if (real < 0) real = sched.pick(this.frame);
    if (real >= 0) {
      p.i32[pb + Persist.real] = real;
      p.i32[pb + Persist.controlled]++;
      p.i32[pb + Persist.expires] = (now + timeout) | 0;
      this.placedByTemplate = true;
    } else {
      p.i32[pb + Persist.expires] = now;
    }
    p.release(ps);
    return real;
  }

  /**
   * A new SYN and every real server of its service at capacity (the scheduler found none): it
   * takes the slot of the lowest entry listed on a full server if it outranks it (a larger number
   * is a lower priority), and that entry is reset on its real server. Returns the real server,
   * REFUSED_CAPACITY, or -1 when no server could take it at all (down, or weight 0).
   */
  private displace(svc: number, synPrio: number): number {
    const cfg = this.config;
    const members = cfg.serviceMembers[svc];
    const reals = this.reals;
    // A server in IPVS's hysteresis band (overloaded since it reached its threshold, not yet back
    // under the lower mark) still has room below the threshold: a SYN in good standing (no worse
    // than cfg.shedFloor: a verified client with a clean record) takes that room rather than
    // someone's slot, the least loaded such server, as a scheduler would. That room is what the
    // shedder freed: a source that just lost a connection there must not take it straight back.
    const goodStanding = synPrio <= cfg.shedFloor;
    if (goodStanding) {
      const room = this.leastLoaded(members, true);
      if (room >= 0) return room;
    }
    if (this.victims === null) return REFUSED_CAPACITY;
    let any = false;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      // Only a server that is full (overloaded, not down, weighted) can make room.
      if (!reals.isOverloaded(m) || reals.isDown(m)) continue;
      any = true;
      if (this.displaceOn(m, synPrio)) return m;
    }
    if (!any) return -1;
    // Nothing it outranks can give up a slot: every held connection is in good standing too. A
    // SYN in good standing is not refused for that: the director's count cannot tell a served
    // client from a real-address bot that forged its handshake and its progress while the server
    // keeps nothing (simulator, `--param ghostBots=1`: spread at 1000 served 0.028 of valid
    // clients with the refusal, where no defense serves 1.000). It goes to the least loaded server,
    // whose own accept queue and syncookies decide, as without Sluice; the shedder still takes
    // whatever sinks. So too where a load agent's count says the server is full: refused there,
    // valid clients lost to real-address bots that hold its workers and its accept queue, whose
    // waiting requests are in good standing too (simulator, exploration seeds 1 and 6-9 with
    // agents: spread at 4000 worst 0.606 refused, 0.824 admitted; the renewing bot 0.512 and
    // 0.702; with half the bots ghosts 0.729 and 0.881), where the admitted SYN waits its turn.
    if (goodStanding) {
      const m = this.leastLoaded(members, false);
      if (m >= 0) {
        this.counters[this.layout.defense + Defense.admittedOverCapacity] += 1;
        return m;
      }
    }
    return REFUSED_CAPACITY;
  }

  /**
   * The least loaded weighted, up server of `members`, or -1: with `belowUpper`, only one still
   * under its upper threshold (a server without one has no room to give in this sense).
   */
  private leastLoaded(members: Int32Array, belowUpper: boolean): number {
    const cfg = this.config;
    const reals = this.reals;
    let best = -1;
    let bestLoad = 0x7fffffff;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      if (cfg.realWeight[m] <= 0 || reals.isDown(m)) continue;
      const load = reals.load(m);
      if (belowUpper && (cfg.realUpper[m] <= 0 || load >= cfg.realUpper[m])) continue;
      if (load < bestLoad) {
        best = m;
        bestLoad = load;
      }
    }
    return best;
  }

  /**
   * Resets the lowest listed entry of real server `m` that `synPrio` outranks, if it is still
   * held (a connection its client closed frees nothing and gets no RST), or releases it from Held
   * if it is a half-open one. Looks at a few listed entries at most. Returns true when
   * an entry gave up its slot; a reset's RST is queued for the port.
   */
  private displaceOn(m: number, synPrio: number): boolean {
    const victims = this.victims as VictimIndex;
    const table = this.connections;
    const r = this.scratch;
    for (let tries = 0; tries < DISPLACE_TRIES; tries++) {
      // Look before taking: a victim this SYN does not outrank stays listed for the shedder.
      if (victims.peekPriority(m) <= synPrio) return false;
      const slot = victims.takeVictim(m);
      if (slot < 0) return false;
      const vprio = victims.outPriority;
      if (vprio <= synPrio) return false;
      // A half-open entry gives up its slot without an RST, as the shedder's do: a server holds
      // no worker for it, and a real client's ACK still finds it.
      if (this.halfOpenRelease.tryRelease(slot, victims.outTag, m)) {
        this.counters[this.layout.defense + Defense.halfOpenReleased] += 1;
        return true;
      }
      // Still the same connection, still as low, still held: removed under its lock, its record
      // (with the exact next sequence number) copied for the RST.
      if (!table.removeIfStill(slot, victims.outTag, vprio, ConnFlag.held, RemoveReason.displaced, r))
        continue;
      this.accounting.queueReset(r, 0);
      return true;
    }
    return false;
  }
}
