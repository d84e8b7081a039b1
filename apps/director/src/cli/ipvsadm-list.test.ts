// The listing formatter against listings written out from ipvsadm 1.31's own format strings
// (fixtures/README.md), for the services of fixtures/mixed.rules and for counters past the K/M/G/T
// thresholds of print_largenum.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  compareServices,
  formatConnections,
  formatListing,
  type ListedReal,
  type ListedService,
  type ListFormat,
  largenum,
} from './ipvsadm-list.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const PLAIN: ListFormat = {
  stats: false,
  rate: false,
  thresholds: false,
  persistentConn: false,
  exact: false,
  noSort: false,
};
const zero = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
const still = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };

function real(address: string, port: number, weight: number, upper = 0, lower = 0): ListedReal {
  return {
    address,
    port,
    weight,
    upperThreshold: upper,
    lowerThreshold: lower,
    active: 0,
    inactive: 0,
    persistent: 0,
    stats: zero,
    rates: still,
  };
}

function service(
  over: Partial<ListedService> & Pick<ListedService, 'vip' | 'port' | 'scheduler'>,
): ListedService {
  return {
    protocol: 'tcp',
    schedulerFlags: [],
    persistence: null,
    stats: zero,
    rates: still,
    reals: [],
    ...over,
  };
}

/** fixtures/mixed.rules, in the order of the file (the formatter sorts). */
const MIXED: ListedService[] = [
  service({
    vip: '10.0.0.1',
    port: 80,
    scheduler: 'wlc',
    reals: [real('192.168.10.2', 80, 1), real('192.168.10.3', 80, 3, 1000, 800)],
  }),
  service({
    vip: '10.0.0.1',
    port: 443,
    scheduler: 'rr',
    persistence: { timeoutSeconds: 300, netmask: 24 },
    reals: [real('192.168.10.2', 443, 1)],
  }),
  service({
    protocol: 'udp',
    vip: '10.0.0.53',
    port: 53,
    scheduler: 'sh',
    schedulerFlags: ['sh-fallback', 'sh-port'],
    reals: [real('192.168.10.5', 53, 2), real('192.168.10.4', 53, 0)],
  }),
  service({
    vip: '192.168.200.15',
    port: 8080,
    scheduler: 'mh',
    schedulerFlags: ['mh-port'],
    reals: [real('192.168.100.2', 8080, 1)],
  }),
  service({
    vip: '2001:db8::80',
    port: 80,
    scheduler: 'rr',
    persistence: { timeoutSeconds: 600, netmask: 64 },
    reals: [real('2001:db8::a0a0', 80, 1)],
  }),
];

