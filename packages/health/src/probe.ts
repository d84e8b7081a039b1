// One probe of a real server: keepalived's TCP_CHECK (connect, then close) and HTTP_GET (GET a
// path, compare the status). A probe is a promise that always resolves, never rejects: a refused
// connection, a reset, a timeout, garbage instead of HTTP, an abort are all failed checks. It
// settles only once its socket is closed, so a settled probe holds no handle and a caller that
// awaits its probes (HealthChecker.stop) leaves nothing that keeps the process alive.

import { request } from 'node:http';
import { connect, isIP, isIPv6, type Socket } from 'node:net';

export interface ProbeResult {
  ok: boolean;
  /** 'connected', 'status 200', 'status 503, expected 200', 'ECONNREFUSED', 'timeout after 1000 ms', 'aborted'. */
  detail: string;
  /** Milliseconds from the start of the probe to its verdict. */
  ms: number;
  /** A load agent's probe: the connections the server says it holds (absent on failure). */
  held?: number;
  /**
   * A load agent's probe: the connections its server says it has sent no data on for a while;
   * null when the agent sent no quiet block or a malformed one (detail says which); absent on
   * failure.
   */
  quiet?: AgentQuiet[] | null;
  /**
   * A load agent's probe: the connections its server is answering slower than the agent's floor
   * (a slow reader holding a worker); null when the agent sent no slow block or a malformed one;
   * absent on failure.
   */
  slow?: AgentSlow[] | null;
}

/** One connection of an agent's quiet block (@sluice/agent's QuietConnection, as read off the wire). */
export interface AgentQuiet {
  /** The client's IP (IPv4 for an IPv4 client of a dual-stack listener), without brackets. */
  client: string;
  clientPort: number;
  /** The server's address of the connection (the VIP under direct routing). */
  local: string;
  localPort: number;
  /** Milliseconds since the server last sent data on it, when the agent read it. */
  lastSendMs: number;
}

/**
 * One connection of an agent's slow block: its server has had unacknowledged data on it for the
 * agent's grace or longer, and its client took it at under the agent's floor (@sluice/agent).
 */
export interface AgentSlow {
  client: string;
  clientPort: number;
  local: string;
  localPort: number;
  /** Bytes the client acknowledged per second of the server's busy time. */
  bytesPerSecond: number;
}

/**
 * Bytes of an HTTP body read before the probe stops reading. The body is read only so a server
 * that answers with a small page can finish it (the status decides); past this the socket is
 * dropped, so a huge or endless body costs neither memory nor the timeout.
 */
export const HTTP_BODY_CAP = 64 * 1024;

const MAX_TIMER_MS = 2 ** 31 - 1;

type AgentWord = { held: number; quiet: AgentQuiet[] | null; slow: AgentSlow[] | null };
type Decide = (ok: boolean, detail: string, agent?: AgentWord) => void;

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : err.message;
  }
  return String(err);
}

/**
 * The lifecycle both probes share: a deadline, an abort signal, a first-verdict-wins decide(), and
 * a promise that resolves after the socket's 'close'. `open` creates the socket and wires its
 * events to decide(); it may throw (the verdict is then that error, with no socket to wait for).
 */
