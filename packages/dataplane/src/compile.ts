// Compiles a ConfigSnapshot into what the packet path reads: typed arrays indexed by service and
// by global real-server index, an open-addressing hash from (VIP, port, protocol) to service,
// and one scheduler per service. Done once per configuration change, off the packet path; all
// validation happens here so the packet path can trust every index it reads.
import { DEFAULT_TCP_TIMEOUTS_MS, DEFAULT_UDP_TIMEOUT_MS, hash5, TCP_STATE_COUNT } from '@sluice/conntrack';
import {
  DEFAULT_VERIFICATION,
  type LvsDefenseConfig,
  PriorityRules,
  PriorityScorer,
  type PriorityWeights,
  resolveLvsDefenseConfig,
  resolveWeights,
  SourceChecks,
} from '@sluice/defense';
import {
  createScheduler,
  type RealServerCounters,
  type Scheduler,
  type SchedulerOptions,
} from '@sluice/schedulers';
import { parseAddress, parseMac } from '@sluice/wire';
import { QuicServerTable } from './quic-route.ts';
import type { ConfigSnapshot, ServiceSnapshot } from './snapshot.ts';

/** A snapshot this dataplane cannot run (the director turns it into a 400 for the change). */
export class ConfigError extends Error {
  readonly code = 'SLUICE_ERR_DATAPLANE_CONFIG';
}

/** The defense strategy, as the packet path branches on it. */
export const Strategy = { none: 0, priority: 1, dropEntry: 2, dropPacket: 3, secureTcp: 4 } as const;
const STRATEGY_CODES: Record<string, number> = {
  none: Strategy.none,
  priority: Strategy.priority,
  drop_entry: Strategy.dropEntry,
  drop_packet: Strategy.dropPacket,
  secure_tcp: Strategy.secureTcp,
};

/** A service's ipvsadm -b flags as the scheduler factory takes them. */
function schedulerOptions(svc: ServiceSnapshot): SchedulerOptions {
  const flags = svc.schedulerFlags ?? [];
  return {
    shFallback: flags.includes('sh-fallback'),
    shPort: flags.includes('sh-port'),
    mhFallback: flags.includes('mh-fallback'),
    mhPort: flags.includes('mh-port'),
  };
}

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const DEFAULT_PRIORITY = 8;

export interface CompileLimits {
  maxServices: number;
  maxReals: number;
}

/** Source verification modes, as the packet path branches on them. */
export const VerifyMode = { off: 0, auto: 1, always: 2 } as const;
const VERIFY_MODES: Record<string, number> = { off: 0, auto: 1, always: 2 };

