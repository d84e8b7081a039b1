// The lab: real Linux kernels for the director to talk to, one network namespace per client and
// real server, all VXLAN VTEPs on an underlay bridge in the root namespace. The director is a
// userspace VTEP in the root namespace bound to the bridge's address, so a test starts it directly;
// with `directorNamespace` it gets a namespace of its own (`<name>-d`, a veth into the bridge)
// instead, so the kernel's per-namespace counters (UDP RcvbufErrors) are its sockets' alone.
//
//            root namespace: bridge <name>-br 192.168.n.1 ── director (UDP 4789)
//               │ veth                 │ veth                 │ veth
//        <name>-c1               <name>-rs1             <name>-rs2
//        eth0 192.168.n.101      eth0 192.168.n.11      eth0 192.168.n.12
//        vx0  10.n.0.101         vx0  10.n.0.11         vx0  10.n.0.12    lo: VIPs
//
// Forwarding database (nolearning, so every path is the one written here):
//   client: 00:00:00:00:00:00 → director (ARP/ND for the VIP and every frame to the director's
//           MAC go there); each real's MAC → that real (the client's ARP/ND answers to a real).
//   real:   00:00:00:00:00:00 → every client and the director (replication: its ARP/ND requests
//           reach whoever owns the address); each client's MAC → that client (the direct reply,
//           DSR, goes to one client only, so the director sees one direction of the traffic);
//           the director's MAC → the director (the real's ARP/ND answers to the director).
// Checksum offload is turned off on every veth and vxlan device: otherwise the kernel leaves the
// inner TCP checksum partial, a userspace VTEP forwards it as it is, and the receiving kernel
// drops the segment silently.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { HealthCheckConfig, LiveConfig, RealServerConfig, ServiceConfig } from '@sluice/config';
import { LabCommandError, LabHttpError, LabSubnetInUseError } from './errors.ts';
import { type LabOptions, type LabPlan, type NodePlan, ownsName, planLab } from './plan.ts';
import { checkLabPrerequisites, labNodeBinary } from './preflight.ts';
import { type ExecOptions, type ExecResult, exec, run } from './sh.ts';

export interface LabNode extends NodePlan {
  /** vx0's MAC, read back from the kernel. */
  readonly mac: string;
  /** Runs argv inside the node's namespace; never rejects (look at `code`). */
  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts argv inside the node's namespace; the lab kills it on destroy. */
  spawn(cmd: readonly string[], opts?: SpawnOptions): ChildProcess;
}

export interface StartHttpOptions {
  /** server.maxConnections of the real's HTTP server (its capacity); default unlimited. */
  maxConns?: number;
  keepAliveMs?: number;
  /**
   * Leave the server running when this process exits (the CLI's `up`); output goes nowhere and
   * `destroy`/`down` kills it through `ip netns pids`. Default false.
   */
  detached?: boolean;
}

export interface DirectorConfigOptions {
  /** The services' and real servers' port. Default 80. */
  port?: number;
  /** Replaces the default HTTP health check (null: none). */
  healthCheck?: HealthCheckConfig | null;
}

/** A JSON-able picture of the lab, for the CLI and for logs. */
export interface LabDescription {
  name: string;
  subnet: number;
  vni: number;
  vip4: string;
  vip6: string | null;
  directorMac: string;
  directorUnderlay: string;
  bridge: string;
  overlayMtu: number;
  nodes: {
    role: string;
    label: string;
    ns: string;
    underlay: string;
    overlay4: string;
    overlay6: string | null;
    mac: string;
  }[];
}

const REAL_HTTP_SCRIPT = fileURLToPath(new URL('./real-http.ts', import.meta.url));
const HTTP_START_TIMEOUT_MS = 10_000;

function netnsArgv(ns: string, cmd: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...cmd];
}

/**
 * Writes sysctls inside a namespace through /proc/sys with plain `sh`, so the lab does not need
 * procps. Keys are paths under /proc/sys (`net/ipv4/conf/all/arp_ignore`); they travel as
 * positional parameters, never spliced into the script.
 */
