// From the operator's LiveConfig to the dataplane's ConfigSnapshot: the glue between the config
// package (which knows nothing of the dataplane) and the dataplane (which knows nothing of the
// operator's config), so it lives in the app that owns both. The part that needs memory across
// changes is the indexing: live counters (ActiveConn, InActConn, flags) and connection entries
// refer to real servers by a global index, so a real server keeps its index for as long as it
// exists, and an index set free is not given to another real server in the change that freed
// it, while workers may still be finishing work of the previous version under it.
import {
  ConfigValidationError,
  DEFAULT_DEFENSE,
  type LiveConfig,
  type PersistenceConfig,
  quicLayout,
  realId,
  realKey,
} from '@sluice/config';
import type { ConfigSnapshot, RealServerSnapshot, ServiceSnapshot } from '@sluice/dataplane';

/** The destination MAC of a real server whose MAC is neither configured nor learned yet. */
export const UNKNOWN_MAC = '00:00:00:00:00:00';

interface PoolState {
  byKey: Map<string, number>;
  /** Unowned indices anyone may take, sorted descending so pop() gives the lowest. */
  free: number[];
  /** Indices freed by the latest change: free for anyone from the next change on. */
  cooling: number[];
  /** key → the index it last held, while that index is unowned: a key that comes back gets it back. */
  former: Map<string, number>;
  formerKeyOf: Map<number, string>;
  next: number;
}

/** Stable indices for one kind of key (services or real servers), one change at a time. */
class IndexPool {
  private state: PoolState = {
    byKey: new Map(),
    free: [],
    cooling: [],
    former: new Map(),
    formerKeyOf: new Map(),
    next: 0,
  };
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  get(key: string): number | undefined {
    return this.state.byKey.get(key);
  }

  /**
   * Indices for `keys` (unique) as one change, without touching this pool: `commit` the returned
   * state to make it so. `full(i)` is thrown when keys[i] finds no index below the limit.
   */
  plan(keys: readonly string[], full: (i: number) => Error): { indices: number[]; state: PoolState } {
    const old = this.state;
    const s: PoolState = {
      byKey: new Map(),
      free: [...old.free, ...old.cooling].sort((a, b) => b - a),
      cooling: [],
      former: new Map(old.former),
      formerKeyOf: new Map(old.formerKeyOf),
      next: old.next,
    };
    const wanted = new Set(keys);
    if (wanted.size !== keys.length) throw new Error('IndexPool.plan: keys must be unique');
    for (const [key, index] of old.byKey) {
      if (wanted.has(key)) {
        s.byKey.set(key, index);
      } else {
        s.cooling.push(index);
        s.former.set(key, index);
        s.formerKeyOf.set(index, key);
      }
    }
    // Returning keys reclaim their old index before any new key may take it.
    for (const key of keys) {
      const index = s.former.get(key);
      const at = index === undefined ? -1 : s.free.indexOf(index);
      if (index === undefined || at < 0) continue;
      s.free.splice(at, 1);
      s.former.delete(key);
      s.formerKeyOf.delete(index);
      s.byKey.set(key, index);
    }
    const indices = keys.map((key, i) => {
      const held = s.byKey.get(key);
      if (held !== undefined) return held;
      let index = s.free.pop();
      if (index === undefined) {
        if (s.next >= this.limit) throw full(i);
        index = s.next++;
      }
      const formerKey = s.formerKeyOf.get(index);
      if (formerKey !== undefined) {
        s.former.delete(formerKey);
        s.formerKeyOf.delete(index);
      }
      s.byKey.set(key, index);
      return index;
    });
    return { indices, state: s };
  }

  commit(state: PoolState): void {
    this.state = state;
  }
}

export interface IndexLimits {
  /** The dataplane's maxServices: service indices are below it. */
  maxServices: number;
  /** The dataplane's maxReals: real-server indices are below it. */
  maxReals: number;
}

export interface IndexAssignment {
  /** Service name → service index. */
  services: Map<string, number>;
  /** realKey → global real-server index. */
  reals: Map<string, number>;
}

