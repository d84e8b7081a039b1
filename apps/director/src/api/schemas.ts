// The HTTP-only schemas: views the director reports (real-server status, connections, readiness),
// error bodies, list envelopes, path parameters and headers. The config schemas themselves come
// from @sluice/config, so a REST body and a config file are one definition.
//
// Views that mirror a TypeScript interface of control.ts are pinned to it at compile time
// (`Same<...>` below): a field added to the interface and not here fails `tsc`, instead of being
// silently dropped by fast-json-stringify, which writes only the properties a schema names.
import { DefenseSchema, NameSchema, RealServerSchema, ServiceSchema } from '@sluice/config';
import Type, { type Static, type TSchema } from 'typebox';
import type {
  ConnectionPage,
  ConnectionView,
  QuicServiceView,
  Readiness,
  RealStatusView,
  SourceView,
  VerifiedSourceView,
} from '../control.ts';

export const ErrorSchema = Type.Object({
  error: Type.String({ description: 'A word: invalid, unauthorized, forbidden, not_found, conflict, ...' }),
  code: Type.String({ description: 'Stable code, SLUICE_ERR_<AREA>_<DETAIL>' }),
  message: Type.String(),
  field: Type.Optional(
    Type.String({
      description: 'On 400: JSON pointer into the body, or the name of the query/path parameter',
    }),
  ),
});

/** The error responses a route may give, for its `response` schema (and so the OpenAPI document). */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorSchema> {
  const out: Record<number, typeof ErrorSchema> = {};
  for (const status of statuses) out[status] = ErrorSchema;
  return out;
}

/** `If-Match`, documented on every mutation of config: a stale one is a 412. */
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      description: 'The ETag the change was based on; 412 when the running config is another',
    }),
  ),
});

/**
 * The `headers` and `response` schemas of a route that changes the live config. Every such change
 * is a mutation (bearer token: 401 missing, 403 wrong; auth.ts) and conditional (If-Match: 412 when
 * stale; mutate.ts), so those are documented here once; `errors` are the route's own.
 */
export function configChange<S extends Record<number, TSchema>, E extends number = never>(
  success: S,
  ...errors: E[]
): { headers: typeof IfMatchHeaders; response: S & Record<E | 401 | 403 | 412, typeof ErrorSchema> } {
  return { headers: IfMatchHeaders, response: { ...success, ...errorResponses(...errors, 401, 403, 412) } };
}

export const ServiceParams = Type.Object({ name: NameSchema }, { additionalProperties: false });

export const RealParams = Type.Object(
  {
    name: NameSchema,
    real: Type.String({
      minLength: 3,
      maxLength: 64,
      description: '`address:port`, IPv6 as `[address]:port`, URL-encoded',
    }),
  },
  { additionalProperties: false },
);

export const ServiceListSchema = Type.Object({ items: Type.Array(ServiceSchema) });

/** A service body for PUT: the name may be left out (the path names it); `reals` may be left out
 * too, and then the running reals stay: they are their own resource, and a PUT that changes the
 * scheduler must not empty the pool because the client did not repeat it. */
export const ServiceReplaceSchema = Type.Object(
  {
    ...ServiceSchema.properties,
    name: Type.Optional(NameSchema),
    reals: Type.Optional(Type.Array(RealServerSchema, { maxItems: 4096 })),
  },
  { additionalProperties: false },
);

/** A real-server body for PUT: address and port may be left out (the path names them). */
export const RealReplaceSchema = Type.Object(
  {
    ...RealServerSchema.properties,
    address: Type.Optional(RealServerSchema.properties.address),
    port: Type.Optional(RealServerSchema.properties.port),
  },
  { additionalProperties: false },
);

/** A copy of a schema without its `default`, keeping TypeBox's (non-enumerable) markers. */
function withoutDefault<T extends TSchema>(schema: T): T {
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(schema)) as T & {
    default?: unknown;
  };
  delete copy.default;
  return copy;
}

/**
 * PATCH of a real server: every field optional and without its default (a default here would
 * turn `{ "state": "draining" }` into "draining, and weight 1, and no health check"), unknown
 * fields rejected. Address and port are the real server's identity, so they are not patchable:
 * sending them is an unknown field.
 */
