// The operator's configuration, schema first: these TypeBox schemas are the one definition of
// what a config file, a REST body and `GET /v1/config` hold. fastify validates request bodies
// with them, the config loader validates files with them, and the TypeScript types are derived
// from them, so the three can never disagree.
//
// A config file holds `daemon` (read at start only: sockets, workers, table sizes) and the live
// part (`overlay`, `services`), which REST and SIGHUP may replace while the director runs.
import { DEFAULT_VERIFICATION } from '@sluice/defense';
import { SCHEDULER_NAMES } from '@sluice/schedulers';
import Type, { type Static, type TLiteral } from 'typebox';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
export const HTTP_PATH_PATTERN = '^/[\\x21-\\x7e]*$';
/** An IPv4 or IPv6 address literal (validated precisely by the loader, not by a regex here). */
const Address = Type.String({ minLength: 2, maxLength: 45 });
const Mac = Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' });
/** Names are used in URLs and metric labels: short, lowercase, no surprises. */
export const NameSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$' });

/** The 14 IPVS schedulers: exactly those the dataplane can build. */
export const SCHEDULERS = SCHEDULER_NAMES;
type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };
// Typed as a tuple: a plain array of literals would make the union's static type `never`.
const SchedulerLiterals = SCHEDULERS.map((s) => Type.Literal(s)) as unknown as Literals<typeof SCHEDULERS>;

/** ipvsadm -b: the flags the kernel gives meaning to, each for its own scheduler (sh-*, mh-*). */
export const SCHEDULER_FLAGS = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'] as const;
export type SchedulerFlag = (typeof SCHEDULER_FLAGS)[number];
const SchedulerFlagLiterals = SCHEDULER_FLAGS.map((s) => Type.Literal(s)) as unknown as Literals<
  typeof SCHEDULER_FLAGS
>;

export const HealthCheckSchema = Type.Object(
  {
    /** keepalived TCP_CHECK or HTTP_GET. */
    type: Type.Union([Type.Literal('tcp'), Type.Literal('http')]),
    /**
     * The path the check takes. `underlay` (default): the director's kernel connects to `address`
     * (default: the real server's VTEP), which says the host is up, not that the overlay reaches
     * it. `overlay`: the director sends a TCP SYN in VXLAN, from `overlay.address` with the real
     * server's MAC, to `address` (default: the real server's overlay address) on its VTEP, the
     * way client traffic goes, and reads the SYN-ACK coming back (then resets the half-open
     * connection); TCP checks only, IPv4.
     */
    via: Type.Optional(Type.Union([Type.Literal('underlay'), Type.Literal('overlay')])),
    /** Where to connect: defaults to the real server's VTEP address (underlay) or its overlay
     * address (overlay). */
    address: Type.Optional(Address),
    /** Defaults to the real server's port. */
    port: Type.Optional(Port),
    /** HTTP only: path and the status that means healthy. Printable ASCII without spaces: what
     * an HTTP request line can carry as it is (node:http throws on anything else). */
    path: Type.Optional(Type.String({ pattern: HTTP_PATH_PATTERN, maxLength: 1024 })),
    expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
    intervalSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 2 }),
    timeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 600, default: 1 }),
    /** Successes in a row that bring a down server up (keepalived `rise`). */
    rise: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
    /** Failures in a row that take an up server down (keepalived `fall`, its retry count + 1). */
    fall: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
  },
  { additionalProperties: false },
);

/**
 * A load agent on the real server (@sluice/agent; HAProxy's `agent-check` in form): the director
 * connects, reads one line saying how many connections the server holds for this port
 * (`held:N`), and counts no more than that toward the thresholds until the next report. Without
 * it the director counts what it forwarded, which includes connections a server with syncookies
 * never kept (bots that forge their handshake blind). An agent that cannot be reached takes
 * nothing out of service: the count is then the director's own again.
 */
export const AgentSchema = Type.Object(
  {
    /** Defaults to the real server's VTEP address, as an underlay health check. */
    address: Type.Optional(Address),
    port: Port,
    intervalSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 1 }),
    timeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 600, default: 0.5 }),
  },
  { additionalProperties: false },
);

/** Hex digits, optionally `0x`-prefixed or colon-separated byte pairs (the QUIC-LB YANG model's form). */
export const QUIC_SERVER_ID_PATTERN = '^(0x)?([0-9a-fA-F]{1,30}|[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){1,14})$';