/**
 * Gives every service (by name) and every real server (by realKey) a stable index across config
 * changes. Each `assign` is one change; it changes nothing when it throws. A real server that is
 * removed and comes back gets its old index again if no other has taken it since.
 */
export class RealIndexAllocator {
  readonly maxServices: number;
  readonly maxReals: number;
  private readonly services: IndexPool;
  private readonly reals: IndexPool;

  constructor(limits: IndexLimits) {
    for (const [name, n] of Object.entries(limits)) {
      if (!Number.isSafeInteger(n) || n < 1)
        throw new RangeError(`${name} must be a positive integer (got ${n})`);
    }
    this.maxServices = limits.maxServices;
    this.maxReals = limits.maxReals;
    this.services = new IndexPool(limits.maxServices);
    this.reals = new IndexPool(limits.maxReals);
  }

  /** Indices for one change to `live` (validated: names and real servers unique). */
  assign(live: LiveConfig): IndexAssignment {
    const planned = this.plan(live);
    planned.commit();
    return planned.assignment;
  }

  /**
   * The indices `live` would get as the next change, without taking them: `commit()` makes the
   * change, once whatever depends on it (compiling, persisting) has succeeded. A change that fails
   * after planning must not commit: the running config's real servers keep their indices.
   */
  plan(live: LiveConfig): { assignment: IndexAssignment; commit: () => void } {
    const names = live.services.map((s) => s.name);
    const svc = this.services.plan(
      names,
      (i) =>
        new ConfigValidationError(
          `/services/${i}`,
          `no service index left: maxServices is ${this.maxServices}, counting services removed by the ` +
            'previous change (their indices are held back for one change)',
        ),
    );
    const where: string[] = [];
    const keys: string[] = [];
    live.services.forEach((s, i) => {
      s.reals.forEach((r, j) => {
        keys.push(realKey(s.name, r.address, r.port));
        where.push(`/services/${i}/reals/${j}`);
      });
    });
    const real = this.reals.plan(
      keys,
      (k) =>
        new ConfigValidationError(
          where[k],
          `no real-server index left: maxReals is ${this.maxReals} across all services, counting real ` +
            'servers removed by the previous change (their indices are held back for one change)',
        ),
    );
    return {
      assignment: {
        services: new Map(names.map((n, i) => [n, svc.indices[i]])),
        reals: new Map(keys.map((k, i) => [k, real.indices[i]])),
      },
      commit: () => {
        this.services.commit(svc.state);
        this.reals.commit(real.state);
      },
    };
  }

  /** The index a service holds now, if it holds one. */
  serviceIndex(name: string): number | undefined {
    return this.services.get(name);
  }

  /** The index a real server (by realKey) holds now, if it holds one. */
  realIndex(key: string): number | undefined {
    return this.reals.get(key);
  }
}

export interface SnapshotOptions {
  /** MACs learned on the overlay (ARP / neighbour discovery), by realKey. */
  learnedMacs: ReadonlyMap<string, string>;
  /** Real servers the health checks hold down, by realKey. (The counters' down flag stops new
   * connections at once; this makes a snapshot built meanwhile agree with it.) */
  down?: ReadonlySet<string>;
}

function prefixLength(p: PersistenceConfig, vip4: boolean): number {
  // The dataplane masks the 128-bit v4-mapped form, whose first 96 bits are fixed.
  return vip4 ? 96 + p.netmask : p.netmask;
}

/**
 * The snapshot of `live` (as returned by validateLiveConfig) at `version`, indexed by
 * `allocator` (which this call advances by one change).
 *
 * Weight 0, the IPVS way of "keep existing connections, take no new ones", stands in for three
 * conditions while the configured weight stays in the live config:
 * - `state: 'draining'`;
 * - health-checked down (`opts.down`);
 * - no MAC yet: the real server is configured with `mac: null` and none has been learned. It is
 *   still included, with MAC 00:00:00:00:00:00, so its index and counters exist from the start;
 *   with weight 0 no scheduler picks it, so no frame is ever sent to that MAC. Once the MAC is
 *   learned, the next snapshot carries it and the configured weight.
 */
