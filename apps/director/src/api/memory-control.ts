// An in-memory DirectorControl: a test double of the DIRECTOR, not of the HTTP layer. It keeps a
// live config with a version counter and an ETag and implements the interface's contract for
// real: applyConfig validates with @sluice/config's validateLiveConfig (the director's own
// validation, not a copy of it), compares If-Match, and changes nothing on any error. The plugins
// are tested against it with `app.inject`, so what is under test is the real HTTP layer.
//
// Also: a connection table (filters, cursor pages, reset), a per-source table (the top sources by
// concurrent connections), settable health, learned MACs and readiness, and counters tests use to
// prove that a rejected request never reached applyConfig.
import { BlockList, isIP } from 'node:net';
import {
  configEtag,
  type LiveConfig,
  PreconditionFailedError,
  parseRealId,
  validateLiveConfig,
} from '@sluice/config';
// The same view types as director.ts imports: both implement DirectorControl, so the lists match
// (an import list, not logic to share).
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
} from '../control.ts';
import { quicServiceView, ZERO_QUIC_COUNTERS } from '../quic-view.ts';
import { canonicalRealId, canonicalText } from './real-id.ts';

function realKey(service: string, address: string, port: number): string {
  return `${service}/${canonicalRealId(address, port)}`;
}

function sameAddress(a: { address: string; port: number }, b: { address: string; port: number }): boolean {
  return canonicalRealId(a.address, a.port) === canonicalRealId(b.address, b.port);
}

export class MemoryDirectorControl implements DirectorControl {
  #config: LiveConfig;
  #version: number;
  #etag: string;
  readonly connections = new Map<string, ConnectionView>();
  /** Health verdicts by `service/address:port`; a checked real not listed is 'unknown'. */
  readonly health = new Map<string, RealStatusView['health']>();
  /** MACs learned for reals configured with `mac: null`, by `service/address:port`. */
  readonly learnedMacs = new Map<string, string>();
  /** The per-source table, in no particular order; topSources ranks it. */
  sources: SourceView[] = [];
  readinessState: Readiness = { ready: true, reasons: [] };
  /** Every applyConfig call, accepted or not: a request rejected by the HTTP layer adds none. */
  applyCalls = 0;
  /** Ids of connections reset, in order. */
  readonly resets: string[] = [];
  /** Runs inside applyConfig after validation, before the If-Match check: lets a test change
   * the config "concurrently", between a handler's read and its write. */
  beforeApply: (() => void) | null = null;

  constructor(given: LiveConfig, connections: ConnectionView[] = []) {
    this.#config = validateLiveConfig(given);
    this.#version = 1;
    this.#etag = configEtag(this.#config, 1);
    for (const c of connections) this.connections.set(c.id, structuredClone(c));
  }

