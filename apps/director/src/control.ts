// DirectorControl: what the control plane (REST, SIGHUP) may ask of the running director. The
// fastify plugins depend on this interface only, so they are tested with `app.inject` against an
// in-memory implementation and served by the real director in integration tests.
import type { LiveConfig } from '@sluice/config';

export interface ConfigView {
  config: LiveConfig;
  /** Strong ETag of the running live config, quoted (`"v7-3f2a…"`). */
  etag: string;
  version: number;
}

export interface RealStatusView {
  service: string;
  address: string;
  port: number;
  weight: number;
  state: 'active' | 'draining';
  /** Health-check verdict; 'unchecked' when the real server has no health check. */
  health: 'up' | 'down' | 'unknown' | 'unchecked';
  mac: string | null;
  macSource: 'configured' | 'learned' | null;
  /** The learned MAC's neighbour entry (Linux NUD states); null when the MAC is configured. */
  neighbor: NeighborStatusView | null;
  activeConnections: number;
  inactiveConnections: number;
  /** What the thresholds count: held connections less the load agent's correction (or IPVS's count with countInactive). */
  load: number;
  /** What the real server's load agent last said it holds; null without an agent or when its last probe failed. */
  agentHeld: number | null;
  /**
   * Connections its load agent's last report calls quiet (the server sent no data on them for
   * servedIdleMs or more) or slow (answered under the agent's floor): marked, they get no progress
   * credit. null without an agent, or when its last report carried neither list.
   */
  agentQuiet: number | null;
  /**
   * Connections its load agent's last report lists as slow (answered under the agent's floor),
   * marked or not: the director marks them only while they are more than a tenth of what the
   * server holds. null without an agent, or when its last report carried no slow list.
   */
  agentSlow: number | null;
  overloaded: boolean;
}

export interface NeighborStatusView {
  /** incomplete (never answered), reachable, stale, delay, probe (being re-confirmed), failed
   * (stopped answering: no new connections, established ones kept). */
  state: 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed';
  mac: string | null;
  confirmedSecondsAgo: number | null;
}

export interface ConnectionView {
  /** Opaque, stable while the entry lives: `<slot>-<tag>` in hex. */
  id: string;
  service: string;
  protocol: 'tcp' | 'udp';
  client: { address: string; port: number };
  real: { address: string; port: number } | null;
  /** IPVS state name (ESTABLISHED, SYN_RECV, FIN_WAIT, ...). */
  state: string;
  priority: number;
  initialPriority: number;
  /**
   * Why it has that priority, i.e. what shedding goes by: its band (verified, unverified), its
   * SYN's score (syn-no-options, source-over-share, …) and its state now (rule, closed,
   * half-open, silent, served, stalled, ack-forged, provisional, not-held, idle).
   */
  priorityReasons: string[];
  packets: number;
  synCount: number;
  handshakeSeen: boolean;
  dataSeen: boolean;
  /** Its client's address answered the director's challenge. */
  verified: boolean;
  /** Counted toward its real server's capacity (not closed, not an expired half-open guess). */
  held: boolean;
  /** The client acknowledged data from the server: it has been served. */
  serverProgress: boolean;
  /** Seconds since the client's first request bytes the server has not answered yet, or null. */
  awaitingSeconds: number | null;
  ageSeconds: number;
  /**
   * Seconds since the client's last packet that moved something (a SYN, FIN or RST, payload, an
   * acknowledgement of new server data, a state change): an empty ACK (a keepalive, a duplicate,
   * a window update) does not restart it, as it does not restart a server's keep-alive timer.
   */
  idleSeconds: number;
  expiresInSeconds: number;
  /** The client's next sequence number as tracked: what a reset carries. */
  nextSeq: number;
}

export interface ConnectionFilter {
  service?: string;
  /** `address:port` (IPv6 as `[address]:port`). */
  real?: string;
  /** A client address, or a CIDR. */
  client?: string;
  state?: string;
  limit: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
}

export interface ConnectionPage {
  items: ConnectionView[];
  nextCursor: string | null;
  /** Entries in the whole table (not only matching ones). */
  tableCount: number;
}

/** One client source (/32, or /64 for IPv6) as the per-source table knows it. */
export interface SourceView {
  /** `a.b.c.d/32` or `x:x:x:x::/64`. */
  source: string;
  concurrentConnections: number;
  handshakesCompleted: number;
  connectionsTotal: number;
  /** Mean priority of its live connections (0 highest, 15 lowest); null without any. */
  averagePriority: number | null;
  idleSeconds: number;
  /** Whether the address answered a challenge (IPv4 sources; null for an IPv6 /64, verified per address). */
  verified: boolean | null;
  /** When that verification expires, or null. */
  verifiedExpiresInSeconds: number | null;
}