export const RealPatchSchema = Type.Object(
  {
    vtep: Type.Optional(withoutDefault(RealServerSchema.properties.vtep)),
    mac: Type.Optional(withoutDefault(RealServerSchema.properties.mac)),
    weight: Type.Optional(withoutDefault(RealServerSchema.properties.weight)),
    upperThreshold: Type.Optional(withoutDefault(RealServerSchema.properties.upperThreshold)),
    lowerThreshold: Type.Optional(withoutDefault(RealServerSchema.properties.lowerThreshold)),
    state: Type.Optional(withoutDefault(RealServerSchema.properties.state)),
    healthCheck: Type.Optional(withoutDefault(RealServerSchema.properties.healthCheck)),
    agent: Type.Optional(withoutDefault(RealServerSchema.properties.agent)),
  },
  { additionalProperties: false },
);

export const RealLiveSchema = Type.Object({
  health: Type.Union([
    Type.Literal('up'),
    Type.Literal('down'),
    Type.Literal('unknown'),
    Type.Literal('unchecked'),
  ]),
  mac: Type.Union([Type.String(), Type.Null()], { description: 'The MAC in use: configured or learned' }),
  macSource: Type.Union([Type.Literal('configured'), Type.Literal('learned'), Type.Null()]),
  neighbor: Type.Union(
    [
      Type.Object({
        state: Type.Union([
          Type.Literal('incomplete'),
          Type.Literal('reachable'),
          Type.Literal('stale'),
          Type.Literal('delay'),
          Type.Literal('probe'),
          Type.Literal('failed'),
        ]),
        mac: Type.Union([Type.String(), Type.Null()]),
        confirmedSecondsAgo: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
      }),
      Type.Null(),
    ],
    {
      description:
        'The learned MAC kept fresh as Linux keeps its neighbours (null when configured): failed = ' +
        'stopped answering probes, takes no new connections, established ones keep their entries',
    },
  ),
  activeConnections: Type.Integer({ minimum: 0 }),
  inactiveConnections: Type.Integer({ minimum: 0 }),
  load: Type.Integer({
    minimum: 0,
    description:
      'What the thresholds count: the connections the real server holds as the director counts them, ' +
      "less what its load agent says it does not hold (IPVS's active + inactive with countInactive)",
  }),
  agentHeld: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description:
      "What the real server's load agent last reported it holds; null without an agent, or when its last probe failed",
  }),
  agentQuiet: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description:
      "Connections the real server's load agent last reported its server has sent no data on for servedIdleMs or " +
      "more, or is answering slower than its floor (marked: no progress credit, whatever their clients' " +
      'acknowledgements claim); null without an agent, or when its last report carried neither list',
  }),
  agentSlow: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
    description:
      "Connections the real server's load agent last listed as slow (answered under its floor), marked or not: " +
      'the director marks them only while they are more than a tenth of what the server holds; null without an ' +
      'agent, or when its last report carried no slow list',
  }),
  overloaded: Type.Boolean(),
});

/** A configured real server with its id and, when the director reports one, its live status. */
export const RealViewSchema = Type.Object({
  id: Type.String({ description: '`address:port`, IPv6 `[address]:port`: the path segment naming it' }),
  ...RealServerSchema.properties,
  status: Type.Union([RealLiveSchema, Type.Null()], {
    description: 'null when the director has no status for it yet (e.g. not yet published)',
  }),
});

export const RealListSchema = Type.Object({ items: Type.Array(RealViewSchema) });

const Endpoint = Type.Object({ address: Type.String(), port: Type.Integer() });