async function sysctls(ns: string, settings: Record<string, string | number>): Promise<void> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template
  const script = 'for kv in "$@"; do printf %s "${kv#*=}" > "/proc/sys/${kv%%=*}" || exit 1; done';
  const kvs = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  await run(netnsArgv(ns, ['sh', '-c', script, 'sh', ...kvs]));
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
}

/** True when the IPv4 prefixes a/alen and b/blen share any address. */
function overlaps4(a: string, alen: number, b: string, blen: number): boolean {
  const len = Math.min(alen, blen);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return (ipv4ToInt(a) & mask) >>> 0 === (ipv4ToInt(b) & mask) >>> 0;
}

async function killNamespacePids(ns: string): Promise<void> {
  // Processes a crashed run (or a detached `lab up`) left inside the namespace. Deleting the
  // namespace's name would not stop them, and they would keep its devices alive.
  for (let attempt = 0; attempt < 50; attempt++) {
    const r = await exec(['ip', 'netns', 'pids', ns]);
    const pids = r.stdout
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function listOwnedNamespaces(name: string): Promise<string[]> {
  const out = await run(['ip', '-j', 'netns', 'list']);
  if (out.trim() === '') return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name).filter((n) => ownsName(name, n));
}

async function listOwnedLinks(name: string): Promise<string[]> {
  const out = await run(['ip', '-j', 'link', 'show']);
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname).filter((n) => ownsName(name, n));
}

async function readMac(ns: string, dev: string): Promise<string> {
  const out = await run(['ip', '-n', ns, '-j', 'link', 'show', 'dev', dev]);
  const [link] = JSON.parse(out) as { address: string }[];
  return link.address;
}

class NetnsNode implements LabNode {
  readonly role;
  readonly index;
  readonly label;
  readonly ns;
  readonly underlay;
  readonly overlay4;
  readonly overlay6;
  readonly mac: string;
  readonly #track: (child: ChildProcess) => void;

  constructor(plan: NodePlan, mac: string, track: (child: ChildProcess) => void) {
    this.role = plan.role;
    this.index = plan.index;
    this.label = plan.label;
    this.ns = plan.ns;
    this.underlay = plan.underlay;
    this.overlay4 = plan.overlay4;
    this.overlay6 = plan.overlay6;
    this.mac = mac;
    this.#track = track;
  }

  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return exec(netnsArgv(this.ns, cmd), opts);
  }

  spawn(cmd: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns, ...cmd], opts);
    this.#track(child);
    return child;
  }

  toJSON(): LabDescription['nodes'][number] {
    const { role, label, ns, underlay, overlay4, overlay6, mac } = this;
    return { role, label, ns, underlay, overlay4, overlay6, mac };
  }
}

export class Lab {
  readonly plan: LabPlan;
  readonly name: string;
  readonly vni: number;
  readonly vip4: string;
  /** The IPv6 VIP; only configured on the reals when `ipv6`. */
  readonly vip6: string;
  readonly directorMac: string;
  readonly ipv6: boolean;
  /** Where the director binds UDP 4789: the bridge's address, or its own namespace's (`directorNs`). */
  readonly directorUnderlay: string;
  /** The namespace the director must run in, or null: the root namespace. */
  readonly directorNs: string | null;
  readonly bridge: string;
  readonly reals: readonly LabNode[];
  readonly clients: readonly LabNode[];
  readonly #children = new Set<ChildProcess>();
  /** `${realIndex}:${port}` → the real's HTTP server process. */
  readonly #http = new Map<string, ChildProcess>();
  #destroyed = false;

