// The connections a real server is not serving: its established service sockets whose kernel has
// sent no data on them for at least a floor (tcp_info's tcpi_last_data_sent, `lastsnd` in ss).
// Under direct routing the director never sees what a server sends, only the client's ACKs of it,
// and a bot forges those from its real address; the server's own clock of its last data segment
// moves only when the server really sends, and an ACK of data never sent is dropped by its stack
// (RFC 9293 §3.10.7.4), so no client can move it without paying for real answers.
//
// Read with `ss -tinH state established` (iproute2), because tcp_info is reachable only through
// sock_diag netlink, which Node does not speak; /proc/net/tcp has no last-send time.

import { type ExecFileException, execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { AgentError, AgentErrorCode } from './errors.ts';

/** One established service socket, its server quiet `lastSendMs` ms when ss read it. */
export interface QuietConnection {
  /** The client's address: IPv4 dotted (also for an IPv4 client of a dual-stack listener) or IPv6. */
  client: string;
  clientPort: number;
  /** The server's address of the connection (the VIP under direct routing). */
  local: string;
  /** The service port. */
  localPort: number;
  lastSendMs: number;
}

/** Runs ss with these arguments and resolves its stdout; tests inject a broken or canned one. */
export type SsRunner = (args: readonly string[]) => Promise<string>;

/** The longest one ss run may take: a read blocks every query waiting on it. */
export const SS_TIMEOUT_MS = 2000;

/**
 * Bytes of ss output accepted. ss prints about 700 bytes per socket with -i (its info line is
 * padded), so this holds some 190k service sockets, well above the 100k a busy server may carry.
 */
export const SS_MAX_BUFFER = 128 * 1024 * 1024;

/**
 * The default quiet floor. A served request has its answer's first bytes well within a second; a
 * connection its server has been silent on for longer is waiting on its client, or held by a bot.
 */
export const QUIET_MS = 1000;

/** tcpi_last_data_sent is a 32-bit count of ms: no socket is quiet longer, so no floor is higher. */
export const QUIET_MS_MAX = 0xffff_ffff;

// One socket: the header line `Recv-Q Send-Q LOCAL:PORT PEER:PORT` (no State column: a single-state
// filter leaves it out), then directly its tab-indented tcp_info line. One regex over the whole
// output rather than a split per line, since a busy server prints hundreds of thousands of lines;
// [ \t] (not \s) keeps a match on its line, so a malformed line fails on its own and never
// swallows its neighbour. A header must not start with a tab, so an info line is never taken for one.
const SOCKET = /^ *\d+[ \t]+\d+[ \t]+(\S+):(\d{1,5})[ \t]+(\S+):(\d{1,5})(?:[ \t][^\n]*)?\r?\n\t([^\n]*)/gm;

const LASTSND = /(?:^|[ \t])lastsnd:(\d{1,10})(?![^ \t\r])/;

const MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * An address as ss prints it (`10.0.0.5`, `[2001:db8::5]`, `[::ffff:10.0.0.5]`, with `%ifname`
 * when the socket is bound to a device), as an IP without brackets; null if it is none.
 */
function parseAddress(text: string): string | null {
  // The device is this host's business; the director knows the connection by address and port.
  const pct = text.indexOf('%');
  const host = pct < 0 ? text : text.slice(0, pct);
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1);
    // A dual-stack listener's IPv4 client: the director's table has it as IPv4.
    const mapped = MAPPED.exec(inner);
    if (mapped !== null) return isIP(mapped[1]) === 4 ? mapped[1] : null;
    return isIP(inner) === 6 ? inner.toLowerCase() : null;
  }
  return isIP(host) === 4 ? host : null;
}

/**
 * The sockets in the output of `ss -tinH state established` whose local port is in `ports` and
 * whose server sent no data for `minMs` ms or more, in ss's order. A socket is its header line
 * and the info line directly after it; one without `lastsnd:` (no tcp_info, as when ss falls back
 * to /proc) is no evidence and is skipped, and so is any malformed line, on its own. Never throws.
 */
