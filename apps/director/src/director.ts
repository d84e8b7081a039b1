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
  realId,
  realKey,
  saveConfigFile,
  validateLiveConfig,
} from '@sluice/config';
import {
  Conn,
  clockNow,
  elapsed,
  RemoveReason,
  roundTripOf,
  Src,
  Verified,
  VerifiedMark,
} from '@sluice/conntrack';
import {
  type CompiledConfig,
  type ConfigSnapshot,
  Dataplane,
  DEFAULT_VXLAN_PORT_SETTINGS,
  Defense,
  type PreparedConfig,
  RST_DATAGRAM_MAX,
  type ServeEvent,
  writeResetForRecord,
} from '@sluice/dataplane';
import { DefenseLoop, RescorerThread, ServerQuietMarks } from '@sluice/defense';
import {
  AgentPoller,
  type AgentQuiet,
  type AgentReport,
  type AgentSlow,
  HealthChecker,
  validateAgentSpec,
  validateSpec,
} from '@sluice/health';
import { readUdpCounters } from '@sluice/io';
import { createMetrics, lvsDefenseState, type NeighborSnapshot, type SluiceMetrics } from '@sluice/metrics';
import { formatAddress, RstSpec } from '@sluice/wire';
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
import { type NeighborChange, NeighborTable, type NudTimings } from './neighbors.ts';
import { OverlayProber, type OverlayTarget } from './overlay-probe.ts';
import { OwnFrames } from './own-frames.ts';
import { quicServiceView, ZERO_QUIC_COUNTERS } from './quic-view.ts';
import { planSnapshot, RealIndexAllocator } from './snapshot.ts';
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
  /** Neighbour timings (Linux NUD's, by default): tests shorten them. */
  neighbors?: Partial<NudTimings>;
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
  private readonly health: HealthChecker;
  /** The real servers' load agents: what each says it holds corrects the thresholds' count. */
  private readonly agents = new AgentPoller();
  /** Held (the director's count) of each polled real server when its agent's probe went out. */
  private readonly heldAtProbe = new Map<string, number>();
  /** When each polled real server's agent was last asked, on the connection table's clock. */
  private readonly probedAt = new Map<string, number>();
  /** The agents' quiet lists: the entries each marks ConnBit.serverQuiet. */
  private readonly quietMarks: ServerQuietMarks;
  private readonly neighbors: NeighborTable;
  private readonly overlayProber: OverlayProber;
  /** Health-check keys that go through the overlay (their results confirm or doubt the MAC). */
  private overlayChecks = new Set<string>();
  /** Health-checked real servers (the others are never down by health). */
  private checked = new Set<string>();
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
    this.neighbors = new NeighborTable(this.own, (c) => this.onNeighborChange(c), opts.log, opts.neighbors);
    this.overlayProber = new OverlayProber(this.own, (key) => this.overlayTarget(key));
    this.health = new HealthChecker({
      overlayProbe: (key, address, port, timeoutMs, signal) =>
        this.overlayProber.probe(key, address, port, timeoutMs, signal),
    });
    this.index = new ConnectionIndex(this.dataplane);
    this.quietMarks = new ServerQuietMarks(this.dataplane.connections);
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
      this.applyDown(e.key);
      this.log.info(`health: ${e.key} is ${e.state} (${e.detail})`);
    });
    // An overlay check is an upper-layer word on the neighbour (Linux's neigh_confirm): a pass
    // confirms the MAC, a failure has it probed at once (a changed MAC is found within seconds).
    this.health.on('check', (r: { key: string; ok: boolean }) => {
      if (!this.overlayChecks.has(r.key)) return;
      if (r.ok) this.neighbors.confirm(r.key);
      else this.neighbors.suspect(r.key);
    });
    this.agents.on('probe', (key: string) => {
      const idx = this.realIndex(key);
      if (idx >= 0) this.heldAtProbe.set(key, Atomics.load(this.dataplane.reals.held, idx));
      this.probedAt.set(key, clockNow(this.dataplane.connections.core.epochMs));
    });
    this.agents.on('report', (r: AgentReport) => this.onAgentReport(r));
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
      neighbors: () => this.neighborSnapshot(),
      quiet: (index) => this.quietMarks.markedCount(index),
    });
  }

  /** Builds the director, publishes the config and binds every worker's socket. */
  static async start(opts: DirectorOptions): Promise<Director> {
    const d = new Director(opts);
    const live = validateLiveConfig(d.live, d.daemon.vxlan.address);
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
      const p = dp.ensureAccounting();
      if (cfg === null || p === null) return;
      const shedder = this.defense.shedder;
      const before = shedder.sent;
      const releasedBefore = shedder.released;
      this.defense.tick(cfg, p.now);
      const sent = shedder.sent - before;
      if (sent > 0) p.counters[p.layout.defense + Defense.rstSent] += sent;
      const released = shedder.released - releasedBefore;
      if (released > 0) p.counters[p.layout.defense + Defense.halfOpenReleased] += released;
    }, 20);
    this.shedTimer.unref();
  }

  private onServeEvent(event: ServeEvent): void {
    if (event.kind === 'punt') {
      this.neighbors.learnFrom(event.frame, this.live.overlay.vni, event.vtep);
      this.overlayProber.onFrame(event.frame);
    } else
      this.log.info(
        `worker slot ${event.workerSlot} serving VXLAN on ${event.address}:${event.port} (${event.io})`,
      );
  }

  /**
   * Compiles and publishes `live` as the next version. Everything that can refuse it runs first
   * and changes nothing (index planning, compiling, encoding for the workers' mailbox, then
   * saving the file); only then are the indices taken and the version published.
   */
  private install(live: LiveConfig, persistFirst: boolean): Promise<void> | undefined {
    const version = this.version + 1;
    const planned = planSnapshot(live, version, this.allocator, {
      learnedMacs: this.neighbors.learned,
    });
    const snapshot = planned.snapshot;
    let prepared: PreparedConfig;
    try {
      prepared = this.dataplane.prepareConfig(snapshot);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SLUICE_ERR_DATAPLANE_CONFIG')
        throw new ConfigValidationError('', (err as Error).message);
      throw err;
    }
    const compiled = prepared.compiled;
    const targets = this.healthTargets(live);
    const agentTargets = this.agentTargets(live);
    const specChecks = [
      ...targets.map((t) => () => validateSpec(t.key, t.spec)),
      ...agentTargets.map((t) => () => validateAgentSpec(t.key, t.spec)),
    ];
    for (const check of specChecks) {
      try {
        check();
      } catch (err) {
        if ((err as { code?: unknown }).code === 'SLUICE_ERR_HEALTH_INVALID_SPEC')
          throw new ConfigValidationError('', (err as Error).message);
        throw err;
      }
    }
    const commit = () => {
      planned.commit();
      // Before publishing: a service new in this version starts from the counters as they are.
      this.statistics.track(
        snapshot,
        new Map(snapshot.services.map((s, i) => [s.index, live.services[i].name])),
      );
      this.dataplane.publishPrepared(prepared);
      this.version = version;
      this.live = live;
      this.snapshot = snapshot;
      this.compiled = compiled;
      this.etag = configEtag(live, version);
      this.index.config = compiled;
      this.neighbors.track(live);
      this.health.set(targets);
      this.overlayChecks = new Set(targets.filter((t) => t.spec.via === 'overlay').map((t) => t.key));
      this.checked = new Set(targets.map((t) => t.key));
      this.agents.set(agentTargets);
      this.clearStaleReports(live);
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

  /** The neighbour table for the metrics: counters and each learned real server's state. */
  private neighborSnapshot(): NeighborSnapshot {
    const reals = [];
    for (const { real, state } of this.neighbors.states()) {
      const slash = real.indexOf('/');
      reals.push({ service: real.slice(0, slash), real: real.slice(slash + 1), state });
    }
    return { ...this.neighbors.counters, reals };
  }

  /** A neighbour's MAC changed (republish), or it stopped or started answering (down flags). */
  private onNeighborChange(c: NeighborChange): void {
    if (c.kind === 'mac') {
      // Before the first install there is nothing published to change.
      if (this.version > 0) this.republish();
      return;
    }
    for (const key of c.reals) this.applyDown(key);
  }

  /** Down for new connections: its health check says so, or its neighbour stopped answering. */
  private isDown(key: string): boolean {
    if (this.neighbors.isFailed(key)) return true;
    return this.checked.has(key) && this.health.status(key)?.state === 'down';
  }

  private applyDown(key: string): void {
    const idx = this.realIndex(key);
    if (idx >= 0) this.dataplane.reals.setDown(idx, this.isDown(key));
  }

  /** What an overlay check of real server `key` needs to know, from the running config. */
  private overlayTarget(key: string): OverlayTarget | null {
    const live = this.live;
    for (const svc of live.services) {
      for (const r of svc.reals) {
        if (realKey(svc.name, r.address, r.port) !== key) continue;
        return {
          vni: live.overlay.vni,
          directorMac: live.overlay.directorMac,
          ownAddress: live.overlay.address ?? null,
          mac: r.mac ?? this.neighbors.learned.get(key) ?? null,
          vtep: r.vtep,
        };
      }
    }
    return null;
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
        const overlay = hc.via === 'overlay';
        targets.push({
          key: realKey(svc.name, r.address, r.port),
          spec: {
            type: hc.type,
            via: hc.via ?? 'underlay',
            // Underlay: the host, at its VTEP. Overlay: the real server's own overlay address.
            address: hc.address ?? (overlay ? r.address : r.vtep),
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

  private agentTargets(live: LiveConfig) {
    const targets = [];
    for (const svc of live.services) {
      for (const r of svc.reals) {
        const a = r.agent;
        if (a === undefined || a === null) continue;
        targets.push({
          key: realKey(svc.name, r.address, r.port),
          spec: {
            address: a.address ?? r.vtep,
            port: a.port,
            intervalSeconds: a.intervalSeconds,
            timeoutSeconds: a.timeoutSeconds,
          },
        });
      }
    }
    return targets;
  }

  /**
   * A load agent answered: on a server with room its count replaces the director's for the
   * thresholds (correctHeld), and a failed probe puts the director's own count back, until the
   * next report.
   */
  private onAgentReport(r: AgentReport): void {
    const idx = this.realIndex(r.key);
    const cfg = this.compiled;
    if (idx < 0 || cfg === null) return;
    const reals = this.dataplane.reals;
    const upper = cfg.realUpper[idx];
    const lower = cfg.realLower[idx];
    if (r.held === null) reals.clearReport(idx, upper, lower);
    else
      reals.correctHeld(
        idx,
        this.heldAtProbe.get(r.key) ?? Atomics.load(reals.held, idx),
        r.held,
        upper,
        lower,
      );
    this.applyQuiet(idx, cfg, r.quiet, r.slow, r.held, this.probedAt.get(r.key));
  }

  /**
   * An agent's quiet and slow lists: its service's connections whose server has sent no data for
   * servedIdleMs or more, or is answering under the agent's floor, are marked
   * (ConnBit.serverQuiet), the previous report's other marks cleared. No list at all (a failed
   * probe, an agent without them, malformed ones) clears them all: no word from the server, and
   * the client's packets judge alone again. Only under `priority` (without it servedIdleMs is 0,
   * which marks nothing and clears every mark).
   */
  private applyQuiet(
    idx: number,
    cfg: CompiledConfig,
    quiet: readonly AgentQuiet[] | null,
    slow: readonly AgentSlow[] | null,
    held: number | null,
    probeAt: number | undefined,
  ): void {
    const svc = cfg.realService[idx];
    if ((quiet === null && slow === null) || svc < 0) {
      this.quietMarks.forget(idx);
      return;
    }
    // Under direct routing the server's socket is on the VIP's port; the client's address and
    // port and this service name the director's entry.
    const servedIdleMs = cfg.scorer?.weights.servedIdleMs ?? 0;
    const now = clockNow(this.dataplane.connections.core.epochMs);
    this.quietMarks.applyReport(idx, quiet ?? [], cfg.servicePort[svc], svc, servedIdleMs, now, {
      probeAt,
      slow: slow ?? [],
      held,
    });
  }

  /** A real server whose agent left the config counts whole again. */
  private clearStaleReports(live: LiveConfig): void {
    const cfg = this.compiled;
    for (const svc of live.services) {
      for (const r of svc.reals) {
        if (r.agent !== undefined && r.agent !== null) continue;
        const idx = this.realIndex(realKey(svc.name, r.address, r.port));
        if (idx >= 0 && this.quietMarks.markedCount(idx) > 0) this.quietMarks.forget(idx);
        if (idx < 0 || cfg === null || !this.dataplane.reals.isReported(idx)) continue;
        this.dataplane.reals.clearReport(idx, cfg.realUpper[idx], cfg.realLower[idx]);
      }
    }
    const polled = new Set(this.agents.keys());
    for (const key of this.heldAtProbe.keys()) if (!polled.has(key)) this.heldAtProbe.delete(key);
    for (const key of this.probedAt.keys()) if (!polled.has(key)) this.probedAt.delete(key);
  }

  /** Reals are down when their health check or their neighbour says so (isDown). */
  private syncDownFlags(live: LiveConfig): void {
    for (const svc of live.services) {
      for (const r of svc.reals) {
        const key = realKey(svc.name, r.address, r.port);
        const idx = this.realIndex(key);
        if (idx < 0) continue;
        this.dataplane.reals.setDown(idx, this.isDown(key));
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
      const live = validateLiveConfig(next, this.daemon.vxlan.address);
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
      const live = validateLiveConfig(liveOf(file), this.daemon.vxlan.address);
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
      // Its load agent's last report; null without an agent in the config.
      const report = r.agent == null ? null : this.agents.last(key);
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
        neighbor: this.neighbors.view(key),
        activeConnections: idx >= 0 ? Atomics.load(counters.active, idx) : 0,
        inactiveConnections: idx >= 0 ? Atomics.load(counters.inactive, idx) : 0,
        load: idx >= 0 ? counters.load(idx) : 0,
        agentHeld: report === null ? null : report.held,
        agentQuiet:
          report === null || idx < 0 || (report.quiet === null && report.slow === null)
            ? null
            : this.quietMarks.markedCount(idx),
        agentSlow: report?.slow?.length ?? null,
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
    if (slot < 0 || vs.isVerified(0, 0, 0xffff, addr | 0, now) === 0) {
      return { verified: false, verifiedExpiresInSeconds: null };
    }
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
      // Revoked: asked again and silent, kept only to remember how to ask it next.
      if (left <= 0 || (rec[Verified.marks] & VerifiedMark.revoked) !== 0) continue;
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
        perConnection: (rec[Verified.marks] & VerifiedMark.perConnection) !== 0,
        roundTripMs: roundTripOf(rec[Verified.marks]) || null,
        roundTripCut: (rec[Verified.marks] & VerifiedMark.nearer) !== 0,
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
          // A neighbour that stopped answering takes no new connections, as a failed check.
          health: status[i]?.neighbor?.state === 'failed' ? 'down' : (status[i]?.health ?? 'unknown'),
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
    await this.agents.stop();
    await this.dataplane.close();
    await this.own.close();
    await this.chain.catch(() => undefined);
  }
}
