// The one list of what Sluice's suites and lab need from the machine, beyond Node and npm: each
// system tool with the Debian package that provides it and the test files that cannot run without
// it, and the test layers with what each needs. The test runner, the lab's preflight and the demo
// read it from here, so "what must be installed" is written once.

export interface SystemTool {
  /** The binary looked up on PATH. */
  readonly binary: string;
  /** The Debian package that provides it. */
  readonly debianPackage: string;
  /** Why Sluice needs it (shown in the preflight's log). */
  readonly why: string;
  /** Globs (from the repository root) of the test files that cannot run without it. */
  readonly neededBy: readonly string[];
}

/** The root-only suites: network namespaces, veth and vxlan devices. */
export const LAB_TESTS = '**/*.lab.test.ts';

/** The QUIC lab suite: Debian's ngtcp2 examples behind the director (its own tools below). */
export const QUIC_LAB_TEST = 'test/e2e/quic.lab.test.ts';

export const SYSTEM_TOOLS: readonly SystemTool[] = [
  { binary: 'ip', debianPackage: 'iproute2', why: 'namespaces, veth, vxlan (lab)', neededBy: [LAB_TESTS] },
  {
    binary: 'bridge',
    debianPackage: 'iproute2',
    why: 'the underlay bridge, fdb (lab)',
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'ss',
    debianPackage: 'iproute2',
    why: "the real servers' sockets (lab); sluice-agent's quiet and slow lists (tcp_info)",
    neededBy: [LAB_TESTS, 'packages/agent/src/agent.int.test.ts'],
  },
  {
    binary: 'tc',
    debianPackage: 'iproute2',
    why: "the slow-link bots' shaped downlinks (lab-eval)",
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'nsenter',
    debianPackage: 'util-linux',
    why: 'commands inside a namespace (lab)',
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'flock',
    debianPackage: 'util-linux',
    why: 'one lab user at a time (/tmp/sluice-lab.lock: `npm run bench -- lab`)',
    neededBy: ['tools/bench/src/lab.lab.test.ts'],
  },
  {
    binary: 'ethtool',
    debianPackage: 'ethtool',
    why: 'checksum offload off on lab devices',
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'ping',
    debianPackage: 'iputils-ping',
    why: 'reachability of a VIP (lab)',
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'curl',
    debianPackage: 'curl',
    why: 'real HTTP clients (lab, control plane)',
    neededBy: [LAB_TESTS, 'apps/director/src/api/http.int.test.ts'],
  },
  { binary: 'wrk', debianPackage: 'wrk', why: 'HTTP load through the director (lab)', neededBy: [LAB_TESTS] },
  { binary: 'hping3', debianPackage: 'hping3', why: 'spoofed SYN floods (lab)', neededBy: [LAB_TESTS] },
  {
    binary: 'slowhttptest',
    debianPackage: 'slowhttptest',
    why: 'the stock slow-HTTP attacker (lab evaluation: slowhttptest-H, -B, -X)',
    neededBy: ['tools/lab-eval/src/lab-eval.lab.test.ts'],
  },
  {
    binary: 'python3',
    debianPackage: 'python3',
    why: 'raw-socket attackers, real-address bots, worker-pool real servers (lab); a slow reader for the load agent',
    neededBy: [LAB_TESTS, 'packages/agent/src/agent.int.test.ts'],
  },
  {
    binary: 'tcpdump',
    debianPackage: 'tcpdump',
    why: 'the RSTs the real servers receive: which valid connections the director reset (lab)',
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'cc',
    debianPackage: 'build-essential',
    why: 'builds the batched-I/O addon (packages/io) and its C tools',
    neededBy: [
      'packages/io/src/*.int.test.ts',
      'packages/dataplane/src/batched-port.int.test.ts',
      'packages/dataplane/src/serve-native.int.test.ts',
      // sluice-gen, the C traffic generator, blasts the fuzz corpus and the soak's flood.
      'tools/reliability/src/packet-fuzz.int.test.ts',
      'tools/reliability/src/soak.int.test.ts',
      'tools/bench/src/flood.int.test.ts',
      'tools/bench/src/lab.lab.test.ts',
      // The LD_PRELOAD shim that puts a QUIC-LB server ID into ngtcp2's connection IDs.
      QUIC_LAB_TEST,
    ],
  },
  {
    binary: 'gtlsclient',
    debianPackage: 'ngtcp2-client',
    why: 'a real QUIC client that migrates and rebinds (lab)',
    neededBy: [QUIC_LAB_TEST],
  },
  {
    binary: 'gtlsserver',
    debianPackage: 'ngtcp2-server',
    why: 'real QUIC servers behind the director (lab)',
    neededBy: [QUIC_LAB_TEST],
  },
  {
    binary: 'nft',
    debianPackage: 'nftables',
    why: 'NATs: a home router in front of the clients, a rebinding the QUIC client does not see; datagram counts; the ghost bots (lab)',
    neededBy: [LAB_TESTS],
  },
  {
    binary: 'openssl',
    debianPackage: 'openssl',
    why: "the QUIC servers' self-signed certificate (lab)",
    neededBy: [QUIC_LAB_TEST],
  },
  {
    binary: 'promtool',
    debianPackage: 'prometheus',
    why: '`promtool check metrics` on /metrics',
    neededBy: [LAB_TESTS, 'packages/metrics/src/*.int.test.ts', 'test/deploy/*.int.test.ts'],
  },
];

export type LayerName = 'unit' | 'integration' | 'lab';

export interface TestLayer {
  readonly name: LayerName;
  /** Test files of this layer (globs from the repository root). */
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** Root is needed to run the layer at all (not only to install its tools). */
  readonly needsRoot: boolean;
  readonly what: string;
}

const ALL_TESTS = [
  'packages/*/src/**/*.test.ts',
  'apps/*/src/**/*.test.ts',
  'tools/*/src/**/*.test.ts',
  'test/**/*.test.ts',
];
const INTEGRATION_TESTS = ALL_TESTS.map((g) => g.replace(/\*\.test\.ts$/, '*.int.test.ts'));
const LAB_LAYER_TESTS = ALL_TESTS.map((g) => g.replace(/\*\.test\.ts$/, '*.lab.test.ts'));

/** In the order the test command runs them: fast and hermetic first, the lab last. */
export const TEST_LAYERS: readonly TestLayer[] = [
  {
    name: 'unit',
    include: ALL_TESTS,
    exclude: ['**/*.int.test.ts', '**/*.lab.test.ts'],
    needsRoot: false,
    what: 'in-process tests (in-memory ports, worker threads)',
  },
  {
    name: 'integration',
    include: INTEGRATION_TESTS,
    exclude: [],
    needsRoot: false,
    what: 'real sockets, real HTTP, child processes, promtool',
  },
  {
    name: 'lab',
    include: LAB_LAYER_TESTS,
    exclude: [],
    needsRoot: true,
    what: 'real kernels in network namespaces (needs root)',
  },
];