export const ConnectionViewSchema = Type.Object({
  id: Type.String(),
  service: Type.String(),
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  client: Endpoint,
  real: Type.Union([Endpoint, Type.Null()]),
  state: Type.String({ description: 'IPVS state name (ESTABLISHED, SYN_RECV, FIN_WAIT, ...)' }),
  priority: Type.Integer(),
  initialPriority: Type.Integer(),
  priorityReasons: Type.Array(Type.String(), {
    description:
      'Why it has that priority (what shedding goes by): its band (verified, unverified, rule-awaits-verification), its SYN (syn-no-options, syn-odd-options, syn-ttl, syn-small-window, source-syn-rate, source-over-share) and its state now (rule, rule-priority-0, closed, half-open, silent, served, stalled, ack-forged, provisional, not-held, idle)',
  }),
  packets: Type.Integer({ minimum: 0 }),
  synCount: Type.Integer({ minimum: 0 }),
  handshakeSeen: Type.Boolean(),
  dataSeen: Type.Boolean(),
  verified: Type.Boolean({ description: "Its client's address answered the director's challenge" }),
  held: Type.Boolean({ description: "Counted toward its real server's capacity" }),
  serverProgress: Type.Boolean({ description: 'The client acknowledged data from the server' }),
  awaitingSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
    description: "Seconds since the client's first request bytes the server has not answered yet",
  }),
  ageSeconds: Type.Number(),
  idleSeconds: Type.Number({
    description:
      "Since the client's last packet that moved something: an empty ACK (a keepalive, a duplicate, a window update) does not count",
  }),
  expiresInSeconds: Type.Number(),
  nextSeq: Type.Integer({ minimum: 0, description: "The client's next sequence number as tracked" }),
});

export const ConnectionPageSchema = Type.Object({
  items: Type.Array(ConnectionViewSchema),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
  tableCount: Type.Integer({ minimum: 0, description: 'Entries in the whole table, not only matching ones' }),
});

