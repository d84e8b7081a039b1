// The real servers' application: a tiny HTTP server that says who it is, so a test (or a human
// with curl) sees which real server the director picked. It listens dual-stack on `::`, so one
// process answers on the overlay VIPs (v4 and v6, held on `lo`) and on the underlay address the
// director's health checks use. `maxConns` sets `server.maxConnections`: the capacity the
// shedding tests fill; past it Node closes new sockets at once, as an overloaded server would.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface RealHttpOptions {
  /** Body (`<name>\n`) and the `x-real` header. */
  name: string;
  port: number;
  /** Default `::` (dual-stack); falls back to 0.0.0.0 where IPv6 is disabled. */
  host?: string;
  /** server.maxConnections; 0 or absent = unlimited. */
  maxConns?: number;
  /** How long an idle keep-alive connection stays open. Default 60 s, so held connections stay. */
  keepAliveMs?: number;
}

/** The longest `?sleepMs=` honoured: enough to hold a connection open in a test, never forever. */
export const MAX_SLEEP_MS = 600_000;

/** The largest `?bytes=` body: enough to keep a slow reader's server writing for minutes. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** One write of a `?bytes=` body: the server writes the next only once the socket took this one. */
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/**
 * Writes `n` bytes of body, a chunk at a time with backpressure, as a server whose worker waits on
 * a slow reader does: its socket's send buffer stays full and its kernel has data not yet sent.
 */
function writeBody(res: ServerResponse, n: number): void {
  let left = n;
  const next = (): void => {
    while (left > CHUNK.length) {
      left -= CHUNK.length;
      if (!res.write(CHUNK)) {
        res.once('drain', next);
        return;
      }
    }
    res.end(CHUNK.subarray(0, left));
  };
  next();
}

function handle(name: string, req: IncomingMessage, res: ServerResponse): void {
  // `?sleepMs=N` delays the answer, so a test can keep connections busy on a real server.
  const q = req.url?.indexOf('?') ?? -1;
  const params = new URLSearchParams(q >= 0 ? req.url!.slice(q + 1) : '');
  const sleepMs = Math.min(Number(params.get('sleepMs') ?? 0) || 0, MAX_SLEEP_MS);
  // `?bytes=N` answers with N bytes instead of the name: a large answer for a slow reader.
  const bytes = Math.min(Math.max(Math.floor(Number(params.get('bytes') ?? 0) || 0), 0), MAX_BODY_BYTES);
  const body = `${name}\n`;
  // The request body is read to its end before answering: keep-alive can then reuse the
  // connection, and `x-received-bytes` lets a test check that an upload arrived whole.
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  req.on('end', () => {
    const answer = (): void => {
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': bytes > 0 ? bytes : Buffer.byteLength(body),
        'x-real': name,
        'x-received-bytes': received,
      });
      if (req.method === 'HEAD') res.end();
      else if (bytes > 0) writeBody(res, bytes);
      else res.end(body);
    };
    if (sleepMs > 0) {
      const t = setTimeout(answer, sleepMs);
      res.on('close', () => clearTimeout(t));
    } else {
      answer();
    }
  });
}

/** A server that is not listening yet. */
export function createRealHttpServer(opts: RealHttpOptions): Server {
  const server = createServer({ keepAlive: true }, (req, res) => handle(opts.name, req, res));
  server.keepAliveTimeout = opts.keepAliveMs ?? 60_000;
  if (opts.maxConns !== undefined && opts.maxConns > 0) server.maxConnections = opts.maxConns;
  return server;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, ipv6Only: false });
  });
}

/** Creates the server and resolves once it listens. */
export async function listenRealHttp(opts: RealHttpOptions): Promise<Server> {
  const server = createRealHttpServer(opts);
  const host = opts.host ?? '::';
  try {
    await listen(server, opts.port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (opts.host !== undefined || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
    await listen(server, opts.port, '0.0.0.0');
  }
  return server;
}
