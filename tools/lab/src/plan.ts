// The lab's names and addresses, computed from its options before anything touches the kernel,
// so they can be tested without root and so `create`, `destroy` and the CLI agree on them.
//
// Everything derives from the lab name (a short prefix) and its subnet number n:
//   root namespace  bridge `<name>-br` 192.168.n.1/24 (the underlay; the director binds here)
//   real i          netns and root-side veth `<name>-rs<i>`, underlay 192.168.n.(10+i),
//                   overlay 10.n.0.(10+i)/24 and fdNN::(10+i)/64 (NN = n in hex)
//   client i        netns and root-side veth `<name>-c<i>`, underlay 192.168.n.(100+i),
//                   overlay 10.n.0.(100+i)/24 and fdNN::(100+i)/64
// Device names are at most 15 bytes (IFNAMSIZ - 1): a name of up to 9 characters leaves room for
// `-rs89`. Two labs with different names and subnets never share a device, namespace or route.
import { isIPv4, isIPv6 } from 'node:net';
import { LabOptionsError } from './errors.ts';

export interface LabOptions {
  /** Short prefix, [a-z][a-z0-9]{0,8}; every namespace and device name starts with `<name>-`. */
  name: string;
  /** Real servers, 1..89. Default 2. */
  reals?: number;
  /** Clients, 0..99. Default 1. */
  clients?: number;
  /** VXLAN network identifier. Default 100. */
  vni?: number;
  /** Default 10.n.0.100 (inside the overlay subnet, between the reals and the clients). */
  vip4?: string;
  /** Default fdNN::100. */
  vip6?: string;
  /** The director's overlay MAC (its ARP/ND answers carry it). Default 02:53:4c:00:NN:01. */
  directorMac?: string;
  /** Overlay IPv6 addresses, the VIP6 on the reals and the `web6` service. Default true. */
  ipv6?: boolean;
  /** n in 192.168.n.0/24 and 10.n.0.0/24, 1..254. Default: derived from the name (20..219). */
  subnet?: number;
  /**
   * Put the director's underlay address in a namespace of its own (`<name>-d`, a veth into the
   * bridge) instead of on the bridge, so the kernel's per-namespace counters (/proc/net/snmp's
   * UDP RcvbufErrors) are the director's alone; the bridge then holds 192.168.n.2, the root
   * namespace's way to the director's REST API. Default false.
   */
  directorNamespace?: boolean;
}

export type NodeRole = 'real' | 'client';

export interface NodePlan {
  role: NodeRole;
  /** 1-based. */
  index: number;
  /** `rs1`, `c1`: the real's name in HTTP answers and in the director config. */
  label: string;
  /** Network namespace, also the name of the root-side veth. */
  ns: string;
  underlay: string;
  overlay4: string;
  overlay6: string | null;
}

export interface LabPlan {
  name: string;
  subnet: number;
  vni: number;
  vip4: string;
  vip6: string;
  directorMac: string;
  ipv6: boolean;
  bridge: string;
  /** The director's underlay address (on the bridge, or in `directorNs`): it binds VXLAN here. */
  directorUnderlay: string;
  /** The director's own namespace (and its root-side veth), or null: the root namespace. */
  directorNs: string | null;
  /** The bridge's address in the root namespace: directorUnderlay, or .2 with `directorNs`. */
  bridgeAddress: string;
  underlayPrefixLen: number;
  overlay4PrefixLen: number;
  overlay6PrefixLen: number;
  /** vx0's MTU: the veth's 1500 less VXLAN over IPv4 (14 inner Ethernet + 8 VXLAN + 8 UDP + 20 IPv4). */
  overlayMtu: number;
  reals: NodePlan[];
  clients: NodePlan[];
}

export const NAME_PATTERN = /^[a-z][a-z0-9]{0,8}$/;
export const VXLAN_OVERHEAD_IPV4 = 50;
export const MAX_REALS = 89;
export const MAX_CLIENTS = 99;
const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A stable subnet number for a name (FNV-1a), so labs named differently rarely collide. */
export function defaultSubnet(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return 20 + ((h >>> 0) % 200);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function intIn(what: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new LabOptionsError(`${what} must be an integer in ${min}..${max}, got ${v}`);
  }
  return v;
}

/** Validates the options and computes every name and address; throws LabOptionsError. */
export function planLab(opts: LabOptions): LabPlan {
  const name = opts.name;
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new LabOptionsError(
      `lab name must match ${NAME_PATTERN} (it prefixes 15-byte device names), got ${JSON.stringify(name)}`,
    );
  }
  const n = intIn('subnet', opts.subnet ?? defaultSubnet(name), 1, 254);
  const realCount = intIn('reals', opts.reals ?? 2, 1, MAX_REALS);
  const clientCount = intIn('clients', opts.clients ?? 1, 0, MAX_CLIENTS);
  const vni = intIn('vni', opts.vni ?? 100, 0, 0xffffff);
  const ipv6 = opts.ipv6 ?? true;
  const v6net = `fd${hex2(n)}:`;
  const vip4 = opts.vip4 ?? `10.${n}.0.100`;
  const vip6 = opts.vip6 ?? `${v6net}:100`;
  if (!isIPv4(vip4)) throw new LabOptionsError(`vip4 is not an IPv4 address: ${vip4}`);
  if (!isIPv6(vip6)) throw new LabOptionsError(`vip6 is not an IPv6 address: ${vip6}`);
  const directorMac = (opts.directorMac ?? `02:53:4c:00:${hex2(n)}:01`).toLowerCase();
  if (!MAC_PATTERN.test(directorMac) || (Number.parseInt(directorMac.slice(0, 2), 16) & 1) !== 0) {
    throw new LabOptionsError(`directorMac must be a unicast MAC like 02:53:4c:00:00:01, got ${directorMac}`);
  }
  const node = (role: NodeRole, index: number): NodePlan => {
    const host = role === 'real' ? 10 + index : 100 + index;
    const label = role === 'real' ? `rs${index}` : `c${index}`;
    return {
      role,
      index,
      label,
      ns: `${name}-${label}`,
      underlay: `192.168.${n}.${host}`,
      overlay4: `10.${n}.0.${host}`,
      overlay6: ipv6 ? `${v6net}:${host}` : null,
    };
  };
  const reals = Array.from({ length: realCount }, (_, i) => node('real', i + 1));
  const clients = Array.from({ length: clientCount }, (_, i) => node('client', i + 1));
  for (const p of [...reals, ...clients]) {
    if (p.overlay4 === vip4) throw new LabOptionsError(`vip4 ${vip4} is ${p.label}'s overlay address`);
  }
  return {
    name,
    subnet: n,
    vni,
    vip4,
    vip6,
    directorMac,
    ipv6,
    bridge: `${name}-br`,
    directorUnderlay: `192.168.${n}.1`,
    directorNs: opts.directorNamespace === true ? `${name}-d` : null,
    bridgeAddress: opts.directorNamespace === true ? `192.168.${n}.2` : `192.168.${n}.1`,
    underlayPrefixLen: 24,
    overlay4PrefixLen: 24,
    overlay6PrefixLen: 64,
    overlayMtu: 1500 - VXLAN_OVERHEAD_IPV4,
    reals,
    clients,
  };
}

/** True for namespace and device names this lab may have made (`<name>-br`, `<name>-rs3`, `<name>-c1`, `<name>-d`). */
export function ownsName(labName: string, candidate: string): boolean {
  if (!candidate.startsWith(`${labName}-`)) return false;
  return /^(br|d|rs\d+|c\d+)$/.test(candidate.slice(labName.length + 1));
}
