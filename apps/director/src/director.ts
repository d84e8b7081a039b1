// Director: the running daemon's state, and the one implementation of DirectorControl. It owns
// the Dataplane (shared tables, serving workers with their VXLAN sockets), the live config with
// its version and ETag, the health checker, neighbour learning for real servers whose MAC is not
// configured, and a socket of its own for frames the director makes (RSTs, ARP/ND probes).
//
// Every config change, from REST or SIGHUP, goes through one serialized path: validate, check
// If-Match, build the snapshot, compile it (any error leaves everything as it was), persist the
// file atomically, publish to every worker as one version.
import {
  type ConfigFile,
  ConfigValidationError,
  configEtag,
  type DaemonConfig,
  type LiveConfig,
  PreconditionFailedError,
  RealIndexAllocator,
  realId,
  realKey,
  saveConfigFile,
  toSnapshot,
  validateLiveConfig,
} from '@sluice/config';
import { Conn, clockNow, elapsed, RemoveReason, Src, Verified } from '@sluice/conntrack';
import {
  CompiledConfig,
  ConfigError,
  type ConfigSnapshot,
  Dataplane,
  DEFAULT_VXLAN_PORT_SETTINGS,
  Defense,
  formatAddress,
  RST_DATAGRAM_MAX,
  type ServeEvent,
  writeResetForRecord,
} from '@sluice/dataplane';
import { DefenseLoop, RescorerThread } from '@sluice/defense';
import { HealthChecker } from '@sluice/health';
import { readUdpCounters } from '@sluice/io';
import { createMetrics, lvsDefenseState, type SluiceMetrics } from '@sluice/metrics';
import { RstSpec } from '@sluice/wire';
import { ConnectionIndex } from './connections.ts';
import type {
  ConfigView,
  ConnectionFilter,
  ConnectionPage,
  ConnectionView,
  DirectorControl,
  QuicServiceView,
  Readiness,
  RealStatusView,
  SourceView,
  StatsView,
  VerifiedSourceView,
} from './control.ts';
import { NeighborLearner } from './neighbors.ts';
import { OwnFrames } from './own-frames.ts';
import { quicServiceView, ZERO_QUIC_COUNTERS } from './quic-view.ts';
import { ESTIMATOR_INTERVAL_MS, persistentConnections, ServiceStatistics } from './stats.ts';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface DirectorOptions {
  file: ConfigFile;
  /** Where changes are persisted; null keeps them in memory only (tests). */
  configPath: string | null;
  log: Logger;
  /** Overrides the VTEP UDP port of real servers (the benchmark's sink); default 4789. */
  remotePort?: number;
}

/** The live part of a config file: what REST and SIGHUP may change. */
function liveOf(file: ConfigFile): LiveConfig {
  const { daemon: _daemon, ...live } = file;
  return live;
}

export class Director implements DirectorControl {
  readonly daemon: DaemonConfig;
  readonly dataplane: Dataplane;
  readonly prom: SluiceMetrics;
  private readonly log: Logger;
  private readonly configPath: string | null;
  private live: LiveConfig;
  private version = 0;
  private etag = '';
  private snapshot: ConfigSnapshot | null = null;
  private compiled: CompiledConfig | null = null;
  private readonly allocator: RealIndexAllocator;
  private readonly health = new HealthChecker();
  private readonly neighbors: NeighborLearner;
  private readonly own: OwnFrames;
  private readonly index: ConnectionIndex;
  /** Serializes changes: one apply at a time, in arrival order. */
  private chain: Promise<unknown> = Promise.resolve();
  private bound = false;
  private stopping = false;
  private rescorer: RescorerThread | null = null;
  private shedTimer: NodeJS.Timeout | null = null;
  /** Shedding, source verification's on/off, the LVS drop_entry scan: on this thread's timer. */
  private readonly defense: DefenseLoop;
  /** ipvsadm --stats / --rate per service and real server (stats.ts), stepped every 2 s. */
  private readonly statistics: ServiceStatistics;
  private statsTimer: NodeJS.Timeout | null = null;

