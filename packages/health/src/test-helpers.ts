// Real servers for the health tests: TCP and HTTP listeners on loopback (port 0), a port that
// refuses, and a way to wait for a checker event. Nothing here stands in for a socket.

import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import type { HealthChecker, HealthCheckerEvents } from './checker.ts';

export interface TcpListener {
  readonly server: Server;
  readonly port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Server-side sockets of those connections. */
  readonly sockets: Set<Socket>;
  /** Stop listening and drop every accepted connection. */
  close(): Promise<void>;
}

/** A TCP listener; `onConnection` may answer, hang or destroy (default: leave the socket be). */
export async function tcpListener(
  host = '127.0.0.1',
  port = 0,
  onConnection: (socket: Socket) => void = () => {},
): Promise<TcpListener> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    listener.accepted++;
    sockets.add(socket);
    socket.on('error', () => {}); // a probe's reset is expected, not a test failure
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const listener: TcpListener = {
    server,
    port: address.port,
    accepted: 0,
    sockets,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
  return listener;
}

export interface HttpListener {
  readonly port: number;
  /** Requests received so far, in order. */
  readonly requests: IncomingMessage[];
  close(): Promise<void>;
}

export async function httpListener(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  host = '127.0.0.1',
): Promise<HttpListener> {
  const requests: IncomingMessage[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no HTTP address');
  return {
    port: address.port,
    requests,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A loopback port nothing listens on: bound by the kernel, then released. */
export async function refusedPort(): Promise<number> {
  const l = await tcpListener();
  await l.close();
  return l.port;
}

/** The next `event` of `checker` that satisfies `match`; rejects after `ms` so a hang names itself. */
export function nextEvent<K extends keyof HealthCheckerEvents>(
  checker: HealthChecker,
  event: K,
  match: (e: HealthCheckerEvents[K][0]) => boolean = () => true,
  ms = 10_000,
): Promise<HealthCheckerEvents[K][0]> {
  return new Promise((resolve, reject) => {
    const onEvent = (e: HealthCheckerEvents[K][0]) => {
      if (!match(e)) return;
      clearTimeout(timer);
      checker.off(event, onEvent as never);
      resolve(e);
    };
    const timer = setTimeout(() => {
      checker.off(event, onEvent as never);
      reject(new Error(`no matching '${event}' event within ${ms} ms`));
    }, ms);
    checker.on(event, onEvent as never);
  });
}

/** Resolve after `ms`: only to let time pass in which nothing may happen, never to wait for something. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
