// Every error code Sluice has, in one table: the code, the HTTP status of a control-plane answer
// that carries it (null: it never reaches a client as such), where it comes from and what it
// means. Errors are data: the packages and apps throw typed errors whose `code` is one of these,
// handlers branch on the code (structured clone across a worker boundary keeps own properties,
// not prototypes), the REST layer maps codes to statuses through this table (errors.ts), and
// docs/API.md is generated from it (api-doc.ts; api-doc.test.ts keeps both in sync and checks
// that every SLUICE_ERR_* written in the sources is here and every code here is used).

export interface ErrorCodeInfo {
  /** The status of a REST answer with this code; null when it never is one. */
  status: number | null;
  /** The `error` word of the body (HTTP codes only). */
  error?: string;
  /** Who raises it: a package, the daemon, the CLI, the lab. */
  source: string;
  meaning: string;
}

export const ERROR_CODES = {
  // ---- the control plane's answers ----
  SLUICE_ERR_API_INVALID: {
    status: 400,
    error: 'invalid',
    source: 'apps/director (REST)',
    meaning:
      'The request does not match its route: `field` names the body pointer or the parameter; the message says what was expected (the allowed values of an enumeration, the known properties beside an unknown one, the range of a number).',
  },
  SLUICE_ERR_API_BAD_REQUEST: {
    status: 400,
    error: 'bad_request',
    source: 'apps/director (REST)',
    meaning:
      'Not a request the API can read: unparseable JSON, a malformed URL. A body over 16 MiB (413 payload_too_large), of another content type (415 unsupported_media_type), or a path parameter over 100 characters (414 uri_too_long) carries this code with its own status.',
  },
  SLUICE_ERR_API_UNAUTHORIZED: {
    status: 401,
    error: 'unauthorized',
    source: 'apps/director (REST)',
    meaning:
      'A mutation without `Authorization: Bearer <token>`; the answer carries `WWW-Authenticate: Bearer`.',
  },
  SLUICE_ERR_API_FORBIDDEN: {
    status: 403,
    error: 'forbidden',
    source: 'apps/director (REST)',
    meaning: 'The bearer token does not match the daemon’s token file.',
  },
  SLUICE_ERR_API_NOT_FOUND: {
    status: 404,
    error: 'not_found',
    source: 'apps/director (REST)',
    meaning: 'No such route, or no such connection (connections are not config).',
  },
  SLUICE_ERR_API_INTERNAL: {
    status: 500,
    error: 'internal',
    source: 'apps/director (REST)',
    meaning:
      'A bug: anything thrown without a code of this table. The message is withheld from the client and logged.',
  },
  // ---- the config ----
  SLUICE_ERR_CONFIG_INVALID: {
    status: 400,
    error: 'invalid',
    source: 'packages/config',
    meaning:
      'The config (or the change to it) breaks a rule the schema cannot say: an address, a name or endpoint used twice, thresholds, a CIDR, a pool naming no real server. `field` is the JSON pointer into the body sent.',
  },
  SLUICE_ERR_CONFIG_NOT_FOUND: {
    status: 404,
    error: 'not_found',
    source: 'packages/config',
    meaning: 'No such service, real server or priority rule.',
  },
  SLUICE_ERR_CONFIG_CONFLICT: {
    status: 409,
    error: 'conflict',
    source: 'packages/config',
    meaning:
      'The change collides with what exists: a service name or VIP:port taken, a real server twice, a real server a priority rule still pools.',
  },
  SLUICE_ERR_CONFIG_PRECONDITION: {
    status: 412,
    error: 'precondition_failed',
    source: 'packages/config',
    meaning: 'If-Match names a config version other than the running one: read it again and retry.',
  },
  SLUICE_ERR_CONFIG_TOO_LARGE: {
    status: 400,
    error: 'invalid',
    source: 'packages/dataplane',
    meaning:
      'The config is valid but its snapshot does not fit the workers’ mailbox (1 MiB encoded): fewer services or real servers. Nothing changed.',
  },
  SLUICE_ERR_CONFIG_FILE: {
    status: null,
    source: 'packages/config',
    meaning:
      'A config or token file that cannot be read, parsed or validated, named with its line. At start: exit 1, the file left as it is. On SIGHUP: logged, the running config kept.',
  },
  SLUICE_ERR_CONFIG_FILE_MISSING: {
    status: null,
    source: 'packages/config',
    meaning: 'The config file does not exist: `sluice run` without --config seeds the embedded demo config.',
  },
  SLUICE_ERR_CONFIG_ADDRESS: {
    status: null,
    source: 'packages/dataplane',
    meaning:
      'An address text that is neither IPv4 nor IPv6, met while building a snapshot (validation catches it first).',
  },
  // ---- the daemon ----
  SLUICE_ERR_DAEMON_VTEP_BUSY: {
    status: null,
    source: 'apps/director (sluice run)',
    meaning:
      'Another director holds this VTEP address:port in this network namespace (its pid and config are named), or the UDP port is in use: exit 1 before anything is bound.',
  },
  SLUICE_ERR_DAEMON_API_BUSY: {
    status: null,
    source: 'apps/director (sluice run)',
    meaning: 'The control plane’s address:port is in use: exit 1 before the VTEP is bound.',
  },
  SLUICE_ERR_DAEMON_START: {
    status: null,
    source: 'apps/director (sluice run)',
    meaning: 'The daemon could not start (the message says which step); exit 1, everything started undone.',
  },
  SLUICE_ERR_DATAPLANE_CONFIG: {
    status: null,
    source: 'packages/dataplane',
    meaning:
      'A snapshot the packet path cannot compile; the director answers the change with SLUICE_ERR_CONFIG_INVALID (400) and keeps the running config.',
  },
  SLUICE_ERR_DATAPLANE_RING: {
    status: null,
    source: 'packages/dataplane',
    meaning:
      'An in-memory frame ring (the hot-path benchmark and tests feed serving workers through one) was given a slot size or count it cannot hold, or a frame longer than its slot.',
  },
  SLUICE_ERR_DATAPLANE_OPTIONS: {
    status: null,
    source: 'packages/dataplane',
    meaning:
      'Bad Dataplane options (worker count, table sizes) or misuse (serving twice, no counter slot left).',
  },
  SLUICE_ERR_CONNTRACK_LAYOUT: {
    status: null,
    source: 'packages/conntrack',
    meaning: 'A shared table buffer without the expected layout (capacity, record size, magic).',
  },
  SLUICE_ERR_SCHEDULER_UNKNOWN: {
    status: null,
    source: 'packages/schedulers',
    meaning: 'A scheduler name that is none of the 14 IPVS schedulers (the config schema refuses it first).',
  },
  SLUICE_ERR_SCHEDULER_SPEC: {
    status: null,
    source: 'packages/schedulers',
    meaning: 'A scheduler given bad members (indices, weights) while compiling a snapshot.',
  },
  SLUICE_ERR_SCHEDULER_TABLE_SIZE: {
    status: null,
    source: 'packages/schedulers',
    meaning: 'A Maglev table size that is not one of the kernel’s primes.',
  },
  SLUICE_ERR_SCHEDULER_OPTION: {
    status: null,
    source: 'packages/schedulers',
    meaning: 'A scheduler option out of range (flags, lblc/lblcr expiry, twos seed).',
  },
  SLUICE_ERR_SCHEDULER_COUNTERS: {
    status: null,
    source: 'packages/schedulers',
    meaning: 'RealServerCounters attached to a buffer of the wrong size.',
  },
  SLUICE_ERR_DEFENSE_CIDR: {
    status: null,
    source: 'packages/defense',
    meaning:
      'A CIDR that does not parse or has host bits set; in a config change it is answered as SLUICE_ERR_CONFIG_INVALID naming the field.',
  },
  SLUICE_ERR_DEFENSE_RULE: {
    status: null,
    source: 'packages/defense',
    meaning:
      'A priority rule with a bad priority or pool, or two rules for one prefix (answered as SLUICE_ERR_CONFIG_INVALID).',
  },
  SLUICE_ERR_DEFENSE_CHECKS: {
    status: null,
    source: 'packages/defense',
    meaning: 'A bad source-check setting (answered as SLUICE_ERR_CONFIG_INVALID).',
  },
  SLUICE_ERR_DEFENSE_WEIGHTS: {
    status: null,
    source: 'packages/defense',
    meaning:
      'An unknown scorer weight, or one negative, not finite or not an integer where one is needed (answered as SLUICE_ERR_CONFIG_INVALID naming /defense/weights/<name>).',
  },
  SLUICE_ERR_DEFENSE_LAYOUT: {
    status: null,
    source: 'packages/defense',
    meaning: 'A victim index or defense-state buffer without the expected layout.',
  },
  SLUICE_ERR_DEFENSE_LVS_MODE: {
    status: null,
    source: 'packages/defense',
    meaning: 'An LVS drop_entry, drop_packet or secure_tcp mode that is not 0..3.',
  },
  SLUICE_ERR_DEFENSE_LVS_AMEMTHRESH: {
    status: null,
    source: 'packages/defense',
    meaning: 'An LVS amemthresh that is not an integer 0..2^31-1.',
  },
  SLUICE_ERR_DEFENSE_LVS_AM_DROPRATE: {
    status: null,
    source: 'packages/defense',
    meaning: 'An LVS am_droprate that is not an integer 1..2^31-1.',
  },
  SLUICE_ERR_DEFENSE_LVS_CAPACITY: {
    status: null,
    source: 'packages/defense',
    meaning: 'An LVS defense given a table capacity that is not a positive integer.',
  },
  SLUICE_ERR_DEFENSE_LVS_UNKNOWN_FIELD: {
    status: null,
    source: 'packages/defense',
    meaning: 'An LVS defense setting the module does not know (a typo would otherwise be ignored).',
  },
  SLUICE_ERR_AGENT_INVALID_ARGUMENT: {
    status: null,
    source: 'packages/agent',
    meaning: "sluice-agent's command line is wrong (the message names the argument); it exits 2.",
  },
  SLUICE_ERR_AGENT_PROC_UNREADABLE: {
    status: null,
    source: 'packages/agent',
    meaning:
      'sluice-agent could not read /proc/net/tcp; it answers `unknown` and the director keeps its own count.',
  },
  SLUICE_ERR_AGENT_LISTEN_FAILED: {
    status: null,
    source: 'packages/agent',
    meaning: 'sluice-agent could not listen on the address and port it was given.',
  },
  SLUICE_ERR_AGENT_SS_FAILED: {
    status: null,
    source: 'packages/agent',
    meaning:
      'sluice-agent could not list its quiet and slow connections with `ss` (iproute2 missing, failed or timed out); it answers `held:N` without either list, and the director marks nothing on that server.',
  },
  SLUICE_ERR_HEALTH_INVALID_SPEC: {
    status: null,
    source: 'packages/health',
    meaning:
      'A health-check or load-agent target out of range (interval, timeout, rise, fall, port, address, path).',
  },
  SLUICE_ERR_HEALTH_DUPLICATE_KEY: {
    status: null,
    source: 'packages/health',
    meaning: 'Two health-check targets with one key in one set().',
  },
  SLUICE_ERR_HEALTH_STOPPED: {
    status: null,
    source: 'packages/health',
    meaning: 'Targets set on a stopped health checker.',
  },
  SLUICE_ERR_IO_UNAVAILABLE: {
    status: null,
    source: 'packages/io',
    meaning:
      '`daemon.io: "native"` but the sluice_io addon did not load (the reason is named): exit 1, nothing bound.',
  },
  SLUICE_ERR_IO_CHOICE: {
    status: null,
    source: 'packages/io',
    meaning: 'An io choice other than native, dgram or auto.',
  },
  SLUICE_ERR_IO_SOCKET: {
    status: null,
    source: 'packages/dataplane',
    meaning: 'The native port could not open or bind its socket (the errno is named).',
  },
  SLUICE_ERR_METRICS_TOPOLOGY: {
    status: null,
    source: 'packages/metrics',
    meaning: 'A topology handed to the metrics with indices out of range or unknown health words.',
  },
  SLUICE_ERR_WIRE_PCAP: {
    status: null,
    source: 'packages/wire',
    meaning: 'A pcap file that is truncated, of another link type, or not a pcap file.',
  },
  // ---- the sluice command (exit codes in cli/errors.ts) ----
  SLUICE_ERR_CLI_USAGE: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning: 'The command line is wrong: exit 2.',
  },
  SLUICE_ERR_CLI_INPUT: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning: 'A bad line of an input file (ipvsadm rules, keepalived.conf), named `line N`: exit 1.',
  },
  SLUICE_ERR_CLI_UNREACHABLE: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning: 'No director answered at the address used: exit 3.',
  },
  SLUICE_ERR_CLI_REFUSED: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning: 'The director refused the request (a 4xx other than 401/403/409/412) or failed: exit 1.',
  },
  SLUICE_ERR_CLI_CONFLICT: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning:
      'The config changed under the command (412) or the change clashes (409); nothing changed: exit 4.',
  },
  SLUICE_ERR_CLI_UNAUTHORIZED: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning: 'The director refused the token (401/403): exit 5.',
  },
  SLUICE_ERR_CLI_TOKEN: {
    status: null,
    source: 'apps/director (sluice CLI)',
    meaning: 'A change needs the API token and none was found: exit 5.',
  },
  // ---- the namespace lab (tools/lab) ----
  SLUICE_ERR_LAB_UNAVAILABLE: {
    status: null,
    source: 'tools/lab',
    meaning:
      'The machine cannot run the lab (not root, no netns, no vxlan, a binary missing); the reason is named.',
  },
  SLUICE_ERR_LAB_OPTIONS: {
    status: null,
    source: 'tools/lab',
    meaning: 'Options that cannot describe a lab (bad name, too many nodes, bad address).',
  },
  SLUICE_ERR_LAB_SUBNET_IN_USE: {
    status: null,
    source: 'tools/lab',
    meaning: 'Another lab, or the host, already routes the chosen underlay subnet.',
  },
  SLUICE_ERR_LAB_COMMAND: {
    status: null,
    source: 'tools/lab',
    meaning: 'A command building or inspecting the lab failed; it carries argv and stderr.',
  },
  SLUICE_ERR_LAB_HTTP: {
    status: null,
    source: 'tools/lab',
    meaning: 'A real server’s HTTP process did not come up.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type AnyErrorCode = keyof typeof ERROR_CODES;
