// Builders shared by this package's tests (not exported from index.ts): connections inserted
// through ConnectionTable's own API, and a reader of exposition text into series → value.
import { spawnSync } from 'node:child_process';
import { Conn, type ConnectionTable, ConnFlag, clockNow, packStatePrio } from '@sluice/conntrack';

const V4 = 0xffff;

export interface TestConnection {
  /** Client IPv4 address as a 32-bit number. */
  client: number;
  port: number;
  service: number;
  real: number;
  /** TCP state (TcpState); ignored for UDP. */
  state: number;
  udp?: boolean;
  /** Current priority, 0..15; default 5 (the initial priority stays 5). */
  priority?: number;
}

/** Inserts one entry the way the pipeline does: acquire (create), write fields, release. */
export function addConnection(table: ConnectionTable, c: TestConnection): number {
  const now = clockNow(table.epochMs);
  const slot = table.acquire(0, 0, V4, c.client, (c.port << 16) | c.service, true, 5, now);
  if (slot < 0) throw new Error(`acquire failed: reason ${table.failReason}`);
  const base = table.recordBase(slot);
  table.i32[base + Conn.real] = c.real;
  table.i32[base + Conn.statePrio] = packStatePrio(c.udp ? 0 : c.state, c.priority ?? 5, 5, 0);
  table.i32[base + Conn.flagsSyn] = c.udp ? ConnFlag.udp : 0;
  table.setExpires(slot, (now + 600_000) | 0);
  table.release(slot);
  return slot;
}

/**
 * Exposition text → map from the series as printed (`name{labels}`) to its value. Throws on a
 * series printed twice, which would make the whole scrape invalid.
 */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const series = line.slice(0, space);
    const raw = line.slice(space + 1);
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? -Infinity : Number(raw);
    if (out.has(series)) throw new Error(`series printed twice: ${series}`);
    out.set(series, value);
  }
  return out;
}

/** Series of one metric name (exact, or with a suffix like `_bucket`), in printed order. */
export function seriesOf(series: Map<string, number>, name: string): [string, number][] {
  return [...series].filter(([k]) => k === name || k.startsWith(`${name}{`));
}

export interface PromtoolResult {
  status: number | null;
  output: string;
}

/**
 * Runs the real `promtool check metrics` on exposition text. Throws (so the calling test fails)
 * when promtool is not installed: the check is part of the contract, not optional.
 */
export function promtoolCheck(text: string): PromtoolResult {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? 'promtool is not installed: install the Debian package "prometheus" (apt-get install -y prometheus; .ci/run does)'
        : `promtool could not run: ${r.error.message}`,
    );
  }
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
