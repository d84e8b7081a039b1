// The agent's TCP face, HAProxy agent-check style: the director connects, the agent writes its
// answer and closes. The first line is `held:<N>` or `unknown`, all HAProxy reads; then, when ss
// could list them, the quiet block (`quiet:K` and K connection lines) and the slow block (`slow:J`
// and J lines), both from one ss run, which only the director reads.
// Nothing is read from the client, so a query costs one answer, and the answer is shared: however
// many queries arrive, /proc is read and ss run at most once per CACHE_MS.

import { createServer, isIP, type Server, type Socket } from 'node:net';
import { AgentError, AgentErrorCode } from './errors.ts';
import { readHeld } from './held.ts';
import { formatEvidence, QUIET_MS, QUIET_MS_MAX, readSockets, runSs, type SsRunner } from './quiet.ts';
import { SLOW_BPS, SLOW_BPS_MAX, SLOW_GRACE_MS, SLOW_GRACE_MS_MAX, type SlowFloor } from './slow.ts';

/** How long one read answers queries: at most ten reads (and ss runs) a second under any query rate. */
export const CACHE_MS = 100;

/**
 * An idle client is dropped after this long. The agent answers at once, so only a peer that never
 * finishes its side (or a scanner) is still there after it; without it such peers would pile up.
 */
export const SOCKET_TIMEOUT_MS = 2000;

export interface AgentServerOptions {
  /** Address to listen on (an IP literal); the CLI's default is 0.0.0.0. */
  host: string;
  /** Port to listen on; 0 asks the kernel for a free one (see `address`). */
  port: number;
  /** The service ports whose held sockets are counted. */
  ports: Iterable<number>;
  /** Directory holding tcp and tcp6; tests point it at fixtures. */
  root?: string;
  /**
   * The quiet floor: connections whose server sent no data for this many ms or more are listed in
   * the quiet block (default 1000); 0 leaves the block out (and, with slowBps 0 too, never runs ss).
   */
  quietMs?: number;
  /**
   * The slow floor in bytes/s: established connections with data written and not yet sent whose
   * client took less than this per second of busy time are listed in the slow block (default
   * SLOW_BPS, 2048); 0 leaves the block out.
   */
  slowBps?: number;
  /** The ms of busy time before a connection's rate is judged (default SLOW_GRACE_MS, 2000). */
  slowGraceMs?: number;
  /** Runs ss; tests inject a missing or broken one. */
  runSs?: SsRunner;
  /**
   * Errors the agent goes on after: of the listening socket once it started (an accept that hit
   * EMFILE), and ss failing (once per run of failures, not per query; the quiet and slow blocks
   * are left out meanwhile).
   */
  onError?: (err: Error) => void;
}

type Answer = { at: number; text: string };

export class AgentServer {
  /** Where the agent listens, with the kernel's port when 0 was asked for. */
  readonly address: { host: string; port: number };
  /** The counted service ports, ascending. */
  readonly ports: readonly number[];
  readonly #server: Server;
  readonly #portSet: ReadonlySet<number>;
  readonly #root: string;
  readonly #quietMs: number;
  readonly #slow: SlowFloor | null;
  readonly #runSs: SsRunner;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #sockets = new Set<Socket>();
  #answer: Answer | null = null;
  #pending: Promise<string> | null = null;
  #closing: Promise<void> | null = null;
  #ssFailing = false;

  private constructor(server: Server, ports: readonly number[], options: AgentServerOptions) {
    this.#server = server;
    this.ports = ports;
    this.#portSet = new Set(ports);
    this.#root = options.root ?? '/proc/net';
    this.#quietMs = options.quietMs ?? QUIET_MS;
    const bps = options.slowBps ?? SLOW_BPS;
    this.#slow = bps === 0 ? null : { bps, graceMs: options.slowGraceMs ?? SLOW_GRACE_MS };
    this.#runSs = options.runSs ?? runSs;
    this.#onError = options.onError;
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('a TCP server has an address once it listens');
    this.address = { host: a.address, port: a.port };
  }

