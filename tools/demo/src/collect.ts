// Reads the running director the way an operator's tools would: REST for the services and the
// real servers' live status (health, ActiveConn/InActConn), /metrics for the counters since start
// (connections, packets, bytes, verdicts, drops, table occupancy), and a bounded walk of
// GET /v1/connections for the priorities. Nothing here reaches into the daemon, so the demo shows
// exactly what the public interfaces say.
import type { ServiceConfig } from '@sluice/config';
import type { ListingView, PrioritySample, RealLine, ServiceLine } from './listing.ts';
import { Scrape } from './prometheus.ts';

/** One item of GET /v1/services/:name/reals. */
export interface RealItem {
  id: string;
  address: string;
  port: number;
  weight: number;
  state: 'active' | 'draining';
  status: {
    health: 'up' | 'down' | 'unknown' | 'unchecked';
    activeConnections: number;
    inactiveConnections: number;
    overloaded: boolean;
  } | null;
}

export type DirectorReading = Omit<
  ListingView,
  'lab' | 'apiUrl' | 'directorPid' | 'elapsedSeconds' | 'remainingSeconds' | 'traffic'
>;

/** Bounds of the priority walk: the listing is redrawn every 2 s and must not page a huge table. */
export interface PriorityWalk {
  pageSize: number;
  maxPages: number;
}

export const DEFAULT_PRIORITY_WALK: PriorityWalk = { pageSize: 500, maxPages: 4 };

const TIMEOUT_MS = 3000;

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function getText(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}

/** The service and real-server lines: configuration and gauges from REST, counters from a scrape. */
export function serviceLines(
  services: readonly ServiceConfig[],
  realsByService: ReadonlyMap<string, readonly RealItem[]>,
  scrape: Scrape,
): ServiceLine[] {
  return services.map((s) => {
    const svc = { service: s.name };
    const reals: RealLine[] = (realsByService.get(s.name) ?? []).map((r) => {
      const labels = { service: s.name, real: r.id };
      // ActiveConn/InActConn from the same scrape as Conns when it has them: read a moment apart
      // (REST, then /metrics) under a few new connections a second, the gauges could exceed the
      // connections ever scheduled. REST's status is the fallback for a real not scraped yet.
      const gauge = (metric: string, rest: number | undefined): number =>
        scrape.select(metric, labels).length > 0 ? scrape.sum(metric, labels) : (rest ?? 0);
      return {
        id: r.id,
        weight: r.weight,
        state: r.state,
        health: r.status?.health ?? null,
        overloaded: r.status?.overloaded ?? false,
        activeConnections: gauge('sluice_real_server_active_connections', r.status?.activeConnections),
        inactiveConnections: gauge('sluice_real_server_inactive_connections', r.status?.inactiveConnections),
        connections: scrape.sum('sluice_real_server_connections_total', labels),
        packets: scrape.sum('sluice_real_server_packets_total', labels),
        bytes: scrape.sum('sluice_real_server_bytes_total', labels),
      };
    });
    return {
      name: s.name,
      protocol: s.protocol,
      vip: s.vip,
      port: s.port,
      scheduler: s.scheduler,
      connections: scrape.sum('sluice_service_connections_total', svc),
      packets: scrape.sum('sluice_service_packets_total', svc),
      bytes: scrape.sum('sluice_service_bytes_total', svc),
      reals,
    };
  });
}

/** The director-wide figures of one scrape. */
export function totals(
  scrape: Scrape,
): Pick<
  DirectorReading,
  | 'configVersion'
  | 'workers'
  | 'forwarded'
  | 'replied'
  | 'dropped'
  | 'drops'
  | 'tableEntries'
  | 'tableCapacity'
> {
  const drops = scrape
    .select('sluice_dropped_packets_total')
    .filter((s) => s.value > 0)
    .map((s) => ({ reason: s.labels.reason ?? '?', count: s.value }))
    .sort((a, b) => b.count - a.count);
  return {
    configVersion: scrape.sum('sluice_config_version'),
    workers: scrape.sum('sluice_workers'),
    forwarded: scrape.sum('sluice_packets_total', { verdict: 'forward' }),
    replied: scrape.sum('sluice_packets_total', { verdict: 'reply' }),
    dropped: scrape.sum('sluice_packets_total', { verdict: 'drop' }),
    drops,
    tableEntries: scrape.sum('sluice_connection_table_entries'),
    tableCapacity: scrape.sum('sluice_connection_table_capacity'),
  };
}

interface ConnectionPage {
  items: { priority: number }[];
  nextCursor: string | null;
  tableCount: number;
}

/** Counts entries by priority over at most `walk.maxPages` pages of GET /v1/connections. */
export async function samplePriorities(
  apiUrl: string,
  walk: PriorityWalk = DEFAULT_PRIORITY_WALK,
): Promise<PrioritySample> {
  const counts = new Map<number, number>();
  let sampled = 0;
  let tableCount = 0;
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q = new URLSearchParams({ limit: String(walk.pageSize) });
    if (cursor !== null) q.set('cursor', cursor);
    const page: ConnectionPage = await getJson<ConnectionPage>(`${apiUrl}/v1/connections?${q}`);
    pages++;
    tableCount = page.tableCount;
    for (const c of page.items) counts.set(c.priority, (counts.get(c.priority) ?? 0) + 1);
    sampled += page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== null && pages < walk.maxPages);
  return {
    counts: [...counts].map(([priority, count]) => ({ priority, count })),
    sampled,
    tableCount,
    complete: cursor === null,
  };
}

/** Everything the listing shows of the director, read now. Throws when REST or /metrics fail. */
export async function readDirector(apiUrl: string, walk?: PriorityWalk): Promise<DirectorReading> {
  const { items: services } = await getJson<{ items: ServiceConfig[] }>(`${apiUrl}/v1/services`);
  const reals = new Map<string, RealItem[]>();
  const [metricsText, priorities] = await Promise.all([
    getText(`${apiUrl}/metrics`),
    // The connection listing is a nicety: a failure there leaves the rest of the screen standing.
    samplePriorities(apiUrl, walk).catch(() => null),
    ...services.map(async (s) => {
      const page = await getJson<{ items: RealItem[] }>(
        `${apiUrl}/v1/services/${encodeURIComponent(s.name)}/reals`,
      );
      reals.set(s.name, page.items);
    }),
  ]);
  const scrape = new Scrape(metricsText);
  return { ...totals(scrape), services: serviceLines(services, reals, scrape), priorities };
}