  private constructor(plan: LabPlan, macs: Map<string, string>) {
    this.plan = plan;
    this.name = plan.name;
    this.vni = plan.vni;
    this.vip4 = plan.vip4;
    this.vip6 = plan.vip6;
    this.directorMac = plan.directorMac;
    this.ipv6 = plan.ipv6;
    this.directorUnderlay = plan.directorUnderlay;
    this.directorNs = plan.directorNs;
    this.bridge = plan.bridge;
    const track = (child: ChildProcess): void => {
      this.#children.add(child);
      child.once('exit', () => this.#children.delete(child));
    };
    this.reals = plan.reals.map((p) => new NetnsNode(p, macs.get(p.ns)!, track));
    this.clients = plan.clients.map((p) => new NetnsNode(p, macs.get(p.ns)!, track));
  }

  /**
   * Builds the lab (after removing whatever a crashed run of the same name left). Throws
   * LabUnavailableError when the machine cannot, LabOptionsError / LabSubnetInUseError for bad
   * options, LabCommandError when a step fails (the half-built lab is removed first).
   */
  static async create(opts: LabOptions): Promise<Lab> {
    const plan = planLab(opts);
    await checkLabPrerequisites();
    await Lab.destroyByName(plan.name);
    await assertSubnetFree(plan);
    try {
      await buildRoot(plan);
      const all = [...plan.reals, ...plan.clients];
      const macs = new Map<string, string>();
      await Promise.all(
        all.map(async (node) => {
          macs.set(node.ns, await buildNode(plan, node));
        }),
      );
      await Promise.all(all.map((node) => writeFdb(plan, node, macs)));
      return new Lab(plan, macs);
    } catch (err) {
      await Lab.destroyByName(plan.name).catch(() => {});
      throw err;
    }
  }

  /**
   * Removes every namespace and device a lab of this name may have made, killing the processes
   * inside its namespaces first. Safe to call when nothing exists.
   */
  static async destroyByName(name: string): Promise<void> {
    const namespaces = await listOwnedNamespaces(name);
    await Promise.all(namespaces.map(killNamespacePids));
    // Root-side veths first: deleting one removes its peer at once, whereas a deleted namespace's
    // devices go away later, in the kernel's cleanup work.
    for (const link of await listOwnedLinks(name)) {
      if (link !== `${name}-br`) await exec(['ip', 'link', 'del', 'dev', link]);
    }
    for (const ns of namespaces) await run(['ip', 'netns', 'del', ns]);
    await exec(['ip', 'link', 'del', 'dev', `${name}-br`]);
    for (let attempt = 0; ; attempt++) {
      const left = await listOwnedLinks(name);
      if (left.length === 0) return;
      if (attempt >= 100)
        throw new LabCommandError(['ip', 'link', 'del'], 1, `still present: ${left.join(', ')}`);
      for (const link of left) await exec(['ip', 'link', 'del', 'dev', link]);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills the processes this lab started and removes its namespaces, veths and bridge. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await Promise.all([...this.#children].map((c) => killAndWait(c)));
    this.#http.clear();
    await Lab.destroyByName(this.name);
  }

  /** Every node, reals first. */
  get nodes(): readonly LabNode[] {
    return [...this.reals, ...this.clients];
  }

  /**
   * Starts `real-http.ts` in real `realIndex`'s namespace (0-based: reals[0] is rs1) on `port`,
   * resolving once it accepts connections on the real's underlay address (the health checks'
   * path). Throws LabHttpError if one already runs there or it does not come up.
   */
  async startHttp(realIndex: number, port = 80, opts: StartHttpOptions = {}): Promise<void> {
    const real = this.#real(realIndex);
    const key = `${realIndex}:${port}`;
    if (this.#http.has(key)) throw new LabHttpError(`${real.label} already serves HTTP on port ${port}`);
    const argv = [labNodeBinary(), REAL_HTTP_SCRIPT, '--port', String(port), '--name', real.label];
    if (opts.maxConns !== undefined) argv.push('--max-conns', String(opts.maxConns));
    if (opts.keepAliveMs !== undefined) argv.push('--keep-alive-ms', String(opts.keepAliveMs));
    if (opts.detached) {
      const child = spawn('ip', netnsArgv(real.ns, argv).slice(1), { detached: true, stdio: 'ignore' });
      child.unref();
      await waitForPort(real.underlay, port, child, () => '');
      return;
    }
    const child = real.spawn(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.stdout!.resume();
    this.#http.set(key, child);
    child.once('exit', () => {
      if (this.#http.get(key) === child) this.#http.delete(key);
    });
    try {
      await waitForPort(real.underlay, port, child, () => stderr);
    } catch (err) {
      await killAndWait(child);
      throw err;
    }
  }

  /**
   * Kills real `realIndex`'s HTTP server (on `port`, or every port), so connections to it are
   * refused, as a crashed server's would be. Resolves once the process is gone.
   */
  async stopHttp(realIndex: number, port?: number): Promise<void> {
    this.#real(realIndex);
    const stops: Promise<void>[] = [];
    for (const [key, child] of this.#http) {
      const [i, p] = key.split(':').map(Number);
      if (i === realIndex && (port === undefined || p === port)) {
        this.#http.delete(key);
        stops.push(killAndWait(child));
      }
    }
    await Promise.all(stops);
  }

  /**
   * The live config (`overlay` + `services`) for a director serving this lab: `web4` on vip4 and,
   * with IPv6, `web6` on vip6, each with every real server (overlay address, VTEP, vx0 MAC) and an
   * HTTP health check, which goes to the VTEP (underlay) address since no address or port is set.
   */
  directorConfig(opts: DirectorConfigOptions = {}): LiveConfig {
    const port = opts.port ?? 80;
    const healthCheck = (): HealthCheckConfig | null =>
      opts.healthCheck === undefined
        ? { type: 'http', path: '/', intervalSeconds: 0.5, timeoutSeconds: 0.4, rise: 1, fall: 2 }
        : opts.healthCheck === null
          ? null
          : { ...opts.healthCheck };
    const reals = (family: 4 | 6): RealServerConfig[] =>
      this.reals.map((r) => ({
        address: family === 4 ? r.overlay4 : r.overlay6!,
        port,
        vtep: r.underlay,
        mac: r.mac,
        weight: 1,
        upperThreshold: 0,
        lowerThreshold: 0,
        state: 'active',
        healthCheck: healthCheck(),
      }));
    const service = (name: string, vip: string, family: 4 | 6): ServiceConfig => ({
      name,
      vip,
      port,
      protocol: 'tcp',
      scheduler: 'rr',
      persistence: null,
      reals: reals(family),
    });
    const services = [service('web4', this.vip4, 4)];
    if (this.ipv6) services.push(service('web6', this.vip6, 6));
    return { overlay: { vni: this.vni, directorMac: this.directorMac }, services };
  }

  describe(): LabDescription {
    return {
      name: this.name,
      subnet: this.plan.subnet,
      vni: this.vni,
      vip4: this.vip4,
      vip6: this.ipv6 ? this.vip6 : null,
      directorMac: this.directorMac,
      directorUnderlay: this.directorUnderlay,
      bridge: this.bridge,
      overlayMtu: this.plan.overlayMtu,
      nodes: this.nodes.map((n) => (n as NetnsNode).toJSON()),
    };
  }

  #real(realIndex: number): LabNode {
    const real = this.reals[realIndex];
    if (real === undefined) {
      throw new RangeError(`no real server at index ${realIndex} (0..${this.reals.length - 1})`);
    }
    return real;
  }
}

function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Resolves once host:port accepts a TCP connection; rejects if `child` exits first or on timeout. */
function waitForPort(host: string, port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onExit = (code: number | null, signal: string | null): void => {
      finish(
        new LabHttpError(
          `HTTP server for ${host}:${port} exited (${code ?? signal}) before listening: ${stderr().trim()}`,
        ),
      );
    };
    child.once('exit', onExit);
    const deadline = setTimeout(
      () =>
        finish(
          new LabHttpError(`HTTP server on ${host}:${port} not listening after ${HTTP_START_TIMEOUT_MS} ms`),
        ),
      HTTP_START_TIMEOUT_MS,
    );
    const attempt = (): void => {
      if (done) return;
      const sock = connect({ host, port });
      sock.once('connect', () => {
        sock.destroy();
        finish();
      });
      sock.once('error', () => {
        sock.destroy();
        setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

async function assertSubnetFree(plan: LabPlan): Promise<void> {
  const out = await run(['ip', '-j', '-4', 'route', 'show', 'table', 'all']);
  for (const r of JSON.parse(out) as { dst: string; dev?: string; type?: string }[]) {
    if (r.dst === 'default' || r.type === 'broadcast' || r.type === 'local') continue;
    const [addr, len] = r.dst.split('/');
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr)) continue;
    if (
      overlaps4(addr, len === undefined ? 32 : Number(len), plan.directorUnderlay, plan.underlayPrefixLen)
    ) {
      throw new LabSubnetInUseError(
        `underlay 192.168.${plan.subnet}.0/24 of lab ${plan.name} overlaps the route ${r.dst} dev ${r.dev}; ` +
          'choose another `subnet` (another lab, or the host, uses it)',
      );
    }
  }
}

async function buildRoot(plan: LabPlan): Promise<void> {
  const br = plan.bridge;
  await run(['ip', 'link', 'add', 'name', br, 'type', 'bridge']);
  await run(['ip', 'addr', 'add', `${plan.bridgeAddress}/${plan.underlayPrefixLen}`, 'dev', br]);
  await run(['ip', 'link', 'set', 'dev', br, 'up']);
  if (plan.directorNs !== null) await buildDirectorNs(plan, plan.directorNs);
}

/**
 * The director's own namespace: only lo and an underlay veth holding directorUnderlay, so every
 * kernel counter in it (UDP RcvbufErrors above all) is the director's sockets' alone.
 */
async function buildDirectorNs(plan: LabPlan, ns: string): Promise<void> {
  await run(['ip', 'netns', 'add', ns]);
  await sysctls(ns, { 'net/ipv6/conf/all/disable_ipv6': 1, 'net/ipv6/conf/default/disable_ipv6': 1 });
  await run(['ip', '-n', ns, 'link', 'set', 'dev', 'lo', 'up']);
  await run(['ip', 'link', 'add', 'name', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(['ip', 'link', 'set', 'dev', ns, 'master', plan.bridge]);
  await run(['ethtool', '-K', ns, 'tx', 'off']);
  await run(['ip', 'link', 'set', 'dev', ns, 'up']);
  await run([
    'ip',
    '-n',
    ns,
    'addr',
    'add',
    `${plan.directorUnderlay}/${plan.underlayPrefixLen}`,
    'dev',
    'eth0',
  ]);
  await run(netnsArgv(ns, ['ethtool', '-K', 'eth0', 'tx', 'off']));
  await run(['ip', '-n', ns, 'link', 'set', 'dev', 'eth0', 'up']);
}

/** Builds one namespace (veth into the bridge, vx0, addresses, sysctls); returns vx0's MAC. */
async function buildNode(plan: LabPlan, node: NodePlan): Promise<string> {
  const { ns } = node;
  const ip = (...args: string[]): Promise<string> => run(['ip', '-n', ns, ...args]);
  const inNs = (...args: string[]): Promise<string> => run(netnsArgv(ns, args));
  await run(['ip', 'netns', 'add', ns]);
  // Before any device exists, so `default` applies to vx0: no DAD, so the overlay and link-local
  // IPv6 addresses are usable at once (a tentative link-local makes ND go out from `::`).
  const before: Record<string, string | number> = {};
  if (plan.ipv6) {
    Object.assign(before, {
      'net/ipv6/conf/all/disable_ipv6': 0,
      'net/ipv6/conf/default/disable_ipv6': 0,
      'net/ipv6/conf/all/accept_dad': 0,
      'net/ipv6/conf/default/accept_dad': 0,
    });
  } else {
    Object.assign(before, { 'net/ipv6/conf/all/disable_ipv6': 1, 'net/ipv6/conf/default/disable_ipv6': 1 });
  }
  await sysctls(ns, before);
  await ip('link', 'set', 'dev', 'lo', 'up');

  // Underlay: root-side veth named like the namespace, enslaved to the bridge; eth0 inside.
  await run(['ip', 'link', 'add', 'name', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(['ip', 'link', 'set', 'dev', ns, 'master', plan.bridge]);
  await run(['ethtool', '-K', ns, 'tx', 'off']);
  await run(['ip', 'link', 'set', 'dev', ns, 'up']);
  await ip('addr', 'add', `${node.underlay}/${plan.underlayPrefixLen}`, 'dev', 'eth0');
  await inNs('ethtool', '-K', 'eth0', 'tx', 'off');
  await ip('link', 'set', 'dev', 'eth0', 'up');

  // Overlay: the kernel's own VTEP.
  await ip(
    'link',
    'add',
    'vx0',
    'type',
    'vxlan',
    'id',
    String(plan.vni),
    'dstport',
    '4789',
    'local',
    node.underlay,
    'nolearning',
  );
  await ip('link', 'set', 'dev', 'vx0', 'mtu', String(plan.overlayMtu));
  await inNs('ethtool', '-K', 'vx0', 'tx', 'off');
  await ip('addr', 'add', `${node.overlay4}/${plan.overlay4PrefixLen}`, 'dev', 'vx0');
  if (plan.ipv6)
    await ip('-6', 'addr', 'add', `${node.overlay6}/${plan.overlay6PrefixLen}`, 'dev', 'vx0', 'nodad');
  await ip('link', 'set', 'dev', 'vx0', 'up');

  if (node.role === 'real') {
    // LVS-DR real server: holds the VIP on lo, never answers ARP for it on vx0 (arp_ignore=1:
    // only for addresses on the asking interface), never uses it as an ARP source (arp_announce=2),
    // and accepts the director's frames whatever the reverse path says (rp_filter=0; the
    // effective value is the max of `all` and the device's). IPv6 needs no knob: ND answers only
    // for addresses on the receiving interface, and the weak host model accepts the VIP on lo.
    await ip('addr', 'add', `${plan.vip4}/32`, 'dev', 'lo');
    if (plan.ipv6) await ip('-6', 'addr', 'add', `${plan.vip6}/128`, 'dev', 'lo', 'nodad');
    const conf: Record<string, number> = {};
    for (const dev of ['all', 'default', 'vx0']) {
      conf[`net/ipv4/conf/${dev}/arp_ignore`] = 1;
      conf[`net/ipv4/conf/${dev}/arp_announce`] = 2;
      conf[`net/ipv4/conf/${dev}/rp_filter`] = 0;
    }
    for (const dev of ['lo', 'eth0']) conf[`net/ipv4/conf/${dev}/rp_filter`] = 0;
    await sysctls(ns, conf);
  } else {
    // On-link routes, so the VIP may be outside the overlay subnet and the client still ARPs
    // (or solicits) for it on vx0, where the director answers.
    await ip('route', 'replace', `${plan.vip4}/32`, 'dev', 'vx0');
    if (plan.ipv6) await ip('-6', 'route', 'replace', `${plan.vip6}/128`, 'dev', 'vx0');
  }
  return readMac(ns, 'vx0');
}

async function writeFdb(plan: LabPlan, node: NodePlan, macs: Map<string, string>): Promise<void> {
  const fdb = (verb: 'append' | 'replace', mac: string, dst: string): Promise<string> =>
    run(['bridge', '-n', node.ns, 'fdb', verb, mac, 'dev', 'vx0', 'dst', dst]);
  const zero = '00:00:00:00:00:00';
  if (node.role === 'client') {
    await fdb('append', zero, plan.directorUnderlay);
    for (const r of plan.reals) await fdb('replace', macs.get(r.ns)!, r.underlay);
  } else {
    for (const c of plan.clients) await fdb('append', zero, c.underlay);
    await fdb('append', zero, plan.directorUnderlay);
    for (const c of plan.clients) await fdb('replace', macs.get(c.ns)!, c.underlay);
    await fdb('replace', plan.directorMac, plan.directorUnderlay);
  }
}