  private constructor(opts: DirectorOptions) {
    this.daemon = opts.file.daemon;
    this.log = opts.log;
    this.configPath = opts.configPath;
    this.live = liveOf(opts.file);
    const d = this.daemon;
    this.dataplane = new Dataplane({
      workers: d.workers,
      connectionCapacity: d.connectionCapacity,
      sourceCapacity: Math.max(1024, d.connectionCapacity >>> 2),
      persistenceCapacity: Math.max(1024, d.connectionCapacity >>> 4),
      verifiedCapacity: Math.max(1024, d.connectionCapacity >>> 2),
    });
    this.allocator = new RealIndexAllocator({
      maxServices: this.dataplane.options.maxServices,
      maxReals: this.dataplane.options.maxReals,
    });
    const remotePort = opts.remotePort ?? DEFAULT_VXLAN_PORT_SETTINGS.remotePort;
    this.own = new OwnFrames(remotePort);
    this.neighbors = new NeighborLearner(this.own, () => this.republish());
    this.index = new ConnectionIndex(this.dataplane);
    const dp = this.dataplane;
    const rstSpec = new RstSpec();
    this.defense = new DefenseLoop(
      {
        connections: dp.connections,
        reals: dp.reals,
        victims: dp.victims,
        state: dp.defenseState,
        verified: dp.verified,
      },
      (rec) => {
        const cfg = dp.current;
        if (cfg === null) return false;
        const out = new Uint8Array(RST_DATAGRAM_MAX);
        const len = writeResetForRecord(cfg, rstSpec, rec, out);
        if (len === 0) return false;
        this.own.send(out.subarray(0, len), cfg.realVtep[rec[Conn.real]]).catch(() => {});
        return true;
      },
    );
    this.statistics = new ServiceStatistics(this.dataplane.counters);
    this.health.on('change', (e: { key: string; state: 'up' | 'down'; detail: string }) => {
      const idx = this.realIndex(e.key);
      if (idx >= 0) this.dataplane.reals.setDown(idx, e.state === 'down');
      this.log.info(`health: ${e.key} is ${e.state} (${e.detail})`);
    });
    this.prom = createMetrics({
      counters: this.dataplane.counters,
      connections: this.dataplane.connections,
      reals: this.dataplane.reals,
      topology: () => this.topology(),
      workers: () => this.dataplane.threads,
      configuredWorkers: this.daemon.workers,
      victims: this.dataplane.victims,
      // drop_entry is the defense loop's own; drop_packet and secure_tcp run on the packet
      // workers, whose modes follow from the config and the loop's measurement of the table.
      lvs: () => lvsDefenseState(this.defense.lvs),
      verified: this.dataplane.verified,
      defenseState: this.dataplane.defenseState,
      // As the packet path compiles it: a snapshot without a defense section runs none.
      strategy: () => this.snapshot?.defense?.strategy ?? 'none',
      udp: () => readUdpCounters(),
    });
  }

  /** Builds the director, publishes the config and binds every worker's socket. */
  static async start(opts: DirectorOptions): Promise<Director> {
    const d = new Director(opts);
    const live = validateLiveConfig(d.live);
    d.install(live, false);
    await d.own.open();
    const vx = d.daemon.vxlan;
    try {
      await d.dataplane.serve(
        {
          ...DEFAULT_VXLAN_PORT_SETTINGS,
          address: vx.address,
          port: vx.port,
          remotePort: opts.remotePort ?? DEFAULT_VXLAN_PORT_SETTINGS.remotePort,
        },
        (event) => d.onServeEvent(event),
        d.daemon.io ?? 'auto',
      );
    } catch (err) {
      // A bind error, or `io: native` without the addon: nothing may be left open behind it.
      await d.dataplane.close();
      await d.own.close();
      throw err;
    }
    const io = d.dataplane.io;
    if (io?.fellBack)
      d.log.warn(`io: native batched I/O unavailable (${io.reason}); serving with the dgram port`);
    d.dataplane.onWorkerReplaced = (slot, err) =>
      d.log.error(`worker on slot ${slot} died (${err.message}); replaced, shared tables intact`);
    d.bound = true;
    d.neighbors.start();
    d.startDefense();
    d.statsTimer = setInterval(() => d.statistics.tick(), ESTIMATOR_INTERVAL_MS);
    d.statsTimer.unref();
    return d;
  }

  /** The re-scorer thread, and the defense loop on a 20 ms timer (shedding, verification, drop_entry). */
  private startDefense(): void {
    const dp = this.dataplane;
    this.rescorer = RescorerThread.start({
      connections: dp.connections,
      sources: dp.sources,
      victims: dp.victims,
      reals: dp.reals,
      verified: dp.verified,
      state: dp.defenseState,
      weights: this.live.defense?.weights ?? {},
    });
    this.shedTimer = setInterval(() => {
      const cfg = dp.current;
      const p = dp.ensureControlPipeline();
      if (cfg === null || p === null) return;
      const before = this.defense.shedder.sent;
      this.defense.tick(cfg, p.now);
      const sent = this.defense.shedder.sent - before;
      if (sent > 0) p.counters[p.layout.defense + Defense.rstSent] += sent;
    }, 20);
    this.shedTimer.unref();
  }

