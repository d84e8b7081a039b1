// `@sluice/config/testing`, for tests only (never the public index): a small hand-written config
// and a fast-check generator of valid live configs in every shape the schema allows (defaults
// omitted or spelled out, both families, non-canonical address spellings, upper-case MACs), so
// properties are tested beyond one example.
import fc from 'fast-check';
import { SCHEDULERS } from './schema.ts';

export interface TestConfig<S> {
  overlay: { vni: number; directorMac: string };
  services: S[];
}

/** A live config of `services` on the overlay every hand-written test config runs on. */
export function withTestOverlay<S>(services: S[]): TestConfig<S> {
  return { overlay: { vni: 7, directorMac: '02:00:00:00:00:01' }, services };
}

/** A fresh, valid, minimal live config (defaults left out). */
export function liveFixture(): TestConfig<Record<string, unknown>> {
  return withTestOverlay<Record<string, unknown>>([
    {
      name: 'web',
      vip: '10.0.0.100',
      port: 80,
      reals: [
        { address: '10.0.1.1', port: 8080, vtep: '192.0.2.1' },
        { address: '10.0.1.2', port: 8080, vtep: '192.0.2.2', healthCheck: { type: 'http' } },
      ],
    },
    {
      name: 'dns',
      vip: '2001:db8::53',
      port: 53,
      protocol: 'udp',
      reals: [{ address: '2001:db8:1::1', port: 53, vtep: '192.0.2.3' }],
    },
  ]);
}

const group = fc.integer({ min: 0, max: 0xffff }).map((g) => g.toString(16));

/** IPv6 in the long form (8 groups), under 2001:db8::/32 so it is never v4-mapped. */
const ipv6 = fc.array(group, { minLength: 6, maxLength: 6 }).map((gs) => ['2001', '0DB8', ...gs].join(':'));

const macArb = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 })
  .map((bs) => ['02', ...bs.map((b) => b.toString(16).padStart(2, '0'))].join(':'))
  .chain((m) => fc.constantFrom(m, m.toUpperCase()));

const healthArb = fc.oneof(
  fc.constant(null),
  fc.record(
    {
      type: fc.constant('tcp' as const),
      port: fc.integer({ min: 1, max: 65535 }),
      intervalSeconds: fc.integer({ min: 1, max: 60 }),
      timeoutSeconds: fc.double({ min: 0.1, max: 30, noNaN: true }),
      rise: fc.integer({ min: 1, max: 5 }),
      fall: fc.integer({ min: 1, max: 5 }),
    },
    { requiredKeys: ['type'] },
  ),
  fc.record(
    {
      type: fc.constant('http' as const),
      address: fc.ipV4(),
      path: fc.constantFrom('/', '/healthz', '/status?full=1'),
      expectStatus: fc.integer({ min: 100, max: 599 }),
    },
    { requiredKeys: ['type'] },
  ),
);

function realsArb(v4: boolean) {
  const host = v4 ? fc.ipV4() : ipv6;
  return fc.uniqueArray(
    fc
      .record({
        address: host,
        port: fc.integer({ min: 1, max: 65535 }),
        vtep: fc.ipV4(),
        mac: fc.option(macArb),
        weight: fc.integer({ min: 0, max: 65535 }),
        upper: fc.integer({ min: 0, max: 10000 }),
        lower: fc.integer({ min: 0, max: 10000 }),
        state: fc.constantFrom('active' as const, 'draining' as const),
        healthCheck: healthArb,
        omit: fc.uniqueArray(fc.constantFrom('mac', 'weight', 'thresholds', 'state', 'healthCheck'), {
          maxLength: 5,
        }),
      })
      .map(({ upper, lower, omit, ...r }) => {
        const real: Record<string, unknown> = {
          ...r,
          upperThreshold: upper,
          lowerThreshold: upper > 0 ? Math.min(lower, upper) : lower,
        };
        for (const k of omit) {
          if (k === 'thresholds') {
            delete real.upperThreshold;
            delete real.lowerThreshold;
          } else delete real[k];
        }
        return real;
      }),
    {
      maxLength: 4,
      // Uniqueness by address as parsed: the long IPv6 form and its canonical form are one.
      selector: (r) =>
        `${String(r.address)
          .toLowerCase()
          .replace(/(^|:)0+(?=[0-9a-f])/g, '$1')} ${r.port}`,
    },
  );
}

export const liveConfigArb = fc
  .record({
    vni: fc.integer({ min: 0, max: 0xffffff }),
    directorMac: macArb,
    services: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,12}$/),
        v4: fc.boolean(),
        protocol: fc.option(fc.constantFrom('tcp' as const, 'udp' as const), { nil: undefined }),
        scheduler: fc.option(fc.constantFrom(...SCHEDULERS), {
          nil: undefined,
        }),
        persistence: fc.option(
          fc.record(
            { timeoutSeconds: fc.integer({ min: 1, max: 86400 }), netmask: fc.integer({ min: 1, max: 32 }) },
            { requiredKeys: ['timeoutSeconds'] },
          ),
          { nil: undefined },
        ),
        vip4: fc.ipV4(),
        vip6: ipv6,
      }),
      { maxLength: 4, selector: (s) => s.name },
    ),
  })
  .chain(({ vni, directorMac, services }) =>
    fc.tuple(...services.map((s) => realsArb(s.v4))).map((reals) => ({
      overlay: { vni, directorMac },
      services: services.map((s, i) => {
        const svc: Record<string, unknown> = {
          name: s.name,
          vip: s.v4 ? s.vip4 : s.vip6,
          // Distinct ports keep every (VIP, port, protocol) distinct whatever the VIPs drawn.
          port: 1000 + i,
          reals: reals[i],
        };
        if (s.protocol !== undefined) svc.protocol = s.protocol;
        if (s.scheduler !== undefined) svc.scheduler = s.scheduler;
        if (s.persistence !== undefined) svc.persistence = s.persistence;
        return svc;
      }),
    })),
  );

/** The same data with every object's keys in reverse order. */
export function reverseKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reverseKeys) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reverseKeys(v)]),
    ) as T;
  }
  return value;
}

/** A QUIC service (UDP, three real servers with server IDs in three spellings) under `quic`.
 * Its service is written out, not derived from liveFixture's: a test reads here what it runs on. */
// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary places of untyped JSON.
export function quicConfig(quic: any = { cidServerIdOffset: 1, cidServerIdLength: 2, cidLength: 8 }): any {
  return withTestOverlay([
    {
      name: 'h3',
      vip: '10.0.0.100',
      port: 443,
      protocol: 'udp',
      scheduler: 'rr',
      quic,
      reals: [
        {
          address: '10.0.1.1',
          port: 443,
          vtep: '192.0.2.1',
          mac: '02:00:00:00:01:01',
          quicServerId: '0a01',
        },
        { address: '10.0.1.2', port: 443, vtep: '192.0.2.2', mac: '02:00:00:00:01:02', quicServerId: 2562 },
        {
          address: '10.0.1.3',
          port: 443,
          vtep: '192.0.2.3',
          mac: '02:00:00:00:01:03',
          quicServerId: '0x0A:03',
        },
      ],
    },
  ]);
}