  getConfig(): ConfigView {
    // A copy: what a caller does with it cannot touch the running config.
    return { config: structuredClone(this.#config), etag: this.#etag, version: this.#version };
  }

  /** Replaces the config with no checks at all: a change made behind the API's back. */
  setConfigDirectly(next: LiveConfig): void {
    this.#config = structuredClone(next);
    this.#version++;
    this.#etag = configEtag(this.#config, this.#version);
  }

  async applyConfig(given: LiveConfig, ifMatch?: string): Promise<ConfigView> {
    this.applyCalls++;
    const next = validateLiveConfig(given);
    const hook = this.beforeApply;
    this.beforeApply = null;
    hook?.();
    if (ifMatch !== undefined && ifMatch !== this.#etag) {
      throw new PreconditionFailedError(`If-Match ${ifMatch} is not the running config ${this.#etag}`);
    }
    this.setConfigDirectly(next);
    return this.getConfig();
  }

  realStatus(service: string): RealStatusView[] | null {
    const found = this.#config.services.find((s) => s.name === service);
    if (found === undefined) return null;
    return found.reals.map((real) => {
      const key = realKey(service, real.address, real.port);
      let active = 0;
      let inactive = 0;
      for (const c of this.connections.values()) {
        if (c.service !== service || c.real === null) continue;
        if (realKey(c.service, c.real.address, c.real.port) !== key) continue;
        if (c.state === 'ESTABLISHED') active++;
        else inactive++;
      }
      const learned = this.learnedMacs.get(key) ?? null;
      return {
        service,
        address: real.address,
        port: real.port,
        weight: real.weight,
        state: real.state,
        health: real.healthCheck === null ? 'unchecked' : (this.health.get(key) ?? 'unknown'),
        mac: real.mac ?? learned,
        macSource: real.mac !== null ? 'configured' : learned !== null ? 'learned' : null,
        neighbor:
          real.mac !== null
            ? null
            : {
                state: learned !== null ? 'reachable' : 'incomplete',
                mac: learned,
                confirmedSecondsAgo: null,
              },
        activeConnections: active,
        inactiveConnections: inactive,
        load: active + inactive,
        agentHeld: null,
        agentQuiet: null,
        agentSlow: null,
        overloaded: real.upperThreshold !== 0 && active + inactive >= real.upperThreshold,
      };
    });
  }

  listConnections(filter: ConnectionFilter): ConnectionPage {
    let clients: BlockList | null = null;
    if (filter.client !== undefined) {
      clients = new BlockList();
      const [address, bits] = filter.client.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) clients.addAddress(address, family);
      else clients.addSubnet(address, Number(bits), family);
    }
    const wantedReal = filter.real === undefined ? null : parseRealId(filter.real);
    // Pages run in id order; the cursor is the last id of the page before.
    const ids = [...this.connections.keys()].sort();
    const items: ConnectionView[] = [];
    let nextCursor: string | null = null;
    for (const id of ids) {
      if (filter.cursor !== undefined && id <= filter.cursor) continue;
      const c = this.connections.get(id)!;
      if (filter.service !== undefined && c.service !== filter.service) continue;
      if (filter.state !== undefined && c.state.toUpperCase() !== filter.state.toUpperCase()) continue;
      if (wantedReal !== null) {
        if (c.real === null || c.real.port !== wantedReal.port) continue;
        if (canonicalText(c.real.address) !== canonicalText(wantedReal.address)) continue;
      }
      if (
        clients !== null &&
        !clients.check(c.client.address, isIP(c.client.address) === 6 ? 'ipv6' : 'ipv4')
      ) {
        continue;
      }
      if (items.length === filter.limit) {
        nextCursor = items[items.length - 1].id;
        break;
      }
      items.push(structuredClone(c));
    }
    return { items, nextCursor, tableCount: this.connections.size };
  }

  getConnection(id: string): ConnectionView | null {
    const c = this.connections.get(id);
    return c === undefined ? null : structuredClone(c);
  }

  async resetConnection(id: string): Promise<boolean> {
    if (!this.connections.delete(id)) return false;
    this.resets.push(id);
    return true;
  }

  readiness(): Readiness {
    return structuredClone(this.readinessState);
  }

  /** The verified-source table, in no particular order; verifiedSources ranks it. */
  verified: VerifiedSourceView[] = [];

  verifiedSources(limit: number): { items: VerifiedSourceView[]; total: number } {
    const items = [...this.verified]
      .sort((a, b) => a.verifiedSecondsAgo - b.verifiedSecondsAgo)
      .slice(0, limit)
      .map((v) => structuredClone(v));
    return { items, total: this.verified.length };
  }

  topSources(limit: number): SourceView[] {
    // Most connections first; the sort is stable, so ties keep the table's order.
    return [...this.sources]
      .sort((a, b) => b.concurrentConnections - a.concurrentConnections)
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  /** Counts from the connection table (ESTABLISHED is active, as in IPVS); no traffic counted. */
  stats(): StatsView {
    const zero = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
    const still = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
    const conns = [...this.connections.values()];
    return {
      connectionCapacity: 4096,
      connectionCount: conns.length,
      estimatorIntervalSeconds: 2,
      services: this.#config.services.map((svc) => ({
        name: svc.name,
        stats: { ...zero },
        rates: { ...still },
        reals: svc.reals.map((r) => {
          const mine = conns.filter(
            (c) => c.service === svc.name && c.real !== null && sameAddress(c.real, r),
          );
          const active = mine.filter((c) => c.state === 'ESTABLISHED').length;
          return {
            address: r.address,
            port: r.port,
            activeConnections: active,
            inactiveConnections: mine.length - active,
            persistentConnections: 0,
            stats: { ...zero },
            rates: { ...still },
          };
        }),
      })),
    };
  }

  /** The layout and server IDs of the config; no traffic, so the counters are zero. */
  quicService(service: string): QuicServiceView | null {
    const svc = this.#config.services.find((s) => s.name === service);
    return quicServiceView(
      this.#config,
      service,
      (i) => {
        const r = svc?.reals[i];
        return (
          r !== undefined && (r.mac !== null || this.learnedMacs.has(realKey(service, r.address, r.port)))
        );
      },
      ZERO_QUIC_COUNTERS,
    );
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return {
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      body:
        '# HELP sluice_config_version Version of the running live config.\n' +
        '# TYPE sluice_config_version gauge\n' +
        `sluice_config_version ${this.#version}\n` +
        '# HELP sluice_connections Entries in the connection table.\n' +
        '# TYPE sluice_connections gauge\n' +
        `sluice_connections ${this.connections.size}\n`,
    };
  }
}
