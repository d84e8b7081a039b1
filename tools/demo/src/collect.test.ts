// Gathering the listing from a director's REST and /metrics, against a stand-in HTTP server that
// answers with the shapes the director's API serves: which number comes from where, and that the
// priority walk follows cursors but stops at its page bound.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RealItem, readDirector, samplePriorities, serviceLines, totals } from './collect.ts';
import { Scrape } from './prometheus.ts';

const SERVICES = [
  {
    name: 'web4',
    vip: '10.34.0.100',
    port: 80,
    protocol: 'tcp' as const,
    scheduler: 'rr' as const,
    persistence: null,
    reals: [],
  },
];

const REALS: RealItem[] = [
  {
    id: '10.34.0.11:80',
    address: '10.34.0.11',
    port: 80,
    weight: 1,
    state: 'active',
    status: { health: 'up', activeConnections: 9, inactiveConnections: 9, overloaded: false },
  },
  // Not in the scrape (added after it): the gauges come from REST.
  {
    id: '10.34.0.12:80',
    address: '10.34.0.12',
    port: 80,
    weight: 2,
    state: 'draining',
    status: { health: 'down', activeConnections: 1, inactiveConnections: 4, overloaded: true },
  },
];

const METRICS = `# TYPE sluice_packets_total counter
sluice_packets_total{verdict="drop"} 5
sluice_packets_total{verdict="forward"} 100
sluice_packets_total{verdict="reply"} 2
sluice_dropped_packets_total{reason="no-service"} 0
sluice_dropped_packets_total{reason="not-for-us"} 1
sluice_dropped_packets_total{reason="unsupported"} 4
sluice_service_connections_total{service="web4"} 7
sluice_service_packets_total{service="web4"} 100
sluice_service_bytes_total{service="web4"} 9000
sluice_real_server_connections_total{service="web4",real="10.34.0.11:80"} 7
sluice_real_server_packets_total{service="web4",real="10.34.0.11:80"} 100
sluice_real_server_bytes_total{service="web4",real="10.34.0.11:80"} 9000
sluice_real_server_active_connections{service="web4",real="10.34.0.11:80"} 2
sluice_real_server_inactive_connections{service="web4",real="10.34.0.11:80"} 5
sluice_connection_table_entries 7
sluice_connection_table_capacity 65536
sluice_config_version 3
sluice_workers 2
`;

describe('serviceLines and totals', () => {
  const scrape = new Scrape(METRICS);

  it('counters and gauges from one scrape, health and state from REST', () => {
    const [svc] = serviceLines(SERVICES, new Map([['web4', REALS]]), scrape);
    expect(svc).toMatchObject({
      name: 'web4',
      vip: '10.34.0.100',
      connections: 7,
      packets: 100,
      bytes: 9000,
    });
    expect(svc.reals[0]).toEqual({
      id: '10.34.0.11:80',
      weight: 1,
      state: 'active',
      health: 'up',
      overloaded: false,
      // The scrape's 2/5, not REST's 9/9 read at another moment.
      activeConnections: 2,
      inactiveConnections: 5,
      connections: 7,
      packets: 100,
      bytes: 9000,
    });
    expect(svc.reals[1]).toEqual({
      id: '10.34.0.12:80',
      weight: 2,
      state: 'draining',
      health: 'down',
      overloaded: true,
      activeConnections: 1,
      inactiveConnections: 4,
      connections: 0,
      packets: 0,
      bytes: 0,
    });
  });

  it('verdicts, non-zero drops (largest first), table, version, workers', () => {
    expect(totals(scrape)).toEqual({
      configVersion: 3,
      workers: 2,
      forwarded: 100,
      replied: 2,
      dropped: 5,
      drops: [
        { reason: 'unsupported', count: 4 },
        { reason: 'not-for-us', count: 1 },
      ],
      tableEntries: 7,
      tableCapacity: 65536,
    });
  });
});

describe('against a stand-in director API', () => {
  let server: Server;
  let url: string;
  /** 7 entries: priorities 0,8,8,8,8,8,15; pages of `limit`, cursor = next index. */
  const PRIORITIES = [0, 8, 8, 8, 8, 8, 15];
  const pagesServed: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const json = (body: unknown): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (u.pathname === '/v1/services') return json({ items: SERVICES });
      if (u.pathname === '/v1/services/web4/reals') return json({ items: REALS });
      if (u.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return res.end(METRICS);
      }
      if (u.pathname === '/v1/connections') {
        pagesServed.push(u.search);
        const limit = Number(u.searchParams.get('limit'));
        const from = Number(u.searchParams.get('cursor') ?? 0);
        const items = PRIORITIES.slice(from, from + limit).map((priority) => ({ priority }));
        const next = from + limit < PRIORITIES.length ? String(from + limit) : null;
        return json({ items, nextCursor: next, tableCount: PRIORITIES.length });
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('the priority walk follows cursors to the end when it may', async () => {
    const p = await samplePriorities(url, { pageSize: 3, maxPages: 10 });
    expect(p.complete).toBe(true);
    expect(p.sampled).toBe(7);
    expect(p.counts.sort((a, b) => a.priority - b.priority)).toEqual([
      { priority: 0, count: 1 },
      { priority: 8, count: 5 },
      { priority: 15, count: 1 },
    ]);
  });

  it('and stops at its page bound, saying so', async () => {
    pagesServed.length = 0;
    const p = await samplePriorities(url, { pageSize: 2, maxPages: 2 });
    expect(pagesServed).toEqual(['?limit=2', '?limit=2&cursor=2']);
    expect(p).toMatchObject({ complete: false, sampled: 4, tableCount: 7 });
  });

  it('readDirector puts REST and /metrics together', async () => {
    const r = await readDirector(url, { pageSize: 100, maxPages: 1 });
    expect(r.services.map((s) => s.reals.map((x) => x.id))).toEqual([['10.34.0.11:80', '10.34.0.12:80']]);
    expect(r.forwarded).toBe(100);
    expect(r.priorities?.sampled).toBe(7);
  });
});
