// Pipeline: the per-frame classifier, one per worker thread. Frame in, verdict out:
// decapsulate VXLAN → parse → (ARP/ND for a VIP: answer in place) → find the service → find or
// create the connection entry (a new one is scheduled and bound to a real server) → advance
// IPVS's TCP state and the priority inputs → rewrite the inner MACs → forward to real server i.
// Or a drop with a reason. ICMP errors follow the flow named in their embedded header.
//
// Hot-path rules kept here: every field is set in the constructor with its final type; no
// object, closure, string or exception per frame; integer codes instead of branches on types.
import {
  AcquireFail,
  Conn,
  type ConnectionRemovalListener,
  type ConnectionTable,
  ConnFlag,
  clockNow,
  nextTcpState,
  Persist,
  type PersistenceTable,
  RemoveReason,
  type SourceTable,
  Src,
  TcpState,
} from '@sluice/conntrack';
import {
  LvsDefense,
  lvsSettings,
  PriorityScorer,
  removeVictim,
  SCORE_DROP,
  SOURCE_LOOKUP,
  type SynMemory,
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
} from '@sluice/wire';
import { type Batch, BatchHeader, Desc } from './batch.ts';
import { type CompiledConfig, PROTO_TCP, Strategy } from './compile.ts';
import { type CounterLayout, Defense, observeBatchSeconds, Per } from './counters.ts';
import { countsUnproven, sparesProven } from './unproven.ts';
import { DropReason, Verdict } from './verdict.ts';

const VXLAN_HEADER = 8;
const SYN_COUNT_MAX = 255;
const BYTES_MAX = 0x7fffffff;

export interface PipelineTables {
  connections: ConnectionTable;
  sources: SourceTable;
  persistence: PersistenceTable;
  reals: RealServerCounters;
  /** Lowest-priority entries per real server, kept by the re-scorer; null: no displacement. */
  victims?: VictimIndex | null;
  /** SYNs refused for capacity, so their retransmissions earn the retry credit; null: none. */
  synMemory?: SynMemory | null;
}

/**
 * Resets the pipeline asks the port to send (a displaced connection must also end on its real
 * server). Int32 words per entry: client address (4), client port, service, real, next sequence.
 */
export const ResetWord = { addr0: 0, port: 4, service: 5, real: 6, seq: 7, words: 8 } as const;
export const RESET_QUEUE_LENGTH = 64;
/** admit()'s refusals: every real server full; the chosen one over its unproven budget. */
const REFUSED_CAPACITY = -2;
const REFUSED_UNPROVEN = -3;
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

