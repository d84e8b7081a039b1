// What the two soaks (soak.ts on loopback, soak-lab.ts in the namespace lab) measure the same way,
// kept in one place so their figures mean the same thing:
//   - the daemon's RSS every 5 s from /proc/PID/status, and its curve: one value per minute and the
//     growth after the first minute (the highest later sample against the sample at one minute);
//   - the worker kills, read from the lines daemon-target.ts prints when it has killed one;
//   - the config change every N s: a real server's weight flipped 1 ↔ 2 by REST PATCH;
//   - the table: its entries and its half-open ones (the flood's) from /metrics, and the wait after
//     the flood until the half-open entries are back to their count before it.
import type { ChildProcess } from 'node:child_process';
import { rssBytes } from '@sluice/director/src/daemon-process.ts';
import { samplesBy } from './packet-fuzz.ts';

/** SYN_RECV's timeout (IPVS): how long a flood's half-open entry lives after its last SYN. */
export const FLOOD_ENTRY_TIMEOUT_S = 60;

export const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The drain's bound: the flood entries' idle timeout plus one expiry sweep of the whole table
 * (each serving worker sweeps 256 slots per batch and per 50 ms idle turn).
 */
export function drainBoundSeconds(tableCapacity: number, workers = 2): number {
  return FLOOD_ENTRY_TIMEOUT_S + Math.ceil(tableCapacity / (256 * workers * 20));
}

export interface RssSample {
  /** Seconds since the soak's start. */
  t: number;
  bytes: number;
}

/** Samples the process's RSS every `everyMs` into `samples`; clear the timer to stop. */
export function sampleRss(
  pid: number,
  elapsed: () => number,
  samples: RssSample[],
  everyMs = 5000,
): NodeJS.Timeout {
  return setInterval(() => {
    const b = rssBytes(pid);
    if (b !== null) samples.push({ t: elapsed(), bytes: b });
  }, everyMs);
}

export interface RssCurve {
  /** One value per minute of the run (the first sample of each minute), MiB. */
  rssMiB: number[];
  rssAtOneMinuteMiB: number;
  rssMaxAfterOneMinuteMiB: number;
  rssEndMiB: number;
  /** (highest sample from one minute on − the sample at one minute) / the sample at one minute. */
  rssGrowthAfterFirstMinute: number;
}

export function rssCurve(rss: readonly RssSample[]): RssCurve {
  const perMinute = new Map<number, number>();
  for (const s of rss) if (!perMinute.has(Math.floor(s.t / 60))) perMinute.set(Math.floor(s.t / 60), s.bytes);
  const atMinute = rss.find((s) => s.t >= 60) ?? rss[0];
  const later = rss.filter((s) => s.t >= (atMinute?.t ?? 0));
  const base = atMinute?.bytes ?? 1;
  const max = later.length > 0 ? Math.max(...later.map((s) => s.bytes)) : base;
  return {
    rssMiB: [...perMinute.values()].map((b) => round(b / 2 ** 20)),
    rssAtOneMinuteMiB: round((atMinute?.bytes ?? 0) / 2 ** 20),
    rssMaxAfterOneMinuteMiB: round(max / 2 ** 20),
    rssEndMiB: round((rss.at(-1)?.bytes ?? 0) / 2 ** 20),
    rssGrowthAfterFirstMinute: round((max - base) / base, 3),
  };
}

/** Calls `onKill` for each `worker-killed` line daemon-target.ts prints on its stdout. */
export function onWorkerKills(child: ChildProcess, onKill: () => void): void {
  let lines = '';
  child.stdout?.on('data', (d) => {
    lines += d;
    let nl = lines.indexOf('\n');
    while (nl >= 0) {
      const line = lines.slice(0, nl);
      lines = lines.slice(nl + 1);
      nl = lines.indexOf('\n');
      if (line.includes('"worker-killed"')) onKill();
    }
  });
}

/** The replacements the director logged (Dataplane.onWorkerReplaced's line). */
export function workerReplacements(stderr: string): number {
  return (stderr.match(/replaced, shared tables intact/g) ?? []).length;
}

export interface ConfigChangeCounts {
  configChanges: number;
  configChangeFailures: number;
}

/**
 * Every `everySeconds`, PATCHes real `realId` of `service` to weight 2, then 1, and so on: each a
 * new config version the workers must take while they serve. Clear the timer to stop.
 */
export function startConfigChanges(
  o: { api: string; token: string; service: string; realId: string; everySeconds: number },
  counts: ConfigChangeCounts,
): NodeJS.Timeout {
  let weight = 1;
  return setInterval(() => {
    weight = 3 - weight;
    fetch(`${o.api}/v1/services/${o.service}/reals/${encodeURIComponent(o.realId)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ weight }),
      signal: AbortSignal.timeout(5000),
    }).then(
      async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) counts.configChanges++;
        else counts.configChangeFailures++;
      },
      () => {
        counts.configChangeFailures++;
      },
    );
  }, o.everySeconds * 1000);
}

export interface TableCount {
  entries: number;
  /** sluice_connections{state="SYN_RECV"}: a valid handshake leaves it in milliseconds, so these
   * are the flood's. */
  halfOpen: number;
  /** sluice_connections by state. */
  states: Record<string, number>;
}

export async function readTable(api: string): Promise<TableCount> {
  const body = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const m = /^sluice_connection_table_entries (\S+)$/m.exec(body);
  const entries = m === null ? Number.NaN : Number(m[1]);
  const states = samplesBy(body, 'sluice_connections', 'state');
  return { entries, halfOpen: states.SYN_RECV ?? Number.NaN, states };
}

export interface Drain {
  /** Seconds from the flood's end until the half-open entries were back to their count before
   * it (with a slack of 5), or null if that did not happen within the wait. */
  seconds: number | null;
  table: TableCount;
}

/** Polls the table every second after the flood stopped at `stoppedAt`, at most `waitSeconds`. */
export async function waitForDrain(
  api: string,
  halfOpenBefore: number,
  stoppedAt: number,
  waitSeconds: number,
): Promise<Drain> {
  const limit = stoppedAt + waitSeconds * 1000;
  let table: TableCount = { entries: Number.NaN, halfOpen: Number.NaN, states: {} };
  for (;;) {
    table = await readTable(api);
    if (table.halfOpen <= halfOpenBefore + 5)
      return { seconds: round((Date.now() - stoppedAt) / 1000), table };
    if (Date.now() > limit) return { seconds: null, table };
    await sleep(1000);
  }
}

export interface ListedConnection {
  client: { address: string; port: number };
  real: { address: string; port: number } | null;
  state: string;
}

/**
 * Every entry whose client is `client` (an address or a CIDR), following the cursor: a page scans
 * a bounded number of slots (2^18), so a larger table takes several.
 */
export async function listConnections(api: string, client: string): Promise<ListedConnection[]> {
  const items: ListedConnection[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `${api}/v1/connections?client=${encodeURIComponent(client)}&limit=1000${cursor === null ? '' : `&cursor=${cursor}`}`;
    const page = (await (await fetch(q, { signal: AbortSignal.timeout(10_000) })).json()) as {
      items: ListedConnection[];
      nextCursor: string | null;
    };
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return items;
}