/** A source that answered the director's challenge (GET /v1/sources/verified). */
export interface VerifiedSourceView {
  address: string;
  verifiedSecondsAgo: number;
  expiresInSeconds: number;
  /** Challenges and probes it answered since the entry was made. */
  answers: number;
  /**
   * Under pressure each of its connections is challenged: it answers challenges to its own SYNs
   * but has not answered a probe to another port (a stealth NAT or firewall), or it fell silent.
   */
  perConnection: boolean;
  /**
   * The longest round trip its probes' answers showed (ms), or null when none was timed: its
   * connections stay provisional 1.5 of these (weights.provisionalMaxMs at most).
   */
  roundTripMs: number | null;
  /**
   * A connection of its spoke or was served sooner than that trip allows (VerifiedSourceTable
   * refuteRoundTrip): roundTripMs was cut to what it showed, and answers to probes no longer raise it.
   */
  roundTripCut: boolean;
}

/** ipvsadm --stats: totals since the service or real server was added. */
export interface StatsCounters {
  conns: number;
  inPkts: number;
  /** Always 0 under direct routing: the director never sees a reply. */
  outPkts: number;
  inBytes: number;
  /** Always 0 under direct routing. */
  outBytes: number;
}

/** ipvsadm --rate: IPVS's estimator (2 s samples, EWMA weight 1/4), per second. */
export interface StatsRates {
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export interface RealStatsView {
  address: string;
  port: number;
  activeConnections: number;
  inactiveConnections: number;
  /** IPVS PersistConn: live persistence templates pointing at this real server. */
  persistentConnections: number;
  stats: StatsCounters;
  rates: StatsRates;
}

/** How a QUIC service's datagrams were routed since it was added (sluice_quic_* in /metrics). */
export interface QuicRoutingCounters {
  /** Initial, 0-RTT, Handshake, ...: by the 5-tuple entry or the scheduler. */
  longHeader: number;
  /** Short headers sent to the real server their connection ID's server ID names. */
  cidRouted: number;
  /** Short headers whose server ID no real server owns: 5-tuple entry or scheduler. */
  unknownServerId: number;
  /** Short headers too short for the CID, or of another QUIC-LB config codepoint: 5-tuple entry or scheduler. */
  unroutable: number;
  /** CID-routed datagrams from a path with no entry yet (NAT rebinding, migration): recorded. */
  newPaths: number;
  /** CID-routed datagrams whose entry named another real server: the entry follows the CID. */
  repointed: number;
}

export interface ServiceStatsView {
  name: string;
  stats: StatsCounters;
  rates: StatsRates;
  /** QUIC services only. */
  quic?: QuicRoutingCounters;
  reals: RealStatsView[];
}

/** A QUIC service's connection-ID routing: its layout, its server ID table and its counters. */
export interface QuicServiceView {
  service: string;
  layout: {
    /** `plain` (cidServerIdOffset/Length) or QUIC-LB's unencrypted algorithm. */
    algorithm: 'plain' | 'quic-lb-draft-20';
    serverIdOffset: number;
    serverIdLength: number;
    /** The servers' CID length (the shortest accepted when lengthSelfEncoded). */
    cidLength: number;
    /** QUIC-LB config rotation codepoint; null for plain. */
    configId: number | null;
    lengthSelfEncoded: boolean;
  };
  servers: {
    serverId: string;
    /** address:port of the real server that owns it. */
    real: string;
    /** Whether its packets can be routed now: its MAC is configured or learned. */
    routable: boolean;
  }[];
  counters: QuicRoutingCounters;
}

export interface StatsView {
  /** Connection table entries (ipvsadm's `size=`). */
  connectionCapacity: number;
  connectionCount: number;
  estimatorIntervalSeconds: number;
  services: ServiceStatsView[];
}

export interface Readiness {
  ready: boolean;
  /** Why not, when not ready (e.g. 'no configuration published', 'port not bound'). */
  reasons: string[];
}

export interface DirectorControl {
  getConfig(): ConfigView;
  /**
   * Validates (ConfigValidationError naming the field), checks `ifMatch` against the running
   * ETag (PreconditionFailedError), publishes to every worker as one snapshot, persists the file
   * atomically, and only then resolves. On any error the running config is unchanged.
   */
  applyConfig(next: LiveConfig, ifMatch?: string): Promise<ConfigView>;
  /** Live status of a service's real servers, or null when there is no such service. */
  realStatus(service: string): RealStatusView[] | null;
  listConnections(filter: ConnectionFilter): ConnectionPage;
  getConnection(id: string): ConnectionView | null;
  /** Resets the connection on its real server (TCP RST with the tracked sequence number) and
   * removes the entry; false when there is no such entry. */
  resetConnection(id: string): Promise<boolean>;
  readiness(): Readiness;
  /** The sources holding the most connections, most first (a bounded scan of the source table). */
  topSources(limit: number): SourceView[];
  /** The verified sources, most recently verified first, at most `limit`, and how many there are. */
  verifiedSources(limit: number): { items: VerifiedSourceView[]; total: number };
  /** Per service and real server: totals, rates and connection counts (ipvsadm --stats, --rate). */
  stats(): StatsView;
  /** A QUIC service's routing view; null when there is no such service or it does not route QUIC. */
  quicService(service: string): QuicServiceView | null;
  /** The Prometheus exposition text and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
}