export class CompiledConfig {
  readonly version: number;
  readonly vni: number;
  readonly directorMac = new Uint8Array(6);
  readonly defaultPriority: number;
  readonly tcpTimeouts = new Int32Array(TCP_STATE_COUNT);
  readonly udpTimeout: number;
  // Service lookup: open addressing over (vip words, port << 8 | proto); -1 = empty.
  readonly lookupMask: number;
  readonly lookupKeys: Int32Array;
  readonly lookupService: Int32Array;
  // Per service index.
  readonly serviceProto: Int32Array;
  readonly servicePort: Int32Array;
  readonly serviceVip: Int32Array;
  readonly persistTimeoutMs: Int32Array;
  readonly persistPrefix: Int32Array;
  readonly schedulers: Scheduler[];
  /** QUIC services' server ID → real index tables (quic-route.ts); null for other services. */
  readonly quicTables: (QuicServerTable | null)[];
  // Per global real index.
  readonly realPresent: Uint8Array;
  readonly realMac: Uint8Array;
  /** The real server's VTEP address, as the port's socket wants it (not read per frame by the
   * classifier; the port reads it once per forwarded frame to address the datagram). */
  readonly realVtep: string[];
  readonly realUpper: Int32Array;
  readonly realLower: Int32Array;
  /** ipvsadm -w per real (0: quiesced or draining, takes no new connections). */
  readonly realWeight: Int32Array;
  readonly realService: Int32Array;
  /** Members (global real indices) per service: displacement looks for a full one. */
  readonly serviceMembers: Int32Array[];
  // The defense.
  readonly strategy: number;
  /** The priority strategy: the defense loop sheds and verifies (DefenseTopology.sheds). */
  readonly sheds: boolean;
  readonly highWatermark: number;
  readonly lowWatermark: number;
  /** The LVS sysctls with only the chosen strategy's mode left on. */
  readonly lvs: LvsDefenseConfig | null;
  /** Thresholds count active + inactive (IPVS) instead of what the servers hold. */
  readonly countInactive: boolean;
  /** Source verification (VerifyMode; off unless the strategy is priority). */
  readonly verifyMode: number;
  readonly verifyWatermark: number;
  readonly verifyHoldMs: number;
  readonly verifiedTtlMs: number;
  readonly probeIntervalMs: number;
  readonly probeNewSources: boolean;
  readonly probesPerSecond: number;
  /** A half-open entry stops being held this long after its SYN (weights.halfOpenHoldMs). */
  readonly halfOpenHoldMs: number;
  /** A verified source's new entry is held only from this long after its SYN (weights.provisionalMs). */
  readonly provisionalMs: number;
  /** The longest a far source's provisional time lasts (weights.provisionalMaxMs). */
  readonly provisionalMaxMs: number;
  /** A verified source that last answered longer ago is asked again (weights.reconfirmAfterMs). */
  readonly reconfirmAfterMs: number;
  /**
   * Payload this long after the client's first unanswered payload (a growing request head), or a
   * receive window still shut this long (a response it does not read), marks a client holding its
   * server up (ConnBit.holdsUp; weights.progressHoldMs). 0 without scoring.
   */
  readonly holdsUpAfterMs: number;
  /** The shedder never takes an entry at this priority or better (weights.shedFloor; 0 without scoring). */
  readonly shedFloor: number;
  readonly scorer: PriorityScorer | null;
  /** Per rule: its pool number, or -1; per (service, pool): a scheduler over pool ∩ service. */
  readonly rulePool: Int32Array;
  readonly poolSchedulers: (Scheduler | null)[];
  readonly poolCount: number;
  // VIPs for ARP (IPv4 words) and neighbour discovery (IPv6, four words each).
  readonly vip4: Int32Array;
  readonly vip6: Int32Array;
  /** The director's own overlay IPv4 address as a word, or 0 (snapshot.directorAddress). */
  readonly ownAddress4: number;
  /** Every real server's VTEP: the only senders whose ARP/ND and own-address frames are punted. */
  readonly realVteps: ReadonlySet<string>;

