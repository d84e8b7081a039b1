// The HTTP-only schemas: views the director reports (real-server status, connections, readiness),
// error bodies, list envelopes, path parameters and headers. The config schemas themselves come
// from @sluice/config, so a REST body and a config file are one definition.
//
// Views that mirror a TypeScript interface of control.ts are pinned to it at compile time
// (`Same<...>` below): a field added to the interface and not here fails `tsc`, instead of being
// silently dropped by fast-json-stringify, which writes only the properties a schema names.
import { NameSchema, RealServerSchema, ServiceSchema } from '@sluice/config';
import Type, { type Static, type TSchema } from 'typebox';
import type { ConnectionPage, ConnectionView, Readiness, RealStatusView } from '../control.ts';

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
  activeConnections: Type.Integer({ minimum: 0 }),
  inactiveConnections: Type.Integer({ minimum: 0 }),
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
  packets: Type.Integer({ minimum: 0 }),
  bytes: Type.Integer({ minimum: 0 }),
  synCount: Type.Integer({ minimum: 0 }),
  handshakeSeen: Type.Boolean(),
  dataSeen: Type.Boolean(),
  ageSeconds: Type.Number(),
  idleSeconds: Type.Number(),
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
];