export function toSnapshot(
  live: LiveConfig,
  version: number,
  allocator: RealIndexAllocator,
  opts: SnapshotOptions,
): ConfigSnapshot {
  const planned = planSnapshot(live, version, allocator, opts);
  planned.commit();
  return planned.snapshot;
}

/** toSnapshot without advancing `allocator`: `commit()` does, when the change is made. */
export function planSnapshot(
  live: LiveConfig,
  version: number,
  allocator: RealIndexAllocator,
  opts: SnapshotOptions,
): { snapshot: ConfigSnapshot; commit: () => void } {
  const { assignment: indices, commit } = allocator.plan(live);
  const services = live.services.map((svc): ServiceSnapshot => {
    const vip4 = !svc.vip.includes(':');
    const reals = svc.reals.map((r): RealServerSnapshot => {
      const key = realKey(svc.name, r.address, r.port);
      const mac = r.mac ?? opts.learnedMacs.get(key) ?? null;
      const takesNew = r.state === 'active' && mac !== null && opts.down?.has(key) !== true;
      return {
        index: indices.reals.get(key) as number,
        address: r.address,
        port: r.port,
        mac: mac ?? UNKNOWN_MAC,
        vtep: r.vtep,
        weight: takesNew ? r.weight : 0,
        lastWeight: r.weight,
        upperThreshold: r.upperThreshold,
        lowerThreshold: r.lowerThreshold,
        ...(typeof r.quicServerId === 'string' ? { quicServerId: r.quicServerId } : {}),
      };
    });
    return {
      index: indices.services.get(svc.name) as number,
      vip: svc.vip,
      port: svc.port,
      protocol: svc.protocol,
      scheduler: svc.scheduler,
      persistence:
        svc.persistence === null
          ? null
          : {
              timeoutSeconds: svc.persistence.timeoutSeconds,
              prefixLength: prefixLength(svc.persistence, vip4),
            },
      ...(svc.schedulerFlags === undefined || svc.schedulerFlags.length === 0
        ? {}
        : { schedulerFlags: svc.schedulerFlags }),
      ...(svc.quic === undefined ? {} : { quic: quicLayout(svc.quic, `/services/${svc.name}/quic`) }),
      reals,
    };
  });
  const snapshot: ConfigSnapshot = {
    version,
    vni: live.overlay.vni,
    directorMac: live.overlay.directorMac,
    ...(live.overlay.address === undefined ? {} : { directorAddress: live.overlay.address }),
    services,
  };
  const d = live.defense ?? DEFAULT_DEFENSE;
  {
    // A rule's pool names real servers by address:port; each becomes every global index that
    // real server holds (the same address:port may serve several services).
    const byId = new Map<string, number[]>();
    for (const svc of live.services) {
      for (const r of svc.reals) {
        const id = realId(r.address, r.port);
        const list = byId.get(id) ?? [];
        list.push(indices.reals.get(realKey(svc.name, r.address, r.port)) as number);
        byId.set(id, list);
      }
    }
    snapshot.defense = {
      strategy: d.strategy,
      highWatermark: d.highWatermark,
      lowWatermark: d.lowWatermark,
      verification: { ...d.verification },
      countInactive: d.countInactive,
      lvs: { ...d.lvs },
      weights: { ...d.weights },
      rules: d.rules.map((r) => {
        const rule: { cidr: string; priority: number; pool?: number[]; verify?: boolean } = {
          cidr: r.cidr,
          priority: r.priority,
        };
        if (r.pool !== undefined) rule.pool = r.pool.flatMap((id) => byId.get(id) ?? []);
        if (r.verify !== undefined) rule.verify = r.verify;
        return rule;
      }),
      sourceChecks: { ...d.sourceChecks },
    };
  }
  return { snapshot, commit };
}