export const ConnectionQuery = Type.Object(
  {
    service: Type.Optional(NameSchema),
    real: Type.Optional(Type.String({ minLength: 3, maxLength: 64, description: '`address:port`' })),
    client: Type.Optional(Type.String({ minLength: 2, maxLength: 64, description: 'An address or a CIDR' })),
    state: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    // Optional for the client (and the OpenAPI document); the validator fills the default.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  // A misspelt filter (`?servce=web`) must not quietly list every connection.
  { additionalProperties: false },
);

export const ConnectionParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

// ---- the defense ----

const D = DefenseSchema.properties;
const Lvs = D.lvs.properties;
const Checks = D.sourceChecks.properties;
const Verification = D.verification.properties;
/** One priority rule, as the config holds it (`DefenseSchema.rules` items). */
export const DefenseRuleSchema = D.rules.items;

/**
 * The defense settings: the config's `defense` section without its rules, which are their own
 * resource (`/v1/defense/rules`). As a PUT body every field may be left out and takes its default,
 * as in a config file; the rules are kept as they are.
 */
export const DefenseSettingsSchema = Type.Object(
  {
    strategy: D.strategy,
    highWatermark: D.highWatermark,
    lowWatermark: D.lowWatermark,
    verification: D.verification,
    countInactive: D.countInactive,
    lvs: D.lvs,
    weights: D.weights,
    sourceChecks: D.sourceChecks,
  },
  { additionalProperties: false },
);

/**
 * PATCH of the settings, merged one level deep: a top-level field replaces the running one, except
 * `lvs`, `sourceChecks` and `weights`, whose members are merged into the running ones (so
 * `{ "lvs": { "dropEntry": 3 } }` changes that mode only). Optional members can be removed with
 * null: a weight override (back to the scorer's default), `sourceChecks.prefixes` (back to the
 * built-in bogon list) or `sourceChecks.allow`. No defaults here: a default would turn a change of
 * one field into a reset of the others.
 */
export const DefensePatchSchema = Type.Object(
  {
    strategy: Type.Optional(withoutDefault(D.strategy)),
    highWatermark: Type.Optional(withoutDefault(D.highWatermark)),
    lowWatermark: Type.Optional(withoutDefault(D.lowWatermark)),
    verification: Type.Optional(
      Type.Object(
        {
          mode: Type.Optional(Verification.mode),
          watermark: Type.Optional(Verification.watermark),
          holdSeconds: Type.Optional(Verification.holdSeconds),
          ttlSeconds: Type.Optional(Verification.ttlSeconds),
          probeIntervalMs: Type.Optional(Verification.probeIntervalMs),
          probeNewSources: Type.Optional(Verification.probeNewSources),
          probesPerSecond: Type.Optional(Verification.probesPerSecond),
        },
        { additionalProperties: false },
      ),
    ),
    countInactive: Type.Optional(withoutDefault(D.countInactive)),
    lvs: Type.Optional(
      Type.Object(
        {
          dropEntry: Type.Optional(Lvs.dropEntry),
          dropPacket: Type.Optional(Lvs.dropPacket),
          secureTcp: Type.Optional(Lvs.secureTcp),
          amemthresh: Type.Optional(Lvs.amemthresh),
          amDroprate: Type.Optional(Lvs.amDroprate),
        },
        { additionalProperties: false },
      ),
    ),
    weights: Type.Optional(
      // Names as in DefenseSchema.weights; the director checks them against the scorer's.
      Type.Record(Type.String({ pattern: '^[a-zA-Z]+$' }), Type.Union([Type.Number(), Type.Null()])),
    ),
    sourceChecks: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Checks.enabled),
          action: Type.Optional(Checks.action),
          prefixes: Type.Optional(Type.Union([Checks.prefixes, Type.Null()])),
          allow: Type.Optional(Type.Union([Checks.allow, Type.Null()])),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A rule as listed: its canonical prefix (the path segment naming it) and the rule itself. */
export const DefenseRuleViewSchema = Type.Object({
  id: Type.String({ description: 'The canonical CIDR, e.g. `10.1.0.0/16`: URL-encode it in the path' }),
  ...DefenseRuleSchema.properties,
});

export const DefenseRuleListSchema = Type.Object({ items: Type.Array(DefenseRuleViewSchema) });

/** A rule body for PUT: the CIDR may be left out (the path names it). */
export const DefenseRuleReplaceSchema = Type.Object(
  { ...DefenseRuleSchema.properties, cidr: Type.Optional(DefenseRuleSchema.properties.cidr) },
  { additionalProperties: false },
);

export const DefenseRuleParams = Type.Object(
  {
    cidr: Type.String({
      minLength: 2,
      maxLength: 49,
      description: "The rule's CIDR, URL-encoded (`10.1.0.0%2F16`); any spelling of the same prefix",
    }),
  },
  { additionalProperties: false },
);

// ---- sources ----

export const SourceViewSchema = Type.Object({
  source: Type.String({ description: '`a.b.c.d/32`, or the `/64` of an IPv6 client' }),
  concurrentConnections: Type.Integer({ minimum: 0 }),
  handshakesCompleted: Type.Integer({ minimum: 0 }),
  connectionsTotal: Type.Integer({ minimum: 0 }),
  averagePriority: Type.Union([Type.Number(), Type.Null()], {
    description: 'Mean priority of its live connections (0 highest, 15 lowest); null without any',
  }),
  idleSeconds: Type.Number({ minimum: 0 }),
  verified: Type.Union([Type.Boolean(), Type.Null()], {
    description: 'The address answered a challenge (null for an IPv6 /64: verified per address)',
  }),
  verifiedExpiresInSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
});

export const VerifiedSourceViewSchema = Type.Object({
  address: Type.String(),
  verifiedSecondsAgo: Type.Number({ minimum: 0 }),
  expiresInSeconds: Type.Number({ minimum: 0 }),
  answers: Type.Integer({ minimum: 0, description: 'Challenges and probes it answered' }),
  perConnection: Type.Boolean({
    description:
      'Under pressure every connection of its is challenged: it answered no probe to another port (a stealth NAT, a firewall), or fell silent',
  }),
  roundTripMs: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
    description:
      "The longest round trip its probes' answers showed (ms), null when none was timed: its connections stay provisional 1.5 of these, at most weights.provisionalMaxMs",
  }),
  roundTripCut: Type.Boolean({
    description:
      'A connection of its spoke or was served sooner than roundTripMs allows, undisowned: the trip was cut to what it showed, and answers to probes no longer raise it while it stays verified',
  }),
});

export const VerifiedSourceListSchema = Type.Object({
  items: Type.Array(VerifiedSourceViewSchema),
  total: Type.Integer({ minimum: 0, description: 'Verified sources in the table, not only those listed' }),
});

export const SourceListSchema = Type.Object({ items: Type.Array(SourceViewSchema) });

export const SourceQuery = Type.Object(
  {
    // Optional for the client (and the OpenAPI document); the validator fills the default.
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20 })),
  },
  { additionalProperties: false },
);

// ---- statistics ----

const Count = Type.Integer({ minimum: 0 });