/**
 * QUIC connection-ID routing (UDP services): short-header packets go to the real server whose
 * `quicServerId` their destination connection ID carries, so a client that changes address or
 * port stays on its server. Either a plain layout (`cidServerIdOffset` + `cidServerIdLength`) or
 * `quicLb`, the unencrypted algorithm of draft-ietf-quic-load-balancers-20.
 */
export const QuicSchema = Type.Object(
  {
    /** Bytes from the start of the destination connection ID to the server ID. */
    cidServerIdOffset: Type.Optional(Type.Integer({ minimum: 0, maximum: 19 })),
    /** The server ID's length in bytes. */
    cidServerIdLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 15 })),
    /**
     * The length of the connection IDs the servers issue (a short header does not carry it).
     * Default: the shortest that holds the server ID (plain) or first octet + server ID + nonce
     * (quicLb).
     */
    cidLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
    /** draft-ietf-quic-load-balancers-20, unencrypted (no key): first octet, server ID, nonce. */
    quicLb: Type.Optional(
      Type.Object(
        {
          /** The config rotation codepoint (§2.1) the first octet's top 3 bits carry; 7 means
           * "route by 4-tuple" and is no configuration's. */
          configId: Type.Integer({ minimum: 0, maximum: 6 }),
          serverIdLength: Type.Integer({ minimum: 1, maximum: 15 }),
          nonceLength: Type.Integer({ minimum: 4, maximum: 18 }),
          /** §2.3: the first octet's low 5 bits give the length of the rest of each CID. */
          lengthSelfEncoded: Type.Boolean({ default: false }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const RealServerSchema = Type.Object(
  {
    /** The real server's address on the overlay (it holds the VIP on `lo`). */
    address: Address,
    port: Port,
    /** Its VTEP: the underlay address VXLAN frames for it are sent to (UDP, the vxlan port). */
    vtep: Address,
    /** Its MAC on the overlay. null: the director learns it (ARP / neighbour solicitation
     * through the VTEP) and sends it no new connections until it is known. */
    mac: Type.Union([Mac, Type.Null()], { default: null }),
    /** IPVS weight; 0 = no new connections. */
    weight: Type.Integer({ minimum: 0, maximum: 65535, default: 1 }),
    /** IPVS -x: connections at which it is overloaded; 0 = no limit. */
    upperThreshold: Type.Integer({ minimum: 0, maximum: 0x7fffffff, default: 0 }),
    /** IPVS -y: connections under which it takes new ones again; 0 = 3/4 of the upper. */
    lowerThreshold: Type.Integer({ minimum: 0, maximum: 0x7fffffff, default: 0 }),
    /** draining: no new connections, existing ones carry on (as weight 0, keeping the weight). */
    state: Type.Union([Type.Literal('active'), Type.Literal('draining')], { default: 'active' }),
    healthCheck: Type.Union([HealthCheckSchema, Type.Null()], { default: null }),
    /** The real server's load agent (see AgentSchema); absent or null: none, the director's count stands. */
    agent: Type.Optional(Type.Union([AgentSchema, Type.Null()])),
    /**
     * A QUIC service's real server: the server ID its connection IDs carry (`quic` of the
     * service says where), a number or hex digits (`"0a01"`, `"0x0a01"`, `"0a:01"`) that fit in
     * the server ID's length. Validation gives it back as lowercase hex of exactly that length.
     */
    quicServerId: Type.Optional(
      Type.Union([
        Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
        Type.String({ pattern: QUIC_SERVER_ID_PATTERN }),
      ]),
    ),
  },
  { additionalProperties: false },
);

export const PersistenceSchema = Type.Object(
  {
    /** ipvsadm -p. */
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 31 * 86400 }),
    /** ipvsadm -M as a prefix length of the client address: 0..32 for IPv4, 0..128 for IPv6. */
    netmask: Type.Integer({ minimum: 0, maximum: 128, default: 32 }),
  },
  { additionalProperties: false },
);

export const ServiceSchema = Type.Object(
  {
    name: NameSchema,
    vip: Address,
    port: Port,
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp' }),
    scheduler: Type.Union(SchedulerLiterals, { default: 'wlc' }),
    persistence: Type.Union([PersistenceSchema, Type.Null()], { default: null }),
    /** ipvsadm -b (sh-fallback, sh-port for sh; mh-fallback, mh-port for mh). Absent: none. */
    schedulerFlags: Type.Optional(Type.Array(Type.Union(SchedulerFlagLiterals), { maxItems: 4 })),
    /** UDP only: route QUIC short headers by the server ID in their connection ID. Absent: by 5-tuple. */
    quic: Type.Optional(QuicSchema),
    reals: Type.Array(RealServerSchema, { maxItems: 4096, default: [] }),
  },
  { additionalProperties: false },
);

export const OverlaySchema = Type.Object(
  {
    /** The VXLAN network identifier the director serves; frames with another are dropped. */
    vni: Type.Integer({ minimum: 0, maximum: 0xffffff }),
    /** The director's MAC on the overlay: ARP/ND answers carry it. */
    directorMac: Mac,
    /**
     * The director's own IPv4 address on the overlay: the source of overlay health checks. It
     * answers ARP for it; real servers must reach it on-link over VXLAN (an address of their
     * overlay subnet, the director's MAC reachable through their VXLAN device's fdb).
     */
    address: Type.Optional(Address),
  },
  { additionalProperties: false },
);

const LvsMode = Type.Integer({ minimum: 0, maximum: 3 });

/** The defense (issue 4): how the director protects valid clients under a flood. */
export const DefenseSchema = Type.Object(
  {
    /**
     * priority: score every connection, shed the lowest at the watermarks, displace on a full
     * real server. none: nothing. drop_entry / drop_packet / secure_tcp: the LVS defense of that
     * name (its mode in `lvs`), the others off — the baselines Sluice is measured against.
     */
    strategy: Type.Union(
      [
        Type.Literal('priority'),
        Type.Literal('none'),
        Type.Literal('drop_entry'),
        Type.Literal('drop_packet'),
        Type.Literal('secure_tcp'),
      ],
      { default: 'priority' },
    ),
    /** Fraction of a real server's capacity (its upper threshold) at which shedding starts. */
    highWatermark: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.98 }),
    /** Shedding stops once connections are back under this fraction. */
    lowWatermark: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.95 }),
    /**
     * Source verification (priority strategy): a SYN from a source that has not answered the
     * director's challenge is answered with one (a SYN-ACK whose acknowledgement number is a
     * keyed cookie; a real stack answers with an RST carrying it, then sends its SYN again)
     * instead of being forwarded. auto: while a service or one of its real servers holds
     * `watermark` of its capacity, or the connection table `watermark` of its entries, and
     * `holdSeconds` after; always; off.
     */
    verification: Type.Object(
      {
        mode: Type.Union([Type.Literal('auto'), Type.Literal('always'), Type.Literal('off')]),
        watermark: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        holdSeconds: Type.Number({ minimum: 0, maximum: 86400 }),
        /** How long a source that answered stays verified. */
        ttlSeconds: Type.Number({ minimum: 1, maximum: 604800 }),
        /** At most one probe per unverified source per this many ms. */
        probeIntervalMs: Type.Integer({ minimum: 10, maximum: 600000 }),
        /**
         * Probe every new source at its first SYN (the SYN goes on at once; the probe is a
         * SYN-ACK to another port of the client, whose RST verifies it), so the clients already
         * connected when a flood comes are verified. Off: only under pressure.
         */
        probeNewSources: Type.Boolean({ default: true }),
        /**
         * Probes one worker sends per second at most, of every kind but one (below); asking a
         * source again (reconfirmation, or a source probed before) may use half of them. Not
         * counted: the probe of a source whose answers push out ports still fresh (a spoofer using
         * its address), one in six answers.
         */
        probesPerSecond: Type.Integer({ minimum: 1, maximum: 1000000, default: 1000 }),
      },
      {
        additionalProperties: false,
        // The defense package owns the defaults; the schema only publishes them.
        default: { ...DEFAULT_VERIFICATION },
      },
    ),
    /**
     * Thresholds count every entry (closed and half-open ones too), as IPVS counts ActiveConn +
     * InActConn. Off (the default): they count what the real servers hold: not connections their
     * clients closed, nor half-open ones past a second (a server keeps no worker for those, and
     * with syncookies nothing).
     */
    countInactive: Type.Boolean({ default: false }),
    /** The LVS sysctls (0 off, 1 automatic, 2 automatic and on, 3 always), used by their strategy. */
    lvs: Type.Object(
      {
        dropEntry: LvsMode,
        dropPacket: LvsMode,
        secureTcp: LvsMode,
        /** Free connection-table entries under which automatic modes switch on; 0 = capacity / 64. */
        amemthresh: Type.Integer({ minimum: 0, maximum: 0x7fffffff }),
        amDroprate: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
      },
      {
        additionalProperties: false,
        default: { dropEntry: 1, dropPacket: 1, secureTcp: 1, amemthresh: 0, amDroprate: 10 },
      },
    ),
    /** Overrides of the scorer's weights (packages/defense/src/weights.ts names and defaults). */
    weights: Type.Record(Type.String({ pattern: '^[a-zA-Z]+$' }), Type.Number(), { default: {} }),
    /** Source CIDR → fixed priority (0 = never shed), optionally a dedicated pool of real servers. */
    rules: Type.Array(
      Type.Object(
        {
          cidr: Type.String({ minLength: 2, maxLength: 49 }),
          priority: Type.Integer({ minimum: 0, maximum: 15 }),
          /** Real servers (`address:port`, IPv6 `[address]:port`) these sources are sent to. */
          pool: Type.Optional(Type.Array(Type.String({ minLength: 3, maxLength: 60 }), { maxItems: 4096 })),
          /**
           * The priority goes only to sources that answered the director's challenge (verified in
           * the background, without delaying them). Default: true for priority 0, false otherwise.
           */
          verify: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
      { maxItems: 65536, default: [] },
    ),
    /** Bogon and martian sources for a public VIP. Disable for private clients (the lab). */
    sourceChecks: Type.Object(
      {
        enabled: Type.Boolean(),
        action: Type.Union([Type.Literal('drop'), Type.Literal('lowest')]),
        prefixes: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 49 }))),
        allow: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 49 }))),
      },
      { additionalProperties: false, default: { enabled: true, action: 'lowest' } },
    ),
  },
  // No default for the section itself: a config without `defense` keeps that shape (REST round
  // trips, ETags); toSnapshot gives it DEFAULT_DEFENSE.
  { additionalProperties: false },
);

