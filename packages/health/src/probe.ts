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
}

/**
 * Bytes of an HTTP body read before the probe stops reading. The body is read only so a server
 * that answers with a small page can finish it (the status decides); past this the socket is
 * dropped, so a huge or endless body costs neither memory nor the timeout.
 */
export const HTTP_BODY_CAP = 64 * 1024;

const MAX_TIMER_MS = 2 ** 31 - 1;

type Decide = (ok: boolean, detail: string, held?: number) => void;

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

    function decide(ok: boolean, detail: string, held?: number): void {
      if (verdict !== null) return;
      verdict = { ok, detail, ms: Math.round((performance.now() - start) * 10) / 10 };
      if (held !== undefined) verdict.held = held;
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

/** Bytes of an agent's reply read before giving up on it: one short line is all it sends. */
export const AGENT_REPLY_CAP = 512;

/**
 * A load agent's reply line (@sluice/agent), in the form of HAProxy's agent-check: ASCII tokens
 * separated by spaces, tabs or commas, of which `held:N` (N a decimal integer) is the one read
 * here. Returns N, or a string saying why the line is not a report (unknown tokens are ignored,
 * as HAProxy ignores the ones it does not know).
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

/**
 * Asks a load agent what its server holds: connect, read its one line to EOF (at most
 * AGENT_REPLY_CAP bytes), close; `held` is set on success. Like the health probes it resolves,
 * never rejects.
 */
export function probeAgent(
  address: string,
  port: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return attempt(address, port, timeoutMs, signal, (decide) => {
    const socket = connect({ host: address, port });
    let text = '';
    const judge = () => {
      const held = parseAgentReply(text);
      if (typeof held === 'number') decide(true, `held ${held}`, held);
      else decide(false, held);
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n') || text.length >= AGENT_REPLY_CAP) judge();
    });
    socket.once('end', judge);
    socket.on('error', (err) => decide(false, describeError(err)));
    return socket;
  });
}
