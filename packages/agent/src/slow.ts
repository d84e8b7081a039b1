// The connections a real server is being drained on: its established service sockets on which it
// has written data it cannot send yet (tcp_info's tcpi_notsent_bytes, `notsent` in ss: the client,
// not the server, sets the pace), and whose client, over the time the socket had data in flight or
// waiting (tcpi_busy_time, `busy`), acknowledged less than a floor rate. That is a slow reader (slowhttptest -X, or a raw-socket reader acking one segment a second
// through an open window): it holds a server worker while its server keeps sending just often
// enough never to look quiet. The director cannot tell it from a client on a slow link, since both
// ACK real data from a real address; the server's kernel knows how much of its answer the client
// has really taken, and a client cannot raise that rate without taking the bytes.
//
// Read from the same single ss run as the quiet list (quiet.ts: parseSockets); this module holds
// what is the slow list's own: its floors, the judgement of one socket, and its block's format.
//
// Why `notsent` and not Send-Q alone: a connection that exchanges small messages (a push stream's
// events, an API client's small answers) is busy only while each is in flight, a round trip and a
// delayed ACK, so its bytes per second of busy time are a message per round trip, which can be
// under any floor; but its server never has more written than it may send. A server whose worker
// is held by a slow reader always has: its answer is bigger than what the client lets out.

/** One established service socket its client is taking at under the floor rate. */
export interface SlowConnection {
  /** The client's address: IPv4 dotted (also for an IPv4 client of a dual-stack listener) or IPv6. */
  client: string;
  clientPort: number;
  /** The server's address of the connection (the VIP under direct routing). */
  local: string;
  /** The service port. */
  localPort: number;
  /** Bytes the client acknowledged per second of the socket's busy time, rounded down. */
  bytesPerSecond: number;
}

/** The slow list's floors (AgentServerOptions.slowBps and slowGraceMs). */
export interface SlowFloor {
  /** A backlogged socket whose client acknowledged less than this many bytes a second is slow. */
  bps: number;
  /** How long a socket must have been busy before its rate is judged at all, in ms. */
  graceMs: number;
}

/**
 * The default floor rate, 2048 bytes/s (16 kbit/s): under the link of any client on a data network
 * still in service except a one-timeslot GPRS link, so a real client is never under it for long,
 * while a real-address reader must really take this much of the server's answer per connection to
 * keep it, which makes holding a thousand workers cost a bot 2 MB/s of real downstream.
 */
export const SLOW_BPS = 2048;

/**
 * The default grace, 2000 ms of busy time before a rate counts: slow start, and the same segment
 * lost twice on a 300 ms path (Linux's retransmission timeout from its 200 ms floor plus the round
 * trip, doubled once: about 1.5 s), stay inside it, so a good client's first seconds are not
 * judged. ASP.NET Kestrel's MinResponseDataRate waits 5 s; on the exploration seeds of tools/sim
 * (1 and 6) 5 s left the open-window reader at 4000 connections 0.70-0.75 where 2 s gave
 * 0.81-0.90, since a shed bot's new connection is unmarked for the whole grace.
 */
export const SLOW_GRACE_MS = 2000;

/** The rate is written as a 32-bit count (as the quiet block's ms), so no floor is higher. */
export const SLOW_BPS_MAX = 0xffff_ffff;

/** A 32-bit count of ms (49 days) as the quiet floor: a longer grace would never judge anything. */
export const SLOW_GRACE_MS_MAX = 0xffff_ffff;

// A field of the info line: its name after a blank (so `xbusy:` is not `busy:`) and its value up to
// the next blank. The value is checked apart, so a field present but unreadable is told from one
// absent: ss leaves bytes_acked out when it is 0, but one it printed garbled is no evidence of 0.
const BYTES_ACKED = /(?:^|[ \t])bytes_acked:([^ \t\r]*)/;
const BUSY = /(?:^|[ \t])busy:([^ \t\r]*)/;
// ss prints notsent only when it is above 0.
const NOTSENT = /(?:^|[ \t])notsent:(\d{1,10})(?![^ \t\r])/;
// tcpi_bytes_acked is a u64 (20 digits); tcpi_busy_time a u64 of µs that ss prints in ms (17).
const ACKED_VALUE = /^\d{1,20}$/;
const BUSY_VALUE = /^(\d{1,17})ms$/;

/**
 * The rate of one socket its parser read (`sendQ` the header's Send-Q digits, `info` its tcp_info
 * line) when it is slow under `floor`, else null; null also for no evidence (no `busy:`, as on a
 * kernel before 4.10 or a socket never busy) and for a garbled busy or bytes_acked field.
 */
export function slowRate(sendQ: string, info: string, floor: SlowFloor): number | null {
  // Nothing unacknowledged: whatever the client's pace, it is not holding the server up now.
  if (!/[1-9]/.test(sendQ)) return null;
  // Nothing written that the client does not let out yet: the server is not waiting on it.
  const notsent = NOTSENT.exec(info);
  if (notsent === null || !/[1-9]/.test(notsent[1])) return null;
  const busy = BUSY.exec(info);
  if (busy === null) return null;
  const busyMs = BUSY_VALUE.exec(busy[1]);
  if (busyMs === null) return null;
  // Exact past 2^53 too; busy_time is the count of ms (not a rate) and 0 leaves the rate undefined.
  const busyTime = BigInt(busyMs[1]);
  if (busyTime === 0n || busyTime < BigInt(floor.graceMs)) return null;
  const acked = BYTES_ACKED.exec(info);
  let ackedBytes = 0n;
  if (acked !== null) {
    if (!ACKED_VALUE.test(acked[1])) return null;
    ackedBytes = BigInt(acked[1]);
  }
  // Integer division, so a rate just under the floor is never rounded up to it (as a double could).
  const rate = (ackedBytes * 1000n) / busyTime;
  return rate < BigInt(floor.bps) ? Number(rate) : null;
}

/**
 * The reply's slow block: `slow:J` then J lines `slow CLIENT CLIENT_PORT LOCAL LOCAL_PORT BYTES_PER_S`,
 * the slowest first. At most `room` lines (what the quiet block left of QUIET_MAX): past it the
 * fastest are left out, since the lowest rates are the strongest evidence and the director's reply
 * cap must hold both blocks.
 */
export function formatSlow(slow: readonly SlowConnection[], room: number): string {
  const sorted = [...slow].sort((a, b) => a.bytesPerSecond - b.bytesPerSecond);
  const n = room > 0 ? Math.min(sorted.length, Math.floor(room)) : 0;
  const lines = [`slow:${n}\n`];
  for (let i = 0; i < n; i++) {
    const s = sorted[i];
    lines.push(`slow ${s.client} ${s.clientPort} ${s.local} ${s.localPort} ${s.bytesPerSecond}\n`);
  }
  return lines.join('');
}
