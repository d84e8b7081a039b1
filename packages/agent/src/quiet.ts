// The connections a real server is not serving: its established service sockets whose kernel has
// sent no data on them for at least a floor (tcp_info's tcpi_last_data_sent, `lastsnd` in ss).
// Under direct routing the director never sees what a server sends, only the client's ACKs of it,
// and a bot forges those from its real address; the server's own clock of its last data segment
// moves only when the server really sends, and an ACK of data never sent is dropped by its stack
// (RFC 9293 §3.10.7.4), so no client can move it without paying for real answers.
//
// Read with `ss -tinH state established` (iproute2), because tcp_info is reachable only through
// sock_diag netlink, which Node does not speak; /proc/net/tcp has no last-send time. The same run
// gives the slow list (slow.ts), so both are read in one pass over its output (parseSockets): one
// ss process and one scan per read, however many lists the reply carries.

import { type ExecFileException, execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { AgentError, AgentErrorCode } from './errors.ts';
import { formatSlow, type SlowConnection, type SlowFloor, slowRate } from './slow.ts';

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
const SOCKET = /^ *\d+[ \t]+(\d+)[ \t]+(\S+):(\d{1,5})[ \t]+(\S+):(\d{1,5})(?:[ \t][^\n]*)?\r?\n\t([^\n]*)/gm;

// The field up to the next blank, its value checked apart: a socket whose lastsnd is garbled
// cannot be told quiet or not, so it is left out of both lists rather than taken as not quiet.
const LASTSND = /(?:^|[ \t])lastsnd:([^ \t\r]*)/;
const LASTSND_VALUE = /^\d{1,10}$/;

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

/** What one ss run says of the service sockets: the quiet list and the slow list, in ss's order. */
export interface SocketEvidence {
  quiet: QuietConnection[];
  slow: SlowConnection[];
}

/**
 * One pass over the output of `ss -tinH state established` for both lists, over the sockets whose
 * local port is in `ports`. `quiet`: those whose server sent no data for `quietMs` ms or more; none
 * when `quietMs` is null (the block is off; 0 is a floor like any other, taking every socket).
 * `slow`: those slowRate (slow.ts) judges slow under `slow`, none when it is null, leaving out any
 * socket already quiet, since a server that stopped sending is the stronger evidence. A socket is its
 * header line and the info line directly after it; one without `lastsnd:` (no tcp_info, as when ss
 * falls back to /proc) is not quiet, and one without `busy:` not slow. A malformed socket (an
 * unreadable address, port or field) is skipped, on its own. Never throws.
 */
export function parseSockets(
  ssText: string,
  ports: ReadonlySet<number>,
  quietMs: number | null,
  slow: SlowFloor | null,
): SocketEvidence {
  const out: SocketEvidence = { quiet: [], slow: [] };
  if (typeof ssText !== 'string') return out;
  for (const m of ssText.matchAll(SOCKET)) {
    const localPort = Number(m[3]);
    if (!ports.has(localPort)) continue;
    const clientPort = Number(m[5]);
    if (clientPort < 1 || clientPort > 65535) continue;
    const info = m[6];
    let quiet = false;
    let lastSendMs = 0;
    if (quietMs !== null) {
      const sent = LASTSND.exec(info);
      if (sent !== null) {
        lastSendMs = LASTSND_VALUE.test(sent[1]) ? Number(sent[1]) : Number.NaN;
        if (!(lastSendMs <= QUIET_MS_MAX)) continue;
        quiet = lastSendMs >= quietMs;
      }
    }
    const bytesPerSecond = quiet || slow === null ? null : slowRate(m[1], info, slow);
    if (!quiet && bytesPerSecond === null) continue;
    // Addresses last: most sockets are on neither list, and these are a socket's costliest fields.
    const local = parseAddress(m[2]);
    const client = parseAddress(m[4]);
    if (local === null || client === null) continue;
    if (quiet) out.quiet.push({ client, clientPort, local, localPort, lastSendMs });
    else if (bytesPerSecond !== null) out.slow.push({ client, clientPort, local, localPort, bytesPerSecond });
  }
  return out;
}

/**
 * The sockets in the output of `ss -tinH state established` whose local port is in `ports` and
 * whose server sent no data for `minMs` ms or more, in ss's order (parseSockets' quiet list, with
 * no slow list). Never throws.
 */
export function parseQuiet(ssText: string, ports: ReadonlySet<number>, minMs: number): QuietConnection[] {
  return parseSockets(ssText, ports, minMs, null).quiet;
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
 * Both lists of the service `ports` now (parseSockets' arguments): one ss run, parsed once. Throws
 * an AgentError (ssFailed) when ss is missing or fails, so a caller can tell "none listed" from "no
 * evidence".
 */
export async function readSockets(
  ports: ReadonlySet<number>,
  quietMs: number | null,
  slow: SlowFloor | null,
  run: SsRunner = runSs,
): Promise<SocketEvidence> {
  // An empty filter `( )` is an ss syntax error, and no port means no socket to report.
  if (ports.size === 0) return { quiet: [], slow: [] };
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
  return parseSockets(text, ports, quietMs, slow);
}

/** The quiet connections of the service `ports` now: readSockets with no slow list. */
export async function readQuiet(
  ports: ReadonlySet<number>,
  minMs: number,
  run: SsRunner = runSs,
): Promise<QuietConnection[]> {
  return (await readSockets(ports, minMs, null, run)).quiet;
}

/**
 * The most connections one reply lists, quiet and slow blocks together: about 7 MiB of lines at
 * most, under the director's 8 MiB cap.
 */
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

/**
 * The blocks after the held line: the quiet block, then the slow block, each left out when its
 * list is null (off, or no evidence). Together they list at most QUIET_MAX connections, quiet ones
 * first: a server that stopped sending is the stronger evidence, and the slow block gets the room
 * the quiet block left.
 */
export function formatEvidence(
  quiet: readonly QuietConnection[] | null,
  slow: readonly SlowConnection[] | null,
): string {
  const quietBlock = quiet === null ? '' : formatQuiet(quiet);
  if (slow === null) return quietBlock;
  const room = QUIET_MAX - Math.min(quiet?.length ?? 0, QUIET_MAX);
  return quietBlock + formatSlow(slow, room);
}
