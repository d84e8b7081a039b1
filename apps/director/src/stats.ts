// Per-service and per-real-server statistics as `ipvsadm -L --stats` and `--rate` show them:
// totals since the service (or real server) was added, and rates from IPVS's estimator.
//
// The totals come from the dataplane's shared counter block, which counts per service and real
// server index from the daemon's start. An index outlives the thing that held it (the allocator
// hands a freed index to another real server later), so each service and real server is tracked by
// its identity and reads its counters against the values they had when it appeared: a service
// added now starts at zero, as a new IPVS service does (ip_vs_new_estimator).
//
// The rates follow net/netfilter/ipvs/ip_vs_est.c: every 2 seconds each estimator takes the
// difference of its totals, scaled (conns and packets by 2^9, i.e. per second times 2^10; bytes
// by 2^4, per second times 2^5), and moves its average a quarter of the way towards it
// (avg += (rate - avg) >> 2); a read unscales with rounding ((avg + 0x1FF) >> 10, (avg + 0xF) >> 5).
// The arithmetic is done in doubles, exact for these integer magnitudes, with >> 2 as a floor so
// a falling rate decays as the kernel's signed shift does.
//
// Under direct routing the director never sees a reply, so OutPkts, OutBytes and their rates are
// always 0 (ipvsadm shows the same columns for a DR service on a real IPVS box, where they count
// only what passes the director: nothing). InBytes counts the forwarded inner Ethernet frame, 14
// bytes more per packet than IPVS, which counts from the IP header.
import { clockNow, Persist, type PersistenceTable, timeReached } from '@sluice/conntrack';
import { type ConfigSnapshot, type CounterBlock, Per, Quic } from '@sluice/dataplane';
import type { QuicRoutingCounters, StatsCounters, StatsRates } from './control.ts';

/** ip_vs_est.c's period: the estimators run every 2 seconds. */
export const ESTIMATOR_INTERVAL_MS = 2000;

type Totals = StatsCounters;
type Rates = StatsRates;

const ZERO: Totals = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };

/** One IPVS estimator (struct ip_vs_estimator): the last totals and the scaled averages. */
export class Estimator {
  private lastConns: number;
  private lastInPkts: number;
  private lastInBytes: number;
  private cps = 0;
  private inPps = 0;
  private inBps = 0;

  constructor(start: Totals) {
    this.lastConns = start.conns;
    this.lastInPkts = start.inPkts;
    this.lastInBytes = start.inBytes;
  }

  /** One 2-second estimation step with the totals now (estimation_timer). */
  step(now: Totals): void {
    this.cps = ewma(this.cps, (now.conns - this.lastConns) * 512);
    this.lastConns = now.conns;
    this.inPps = ewma(this.inPps, (now.inPkts - this.lastInPkts) * 512);
    this.lastInPkts = now.inPkts;
    this.inBps = ewma(this.inBps, (now.inBytes - this.lastInBytes) * 16);
    this.lastInBytes = now.inBytes;
  }

  /** ip_vs_read_estimator: per second, rounded. */
  read(): Rates {
    return {
      cps: Math.floor((this.cps + 0x1ff) / 1024),
      inPps: Math.floor((this.inPps + 0x1ff) / 1024),
      outPps: 0,
      inBps: Math.floor((this.inBps + 0xf) / 32),
      outBps: 0,
    };
  }
}

/** avg += (rate - avg) >> 2, with the kernel's arithmetic (floor) shift of a signed value. */
function ewma(avg: number, rate: number): number {
  return avg + Math.floor((rate - avg) / 4);
}

interface Tracked {
  /** Counter block offset of this service's or real server's Per block. */
  offset: number;
  base: Totals;
  est: Estimator;
}

export interface RealStats {
  address: string;
  port: number;
  /** Real-server index in the shared tables. */
  index: number;
  totals: Totals;
  rates: Rates;
}

export interface ServiceStats {
  name: string;
  totals: Totals;
  rates: Rates;
  /** QUIC services: their routing counters since they were added. */
  quic?: QuicRoutingCounters;
  reals: RealStats[];
}

/** A QUIC service's routing counters: where they are and their values when it appeared. */
interface TrackedQuic {
  offset: number;
  base: Float64Array;
}

/**
 * The statistics of the running config's services and real servers. `track` is called with each
 * config before it is published, `tick` every ESTIMATOR_INTERVAL_MS, `read` by the API.
 */
export class ServiceStatistics {
  private readonly counters: CounterBlock;
  private readonly byKey = new Map<string, Tracked>();
  private readonly quicByName = new Map<string, TrackedQuic>();
  private snapshot: ConfigSnapshot | null = null;
  /** service name → its key per service index in the current snapshot. */
  private names: Map<number, string> = new Map();

  constructor(counters: CounterBlock) {
    this.counters = counters;
  }