export const StatsCountersSchema = Type.Object({
  conns: Count,
  inPkts: Count,
  outPkts: Type.Integer({
    minimum: 0,
    description: 'Always 0: under direct routing replies bypass the director',
  }),
  inBytes: Type.Integer({ minimum: 0, description: 'Inner Ethernet frames as forwarded' }),
  outBytes: Type.Integer({
    minimum: 0,
    description: 'Always 0: under direct routing replies bypass the director',
  }),
});

export const StatsRatesSchema = Type.Object({
  cps: Count,
  inPps: Count,
  outPps: Count,
  inBps: Count,
  outBps: Count,
});

export const QuicRoutingCountersSchema = Type.Object({
  longHeader: Type.Integer({
    minimum: 0,
    description: 'Long headers: by the 5-tuple entry or the scheduler',
  }),
  cidRouted: Type.Integer({
    minimum: 0,
    description: "Short headers sent to the real server their connection ID's server ID names",
  }),
  unknownServerId: Type.Integer({
    minimum: 0,
    description: 'Short headers with a server ID no real server owns: 5-tuple entry or scheduler',
  }),
  unroutable: Type.Integer({
    minimum: 0,
    description:
      'Short headers too short for the CID, or of another QUIC-LB codepoint: 5-tuple entry or scheduler',
  }),
  newPaths: Type.Integer({
    minimum: 0,
    description: 'CID-routed datagrams from a path with no entry (NAT rebinding, migration): recorded',
  }),
  repointed: Type.Integer({
    minimum: 0,
    description: 'CID-routed datagrams whose entry named another real server: the entry follows the CID',
  }),
});

export const QuicServiceViewSchema = Type.Object({
  service: NameSchema,
  layout: Type.Object({
    algorithm: Type.Union([Type.Literal('plain'), Type.Literal('quic-lb-draft-20')]),
    serverIdOffset: Type.Integer({ minimum: 0 }),
    serverIdLength: Type.Integer({ minimum: 1 }),
    cidLength: Type.Integer({ minimum: 1 }),
    configId: Type.Union([Type.Integer({ minimum: 0, maximum: 6 }), Type.Null()]),
    lengthSelfEncoded: Type.Boolean(),
  }),
  servers: Type.Array(
    Type.Object({
      serverId: Type.String({ description: 'Lowercase hex, the server ID length' }),
      real: Type.String({ description: 'address:port ([address]:port for IPv6)' }),
      routable: Type.Boolean({ description: 'Its MAC is configured or learned: CID routing reaches it now' }),
    }),
  ),
  counters: QuicRoutingCountersSchema,
});

export const StatsSchema = Type.Object({
  connectionCapacity: Count,
  connectionCount: Count,
  estimatorIntervalSeconds: Type.Number(),
  services: Type.Array(
    Type.Object({
      name: NameSchema,
      stats: StatsCountersSchema,
      rates: StatsRatesSchema,
      quic: Type.Optional(QuicRoutingCountersSchema),
      reals: Type.Array(
        Type.Object({
          address: Type.String(),
          port: Type.Integer({ minimum: 1, maximum: 65535 }),
          activeConnections: Count,
          inactiveConnections: Count,
          persistentConnections: Count,
          stats: StatsCountersSchema,
          rates: StatsRatesSchema,
        }),
      ),
    }),
  ),
});

export const ReadinessSchema = Type.Object({ ready: Type.Boolean(), reasons: Type.Array(Type.String()) });

export const HealthSchema = Type.Object({ status: Type.Literal('ok') });

// Compile-time pins of the views to the interfaces of control.ts.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Pin<T extends true> = T;
type RealLive = Omit<RealStatusView, 'service' | 'address' | 'port' | 'weight' | 'state'>;
export type Pins = [
  Pin<Same<Static<typeof ConnectionViewSchema>, ConnectionView>>,
  Pin<Same<Static<typeof ConnectionPageSchema>, ConnectionPage>>,
  Pin<Same<Static<typeof ReadinessSchema>, Readiness>>,
  Pin<Same<Static<typeof RealLiveSchema>, RealLive>>,
  Pin<Same<Static<typeof SourceViewSchema>, SourceView>>,
  Pin<Same<Static<typeof VerifiedSourceViewSchema>, VerifiedSourceView>>,
  Pin<Same<Static<typeof QuicServiceViewSchema>, QuicServiceView>>,
];
