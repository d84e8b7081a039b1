// The screen's layout on fixed input: column alignment (IPv4 and IPv6), ipvsadm's large-number
// column, the health/state column, and the summary lines (drops, priorities, traffic).
import { describe, expect, it } from 'vitest';
import {
  endpoint,
  formatListing,
  formatPriorities,
  formatTraffic,
  LISTING_HEADER,
  type ListingView,
  largeNumber,
} from './listing.ts';

const real = (id: string, n: number, extra: Partial<ListingView['services'][0]['reals'][0]> = {}) => ({
  id,
  weight: 1,
  state: 'active' as const,
  health: 'up' as const,
  overloaded: false,
  activeConnections: 2,
  inactiveConnections: n,
  connections: n + 2,
  packets: 10 * n,
  bytes: 800 * n,
  ...extra,
});

const VIEW: ListingView = {
  lab: 'demo',
  apiUrl: 'http://127.0.0.1:9180',
  directorPid: 4242,
  elapsedSeconds: 12.7,
  remainingSeconds: null,
  configVersion: 1,
  workers: 2,
  services: [
    {
      name: 'web4',
      protocol: 'tcp',
      vip: '10.34.0.100',
      port: 80,
      scheduler: 'rr',
      connections: 43,
      packets: 410,
      bytes: 32_800,
      reals: [real('10.34.0.11:80', 20), real('10.34.0.12:80', 19, { state: 'draining', health: 'down' })],
    },
    {
      name: 'web6',
      protocol: 'tcp',
      vip: 'fd22::100',
      port: 80,
      scheduler: 'wlc',
      connections: 123_456_789,
      packets: 0,
      bytes: 0,
      reals: [real('[fd22::11]:80', 0, { health: null, overloaded: true, weight: 3 })],
    },
  ],
  forwarded: 616,
  replied: 4,
  dropped: 12,
  drops: [
    { reason: 'not-for-us', count: 8 },
    { reason: 'unsupported', count: 4 },
  ],
  tableEntries: 75,
  tableCapacity: 65_536,
  priorities: { counts: [{ priority: 8, count: 75 }], sampled: 75, tableCount: 75, complete: true },
  traffic: [
    { client: 'c1', tool: 'curl', family: 'v4', ok: 17, failed: 0, running: true },
    { client: 'c1', tool: 'wrk', family: 'v4', ok: null, failed: null, connections: 4, running: true },
    { client: 'c2', tool: 'curl', family: 'v6', ok: 18, failed: 1, running: false },
  ],
};

describe('formatListing', () => {
  it('lays out services, real servers and the summary lines like ipvsadm -L -n --stats', () => {
    expect(formatListing(VIEW)).toBe(
      [
        'Sluice demo: lab demo, director pid 4242, API http://127.0.0.1:9180, 12 s (Ctrl-C stops)',
        'Sluice director (config v1, 2 workers, table 75/65536)',
        'Prot LocalAddress:Port Scheduler  Weight ActiveConn InActConn    Conns   InPkts  InBytes  Health',
        '  -> RemoteAddress:Port',
        'TCP  10.34.0.100:80 rr                                              43      410    32800',
        '  -> 10.34.0.11:80                     1          2        20       22      200    16000  up',
        '  -> 10.34.0.12:80                     1          2        19       21      190    15200  down,draining',
        'TCP  [fd22::100]:80 wlc                                        123456K        0        0',
        '  -> [fd22::11]:80                     3          2         0        2        0        0  -,overloaded',
        '',
        'frames: forwarded 616, replied 4 (ARP/ND), dropped 12 (not-for-us 8, unsupported 4); connection table 75/65536 (0.1%)',
        'priorities (0 highest, 15 lowest; all 75 entries): p8 75 (100%)',
        'traffic (curl requests ok/failed): c1: curl v4 17/0, wrk v4 4 conns; c2: curl v6 18/1 (exited)',
      ].join('\n'),
    );
  });

  it('every row lines its numbers up under the header', () => {
    const rows = formatListing(VIEW).split('\n');
    const conns = LISTING_HEADER.indexOf('Conns') + 'Conns'.length;
    for (const row of rows.filter(
      (r) => r.startsWith('TCP') || r.startsWith('  -> 10') || r.startsWith('  -> ['),
    )) {
      // The last character of the Conns column is a digit (or ipvsadm's K) on every row.
      expect(row[conns - 1]).toMatch(/[0-9K]/);
    }
  });

  it('counts down when the demo stops by itself', () => {
    const first = formatListing({ ...VIEW, remainingSeconds: 3.2 }).split('\n')[0];
    expect(first).toMatch(/\(stops in 4 s\)$/);
  });
});

describe('pieces', () => {
  it('largeNumber is exact below 100 million, then K, M, G in 9 columns', () => {
    expect(largeNumber(0)).toBe('        0');
    expect(largeNumber(99_999_999)).toBe(' 99999999');
    expect(largeNumber(100_000_000)).toBe('  100000K');
    expect(largeNumber(5_000_000_000)).toBe('    5000M');
    expect(largeNumber(2e12)).toBe('    2000G');
  });

  it('endpoint brackets IPv6', () => {
    expect(endpoint('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(endpoint('fd00::1', 443)).toBe('[fd00::1]:443');
  });

  it('priorities say when the walk was bounded, and sort by priority', () => {
    expect(
      formatPriorities({
        counts: [
          { priority: 8, count: 900 },
          { priority: 0, count: 100 },
        ],
        sampled: 1000,
        tableCount: 5000,
        complete: false,
      }),
    ).toBe('priorities (0 highest, 15 lowest; first 1000 of 5000 entries): p0 100 (10%), p8 900 (90%)');
    expect(formatPriorities({ counts: [], sampled: 0, tableCount: 0, complete: true })).toMatch(
      /no entries$/,
    );
    expect(formatPriorities(null)).toMatch(/unavailable$/);
  });

  it('traffic with no generators', () => {
    expect(formatTraffic([])).toBe('traffic: none');
  });
});