  private onServeEvent(event: ServeEvent): void {
    if (event.kind === 'punt') this.neighbors.learnFrom(event.frame, this.live.overlay.vni);
    else
      this.log.info(
        `worker slot ${event.workerSlot} serving VXLAN on ${event.address}:${event.port} (${event.io})`,
      );
  }

  /** Compiles and publishes `live` as the next version (throws, changing nothing, if it does not compile). */
  private install(live: LiveConfig, persistFirst: boolean): Promise<void> | undefined {
    const version = this.version + 1;
    const snapshot = toSnapshot(live, version, this.allocator, {
      learnedMacs: this.neighbors.learned,
    });
    let compiled: CompiledConfig;
    try {
      compiled = new CompiledConfig(snapshot, this.dataplane.options, this.dataplane.reals);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigValidationError('', err.message);
      throw err;
    }
    const commit = () => {
      // Before publishing: a service new in this version starts from the counters as they are.
      this.statistics.track(
        snapshot,
        new Map(snapshot.services.map((s, i) => [s.index, live.services[i].name])),
      );
      this.dataplane.publishConfig(snapshot);
      this.version = version;
      this.live = live;
      this.snapshot = snapshot;
      this.compiled = compiled;
      this.etag = configEtag(live, version);
      this.index.config = compiled;
      this.neighbors.track(live);
      this.health.set(this.healthTargets(live));
      this.rescorer?.setWeights(live.defense?.weights ?? {});
      this.syncDownFlags(live);
    };
    if (!persistFirst || this.configPath === null) {
      commit();
      return undefined;
    }
    const path = this.configPath;
    return saveConfigFile(path, { daemon: this.daemon, ...live }).then(commit);
  }

  /** Same live config, new version: a learned MAC changes what workers send. */
  private republish(): void {
    this.chain = this.chain
      .then(() => this.install(this.live, false))
      .catch((err: Error) => {
        this.log.error(`republishing after neighbour learning failed: ${err.message}`);
      });
  }

  private healthTargets(live: LiveConfig) {
    const targets = [];
    for (const svc of live.services) {
      for (const r of svc.reals) {
        const hc = r.healthCheck;
        if (hc === null) continue;
        targets.push({
          key: realKey(svc.name, r.address, r.port),
          spec: {
            type: hc.type,
            address: hc.address ?? r.vtep,
            port: hc.port ?? r.port,
            path: hc.path ?? '/',
            expectStatus: hc.expectStatus ?? 200,
            intervalSeconds: hc.intervalSeconds,
            timeoutSeconds: hc.timeoutSeconds,
            rise: hc.rise,
            fall: hc.fall,
          },
        });
      }
    }
    return targets;
  }

  /** Reals without a health check are never down; checked ones carry their checker's state. */
  private syncDownFlags(live: LiveConfig): void {
    for (const svc of live.services) {
      for (const r of svc.reals) {
        const key = realKey(svc.name, r.address, r.port);
        const idx = this.realIndex(key);
        if (idx < 0) continue;
        const down = r.healthCheck !== null && this.health.status(key)?.state === 'down';
        this.dataplane.reals.setDown(idx, down);
      }
    }
  }

  private realIndex(key: string): number {
    return this.allocator.realIndex(key) ?? -1;
  }

  getConfig(): ConfigView {
    return { config: this.live, etag: this.etag, version: this.version };
  }