export function parseQuiet(ssText: string, ports: ReadonlySet<number>, minMs: number): QuietConnection[] {
  const out: QuietConnection[] = [];
  if (typeof ssText !== 'string') return out;
  for (const m of ssText.matchAll(SOCKET)) {
    const localPort = Number(m[2]);
    if (!ports.has(localPort)) continue;
    const clientPort = Number(m[4]);
    if (clientPort < 1 || clientPort > 65535) continue;
    const sent = LASTSND.exec(m[5]);
    if (sent === null) continue;
    const lastSendMs = Number(sent[1]);
    if (lastSendMs > QUIET_MS_MAX || !(lastSendMs >= minMs)) continue;
    const local = parseAddress(m[1]);
    const client = parseAddress(m[3]);
    if (local === null || client === null) continue;
    out.push({ client, clientPort, local, localPort, lastSendMs });
  }
  return out;
}

/** ss's arguments: established TCP with tcp_info, numeric, no header, local port one of `ports`. */
export function ssArgs(ports: Iterable<number>): string[] {
  const filter: string[] = [];
  for (const p of ports) filter.push(...(filter.length === 0 ? [] : ['or']), 'sport', '=', `:${p}`);
  return ['-tinH', 'state', 'established', '(', ...filter, ')'];
}

/** Runs the `ss` on PATH; rejects with an AgentError that says what went wrong. */
export const runSs: SsRunner = (args) =>
  new Promise((resolve, reject) => {
    execFile(
      'ss',
      [...args],
      { encoding: 'latin1', timeout: SS_TIMEOUT_MS, maxBuffer: SS_MAX_BUFFER, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        reject(
          new AgentError(AgentErrorCode.ssFailed, `cannot list sockets with ss: ${why(err, stderr)}`, {
            cause: err,
          }),
        );
      },
    );
  });

function why(err: ExecFileException, stderr: string): string {
  if (err.code === 'ENOENT') return 'ss not found (install iproute2)';
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return `output over ${SS_MAX_BUFFER} bytes`;
  if (err.killed === true) return `no answer within ${SS_TIMEOUT_MS} ms`;
  const said = stderr.trim().split('\n', 1)[0];
  const how = typeof err.code === 'number' ? `exit ${err.code}` : (err.signal ?? err.code ?? err.message);
  return said === '' ? how : `${how}: ${said.slice(0, 200)}`;
}

/**
 * The quiet connections of the service `ports` now: one ss run, parsed. Throws an AgentError
 * (ssFailed) when ss is missing or fails, so a caller can tell "none quiet" from "no evidence".
 */
export async function readQuiet(
  ports: ReadonlySet<number>,
  minMs: number,
  run: SsRunner = runSs,
): Promise<QuietConnection[]> {
  // An empty filter `( )` is an ss syntax error, and no port means no socket to report.
  if (ports.size === 0) return [];
  let text: string;
  try {
    text = await run(ssArgs([...ports].sort((a, b) => a - b)));
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError(
      AgentErrorCode.ssFailed,
      `cannot list sockets with ss: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return parseQuiet(text, ports, minMs);
}

/** The most connections one reply lists: about 7 MiB of lines at most, under the director's 8 MiB cap. */
export const QUIET_MAX = 65536;

/**
 * The reply's quiet block: `quiet:K` then K lines `quiet CLIENT CLIENT_PORT LOCAL LOCAL_PORT MS`,
 * the quietest first. Past QUIET_MAX the least quiet are left out: the longest silences are the
 * strongest evidence, and the director's reply cap must hold the whole block.
 */
export function formatQuiet(quiet: readonly QuietConnection[]): string {
  const sorted = [...quiet].sort((a, b) => b.lastSendMs - a.lastSendMs);
  const n = Math.min(sorted.length, QUIET_MAX);
  const lines = [`quiet:${n}\n`];
  for (let i = 0; i < n; i++) {
    const q = sorted[i];
    lines.push(`quiet ${q.client} ${q.clientPort} ${q.local} ${q.localPort} ${q.lastSendMs}\n`);
  }
  return lines.join('');
}