function attempt(
  address: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  open: (decide: Decide) => Socket,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const start = performance.now();
    const fail = (detail: string) => resolve({ ok: false, detail, ms: 0 });
    // Refuse host names: net.connect would resolve them, through the libuv thread pool and
    // outside the deadline's intent. The config layer only ever hands over IP literals.
    if (isIP(address) === 0) return fail(`not an IP address: ${address}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return fail(`invalid port ${port}`);
    if (!(timeoutMs > 0)) return fail(`invalid timeout ${timeoutMs} ms`);
    if (signal?.aborted) return fail('aborted');

    let verdict: ProbeResult | null = null;
    let socket: Socket | null = null;
    const onAbort = () => decide(false, 'aborted');
    const timer = setTimeout(
      () => decide(false, `timeout after ${timeoutMs} ms`),
      Math.min(timeoutMs, MAX_TIMER_MS),
    );
    signal?.addEventListener('abort', onAbort, { once: true });

    function decide(ok: boolean, detail: string, agent?: AgentWord): void {
      if (verdict !== null) return;
      verdict = { ok, detail, ms: Math.round((performance.now() - start) * 10) / 10 };
      if (agent !== undefined) {
        verdict.held = agent.held;
        verdict.quiet = agent.quiet;
        verdict.slow = agent.slow;
      }
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // destroy() closes the descriptor (a FIN, as keepalived's close()); 'close' resolves.
      socket?.destroy();
    }

    try {
      socket = open(decide);
    } catch (err) {
      decide(false, describeError(err));
      resolve(verdict!);
      return;
    }
    socket.once('close', () => {
      // A close nobody explained fails the check; but node:http reacts to this same 'close'
      // (ending an EOF-delimited body, failing a cut one) after our listener, so give it a turn.
      setImmediate(() => {
        decide(false, 'connection closed');
        resolve(verdict!);
      });
    });
    if (verdict !== null) socket.destroy();
  });
}

/** keepalived TCP_CHECK: success iff the TCP handshake completes within `timeoutMs`. */
export function probeTcp(
  address: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return attempt(address, port, timeoutMs, signal, (decide) => {
    const socket = connect({ host: address, port });
    socket.once('connect', () => decide(true, 'connected'));
    socket.on('error', (err) => decide(false, describeError(err)));
    return socket;
  });
}

/** The Host header for an IP literal: brackets for IPv6 (zone escaped, RFC 6874), no port for 80. */
export function hostHeader(address: string, port: number): string {
  const host = isIPv6(address) ? `[${address.replace('%', '%25')}]` : address;
  return port === 80 ? host : `${host}:${port}`;
}

/**
 * keepalived HTTP_GET: GET `path` with a Host header and `Connection: close`, success iff the
 * status is `expectStatus` (any 2xx when undefined, keepalived's default). `timeoutMs` covers
 * the connect and the whole response, as keepalived's connect_timeout bounds every read of it;
 * the body is read and discarded up to HTTP_BODY_CAP bytes, then the socket is dropped.
 */
export function probeHttp(
  address: string,
  port: number,
  path: string,
  expectStatus: number | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return attempt(address, port, timeoutMs, signal, (decide) => {
    const socket = connect({ host: address, port });
    socket.on('error', (err) => decide(false, describeError(err)));
    const req = request({
      method: 'GET',
      path,
      headers: { Host: hostHeader(address, port), Connection: 'close', 'User-Agent': 'sluice-health' },
      setHost: false,
      // Our own socket, so attempt() can wait for its 'close' and destroy it on a verdict. With
      // createConnection and no `agent`, node:http uses no agent (`agent: false` would make a
      // fresh Agent, which ignores createConnection and dials localhost:80).
      createConnection: () => socket,
    });
    req.on('error', (err) => decide(false, describeError(err)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const ok = expectStatus === undefined ? status >= 200 && status <= 299 : status === expectStatus;
      const verdict = ok ? `status ${status}` : `status ${status}, expected ${expectStatus ?? '2xx'}`;
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > HTTP_BODY_CAP) decide(ok, `${verdict} (body over ${HTTP_BODY_CAP} bytes, dropped)`);
      });
      res.on('end', () => decide(ok, verdict));
      // A body cut short by the server: the status is in, and keepalived (reading an HTTP/1.0
      // response to EOF) would judge on it too.
      res.on('error', () => decide(ok, verdict));
    });
    req.end();
    return socket;
  });
}

/**
 * Bytes of an agent's reply read before giving up on it. The quiet block is at most 65536 lines
 * (the agent's QUIET_MAX) of at most 109 bytes (two 39-character IPv6 addresses), about 7 MiB,
 * so a reply over this is no agent's; its first line still counts, its quiet block does not.
 */
export const AGENT_REPLY_CAP = 8 * 1024 * 1024;

/**
 * A load agent's reply line (@sluice/agent), in the form of HAProxy's agent-check: ASCII tokens
 * separated by spaces, tabs or commas, of which `held:N` (N a decimal integer) is the one read
 * here. Returns N, or a string saying why the line is not a report (unknown tokens are ignored,
 * as HAProxy ignores the ones it does not know). Only the first line is read; the quiet block
 * after it is parseQuietBlock's.
 */
export function parseAgentReply(text: string): number | string {
  const line = text.split('\n', 1)[0].replace(/\r$/, '');
  if (line.trim() === '') return 'empty reply';
  for (const token of line.split(/[\s,]+/)) {
    if (!token.startsWith('held:')) continue;
    const digits = token.slice(5);
    if (!/^[0-9]{1,9}$/.test(digits)) return `bad held value: ${JSON.stringify(digits.slice(0, 20))}`;
    return Number(digits);
  }
  return `no held:N in ${JSON.stringify(line.slice(0, 40))}`;
}

const PORT = /^[0-9]{1,5}$/;
const MS = /^[0-9]{1,10}$/;
const U32_MAX = 0xffff_ffff;

/**
 * One block of an agent's reply after its first line: `NAME:K` then exactly K lines
 * `NAME CLIENT_IP CLIENT_PORT LOCAL_IP LOCAL_PORT VALUE`, each ended by a newline (a reply cut
 * short must not pass a truncated number). Returns the entries; null when there is no `NAME:`
 * line (an agent without ss, or an older one: no evidence either way); or a string saying why the
 * block is malformed, which is no evidence either: one bad entry could be the start of a corrupt
 * or hostile list, so none of it is believed.
 */
function parseBlock<T>(
  lines: readonly string[],
  name: string,
  valueName: string,
  entry: (f: ConnectionFields) => T,
): T[] | null | string {
  // The last piece has no newline after it: the end of the reply, or a line cut short.
  const complete = lines.length - 1;
  const line = (i: number) => (lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i]);
  const head = `${name}:`;
  const item = `${name} `;
  let at = -1;
  // Line 0 is the held line; lines before the block that are not it are left to other blocks.
  for (let i = 1; i < complete; i++) {
    if (line(i).startsWith(head)) {
      at = i;
      break;
    }
  }
  if (at < 0) return null;
  const count = /^[0-9]{1,9}$/.test(line(at).slice(head.length)) ? Number(line(at).slice(head.length)) : -1;
  if (count < 0) return `bad count line ${JSON.stringify(line(at).slice(0, 40))}`;
  const out: T[] = [];
  for (let n = 0; n < count; n++) {
    const i = at + 1 + n;
    if (i >= complete || !line(i).startsWith(item)) return `${head}${count} but ${n} lines`;
    const fields = parseConnectionLine(line(i), valueName);
    if (typeof fields === 'string') return `line ${n + 1}: ${fields}`;
    out.push(entry(fields));
  }
  if (at + 1 + count < complete && line(at + 1 + count).startsWith(item))
    return `${head}${count} but more lines`;
  return out;
}

/**
 * The quiet block of an agent's reply: `quiet:K` then K lines
 * `quiet CLIENT_IP CLIENT_PORT LOCAL_IP LOCAL_PORT LASTSND_MS` (parseBlock's rules).
 */
export function parseQuietBlock(text: string): AgentQuiet[] | null | string {
  return quietBlock(text.split('\n'));
}

/**
 * The slow block of an agent's reply: `slow:K` then K lines
 * `slow CLIENT_IP CLIENT_PORT LOCAL_IP LOCAL_PORT BYTES_PER_S` (parseBlock's rules).
 */
export function parseSlowBlock(text: string): AgentSlow[] | null | string {
  return slowBlock(text.split('\n'));
}

// The reply's lines, split once by the probe for both blocks (a reply is up to 8 MiB).
function quietBlock(lines: readonly string[]): AgentQuiet[] | null | string {
  return parseBlock(lines, 'quiet', 'ms', ({ client, clientPort, local, localPort, value }) => ({
    client,
    clientPort,
    local,
    localPort,
    lastSendMs: value,
  }));
}

function slowBlock(lines: readonly string[]): AgentSlow[] | null | string {
  return parseBlock(lines, 'slow', 'rate', ({ client, clientPort, local, localPort, value }) => ({
    client,
    clientPort,
    local,
    localPort,
    bytesPerSecond: value,
  }));
}

interface ConnectionFields {
  client: string;
  clientPort: number;
  local: string;
  localPort: number;
  value: number;
}

function parseConnectionLine(text: string, valueName: string): ConnectionFields | string {
  const f = text.split(' ');
  if (f.length !== 6) return `${f.length - 1} fields, expected 5`;
  const [, client, clientPort, local, localPort, ms] = f;
  if (isIP(client) === 0) return `bad client address ${JSON.stringify(client.slice(0, 50))}`;
  if (isIP(local) === 0) return `bad local address ${JSON.stringify(local.slice(0, 50))}`;
  const cp = PORT.test(clientPort) ? Number(clientPort) : 0;
  if (cp < 1 || cp > 65535) return `bad client port ${JSON.stringify(clientPort.slice(0, 20))}`;
  const lp = PORT.test(localPort) ? Number(localPort) : 0;
  if (lp < 1 || lp > 65535) return `bad local port ${JSON.stringify(localPort.slice(0, 20))}`;
  const value = MS.test(ms) ? Number(ms) : -1;
  if (value < 0 || value > U32_MAX) return `bad ${valueName} ${JSON.stringify(ms.slice(0, 20))}`;
  return { client, clientPort: cp, local, localPort: lp, value };
}

/**
 * Asks a load agent what its server holds: connect, read its reply to EOF (at most
 * AGENT_REPLY_CAP bytes), close; `held` and `quiet` are set on success. Like the health probes it
 * resolves, never rejects.
 */
export function probeAgent(
  address: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return attempt(address, port, timeoutMs, signal, (decide) => {
    const socket = connect({ host: address, port });
    // Chunks, joined once: a 7 MiB reply built by string += would copy itself at every chunk.
    const chunks: Buffer[] = [];
    let size = 0;
    const judge = (over: boolean) => {
      const text = Buffer.concat(chunks, size).toString('latin1');
      const held = parseAgentReply(text);
      if (typeof held !== 'number') return decide(false, held);
      const lines = over ? [] : text.split('\n');
      const quiet = over ? `reply over ${AGENT_REPLY_CAP} bytes` : quietBlock(lines);
      const slow = over ? null : slowBlock(lines);
      const agent = {
        held,
        quiet: typeof quiet === 'string' ? null : quiet,
        slow: typeof slow === 'string' ? null : slow,
      };
      let detail =
        quiet === null
          ? `held ${held}, no quiet report`
          : typeof quiet === 'string'
            ? `held ${held}, bad quiet block: ${quiet}`
            : `held ${held}, quiet ${quiet.length}`;
      // An agent without the slow block (off, or older) says nothing of it.
      if (typeof slow === 'string') detail += `, bad slow block: ${slow}`;
      else if (slow !== null) detail += `, slow ${slow.length}`;
      decide(true, detail, agent);
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > AGENT_REPLY_CAP) judge(true);
    });
    socket.once('end', () => judge(false));
    socket.on('error', (err) => decide(false, describeError(err)));
    return socket;
  });
}