/** The part that can change while the director runs: `GET/PUT /v1/config`. */
export const LiveConfigSchema = Type.Object(
  {
    overlay: OverlaySchema,
    services: Type.Array(ServiceSchema, { maxItems: 256 }),
    defense: Type.Optional(DefenseSchema),
  },
  { additionalProperties: false },
);

export const DaemonSchema = Type.Object(
  {
    vxlan: Type.Object(
      { address: Address, port: Port },
      { additionalProperties: false, default: { address: '0.0.0.0', port: 4789 } },
    ),
    api: Type.Object(
      { address: Address, port: Type.Integer({ minimum: 0, maximum: 65535 }) },
      { additionalProperties: false, default: { address: '127.0.0.1', port: 9180 } },
    ),
    workers: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
    /** The serving workers' socket I/O: `native` (the sluice_io addon: recvmmsg/sendmmsg in
     * batches), `dgram` (Node's dgram, a datagram per event), or `auto`: native when the addon
     * is built, else dgram with one log line saying why. Optional in the type so configs
     * written before it still type-check; validation fills the default. */
    io: Type.Optional(
      Type.Union([Type.Literal('native'), Type.Literal('dgram'), Type.Literal('auto')], { default: 'auto' }),
    ),
    connectionCapacity: Type.Integer({ minimum: 1024, maximum: 1 << 26, default: 1 << 20 }),
    /** Bearer token file; default: `token` beside the config file, made on first start (0600). */
    tokenFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const ConfigFileSchema = Type.Object(
  {
    daemon: DaemonSchema,
    overlay: OverlaySchema,
    services: Type.Array(ServiceSchema, { maxItems: 256 }),
    defense: Type.Optional(DefenseSchema),
  },
  { additionalProperties: false },
);

export type HealthCheckConfig = Static<typeof HealthCheckSchema>;
export type AgentConfig = Static<typeof AgentSchema>;
export type RealServerConfig = Static<typeof RealServerSchema>;
export type PersistenceConfig = Static<typeof PersistenceSchema>;
export type QuicConfig = Static<typeof QuicSchema>;
export type ServiceConfig = Static<typeof ServiceSchema>;
export type OverlayConfig = Static<typeof OverlaySchema>;
export type LiveConfig = Static<typeof LiveConfigSchema>;
export type DefenseConfig = Static<typeof DefenseSchema>;
export type DaemonConfig = Static<typeof DaemonSchema>;
export type ConfigFile = Static<typeof ConfigFileSchema>;