export class Pipeline implements ConnectionRemovalListener {
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
  /** Set by processFrame: real index for forward, reason for drop. */
  outArg = 0;
  /** Set by processFrame for replies built in place: the new length of the whole datagram. */
  outLen = 0;
  readonly victims: VictimIndex | null;
  readonly synMemory: SynMemory | null;
  /** This worker's LVS defense state (modes flip once a second from the table's free entries). */
  readonly lvs: LvsDefense;
  private lvsFor: CompiledConfig | null = null;
  /** RSTs to send after the batch (displaced connections); drained by the port. */
  readonly resetQueue = new Int32Array(RESET_QUEUE_LENGTH * ResetWord.words);
  resetCount = 0;
  /** Set by admit(): the new SYN's priority after any retry credit. */
  private admitPrio = 0;
  private readonly scratch = new Int32Array(Conn.words);

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
    this.synMemory = tables.synMemory ?? null;
    this.lvs = new LvsDefense(this.connections.capacity);
    this.connections.listener = this;
  }

  /** Follows a config change: the LVS modes of the new strategy (kept state otherwise). */
  private syncDefense(now: number): void {
    this.lvsFor = this.config;
    this.lvs.reconfigure(lvsSettings(this.config.lvs, this.connections.capacity), now, this.connections);
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
    for (let i = 0; i < n; i++) {
      const d = i * Desc.words;
      this.outLen = 0;
      const verdict = this.processFrame(data, desc[d + Desc.offset], desc[d + Desc.length]);
      desc[d + Desc.verdict] = verdict;
      desc[d + Desc.arg] = this.outArg;
      if (verdict === Verdict.reply) desc[d + Desc.length] = this.outLen;
      c[verdict] += 1;
      if (verdict === Verdict.drop) c[this.layout.drops + this.outArg] += 1;
    }
    this.maintain(now);
    batch.header[BatchHeader.configVersion] = this.config.version;
    observeBatchSeconds(c, this.layout, (performance.now() - started) / 1000);
  }

  /** Bounded expiry work; also called on its own when no traffic comes. */
  maintain(now: number): void {
    const o = this.options;
    // update_defense_level, once a second: cheap (a count and a few comparisons).
    if (this.lvsFor !== null && ((now - this.lvs.lastUpdate) | 0) >= 1000)
      this.lvs.update(now, this.connections);
    this.connections.expireStep(now, o.expirySlotsPerBatch);
    this.sources.expireStep(now, o.sideExpirySlotsPerBatch, o.sourceIdleMs);
    this.persistence.expireStep(now, o.sideExpirySlotsPerBatch);
  }

  private drop(reason: number): number {
    this.outArg = reason;
    return Verdict.drop;
  }

  /** One VXLAN datagram: returns a Verdict and sets outArg (and outLen for replies). */
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
      if (f.arpOp !== 1 || !cfg.isVip4(f.arpTargetIp | 0)) return this.drop(DropReason.notForUs);
      this.outLen = VXLAN_HEADER + buildArpReply(buf, inner, f, cfg.directorMac, buf, inner);
      this.outArg = 0;
      return Verdict.reply;
    }
    if (f.fragOffset > 0) return this.drop(DropReason.fragment);
    const proto = f.ipProto;
    if (proto === IpProto.tcp || proto === IpProto.udp) return this.forwardFlow(buf, inner, len);
    if (proto === IpProto.icmpv6 && f.icmpType === 135) {
      if (f.ndTargetOffset < 0 || !cfg.isVip6At(buf, f.ndTargetOffset)) return this.drop(DropReason.notForUs);
      this.outLen = VXLAN_HEADER + buildNeighborAdvert(buf, inner, f, cfg.directorMac, buf, inner);
      this.outArg = 0;
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
    if (svc < 0) return this.drop(DropReason.noService);
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
    // The SYN is scored before the table, so a refused bogon costs nothing and a full table's
    // eviction policy sees the real priority.
    let synPrio = cfg.defaultPriority;
    let rule = -1;
    if (creates && isTcp && scorer !== null) {
      synPrio = scorer.scoreSyn(f, this.sources, SOURCE_LOOKUP, now);
      if (synPrio === SCORE_DROP) return this.drop(DropReason.sourceCheck);
      rule = scorer.lastRule;
    }
    const slot = table.acquire(a0, a1, a2, a3, (f.srcPort << 16) | svc, creates, synPrio, now);
    if (slot < 0) {
      const why = table.failReason;
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
    let real: number;
    let state: number;
    let cflags: number;
    // A new entry's top statePrio byte: why its SYN scored as it did (the listing explains it).
    let reasonsByte = 0;
    if (table.created === 1) {
      let extra = 0;
      if (scorer !== null) {
        if (!isTcp) {
          // Every UDP datagram "creates"; only the first of a flow is scored.
          synPrio = scorer.scoreSyn(f, this.sources, SOURCE_LOOKUP, now);
          if (synPrio === SCORE_DROP) {
            table.abandonHeld(slot);
            return this.drop(DropReason.sourceCheck);
          }
          rule = scorer.lastRule;
        }
        extra = scorer.lastFlags;
      } else if (strategy === Strategy.dropPacket && this.lvs.shouldDropSyn()) {
        // ip_vs_todrop(): 1 in `rate` new connections, before scheduling.
        table.abandonHeld(slot);
        return this.drop(DropReason.dropPacket);
      }
      real = this.schedule(svc, rule, a0, a1, a2, a3, now);
      if (strategy === Strategy.priority) {
        real = this.admit(svc, real, synPrio, isTcp, a0, a1, a2, a3, now);
        synPrio = this.admitPrio;
      }
      if (real < 0) {
        table.abandonHeld(slot);
        return this.drop(
          real === REFUSED_CAPACITY
            ? DropReason.capacity
            : real === REFUSED_UNPROVEN
              ? DropReason.unproven
              : DropReason.noRealServer,
        );
      }
      if (scorer !== null) reasonsByte = storedReasons(scorer.lastReasons);
      cflags = (real >>> 24 === 1 ? ConnFlag.persistent : 0) | extra;
      real &= 0xffffff;
      // Unproven until the client sends payload (RealServerCounters.unproven, the budget above).
      if (isTcp) this.reals.addUnproven(real, 1);
      if (!(a0 === 0 && a1 === 0 && a2 === 0xffff)) cflags |= ConnFlag.ipv6;
      if (!isTcp) cflags |= ConnFlag.udp;
      i32[base + Conn.real] = real;
      i32[base + Conn.firstSeen] = now;
      this.reals.bind(real, false, cfg.realUpper[real], cfg.realLower[real]);
      cflags |= this.countNewSource(a0, a1, a2, a3, synPrio, now);
      const c = this.counters;
      c[this.layout.services + svc * Per.words + Per.connections] += 1;
      c[this.layout.reals + real * Per.words + Per.connections] += 1;
      state = TcpState.none;
      i32[base + Conn.nextSeq] = f.tcpSeq | 0;
    } else {
      real = i32[base + Conn.real];
      cflags = i32[base + Conn.flagsSyn] & 0xffff;
      state = i32[base + Conn.statePrio] & 0xff;
    }
    const statePrio = i32[base + Conn.statePrio];
    let synCount = (i32[base + Conn.flagsSyn] >>> 16) & 0xff;
    if (isTcp) {
      if ((flags & TcpFlag.syn) !== 0 && synCount < SYN_COUNT_MAX) synCount++;
      const next = nextTcpState(state, flags, this.lvs.secureTcpActive);
      if (next !== state) {
        if ((cflags & ConnFlag.active) !== 0 && next !== TcpState.established) {
          this.reals.unestablish(real);
          cflags &= ~ConnFlag.active;
        } else if ((cflags & ConnFlag.active) === 0 && next === TcpState.established) {
          this.reals.establish(real);
          cflags |= ConnFlag.active;
          if ((cflags & ConnFlag.handshake) === 0) {
            cflags |= ConnFlag.handshake;
            this.countHandshake(a0, a1, a2, a3, cflags, now);
          }
        }
        state = next;
      }
      if (f.payloadLen > 0 && (cflags & ConnFlag.data) === 0) {
        cflags |= ConnFlag.data;
        this.reals.addUnproven(real, -1);
        this.countSpoke(a0, a1, a2, a3, cflags, now);
      }
      if ((flags & TcpFlag.fin) !== 0) cflags |= ConnFlag.fin;
      if ((flags & TcpFlag.rst) !== 0) cflags |= ConnFlag.rst;
      else {
        // The client's next sequence number: what a reset must carry to be accepted. Only moves
        // forward (wrap-safe), so retransmissions and reordering do not pull it back.
        let end = (f.tcpSeq + f.payloadLen) | 0;
        if ((flags & TcpFlag.syn) !== 0) end = (end + 1) | 0;
        if ((flags & TcpFlag.fin) !== 0) end = (end + 1) | 0;
        if (((end - i32[base + Conn.nextSeq]) | 0) > 0 || table.created === 1) i32[base + Conn.nextSeq] = end;
      }
      table.setExpires(slot, (now + this.config.tcpTimeouts[state]) | 0);
    } else {
      table.setExpires(slot, (now + this.config.udpTimeout) | 0);
    }
    const prio = table.created === 1 ? synPrio : (statePrio >>> 8) & 0xff;
    const initial = table.created === 1 ? prio : (statePrio >>> 16) & 0xff;
    const top = table.created === 1 ? reasonsByte << 24 : statePrio & 0xff000000;
    i32[base + Conn.statePrio] = state | (prio << 8) | (initial << 16) | top;
    i32[base + Conn.flagsSyn] = cflags | (synCount << 16);
    i32[base + Conn.packets] = (i32[base + Conn.packets] + 1) | 0;
    const bytes = i32[base + Conn.bytes] + f.ipTotalLen;
    i32[base + Conn.bytes] = bytes > BYTES_MAX ? BYTES_MAX : bytes;
    i32[base + Conn.lastSeen] = now;
    if (scorer !== null) {
      const delta = scorer.onPacket(i32, base, flags, f.payloadLen, now);
      if (delta !== 0) PriorityScorer.applySourceDelta(this.sources, i32, base, delta, now);
    }
    table.release(slot);
    return this.forwardTo(buf, inner, real, svc, len);
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
    this.outArg = real;
    return Verdict.forward;
  }

  /**
   * Picks a real server for a new flow, through the service's persistence template when it has
   * one. Returns the real index, with bit 24 set when a template placed it, or -1.
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
      real |= 1 << 24;
    } else {
      p.i32[pb + Persist.expires] = now;
    }
    p.release(ps);
    return real;
  }

  /**
   * The priority defense's word on a scheduled new connection (`real` from the scheduler, -1 when
   * every member is full or down). Two limits refuse a SYN unless it can displace a lower entry:
   *   capacity: every real server at its upper threshold;
   *   the unproven budget: the chosen real server already holds `realUnprovenLimit` TCP entries
   *   whose client sent no payload. Under direct routing a blind ACK makes a spoofed connection
   *   look established while it still sits in the real server's SYN backlog; the budget keeps
   *   such entries from filling that backlog below the connection threshold.
   * A SYN about to be refused first gets the retry credit if SynMemory knows it (its first try
   * left no entry to carry one); a refused SYN is remembered for its retry. Returns the real (with
   * the scheduler's persistence bit), or REFUSED_CAPACITY, REFUSED_UNPROVEN or -1. The SYN's
   * priority, credited or not, is left in `admitPrio`.
   */
  private admit(
    svc: number,
    real: number,
    synPrio: number,
    isTcp: boolean,
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    now: number,
  ): number {
    this.admitPrio = synPrio;
    // Scheduled (real ≥ 0): only a TCP SYN over its server's unproven budget needs more.
    const overBudget = real >= 0 && isTcp && this.overBudget(real & 0xffffff);
    if (real >= 0 && !overBudget) return real;
    const f = this.frame;
    const scorer = this.config.scorer;
    const mem = this.synMemory;
    const ps = (f.srcPort << 16) | svc;
    const isn = f.tcpSeq | 0;
    let prio = synPrio;
    if (
      mem !== null &&
      scorer !== null &&
      isTcp &&
      mem.seen(a0, a1, a2, a3, ps, isn, scorer.retransmitMinGapMs, now) === 1
    ) {
      prio = scorer.creditRefusedRetry(prio);
    }
    this.admitPrio = prio;
    let out: number;
    if (!overBudget) {
      out = this.displace(svc, prio);
    } else if (this.displaceOn(real & 0xffffff, prio, 0)) {
      out = real;
    } else {
      // A persistence template has already placed this client: its service is kept, the budget
      // bends (the template's count was taken), as IPVS keeps a persistent client on its server.
      out = real >>> 24 === 1 ? real : REFUSED_UNPROVEN;
    }
    if ((out === REFUSED_CAPACITY || out === REFUSED_UNPROVEN) && mem !== null && isTcp) {
      mem.remember(a0, a1, a2, a3, ps, isn, now);
    }
    return out;
  }

  /** Real server `m` holds its budget of unproven connections (0 = no budget). */
  private overBudget(m: number): boolean {
    const limit = this.config.realUnprovenLimit[m];
    return limit > 0 && Atomics.load(this.reals.unproven, m) >= limit;
  }

  /**
   * A new SYN and every real server of its service at capacity: it takes the slot of the lowest
   * entry on a full server if it outranks it (a larger number is a lower priority), and that
   * entry is reset on its real server. Returns the real server, or -2 (dropped: capacity).
   */
  private displace(svc: number, synPrio: number): number {
    if (this.victims === null) return -2;
    const members = this.config.serviceMembers[svc];
    const reals = this.reals;
    let any = false;
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
      // Only a server that is full (overloaded, not down, weighted) can make room.
      if (!reals.isOverloaded(m) || reals.isDown(m)) continue;
      any = true;
      if (this.displaceOn(m, synPrio, 1)) return m;
    }
    return any ? REFUSED_CAPACITY : -1;
  }

  /**
   * Resets the lowest listed entry of real server `m` that `synPrio` outranks. A victim whose
   * client has sent payload (and not closed) is passed over while the server holds at least
   * `provenGuard` unproven connections: those go first, and the listing may simply predate them
   * (0: never take a proven one). Looks at a few listed entries at most. Returns true when an
   * entry went; its RST is queued for the port.
   */
  private displaceOn(m: number, synPrio: number, provenGuard: number): boolean {
    const victims = this.victims as VictimIndex;
    for (let tries = 0; tries < DISPLACE_TRIES; tries++) {
      // Look before taking: a victim this SYN does not outrank stays listed for the shedder.
      if (victims.peekPriority(m) <= synPrio) return false;
      const slot = victims.takeVictim(m);
      if (slot < 0) return false;
      if (victims.outPriority <= synPrio) return false;
      if (this.displaceSlot(m, slot, victims.outTag, victims.outPriority, provenGuard)) return true;
    }
    return false;
  }

  /** displaceOn for one taken victim: false when it is gone, changed or spared. */
  private displaceSlot(m: number, slot: number, tag: number, vprio: number, provenGuard: number): boolean {
    const table = this.connections;
    // A consistent copy of what the RST needs, taken before the entry goes (removeVictim then
    // re-checks under the record lock that it is still the same connection).
    const r = this.scratch;
    if (!table.readRecord(slot, r) || r[Conn.tag] !== tag) return false;
    if (sparesProven(this.reals, m, r[Conn.flagsSyn], provenGuard)) return false;
    const q = this.resetCount;
    if (q < RESET_QUEUE_LENGTH) {
      const o = q * ResetWord.words;
      const rq = this.resetQueue;
      rq[o] = r[Conn.addr0];
      rq[o + 1] = r[Conn.addr1];
      rq[o + 2] = r[Conn.addr2];
      rq[o + 3] = r[Conn.addr3];
      rq[o + ResetWord.port] = r[Conn.portService] >>> 16;
      rq[o + ResetWord.service] = r[Conn.portService] & 0xffff;
      rq[o + ResetWord.real] = r[Conn.real];
      rq[o + ResetWord.seq] = r[Conn.nextSeq];
    }
    if (!removeVictim(table, slot, tag, vprio, RemoveReason.displaced)) return false;
    if (q < RESET_QUEUE_LENGTH) this.resetCount = q + 1;
    return true;
  }

  private countNewSource(a0: number, a1: number, a2: number, a3: number, prio: number, now: number): number {
    const s = this.sources;
    const slot = s.acquire(a0, a1, a2, a3, true, now);
    if (slot < 0) return 0;
    const b = s.recordBase(slot);
    s.i32[b + Src.concurrent]++;
    s.i32[b + Src.connectionsTotal]++;
    s.i32[b + Src.prioritySum] += prio;
    s.countSyn(b, now);
    s.release(slot);
    return ConnFlag.sourceCounted;
  }

  private countHandshake(a0: number, a1: number, a2: number, a3: number, cflags: number, now: number): void {
    if ((cflags & ConnFlag.sourceCounted) === 0) return;
    const s = this.sources;
    const slot = s.acquire(a0, a1, a2, a3, false, now);
    if (slot < 0) return;
    const b = s.recordBase(slot);
    s.i32[b + Src.handshakes]++;
    s.i32[b + Src.lastSeen] = now;
    s.release(slot);
  }

  /**
   * The connection's first payload: its source has spoken. Completing handshakes alone is what a
   * slot-holding bot or a blind-ACK spoofer does; sending data is what clients of a
   * client-speaks-first service do (the scorer credits one and not the other).
   */
  private countSpoke(a0: number, a1: number, a2: number, a3: number, cflags: number, now: number): void {
    if ((cflags & ConnFlag.sourceCounted) === 0) return;
    const s = this.sources;
    const slot = s.acquire(a0, a1, a2, a3, false, now);
    if (slot < 0) return;
    s.i32[s.recordBase(slot) + Src.spoke]++;
    s.release(slot);
  }

  /** Keeps real-server, source and persistence counts exact whenever an entry leaves the table. */
  onConnectionRemoved(table: ConnectionTable, base: number, reason: number): void {
    const i32 = table.i32;
    const cfg = this.config;
    const real = i32[base + Conn.real];
    const cflags = i32[base + Conn.flagsSyn] & 0xffff;
    this.reals.unbind(real, (cflags & ConnFlag.active) !== 0, cfg.realUpper[real], cfg.realLower[real]);
    if (countsUnproven(cflags)) this.reals.addUnproven(real, -1);
    const a0 = i32[base + Conn.addr0];
    const a1 = i32[base + Conn.addr1];
    const a2 = i32[base + Conn.addr2];
    const a3 = i32[base + Conn.addr3];
    const now = this.now;
    if ((cflags & ConnFlag.sourceCounted) !== 0) {
      const s = this.sources;
      const slot = s.acquire(a0, a1, a2, a3, false, now);
      if (slot >= 0) {
        const b = s.recordBase(slot);
        if (s.i32[b + Src.concurrent] > 0) s.i32[b + Src.concurrent]--;
        s.i32[b + Src.prioritySum] -= (i32[base + Conn.statePrio] >>> 8) & 0xff;
        s.release(slot);
      }
    }
    if ((cflags & ConnFlag.persistent) !== 0) {
      const svc = i32[base + Conn.portService] & 0xffff;
      this.persistence.connectionEnded(
        svc,
        a0,
        a1,
        a2,
        a3,
        cfg.persistPrefix[svc],
        cfg.persistTimeoutMs[svc],
        now,
      );
    }
    const c = this.counters;
    c[this.layout.removals + reason] += 1;
    // Resets the defense made, by the priority of the connection that lost its slot.
    const byPrio =
      reason === RemoveReason.shed
        ? Defense.shedByPriority
        : reason === RemoveReason.displaced
          ? Defense.displacedByPriority
          : reason === RemoveReason.dropEntry
            ? Defense.dropEntryByPriority
            : -1;
    if (byPrio >= 0) c[this.layout.defense + byPrio + ((i32[base + Conn.statePrio] >>> 8) & 15)] += 1;
  }
}
