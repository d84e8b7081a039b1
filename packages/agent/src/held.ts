// What the real server holds for a service: the sockets in /proc/net/tcp and /proc/net/tcp6 whose
// local port is a service port and whose state occupies the server. The director counts the
// connections it forwarded; this is the server's side of that count, where a bot's forged
// handshake (answered by a syncookie, never stored) is absent.

import { readFile } from 'node:fs/promises';
import { AgentError, AgentErrorCode } from './errors.ts';

/**
 * The TCP states (include/net/tcp_states.h) that hold a worker or an accept-queue place, what the
 * director's thresholds stand for: ESTABLISHED is a worker's connection or one waiting to be
 * accepted, CLOSE_WAIT a connection the peer finished but the application still holds. Not
 * SYN_RECV (03): a request socket holds no worker, and with syncookies (Linux's default) a full
 * SYN queue turns no client away, while a bot whose handshake ACK is forged leaves its request
 * socket there for a minute of SYN-ACK retries; counting those put the director's ghosts back
 * (simulator, spread at 1000 ghost connections: 0.047 of valid clients served instead of 1.000).
 * LISTEN is the service itself; TIME_WAIT, FIN_WAIT1/2, CLOSING, LAST_ACK and CLOSE are connections
 * the application has already let go of.
 */
export const HELD_STATES: ReadonlySet<number> = new Set([0x01, 0x08]);

// One socket line: `sl: local rem st ...`, addresses HEX_IP:HEX_PORT (8 hex digits for IPv4, 32
// for IPv6). One regex over the whole text rather than a split per line: a busy server has tens
// of thousands of lines, read up to ten times a second. [ \t] (not \s) keeps a match on its line,
// so a malformed line fails to match on its own and never swallows the next.
const SOCKET_LINE =
  /^[ \t]*\d+:[ \t]+(?:[0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})[ \t]+(?:[0-9A-F]{8}|[0-9A-F]{32}):[0-9A-F]{4}[ \t]+([0-9A-F]{2})(?=[ \t]|$)/gim;

/**
 * How many sockets in the text of /proc/net/tcp or /proc/net/tcp6 have their local port in
 * `ports` and a held state. The header line and any malformed line are skipped: a line the kernel
 * might format differently one day must cost that line, not the whole answer.
 */
export function countHeld(procNetTcp: string, ports: ReadonlySet<number>): number {
  let held = 0;
  for (const m of procNetTcp.matchAll(SOCKET_LINE)) {
    if (HELD_STATES.has(Number.parseInt(m[2], 16)) && ports.has(Number.parseInt(m[1], 16))) held++;
  }
  return held;
}

/**
 * The held count over IPv4 and IPv6 in this process's network namespace. An IPv4 connection to a
 * dual-stack listener appears once, in tcp6 (as ::ffff:a.b.c.d), so the sum counts nothing twice.
 * A missing tcp6 is a kernel without IPv6 (zero sockets there); a missing tcp is no /proc at all.
 */
export async function readHeld(ports: ReadonlySet<number>, root = '/proc/net'): Promise<number> {
  const [v4, v6] = await Promise.all([
    readFile(`${root}/tcp`, 'latin1').catch((err: unknown) => {
      throw new AgentError(AgentErrorCode.procUnreadable, `cannot read ${root}/tcp: ${describe(err)}`, {
        cause: err,
      });
    }),
    readFile(`${root}/tcp6`, 'latin1').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw new AgentError(AgentErrorCode.procUnreadable, `cannot read ${root}/tcp6: ${describe(err)}`, {
        cause: err,
      });
    }),
  ]);
  return countHeld(v4, ports) + countHeld(v6, ports);
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
}