  private raw(offset: number): Totals {
    const c = this.counters;
    return {
      conns: c.sum(offset + Per.connections),
      inPkts: c.sum(offset + Per.packets),
      outPkts: 0,
      inBytes: c.sum(offset + Per.bytes),
      outBytes: 0,
    };
  }

  private rawQuic(offset: number): Float64Array {
    const out = new Float64Array(Quic.words);
    for (let k = 0; k < Quic.words; k++) out[k] = this.counters.sum(offset + k);
    return out;
  }

  private quicSince(t: TrackedQuic): QuicRoutingCounters {
    const now = this.rawQuic(t.offset);
    const d = (k: number) => now[k] - t.base[k];
    return {
      longHeader: d(Quic.longHeader),
      cidRouted: d(Quic.cidRouted),
      unknownServerId: d(Quic.unknownServerId),
      unroutable: d(Quic.unroutable),
      newPaths: d(Quic.newPath),
      repointed: d(Quic.repointed),
    };
  }

  /** A QUIC service's counters since it (with `quic`) appeared; null for another service. */
  quic(name: string): QuicRoutingCounters | null {
    const t = this.quicByName.get(name);
    return t === undefined ? null : this.quicSince(t);
  }

  private since(t: Tracked): Totals {
    const now = this.raw(t.offset);
    return {
      conns: now.conns - t.base.conns,
      inPkts: now.inPkts - t.base.inPkts,
      outPkts: 0,
      inBytes: now.inBytes - t.base.inBytes,
      outBytes: 0,
    };
  }

  /**
   * Starts tracking what `snapshot` adds (from the counters' values now), keeps what it keeps and
   * forgets what it drops. `names` maps each service index of the snapshot to its name.
   */
  track(snapshot: ConfigSnapshot, names: Map<number, string>): void {
    const l = this.counters.layout;
    const keep = new Map<string, number>();
    for (const svc of snapshot.services) {
      const name = names.get(svc.index);
      if (name === undefined) continue;
      keep.set(`s/${name}`, l.services + svc.index * Per.words);
      for (const r of svc.reals) keep.set(`r/${name}/${r.address}/${r.port}`, l.reals + r.index * Per.words);
    }
    for (const [key, t] of this.byKey) if (keep.get(key) !== t.offset) this.byKey.delete(key);
    const quic = new Map<string, number>();
    for (const svc of snapshot.services) {
      const name = names.get(svc.index);
      if (name !== undefined && svc.quic !== undefined) quic.set(name, l.quic + svc.index * Quic.words);
    }
    for (const [name, t] of this.quicByName) if (quic.get(name) !== t.offset) this.quicByName.delete(name);
    for (const [name, offset] of quic) {
      if (!this.quicByName.has(name)) this.quicByName.set(name, { offset, base: this.rawQuic(offset) });
    }
    for (const [key, offset] of keep) {
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, { offset, base: this.raw(offset), est: new Estimator(ZERO) });
    }
    this.snapshot = snapshot;
    this.names = names;
  }

  /** One estimator step for everything tracked. */
  tick(): void {
    for (const t of this.byKey.values()) t.est.step(this.since(t));
  }

  read(): ServiceStats[] {
    const out: ServiceStats[] = [];
    for (const svc of this.snapshot?.services ?? []) {
      const name = this.names.get(svc.index);
      const t = name === undefined ? undefined : this.byKey.get(`s/${name}`);
      if (name === undefined || t === undefined) continue;
      const reals: RealStats[] = [];
      for (const r of svc.reals) {
        const rt = this.byKey.get(`r/${name}/${r.address}/${r.port}`);
        if (rt === undefined) continue;
        reals.push({
          address: r.address,
          port: r.port,
          index: r.index,
          totals: this.since(rt),
          rates: rt.est.read(),
        });
      }
      const quic = this.quic(name);
      out.push({
        name,
        totals: this.since(t),
        rates: t.est.read(),
        ...(quic === null ? {} : { quic }),
        reals,
      });
    }
    return out;
  }
}

/**
 * IPVS's PersistConn of each real server: the persistence templates that point at it and are
 * live (controlling a connection, or within their timeout). A bounded scan of the template table
 * with plain reads: a listing may be a moment stale, never torn in a way that matters (one word).
 */
export function persistentConnections(table: PersistenceTable): Map<number, number> {
  const counts = new Map<number, number>();
  const i32 = table.i32;
  const now = clockNow(table.core.epochMs);
  for (let slot = 0; slot < table.capacity; slot++) {
    const base = table.recordBase(slot);
    if (i32[base + Persist.tag] === 0) continue;
    if (i32[base + Persist.controlled] <= 0 && timeReached(i32[base + Persist.expires], now)) continue;
    const real = i32[base + Persist.real];
    counts.set(real, (counts.get(real) ?? 0) + 1);
  }
  return counts;
}
