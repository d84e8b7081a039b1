// The demo's screen: an `ipvsadm -L -n --stats`-style listing of what the director reports over
// REST and /metrics, plus the lines ipvsadm has no room for (frame verdicts, table occupancy,
// connection priorities, the traffic generators' own tally). Pure: a ListingView in, text out,
// so the layout is unit-tested on fixed input and the live part only gathers numbers.

export interface RealLine {
  /** `address:port`, IPv6 `[address]:port`: the REST id and the metrics' `real` label. */
  id: string;
  weight: number;
  state: 'active' | 'draining';
  /** null: the director has no status for it yet. */
  health: 'up' | 'down' | 'unknown' | 'unchecked' | null;
  overloaded: boolean;
  activeConnections: number;
  inactiveConnections: number;
  /** Since the director started: new connections scheduled, packets and bytes forwarded. */
  connections: number;
  packets: number;
  bytes: number;
}

export interface ServiceLine {
  name: string;
  protocol: 'tcp' | 'udp';
  vip: string;
  port: number;
  scheduler: string;
  connections: number;
  packets: number;
  bytes: number;
  reals: RealLine[];
}

export interface PrioritySample {
  /** Entries per priority (0 = highest), among the entries read. */
  counts: { priority: number; count: number }[];
  /** Entries read (the pages are bounded, so this may be fewer than the table holds). */
  sampled: number;
  tableCount: number;
  /** Every page was read. */
  complete: boolean;
}

export interface TrafficLine {
  /** The client namespace's label (`c1`). */
  client: string;
  tool: 'curl' | 'wrk';
  /** `v4` / `v6`. */
  family: string;
  /** curl's tally (each request is its own connection); null for wrk, which reports only at its end. */
  ok: number | null;
  failed: number | null;
  /** wrk's held connections. */
  connections?: number;
  running: boolean;
}

export interface ListingView {
  lab: string;
  apiUrl: string;
  directorPid: number | null;
  elapsedSeconds: number;
  /** Seconds left when the demo stops by itself (`--seconds`), else null (until Ctrl-C). */
  remainingSeconds: number | null;
  configVersion: number;
  workers: number;
  services: ServiceLine[];
  /** Frames by verdict since start. */
  forwarded: number;
  replied: number;
  dropped: number;
  /** Non-zero drop reasons. */
  drops: { reason: string; count: number }[];
  tableEntries: number;
  tableCapacity: number;
  /** null when the connection listing could not be read this time. */
  priorities: PrioritySample | null;
  traffic: TrafficLine[];
}

/**
 * ipvsadm's `print_largenum`: exact below 100 million, then K/M/G in a 9-character column, so
 * long runs keep their alignment.
 */
export function largeNumber(n: number): string {
  const v = Math.max(0, Math.trunc(n));
  if (v < 1e8) return String(v).padStart(9);
  if (v < 1e9) return `${Math.trunc(v / 1e3)}K`.padStart(9);
  if (v < 1e12) return `${Math.trunc(v / 1e6)}M`.padStart(9);
  return `${Math.trunc(v / 1e9)}G`.padStart(9);
}

/** `addr:port`, IPv6 `[addr]:port`, as ipvsadm -n spells it. */
export function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function healthText(r: RealLine): string {
  const parts: string[] = [r.health ?? '-'];
  if (r.state === 'draining') parts.push('draining');
  if (r.overloaded) parts.push('overloaded');
  return parts.join(',');
}

function percent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const p = (100 * part) / whole;
  return p >= 10 || p === 0 ? `${Math.round(p)}%` : `${p.toFixed(1)}%`;
}

// Column widths: the address column holds an IPv4 service with its scheduler or an IPv6
// `[fdNN::100]:80 rr` of the lab with room to spare; counters are ipvsadm's 9 characters.
const ADDRESS = 33;
const COUNTERS = (c: number, p: number, b: number): string =>
  largeNumber(c) + largeNumber(p) + largeNumber(b);