describe('formatListing (ipvsadm -L -n)', () => {
  it('prints the services of mixed.rules byte for byte as ipvsadm 1.31 does', () => {
    expect(formatListing(MIXED, PLAIN, 4096)).toBe(fixture('mixed.ipvsadm-Ln.txt'));
  });

  it('--thresholds', () => {
    expect(formatListing(MIXED, { ...PLAIN, thresholds: true }, 4096)).toBe(
      fixture('mixed.ipvsadm-Ln-thresholds.txt'),
    );
  });

  it('--nosort keeps the configuration order', () => {
    const out = formatListing(MIXED, { ...PLAIN, noSort: true }, 4096).split('\n');
    expect(out[3]).toBe('TCP  10.0.0.1:80 wlc');
    expect(out[9]).toMatch(/^ {2}-> 192\.168\.10\.5:53 /);
  });

  it('leaves the version line out for one service, as list_service does', () => {
    const out = formatListing([MIXED[0]], PLAIN, null);
    expect(out.startsWith('Prot LocalAddress:Port Scheduler Flags\n')).toBe(true);
  });

  const big = [
    service({
      vip: '10.0.0.1',
      port: 80,
      scheduler: 'wlc',
      stats: {
        conns: 99_999_999,
        inPkts: 100_000_000,
        outPkts: 0,
        inBytes: 999_999_999_999,
        outBytes: 123_456_789_012_345,
      },
      rates: { cps: 1234, inPps: 5678, outPps: 0, inBps: 100_000_000, outBps: 0 },
      reals: [
        {
          ...real('192.168.10.2', 80, 1),
          stats: {
            conns: 1,
            inPkts: 1_000_000_000,
            outPkts: 0,
            inBytes: 99_999_999_999_999,
            outBytes: 100_000_000_000_000,
          },
          rates: { cps: 12, inPps: 34, outPps: 0, inBps: 987_654_321, outBps: 0 },
        },
      ],
    }),
  ];

  it('--stats and --rate round to K, M, G, T past 8 digits; --exact prints every digit', () => {
    expect(formatListing(big, { ...PLAIN, stats: true }, 4096)).toBe(
      fixture('large-numbers.ipvsadm-Ln-stats.txt'),
    );
    expect(formatListing(big, { ...PLAIN, rate: true }, 4096)).toBe(
      fixture('large-numbers.ipvsadm-Ln-rate.txt'),
    );
    expect(formatListing(big, { ...PLAIN, stats: true, exact: true }, 4096)).toBe(
      fixture('large-numbers.ipvsadm-Ln-stats-exact.txt'),
    );
  });

  it('print_largenum thresholds', () => {
    expect(largenum(99_999_999, false)).toBe(' 99999999');
    expect(largenum(100_000_000, false)).toBe('  100000K');
    expect(largenum(999_999_999, false)).toBe('  999999K');
    expect(largenum(1_000_000_000, false)).toBe('    1000M');
    expect(largenum(99_999_999_999_999, false)).toBe('   99999G');
    expect(largenum(100_000_000_000_000, false)).toBe('     100T');
    expect(largenum(7, true)).toBe('        7');
    expect(largenum(123_456_789, true)).toBe(' 123456789');
  });
});

describe('ipvsadm sort order (libipvs ipvs_cmp_services)', () => {
  const s = (vip: string, port: number, protocol: 'tcp' | 'udp' = 'tcp') => ({ vip, port, protocol });
  it('IPv4 before IPv6, TCP before UDP, then address and port', () => {
    expect(compareServices(s('10.0.0.1', 80), s('2001:db8::1', 80))).toBeLessThan(0);
    expect(compareServices(s('10.0.0.9', 80, 'udp'), s('10.0.0.1', 80))).toBeGreaterThan(0);
    expect(compareServices(s('10.0.0.1', 443), s('10.0.0.1', 80))).toBeGreaterThan(0);
  });
  it('compares addresses as C does, in a wrapped 32-bit int', () => {
    // 0x0a000001 - 0xc0a8c80f wraps to a positive int: 10.0.0.1 sorts after 192.168.200.15.
    expect(compareServices(s('10.0.0.1', 80), s('192.168.200.15', 80))).toBeGreaterThan(0);
    expect(compareServices(s('10.0.0.1', 80), s('100.0.0.1', 80))).toBeLessThan(0);
  });
});

describe('formatConnections (ipvsadm -L -c -n)', () => {
  it("prints print_conn's columns, then priority, id and reasons", () => {
    const out = formatConnections(
      [
        {
          id: '0001a-3f',
          protocol: 'tcp',
          client: '198.51.100.7:40000',
          virtual: '10.0.0.1:80',
          destination: '192.168.10.2:80',
          state: 'ESTABLISHED',
          expiresInSeconds: 899.7,
          priority: 3,
          reasons: ['source-spoke-before', 'data'],
        },
      ],
      false,
    );
    const [head, columns, row] = out.split('\n');
    expect(head).toBe('IPVS connection entries');
    // ipvsadm: "pro expire %-11s %-18s %-18s %s\n", then Sluice's columns.
    expect(columns).toBe(
      'pro expire state       source             virtual            destination        prio id                reasons',
    );
    // "%-3s %-6s %-11s %-18s %-18s %s\n": expires 899 s is 14:59.
    expect(row).toBe(
      'TCP 14:59  ESTABLISHED 198.51.100.7:40000 10.0.0.1:80        192.168.10.2:80    3    0001a-3f          source-spoke-before,data',
    );
  });
});