  applyConfig(next: LiveConfig, ifMatch?: string): Promise<ConfigView> {
    const run = async (): Promise<ConfigView> => {
      if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== this.etag) {
        throw new PreconditionFailedError(
          `If-Match ${ifMatch} does not match the running config ${this.etag}`,
        );
      }
      const live = validateLiveConfig(next);
      await this.install(live, true);
      this.log.info(`config version ${this.version} applied (${live.services.length} services)`);
      return this.getConfig();
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** SIGHUP: the file as it is now on disk, with the same validation as the API, not re-saved. */
  reload(file: ConfigFile): Promise<ConfigView> {
    const run = async (): Promise<ConfigView> => {
      const live = validateLiveConfig(liveOf(file));
      if (JSON.stringify(file.daemon) !== JSON.stringify(this.daemon)) {
        this.log.warn('daemon settings changed in the file: they take effect at the next start');
      }
      await this.install(live, false);
      this.log.info(`config version ${this.version} reloaded from file`);
      return this.getConfig();
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  realStatus(service: string): RealStatusView[] | null {
    const svc = this.live.services.find((s) => s.name === service);
    if (svc === undefined) return null;
    const counters = this.dataplane.reals;
    return svc.reals.map((r) => {
      const key = realKey(svc.name, r.address, r.port);
      const idx = this.realIndex(key);
      const learned = this.neighbors.learned.get(key) ?? null;
      const hs = r.healthCheck === null ? null : this.health.status(key);
      return {
        service: svc.name,
        address: r.address,
        port: r.port,
        weight: r.weight,
        state: r.state,
        health: r.healthCheck === null ? 'unchecked' : hs === undefined || hs === null ? 'unknown' : hs.state,
        mac: r.mac ?? learned,
        macSource: r.mac !== null ? 'configured' : learned !== null ? 'learned' : null,
        activeConnections: idx >= 0 ? Atomics.load(counters.active, idx) : 0,
        inactiveConnections: idx >= 0 ? Atomics.load(counters.inactive, idx) : 0,
        overloaded: idx >= 0 ? counters.isOverloaded(idx) : false,
      };
    });
  }

  listConnections(filter: ConnectionFilter): ConnectionPage {
    return this.index.list(filter, this.serviceNames(), this.realIds());
  }

  getConnection(id: string): ConnectionView | null {
    return this.index.get(id, this.serviceNames(), this.realIds());
  }

  async resetConnection(id: string): Promise<boolean> {
    const compiled = this.compiled;
    if (compiled === null) return false;
    const target = this.index.prepareReset(id, compiled);
    if (target === null) return false;
    await this.own.send(target.datagram, target.vtep);
    return this.index.remove(target.slot, target.tag, RemoveReason.reset);
  }

  topSources(limit: number): SourceView[] {
    const table = this.dataplane.sources;
    const rec = new Int32Array(Src.words);
    const now = clockNow(table.core.epochMs);
    const rows: SourceView[] = [];
    for (let slot = 0; slot < table.capacity; slot++) {
      if (table.core.tagOfSlot(slot) === 0 || !table.readRecord(slot, rec) || rec[Src.tag] === 0) continue;
      const concurrent = rec[Src.concurrent];
      if (concurrent <= 0 && rows.length >= limit) continue;
      const v6 = rec[Src.family] === 6;
      const hi = rec[Src.hi] >>> 0;
      const lo = rec[Src.lo] >>> 0;
      const source = v6
        ? `${[hi >>> 16, hi & 0xffff, lo >>> 16, lo & 0xffff].map((w) => w.toString(16)).join(':')}::/64`
        : `${lo >>> 24}.${(lo >>> 16) & 0xff}.${(lo >>> 8) & 0xff}.${lo & 0xff}/32`;
      rows.push({
        source,
        concurrentConnections: concurrent,
        handshakesCompleted: rec[Src.handshakes],
        connectionsTotal: rec[Src.connectionsTotal],
        averagePriority: concurrent > 0 ? Math.round((rec[Src.prioritySum] / concurrent) * 100) / 100 : null,
        idleSeconds: elapsed(rec[Src.lastSeen], now) / 1000,
        ...this.verificationOf(v6, lo),
      });
      // Keep the list bounded while scanning: only the top `limit` matter.
      if (rows.length > limit * 4) {
        rows.sort((a, b) => b.concurrentConnections - a.concurrentConnections);
        rows.length = limit;
      }
    }
    rows.sort((a, b) => b.concurrentConnections - a.concurrentConnections);
    return rows.slice(0, limit);
  }

  /** Whether an IPv4 source answered a challenge, and until when; null for an IPv6 /64. */
  private verificationOf(
    v6: boolean,
    addr: number,
  ): Pick<SourceView, 'verified' | 'verifiedExpiresInSeconds'> {
    if (v6) return { verified: null, verifiedExpiresInSeconds: null };
    const vs = this.dataplane.verified;
    const now = clockNow(vs.epochMs);
    const slot = vs.find(0, 0, 0xffff, addr | 0);
    if (slot < 0) return { verified: false, verifiedExpiresInSeconds: null };
    const left = elapsed(now, vs.deadlineOf(slot));
    return left > 0
      ? { verified: true, verifiedExpiresInSeconds: left / 1000 }
      : { verified: false, verifiedExpiresInSeconds: null };
  }

  verifiedSources(limit: number): { items: VerifiedSourceView[]; total: number } {
    const vs = this.dataplane.verified;
    const now = clockNow(vs.epochMs);
    const rec = new Int32Array(Verified.snapshotWords);
    const rows: VerifiedSourceView[] = [];
    let total = 0;
    for (let slot = 0; slot < vs.capacity; slot++) {
      if (vs.core.tagOfSlot(slot) === 0 || !vs.readRecord(slot, rec)) continue;
      const left = elapsed(now, rec[Verified.expires]);
      if (left <= 0) continue;
      total++;
      rows.push({
        address: formatAddress(
          rec[Verified.addr0],
          rec[Verified.addr1],
          rec[Verified.addr2],
          rec[Verified.addr3],
        ),
        verifiedSecondsAgo: Math.max(0, elapsed(rec[Verified.verifiedAt], now) / 1000),
        expiresInSeconds: left / 1000,
        answers: rec[Verified.answers] >>> 0,
      });
      if (rows.length > limit * 4) {
        rows.sort((a, b) => a.verifiedSecondsAgo - b.verifiedSecondsAgo);
        rows.length = limit;
      }
    }
    rows.sort((a, b) => a.verifiedSecondsAgo - b.verifiedSecondsAgo);
    return { items: rows.slice(0, limit), total };
  }

  stats(): StatsView {
    const counters = this.dataplane.reals;
    const persistent = this.live.services.some((s) => s.persistence !== null)
      ? persistentConnections(this.dataplane.persistence)
      : new Map<number, number>();
    return {
      connectionCapacity: this.dataplane.connections.capacity,
      connectionCount: this.dataplane.connections.count(),
      estimatorIntervalSeconds: ESTIMATOR_INTERVAL_MS / 1000,
      services: this.statistics.read().map((s) => ({
        name: s.name,
        stats: s.totals,
        rates: s.rates,
        ...(s.quic === undefined ? {} : { quic: s.quic }),
        reals: s.reals.map((r) => ({
          address: r.address,
          port: r.port,
          activeConnections: Atomics.load(counters.active, r.index),
          inactiveConnections: Atomics.load(counters.inactive, r.index),
          persistentConnections: persistent.get(r.index) ?? 0,
          stats: r.totals,
          rates: r.rates,
        })),
      })),
    };
  }

  quicService(service: string): QuicServiceView | null {
    const status = this.realStatus(service);
    return quicServiceView(
      this.live,
      service,
      (i) => status?.[i]?.mac != null,
      this.statistics.quic(service) ?? ZERO_QUIC_COUNTERS,
    );
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.version === 0) reasons.push('no configuration published');
    if (!this.bound) reasons.push('VXLAN port not bound');
    if (this.stopping) reasons.push('shutting down');
    return { ready: reasons.length === 0, reasons };
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.prom.contentType, body: await this.prom.render() };
  }

  /** Service names by index, for the connection listing (the allocator holds the mapping). */
  private serviceNames(): Map<number, { name: string; protocol: 'tcp' | 'udp' }> {
    const m = new Map<number, { name: string; protocol: 'tcp' | 'udp' }>();
    for (const svc of this.live.services) {
      const index = this.allocator.serviceIndex(svc.name);
      if (index !== undefined) m.set(index, { name: svc.name, protocol: svc.protocol });
    }
    return m;
  }

  private realIds(): Map<number, { address: string; port: number }> {
    const m = new Map<number, { address: string; port: number }>();
    for (const s of this.snapshot?.services ?? []) for (const r of s.reals) m.set(r.index, r);
    return m;
  }

  private topology() {
    const services = [];
    for (const svc of this.live.services) {
      const index = this.allocator.serviceIndex(svc.name);
      if (index === undefined) continue;
      const status = this.realStatus(svc.name) ?? [];
      services.push({
        index,
        name: svc.name,
        protocol: svc.protocol,
        quic: svc.quic !== undefined,
        reals: svc.reals.map((r, i) => ({
          index: this.realIndex(realKey(svc.name, r.address, r.port)),
          id: realId(r.address, r.port),
          health: status[i]?.health ?? 'unknown',
          weight: r.state === 'draining' ? 0 : r.weight,
          upperThreshold: r.upperThreshold,
          lowerThreshold: r.lowerThreshold,
        })),
      });
    }
    return { version: this.version, services };
  }

  /** Graceful stop: no new frames, workers flush what they hold, sockets close, timers stop. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.neighbors.stop();
    if (this.shedTimer !== null) clearInterval(this.shedTimer);
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    await this.rescorer?.stop().catch(() => undefined);
    await this.health.stop();
    await this.dataplane.close();
    await this.own.close();
    await this.chain.catch(() => undefined);
  }
}