export const LISTING_HEADER =
  `${'Prot LocalAddress:Port Scheduler'.padEnd(ADDRESS)}${'Weight'.padStart(7)}${'ActiveConn'.padStart(11)}` +
  `${'InActConn'.padStart(10)}${'Conns'.padStart(9)}${'InPkts'.padStart(9)}${'InBytes'.padStart(9)}  Health`;

export function formatListing(v: ListingView): string {
  const lines: string[] = [];
  const stop =
    v.remainingSeconds === null ? 'Ctrl-C stops' : `stops in ${Math.max(0, Math.ceil(v.remainingSeconds))} s`;
  lines.push(
    `Sluice demo: lab ${v.lab}, director pid ${v.directorPid ?? '-'}, API ${v.apiUrl}, ` +
      `${Math.floor(v.elapsedSeconds)} s (${stop})`,
  );
  lines.push(
    `Sluice director (config v${v.configVersion}, ${v.workers} worker${v.workers === 1 ? '' : 's'}, ` +
      `table ${v.tableEntries}/${v.tableCapacity})`,
  );
  lines.push(LISTING_HEADER);
  lines.push('  -> RemoteAddress:Port');
  for (const s of v.services) {
    const head = `${s.protocol.toUpperCase().padEnd(4)} ${endpoint(s.vip, s.port)} ${s.scheduler}`;
    // ipvsadm leaves a service's weight and connection gauges blank: they belong to real servers.
    lines.push(
      `${head.padEnd(ADDRESS)}${''.padStart(7 + 11 + 10)}${COUNTERS(s.connections, s.packets, s.bytes)}`,
    );
    for (const r of s.reals) {
      lines.push(
        `${`  -> ${r.id}`.padEnd(ADDRESS)}${String(r.weight).padStart(7)}` +
          `${String(r.activeConnections).padStart(11)}${String(r.inactiveConnections).padStart(10)}` +
          `${COUNTERS(r.connections, r.packets, r.bytes)}  ${healthText(r)}`,
      );
    }
  }
  lines.push('');
  const drops = v.drops.length === 0 ? '' : ` (${v.drops.map((d) => `${d.reason} ${d.count}`).join(', ')})`;
  lines.push(
    `frames: forwarded ${v.forwarded}, replied ${v.replied} (ARP/ND), dropped ${v.dropped}${drops}; ` +
      `connection table ${v.tableEntries}/${v.tableCapacity} (${percent(v.tableEntries, v.tableCapacity)})`,
  );
  lines.push(formatPriorities(v.priorities));
  lines.push(formatTraffic(v.traffic));
  return lines.join('\n');
}

export function formatPriorities(p: PrioritySample | null): string {
  if (p === null) return 'priorities (0 highest, 15 lowest): connection listing unavailable';
  const which = p.complete ? `all ${p.sampled} entries` : `first ${p.sampled} of ${p.tableCount} entries`;
  if (p.sampled === 0) return `priorities (0 highest, 15 lowest): no entries`;
  const counts = [...p.counts]
    .sort((a, b) => a.priority - b.priority)
    .map((c) => `p${c.priority} ${c.count} (${percent(c.count, p.sampled)})`)
    .join(', ');
  return `priorities (0 highest, 15 lowest; ${which}): ${counts}`;
}

export function formatTraffic(traffic: TrafficLine[]): string {
  if (traffic.length === 0) return 'traffic: none';
  const byClient = new Map<string, TrafficLine[]>();
  for (const t of traffic) byClient.set(t.client, [...(byClient.get(t.client) ?? []), t]);
  const one = (t: TrafficLine): string => {
    const tally = t.ok !== null ? `${t.ok}/${t.failed ?? 0}` : `${t.connections ?? '?'} conns`;
    return `${t.tool} ${t.family} ${tally}${t.running ? '' : ' (exited)'}`;
  };
  const parts = [...byClient].map(([client, ts]) => `${client}: ${ts.map(one).join(', ')}`);
  return `traffic (curl requests ok/failed): ${parts.join('; ')}`;
}