  /**
   * `previous`: the config this one replaces in the same thread. Schedulers with state that the
   * kernel keeps across edits of a service (lblc's and lblcr's tables) copy theirs from it.
   */
  constructor(
    snapshot: ConfigSnapshot,
    limits: CompileLimits,
    counters: RealServerCounters,
    previous: CompiledConfig | null = null,
  ) {
    const { maxServices, maxReals } = limits;
    this.version = snapshot.version;
    if (!Number.isInteger(snapshot.vni) || snapshot.vni < 0 || snapshot.vni > 0xffffff) {
      throw new ConfigError('vni must be an integer from 0 to 16777215');
    }
    this.vni = snapshot.vni;
    parseMac(snapshot.directorMac, this.directorMac, 0);
    this.ownAddress4 = 0;
    if (snapshot.directorAddress !== undefined) {
      const own = parseAddress(snapshot.directorAddress);
      if (!(own[0] === 0 && own[1] === 0 && own[2] === 0xffff) || own[3] === 0)
        throw new ConfigError(`directorAddress ${snapshot.directorAddress} must be a unicast IPv4 address`);
      this.ownAddress4 = own[3];
    }
    this.defaultPriority = snapshot.defaultPriority ?? DEFAULT_PRIORITY;
    const timeouts = snapshot.tcpTimeoutsMs ?? DEFAULT_TCP_TIMEOUTS_MS;
    for (let i = 0; i < TCP_STATE_COUNT; i++) this.tcpTimeouts[i] = timeouts[i] ?? DEFAULT_TCP_TIMEOUTS_MS[i];
    this.udpTimeout = snapshot.udpTimeoutMs ?? DEFAULT_UDP_TIMEOUT_MS;

    let slots = 16;
    while (slots < snapshot.services.length * 4) slots *= 2;
    this.lookupMask = slots - 1;
    this.lookupKeys = new Int32Array(slots * 5);
    this.lookupService = new Int32Array(slots).fill(-1);
    this.serviceProto = new Int32Array(maxServices);
    this.servicePort = new Int32Array(maxServices);
    this.serviceVip = new Int32Array(maxServices * 4);
    this.persistTimeoutMs = new Int32Array(maxServices);
    this.persistPrefix = new Int32Array(maxServices);
    this.schedulers = new Array<Scheduler>(maxServices);
    this.quicTables = new Array<QuicServerTable | null>(maxServices).fill(null);
    this.realPresent = new Uint8Array(maxReals);
    this.realMac = new Uint8Array(maxReals * 6);
    this.realVtep = new Array<string>(maxReals).fill('');
    this.realUpper = new Int32Array(maxReals);
    this.realLower = new Int32Array(maxReals);
    this.realWeight = new Int32Array(maxReals);
    this.realService = new Int32Array(maxReals).fill(-1);
    this.serviceMembers = new Array<Int32Array>(maxServices).fill(new Int32Array(0));
    const vip4: number[] = [];
    const vip6: number[] = [];
    const seen = new Set<number>();

    for (const svc of snapshot.services) {
      const where = `service ${svc.index} (${svc.vip}:${svc.port}/${svc.protocol})`;
      if (!Number.isInteger(svc.index) || svc.index < 0 || svc.index >= maxServices) {
        throw new ConfigError(`${where}: index must be an integer below ${maxServices}`);
      }
      if (seen.has(svc.index)) throw new ConfigError(`${where}: index used twice`);
      seen.add(svc.index);
      const proto = svc.protocol === 'tcp' ? PROTO_TCP : svc.protocol === 'udp' ? PROTO_UDP : -1;
      if (proto < 0) throw new ConfigError(`${where}: protocol must be tcp or udp`);
      if (!Number.isInteger(svc.port) || svc.port < 1 || svc.port > 65535) {
        throw new ConfigError(`${where}: port must be 1..65535`);
      }
      const [a0, a1, a2, a3] = parseAddress(svc.vip);
      if (this.findService(a0, a1, a2, a3, svc.port, proto) >= 0) {
        throw new ConfigError(`${where}: another service has the same VIP, port and protocol`);
      }
      this.insertService(a0, a1, a2, a3, svc.port, proto, svc.index);
      this.serviceProto[svc.index] = proto;
      this.servicePort[svc.index] = svc.port;
      this.serviceVip.set([a0, a1, a2, a3], svc.index * 4);
      if (a0 === 0 && a1 === 0 && a2 === 0xffff) {
        if (!vip4.includes(a3)) vip4.push(a3);
      } else if (!this.hasVip6(vip6, a0, a1, a2, a3)) vip6.push(a0, a1, a2, a3);
      if (svc.persistence !== null) {
        const { timeoutSeconds, prefixLength } = svc.persistence;
        if (!(timeoutSeconds > 0))
          throw new ConfigError(`${where}: persistence.timeoutSeconds must be positive`);
        if (!Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 128) {
          throw new ConfigError(`${where}: persistence.prefixLength must be 1..128`);
        }
        this.persistTimeoutMs[svc.index] = Math.round(timeoutSeconds * 1000);
        this.persistPrefix[svc.index] = prefixLength;
      }
      const members = new Int32Array(svc.reals.length);
      const weights = new Int32Array(svc.reals.length);
      const lastWeights = new Int32Array(svc.reals.length);
      const upper = new Int32Array(svc.reals.length);
      const lower = new Int32Array(svc.reals.length);
      const keys: string[] = [];
      svc.reals.forEach((r, i) => {
        const rwhere = `${where} real server ${r.index} (${r.address}:${r.port})`;
        if (!Number.isInteger(r.index) || r.index < 0 || r.index >= maxReals) {
          throw new ConfigError(`${rwhere}: index must be an integer below ${maxReals}`);
        }
        if (this.realService[r.index] >= 0) throw new ConfigError(`${rwhere}: index used twice`);
        this.realService[r.index] = svc.index;
        this.realPresent[r.index] = 1;
        parseMac(r.mac, this.realMac, r.index * 6);
        parseAddress(r.vtep);
        this.realVtep[r.index] = r.vtep;
        this.realUpper[r.index] = r.upperThreshold;
        this.realLower[r.index] = r.lowerThreshold;
        this.realWeight[r.index] = r.weight;
        members[i] = r.index;
        weights[i] = r.weight;
        lastWeights[i] = r.weight > 0 ? r.weight : (r.lastWeight ?? 0);
        upper[i] = r.upperThreshold;
        lower[i] = r.lowerThreshold;
        keys.push(`${r.address}:${r.port}`);
      });
      this.serviceMembers[svc.index] = members;
      if (svc.quic !== undefined) {
        if (proto !== PROTO_UDP) throw new ConfigError(`${where}: quic needs protocol udp`);
        try {
          // A real server whose MAC is not known yet (all zeros) takes no frames: its ID stays out.
          this.quicTables[svc.index] = new QuicServerTable(svc, (r) =>
            this.realMac.subarray(r * 6, r * 6 + 6).some((b) => b !== 0),
          );
        } catch (err) {
          // QuicTableError, by its code: handlers branch on codes, never on prototypes.
          if ((err as { code?: unknown }).code === 'SLUICE_ERR_CONFIG_INVALID')
            throw new ConfigError((err as Error).message);
          throw err;
        }
      }
      this.schedulers[svc.index] = createScheduler(
        svc.scheduler,
        { members, weights, upper, lower, memberKeys: keys, lastWeights },
        counters,
        { ...schedulerOptions(svc), previous: previous?.schedulers[svc.index] },
      );
    }
    this.vip4 = Int32Array.from(vip4);
    this.vip6 = Int32Array.from(vip6);
    this.realVteps = new Set(this.realVtep.filter((v) => v !== ''));

    const d = snapshot.defense;
    this.strategy = d === undefined ? Strategy.none : (STRATEGY_CODES[d.strategy] ?? -1);
    if (this.strategy < 0) throw new ConfigError(`defense.strategy ${d?.strategy} is unknown`);
    this.sheds = this.strategy === Strategy.priority;
    this.highWatermark = d?.highWatermark ?? 0.98;
    this.lowWatermark = d?.lowWatermark ?? 0.95;
    this.countInactive = d?.countInactive ?? false;
    for (let r = 0; r < maxReals; r++) {
      if (this.realPresent[r] === 1) counters.setCountInactive(r, this.countInactive);
    }
    const v = d?.verification ?? DEFAULT_VERIFICATION;
    this.verifyMode = this.strategy === Strategy.priority ? (VERIFY_MODES[v.mode] ?? -1) : VerifyMode.off;
    if (this.verifyMode < 0) throw new ConfigError(`defense.verification.mode ${v.mode} is unknown`);
    this.verifyWatermark = v.watermark;
    this.verifyHoldMs = Math.round(v.holdSeconds * 1000);
    this.verifiedTtlMs = Math.round(v.ttlSeconds * 1000);
    this.probeIntervalMs = v.probeIntervalMs;
    this.probeNewSources = this.verifyMode !== VerifyMode.off && (v.probeNewSources ?? true);
    this.probesPerSecond = v.probesPerSecond ?? DEFAULT_VERIFICATION.probesPerSecond;
    this.halfOpenHoldMs = 0;
    this.provisionalMs = 0;
    this.provisionalMaxMs = 0;
    this.reconfirmAfterMs = 0;
    this.holdsUpAfterMs = 0;
    this.shedFloor = 0;
    this.lvs = null;
    this.scorer = null;
    this.rulePool = new Int32Array(0);
    this.poolSchedulers = [];
    this.poolCount = 0;
    if (d === undefined) return;
    const s = this.strategy;
    this.lvs = {
      dropEntry: s === Strategy.dropEntry ? d.lvs.dropEntry : 0,
      dropPacket: s === Strategy.dropPacket ? d.lvs.dropPacket : 0,
      secureTcp: s === Strategy.secureTcp ? d.lvs.secureTcp : 0,
      amemthresh: d.lvs.amemthresh,
      amDroprate: d.lvs.amDroprate,
    };
    // Checked here, where a refusal is a ConfigError for the change, not in the packet workers
    // and the defense loop, which would throw it on a timer (a crash, found by the REST fuzzer).
    try {
      resolveLvsDefenseConfig(this.lvs, this.lvs);
    } catch (err) {
      throw new ConfigError(`defense.lvs: ${(err as Error).message}`);
    }
    if (s !== Strategy.priority) return;
    try {
      const rules = PriorityRules.compile(d.rules);
      const weights = resolveWeights(d.weights as Partial<PriorityWeights>);
      this.halfOpenHoldMs = weights.halfOpenHoldMs;
      this.provisionalMs = weights.provisionalMs;
      this.provisionalMaxMs = weights.provisionalMaxMs;
      this.reconfirmAfterMs = weights.reconfirmAfterMs;
      this.holdsUpAfterMs = weights.progressHoldMs;
      this.shedFloor = weights.shedFloor;
      this.scorer = new PriorityScorer(weights, rules, SourceChecks.compile(d.sourceChecks));
      // Dedicated pools: one scheduler per (service, rule with a pool) over the pool's members of
      // that service, with the service's algorithm, so partner traffic lands on its own servers.
      this.rulePool = new Int32Array(rules.count).fill(-1);
      let pools = 0;
      for (let r = 0; r < rules.count; r++) if (rules.poolOf(r) !== null) this.rulePool[r] = pools++;
      this.poolCount = pools;
      this.poolSchedulers = new Array<Scheduler | null>(maxServices * pools).fill(null);
      for (const svc of snapshot.services) {
        for (let r = 0; r < rules.count; r++) {
          const pool = rules.poolOf(r);
          if (pool === null) continue;
          const picked = svc.reals.filter((x) => pool.includes(x.index));
          if (picked.length === 0) continue;
          this.poolSchedulers[svc.index * pools + this.rulePool[r]] = createScheduler(
            svc.scheduler,
            {
              members: Int32Array.from(picked, (x) => x.index),
              weights: Int32Array.from(picked, (x) => x.weight),
              upper: Int32Array.from(picked, (x) => x.upperThreshold),
              lower: Int32Array.from(picked, (x) => x.lowerThreshold),
              memberKeys: picked.map((x) => `${x.address}:${x.port}`),
              lastWeights: Int32Array.from(picked, (x) => (x.weight > 0 ? x.weight : (x.lastWeight ?? 0))),
            },
            counters,
            schedulerOptions(svc),
          );
        }
      }
    } catch (err) {
      // Rules and source checks are compiled by @sluice/defense; its refusals are config errors.
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && code.startsWith('SLUICE_ERR_DEFENSE_'))
        throw new ConfigError(`defense: ${(err as Error).message}`);
      throw err;
    }
  }

  /** The scheduler for a new flow from a source matched by `rule` (its pool), or the service's. */
  schedulerFor(svc: number, rule: number): Scheduler {
    if (rule >= 0 && this.poolCount > 0) {
      const p = this.rulePool[rule];
      if (p >= 0) {
        const s = this.poolSchedulers[svc * this.poolCount + p];
        if (s !== null) return s;
      }
    }
    return this.schedulers[svc];
  }

  private hasVip6(list: number[], a0: number, a1: number, a2: number, a3: number): boolean {
    for (let i = 0; i < list.length; i += 4) {
      if (list[i] === a0 && list[i + 1] === a1 && list[i + 2] === a2 && list[i + 3] === a3) return true;
    }
    return false;
  }

  private insertService(
    a0: number,
    a1: number,
    a2: number,
    a3: number,
    port: number,
    proto: number,
    idx: number,
  ): void {
    const pp = (port << 8) | proto;
    let s = hash5(a0, a1, a2, a3, pp, 0x51ce) & this.lookupMask;
    while (this.lookupService[s] >= 0) s = (s + 1) & this.lookupMask;
    const k = s * 5;
    this.lookupKeys[k] = a0;
    this.lookupKeys[k + 1] = a1;
    this.lookupKeys[k + 2] = a2;
    this.lookupKeys[k + 3] = a3;
    this.lookupKeys[k + 4] = pp;
    this.lookupService[s] = idx;
  }

  /** Service index for a destination, or -1. On the packet path: no allocation. */
  findService(a0: number, a1: number, a2: number, a3: number, port: number, proto: number): number {
    const pp = (port << 8) | proto;
    const keys = this.lookupKeys;
    let s = hash5(a0, a1, a2, a3, pp, 0x51ce) & this.lookupMask;
    for (;;) {
      const idx = this.lookupService[s];
      if (idx < 0) return -1;
      const k = s * 5;
      if (
        keys[k] === a0 &&
        keys[k + 1] === a1 &&
        keys[k + 2] === a2 &&
        keys[k + 3] === a3 &&
        keys[k + 4] === pp
      ) {
        return idx;
      }
      s = (s + 1) & this.lookupMask;
    }
  }

  isVip4(addr: number): boolean {
    const v = this.vip4;
    for (let i = 0; i < v.length; i++) if (v[i] === addr) return true;
    return false;
  }

  /** True when the 16 bytes at `off` are one of the IPv6 VIPs. */
  isVip6At(buf: Uint8Array, off: number): boolean {
    const v = this.vip6;
    const w0 = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3] | 0;
    const w1 = (buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7] | 0;
    const w2 = (buf[off + 8] << 24) | (buf[off + 9] << 16) | (buf[off + 10] << 8) | buf[off + 11] | 0;
    const w3 = (buf[off + 12] << 24) | (buf[off + 13] << 16) | (buf[off + 14] << 8) | buf[off + 15] | 0;
    for (let i = 0; i < v.length; i += 4) {
      if (v[i] === w0 && v[i + 1] === w1 && v[i + 2] === w2 && v[i + 3] === w3) return true;
    }
    return false;
  }
}
