// `sluice list` in ipvsadm's layout, byte for byte where the data is the same. Every width and
// branch below follows ipvsadm 1.31's ipvsadm.c (print_title, print_service_entry,
// print_largenum, print_sched_flags, list_conn / print_conn) and the sort order of libipvs.c
// (ipvs_cmp_services, ipvs_cmp_dests). Pure functions over a listing model; list.ts fills the
// model from the REST API.
import { addressWords, dottedMask, endpoint } from './net.ts';

export interface Counters {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface Rates {
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export interface ListedReal {
  address: string;
  port: number;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  active: number;
  inactive: number;
  persistent: number;
  stats: Counters;
  rates: Rates;
}

export interface ListedService {
  protocol: 'tcp' | 'udp';
  vip: string;
  port: number;
  scheduler: string;
  schedulerFlags: readonly string[];
  persistence: { timeoutSeconds: number; netmask: number } | null;
  stats: Counters;
  rates: Rates;
  reals: ListedReal[];
}

export interface ListedConnection {
  /** The director's id of the entry (what `sluice reset` takes). */
  id: string;
  protocol: 'tcp' | 'udp';
  client: string;
  virtual: string;
  /** address:port, or null when the entry has no real server. */
  destination: string | null;
  state: string;
  expiresInSeconds: number;
  priority: number;
  reasons: readonly string[];
}

/** ipvsadm's FMT_* choices. Precedence (print_title's chain): stats, rate, thresholds, persistent-conn. */
export interface ListFormat {
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  exact: boolean;
  noSort: boolean;
}

/**
 * The IPVS version Sluice's semantics follow (include/uapi/linux/ip_vs.h IP_VS_VERSION_CODE
 * 0x010201) and the connection table's size, as list_all's first line prints them.
 */
export function versionLine(tableSize: number): string {
  return `IP Virtual Server version 1.2.1 (size=${tableSize})`;
}

const padEnd = (s: string | number, n: number) => String(s).padEnd(n);
const padStart = (s: string | number, n: number) => String(s).padStart(n);

/** print_largenum: 9 columns, or K/M/G/T multiples of 1000; with --exact every digit. */
export function largenum(i: number, exact: boolean): string {
  if (exact) {
    const text = String(i);
    return text.padStart(text.length <= 8 ? 9 : text.length + 1);
  }
  if (i < 100_000_000) return padStart(i, 9);
  if (i < 1_000_000_000) return `${padStart(Math.floor(i / 1000), 8)}K`;
  if (i < 100_000_000_000) return `${padStart(Math.floor(i / 1_000_000), 8)}M`;
  if (i < 100_000_000_000_000) return `${padStart(Math.floor(i / 1_000_000_000), 8)}G`;
  return `${padStart(Math.floor(i / 1_000_000_000_000), 8)}T`;
}

/** print_title. */
export function title(f: ListFormat): string {
  const head = padEnd('Prot LocalAddress:Port', 33);
  const cols = (names: string[]) => names.map((n) => ` ${padStart(n, 8)}`).join('');
  const rest = '\n  -> RemoteAddress:Port';
  if (f.stats) return `${head}${cols(['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'])}${rest}`;
  if (f.rate) return `${head}${cols(['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'])}${rest}`;
  if (f.thresholds) {
    return `${head} ${padEnd('Uthreshold', 10)} ${padEnd('Lthreshold', 10)} ${padEnd('ActiveConn', 10)} ${padEnd('InActConn', 10)}${rest}`;
  }
  if (f.persistentConn) {
    return `${head} ${padEnd('Weight', 9)} ${padEnd('PersistConn', 11)} ${padEnd('ActiveConn', 10)} ${padEnd('InActConn', 10)}${rest}`;
  }
  return (
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn'
  );
}

const isV6 = (address: string) => address.includes(':');

/** "TCP  10.0.0.1:80", cut to 33 characters for IPv4 as ipvsadm cuts svc_name. */
function serviceName(s: ListedService): string {
  const name = `${padEnd(s.protocol.toUpperCase(), 4)} ${endpoint(s.vip, s.port)}`;
  return isV6(s.vip) ? name : name.slice(0, 33);
}

/** The service line of print_service_entry (not FMT_RULE). */
export function serviceLine(s: ListedService, f: ListFormat): string {
  const name = serviceName(s);
  if (f.stats) {
    const t = s.stats;
    return `${padEnd(name, 33)}${[t.conns, t.inPkts, t.outPkts, t.inBytes, t.outBytes].map((n) => largenum(n, f.exact)).join('')}`;
  }
  if (f.rate) {
    const r = s.rates;
    return `${padEnd(name, 33)}${[r.cps, r.inPps, r.outPps, r.inBps, r.outBps].map((n) => largenum(n, f.exact)).join('')}`;
  }
  let line = `${name} ${s.scheduler}`;
  if (s.schedulerFlags.length > 0) line += ` (${s.schedulerFlags.join(',')})`;
  if (s.persistence !== null) {
    line += ` persistent ${s.persistence.timeoutSeconds}`;
    const { netmask } = s.persistence;
    if (!isV6(s.vip) && netmask !== 32) line += ` mask ${dottedMask(netmask)}`;
    if (isV6(s.vip) && netmask !== 128) line += ` mask ${netmask}`;
  }
  return line;
}

/** One real-server line of print_service_entry (not FMT_RULE). Forwarding is always Route. */
export function realLine(r: ListedReal, f: ListFormat): string {
  let dname = endpoint(r.address, r.port);
  if (!isV6(r.address)) dname = dname.slice(0, 28);
  const head = `  -> ${padEnd(dname, 28)}`;
  if (f.stats) {
    const t = r.stats;
    return `${head}${[t.conns, t.inPkts, t.outPkts, t.inBytes, t.outBytes].map((n) => largenum(n, f.exact)).join('')}`;
  }
  if (f.rate) {
    const x = r.rates;
    return `${head} ${padStart(x.cps, 8)} ${padStart(x.inPps, 8)} ${padStart(x.outPps, 8)}${largenum(x.inBps, f.exact)}${largenum(x.outBps, f.exact)}`;
  }
  if (f.thresholds) {
    return `${head} ${padEnd(r.upperThreshold, 10)} ${padEnd(r.lowerThreshold, 10)} ${padEnd(r.active, 10)} ${padEnd(r.inactive, 10)}`;
  }
  if (f.persistentConn) {
    return `${head} ${padEnd(r.weight, 9)} ${padEnd(r.persistent, 11)} ${padEnd(r.active, 10)} ${padEnd(r.inactive, 10)}`;
  }
  return `${head} ${padEnd('Route', 7)} ${padEnd(r.weight, 6)} ${padEnd(r.active, 10)} ${padEnd(r.inactive, 10)}`;
}

/** What the sort looks at. */
export interface ServiceEndpoint {
  protocol: 'tcp' | 'udp';
  vip: string;
  port: number;
}
export interface RealEndpoint {
  address: string;
  port: number;
}

/** C's `int r = ntohl(a) - ntohl(b)`: the difference wrapped to 32 bits, as libipvs compares. */
const wrapped = (a: number, b: number) => (a - b) | 0;

function compareAddresses(a: string, b: string): number {
  const x = addressWords(a);
  const y = addressWords(b);
  if (!isV6(a)) return wrapped(x[3], y[3]);
  let r = 0;
  for (let i = 0; r === 0 && i < 4; i++) r = wrapped(x[i], y[i]);
  return r;
}

/**
 * ipvs_cmp_services: address family (AF_INET 2 before AF_INET6 10), protocol (TCP 6 before UDP
 * 17), address, port. The address difference wraps as in C, so 10.0.0.1 sorts after
 * 192.168.0.1 exactly as ipvsadm sorts them.
 */
export function compareServices(a: ServiceEndpoint, b: ServiceEndpoint): number {
  const af = (s: ServiceEndpoint) => (isV6(s.vip) ? 10 : 2);
  const proto = (s: ServiceEndpoint) => (s.protocol === 'tcp' ? 6 : 17);
  return af(a) - af(b) || proto(a) - proto(b) || compareAddresses(a.vip, b.vip) || a.port - b.port;
}

/** ipvs_cmp_dests: address (wrapped as above), then port. */
export function compareReals(a: RealEndpoint, b: RealEndpoint): number {
  return compareAddresses(a.address, b.address) || a.port - b.port;
}

/**
 * `ipvsadm -L -n [...]`: the version line and everything under it. `tableSize` null leaves the
 * version line out (list_service, one service, prints none).
 */
export function formatListing(
  services: readonly ListedService[],
  f: ListFormat,
  tableSize: number | null,
): string {
  const lines: string[] = [];
  if (tableSize !== null) lines.push(versionLine(tableSize));
  lines.push(title(f));
  const ordered = f.noSort ? [...services] : [...services].sort(compareServices);
  for (const s of ordered) {
    lines.push(serviceLine(s, f));
    const reals = f.noSort ? s.reals : [...s.reals].sort(compareReals);
    for (const r of reals) lines.push(realLine(r, f));
  }
  return `${lines.join('\n')}\n`;
}

/** "%02d:%02d" of the whole seconds left, as print_conn prints `expires`. */
function expireText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * `ipvsadm -L -c -n`, with Sluice's columns after ipvsadm's: the connection's priority (0 highest
 * .. 15 lowest: what shedding goes by), its id (for `sluice reset`) and the reasons for its priority. With
 * --persistent-conn ipvsadm adds persistence-engine columns; Sluice has no persistence engines,
 * so those columns stay empty, as ipvsadm leaves them for a connection without one.
 */
export function formatConnections(conns: readonly ListedConnection[], persistentConn: boolean): string {
  const lines = ['IPVS connection entries'];
  const tail = `${padEnd('prio', 4)} ${padEnd('id', 17)} reasons`;
  if (persistentConn) {
    lines.push(
      `pro expire ${padEnd('state', 11)} ${padEnd('source', 18)} ${padEnd('virtual', 18)} ${padEnd('destination', 18)} ${padEnd('pe name', 16)} ${padEnd('pe_data', 18)} ${tail}`,
    );
  } else {
    lines.push(
      `pro expire ${padEnd('state', 11)} ${padEnd('source', 18)} ${padEnd('virtual', 18)} ${padEnd('destination', 18)} ${tail}`,
    );
  }
  for (const c of conns) {
    const pe = persistentConn ? ` ${padEnd('', 16)} ${padEnd('', 18)}` : '';
    lines.push(
      `${padEnd(c.protocol.toUpperCase(), 3)} ${padEnd(expireText(c.expiresInSeconds), 6)} ${padEnd(c.state, 11)} ` +
        `${padEnd(c.client, 18)} ${padEnd(c.virtual, 18)} ${padEnd(c.destination ?? '-', 18)}${pe} ` +
        `${padEnd(c.priority, 4)} ${padEnd(c.id, 17)} ${c.reasons.length === 0 ? '-' : c.reasons.join(',')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