  static async listen(options: AgentServerOptions): Promise<AgentServer> {
    const { host, port, quietMs = QUIET_MS, slowBps = SLOW_BPS, slowGraceMs = SLOW_GRACE_MS } = options;
    const ports = [...new Set(options.ports)].sort((a, b) => a - b);
    if (isIP(host) === 0) {
      throw new AgentError(
        AgentErrorCode.invalidArgument,
        `host ${JSON.stringify(host)} is not an IP address`,
      );
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new AgentError(AgentErrorCode.invalidArgument, `port ${port} is not in 0..65535`);
    }
    if (ports.length === 0) {
      throw new AgentError(AgentErrorCode.invalidArgument, 'no service port to count');
    }
    for (const p of ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) {
        throw new AgentError(AgentErrorCode.invalidArgument, `service port ${p} is not in 1..65535`);
      }
    }
    // The agent's own query connections would be counted as load, at least one in every answer.
    if (ports.includes(port)) {
      throw new AgentError(
        AgentErrorCode.invalidArgument,
        `port ${port} is both the agent's and a counted service port`,
      );
    }
    if (!Number.isInteger(quietMs) || quietMs < 0 || quietMs > QUIET_MS_MAX) {
      throw new AgentError(AgentErrorCode.invalidArgument, `quietMs ${quietMs} is not in 0..${QUIET_MS_MAX}`);
    }
    if (!Number.isInteger(slowBps) || slowBps < 0 || slowBps > SLOW_BPS_MAX) {
      throw new AgentError(AgentErrorCode.invalidArgument, `slowBps ${slowBps} is not in 0..${SLOW_BPS_MAX}`);
    }
    if (!Number.isInteger(slowGraceMs) || slowGraceMs < 0 || slowGraceMs > SLOW_GRACE_MS_MAX) {
      throw new AgentError(
        AgentErrorCode.invalidArgument,
        `slowGraceMs ${slowGraceMs} is not in 0..${SLOW_GRACE_MS_MAX}`,
      );
    }

    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        reject(
          new AgentError(
            AgentErrorCode.listenFailed,
            `cannot listen on ${hostPort(host, port)}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
            { cause: err },
          ),
        );
      };
      server.once('error', fail);
      server.listen({ host, port }, () => {
        server.off('error', fail);
        resolve();
      });
    });
    const agent = new AgentServer(server, ports, options);
    // Without a listener an accept error (EMFILE under a query flood) would crash the process;
    // the listening socket itself is fine and the next accept may succeed.
    server.on('error', (err) => agent.#onError?.(err));
    server.on('connection', (socket) => agent.#serve(socket));
    return agent;
  }

  /** The answer a query gets now: from the cache, from the read already under way, or a new read. */
  answer(): Promise<string> {
    const cached = this.#answer;
    if (cached !== null && performance.now() - cached.at < CACHE_MS) return Promise.resolve(cached.text);
    if (this.#pending !== null) return this.#pending;
    // Stamped when the read starts, so no answer is older than CACHE_MS counted from the moment
    // /proc and ss were looked at. A failure is cached too: a flood against a broken /proc or a
    // missing ss costs no more reads than a flood against good ones.
    const at = performance.now();
    const pending = Promise.all([
      readHeld(this.#portSet, this.#root).then(
        (n) => `held:${n}\n`,
        () => 'unknown\n',
      ),
      this.#evidence(),
    ]).then(([held, evidence]) => held + evidence);
    this.#pending = pending;
    void pending.then((text) => {
      this.#answer = { at, text };
      this.#pending = null;
    });
    return pending;
  }

  /**
   * The quiet and slow blocks (each only when on), or '' when ss gave no evidence: a missing block
   * tells the director it has none, where `quiet:0` or `slow:0` would vouch for every connection.
   */
  async #evidence(): Promise<string> {
    const quietMs = this.#quietMs === 0 ? null : this.#quietMs;
    if (quietMs === null && this.#slow === null) return '';
    try {
      const { quiet, slow } = await readSockets(this.#portSet, quietMs, this.#slow, this.#runSs);
      this.#ssFailing = false;
      return formatEvidence(quietMs === null ? null : quiet, this.#slow === null ? null : slow);
    } catch (err) {
      // Up to ten failures a second would bury the one line the operator needs.
      if (!this.#ssFailing) this.#onError?.(err as Error);
      this.#ssFailing = true;
      return '';
    }
  }

  /** Stop listening and drop the clients still connected; resolves once the server is closed. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
    return this.#closing;
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // A client that resets before its answer is its own problem, not an uncaught error.
    socket.on('error', () => {});
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => socket.destroy());
    // Whatever a client sends (HAProxy's agent-send) is discarded: were it left unread, closing
    // with unread data would answer with a reset instead of a FIN.
    socket.resume();
    void this.answer().then((line) => {
      if (!socket.destroyed) socket.end(line);
    });
  }
}

/** HOST:PORT, with an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
