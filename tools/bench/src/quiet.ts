// The `quiet` suite: what a load agent's quiet list costs the director's main thread, where it is
// applied once a second per real server. Per list size (1k, 10k and the agent's cap of 65536
// connections, all on one real server): parsing the agent's reply (@sluice/health
// parseQuietBlock) and applying it to the connection table (ServerQuietMarks.applyReport: a
// lookup and a record lock per listed connection, and the previous report's marks that this one
// drops cleared by slot). Reports alternate the whole list and its first half, so every other
// one clears half the marks. Median of 7 rounds each, and per listed connection. Each size is
// measured twice: as a quiet list, and as a slow list (`slow:` lines, parseSlowBlock, applied as
// the slow entries after an empty quiet list, with no held count so all are marked).
import { Conn, ConnectionTable } from '@sluice/conntrack';
import { ServerQuietMarks } from '@sluice/defense';
import { parseQuietBlock, parseSlowBlock } from '@sluice/health';
import type { BenchOptions } from './main.ts';
import { emit, note, quantile, round } from './report.ts';

const SIZES = [1000, 10_000, 65_536];
const ROUNDS = 7;
const SERVICE = 0;
const PORT = 80;

type Kind = 'quiet' | 'slow';

function agentReply(n: number, kind: Kind): string {
  const lines = [`held:${n}`, ...(kind === 'slow' ? ['quiet:0'] : []), `${kind}:${n}`];
  // A quiet line's last field is ms since the server sent; a slow line's, bytes a second.
  const value = kind === 'quiet' ? 5000 : 1609;
  for (let i = 0; i < n; i++) {
    lines.push(
      `${kind} 11.${(i >> 12) & 0xff}.${(i >> 4) & 0xff}.1 ${1024 + (i & 15)} 10.0.0.100 ${PORT} ${value}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function runQuiet(opts: BenchOptions): Promise<void> {
  for (const kind of ['quiet', 'slow'] as const) {
    for (const n of SIZES) {
      if (opts.cases.length > 0 && !opts.cases.includes(String(n)) && !opts.cases.includes(`${kind}-${n}`))
        continue;
      runOne(kind, n);
    }
  }
}

function runOne(kind: Kind, n: number): void {
  const table = ConnectionTable.create(1 << 18, 0);
  for (let i = 0; i < n; i++) {
    const addr = (11 << 24) | (((i >> 12) & 0xff) << 16) | (((i >> 4) & 0xff) << 8) | 1;
    const s = table.acquire(0, 0, 0xffff, addr, ((1024 + (i & 15)) << 16) | SERVICE, true, 8, 0);
    table.i32[table.recordBase(s) + Conn.real] = 0;
    table.setExpires(s, 0x3fffffff);
    table.release(s);
  }
  const whole = agentReply(n, kind);
  const half = agentReply(n >> 1, kind);
  const marks = new ServerQuietMarks(table);
  const parseMs: number[] = [];
  const applyMs: number[] = [];
  let marked = 0;
  for (let r = 0; r < ROUNDS * 2; r++) {
    const text = r % 2 === 0 ? whole : half;
    const t0 = performance.now();
    const quiet = kind === 'quiet' ? parseQuietBlock(text) : [];
    const slow = kind === 'slow' ? parseSlowBlock(text) : [];
    const t1 = performance.now();
    if (!Array.isArray(quiet) || !Array.isArray(slow))
      throw new Error(`the bench's reply did not parse: ${String(quiet)} ${String(slow)}`);
    const applied = marks.applyReport(0, quiet, PORT, SERVICE, 1000, 10 + r, { slow });
    const t2 = performance.now();
    if (r % 2 === 0) {
      parseMs.push(t1 - t0);
      applyMs.push(t2 - t1);
      marked = applied.marked;
    }
  }
  if (marked !== n) throw new Error(`marked ${marked} of ${n}`);
  const p = quantile(parseMs, 0.5);
  const a = quantile(applyMs, 0.5);
  note(`${kind} list of ${n}: parse ${round(p, 1)} ms, apply ${round(a, 1)} ms`);
  emit({
    suite: 'quiet',
    case: kind === 'quiet' ? String(n) : `slow-${n}`,
    list: kind,
    connections: n,
    replyBytes: whole.length,
    parseMsP50: round(p, 2),
    applyMsP50: round(a, 2),
    perConnectionUs: round(((p + a) * 1000) / n, 3),
  });
}
