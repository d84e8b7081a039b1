// The lab soak's valid clients, run inside a client namespace with the repo's Node:
//   ip netns exec <ns> node lab-holder.ts --host VIP [--conns 100] [--short-per-second 0]
// Long-lived connections: `--conns` TCP connections to VIP:port, each sending one HTTP/1.1
// keep-alive GET a second (the next one only after the answer) and checking every answer (200, the
// body naming the real server, the same real server as the connection's first answer). A
// connection that errors, is closed, or gets a wrong answer has died: a real kernel would have lost
// it. Short connections: `--short-per-second` connections opened, one GET with `Connection: close`,
// read to the end, counted ok or failed by reason (5 s to finish).
//
// Prints JSON lines: `{holder:'ready'}` once the long-lived connections are open; `{holder:
// 'status'}` every second; `{holder:'died'}` when a long-lived connection dies; and, for each line
// `report TAG` on stdin, `{holder:'report', tag, conns: [...]}` with every long-lived connection's
// local port, real server, answers and the time of its last answer (wall clock, ms), so the soak
// can tell which ones had nothing through since a worker kill, and the slowest answer time of each
// second with a histogram of them all. `stop` on stdin (or stdin closing)
// closes everything and exits after a last status line.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '80' },
    conns: { type: 'string', default: '100' },
    'short-per-second': { type: 'string', default: '0' },
    'interval-ms': { type: 'string', default: '1000' },
  },
  strict: true,
});
if (values.host === undefined) {
  process.stderr.write('usage: lab-holder.ts --host VIP [--port 80] [--conns 100] [--short-per-second 0]\n');
  process.exit(2);
}
const host = values.host;
const port = Number(values.port);
const intervalMs = Number(values['interval-ms']);
const started = Date.now();
const out = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

interface Held {
  id: number;
  socket: Socket;
  localPort: number;
  /** The real server of the first answer ('' before it). */
  real: string;
  answers: number;
  /** ms (wall clock) of the last complete answer; 0 before the first. */
  lastAnswerAt: number;
  /** ms of the request in flight, 0 when none. */
  sentAt: number;
  buf: string;
  dead: string | null;
  timer: NodeJS.Timeout | null;
}

const held: Held[] = [];
/** Answer times (answer − request written) of the long-lived connections: the slowest per wall
 * clock second (epoch s → ms), and a histogram, so a worker kill's effect shows below the 10 s
 * of the delayed/lost judgement (a TCP retransmission takes 200 ms at least). */
const slowestBySecond = new Map<number, number>();
const ANSWER_BUCKETS_MS = [10, 50, 200, 1000] as const;
const answerHistogram: Record<string, number> = { '<10': 0, '<50': 0, '<200': 0, '<1000': 0, '>=1000': 0 };
let stopping = false;
let shortOk = 0;
let shortFailed = 0;
const shortFailures: Record<string, number> = {};

/** Parses one complete HTTP response off the front of `buf`: [status, x-real, body, rest] or null. */
function takeResponse(buf: string): [number, string, string, string] | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.slice(0, end);
  const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (buf.length < end + 4 + len) return null;
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
  const real = /\r\nx-real:\s*(\S+)/i.exec(head)?.[1] ?? '';
  return [status, real, buf.slice(end + 4, end + 4 + len), buf.slice(end + 4 + len)];
}

function die(h: Held, reason: string): void {
  if (h.dead !== null) return;
  h.dead = reason;
  if (h.timer !== null) clearTimeout(h.timer);
  h.socket.destroy();
  if (!stopping)
    out({
      holder: 'died',
      id: h.id,
      port: h.localPort,
      real: h.real,
      reason,
      answers: h.answers,
      at: Date.now(),
    });
}

function request(h: Held): void {
  h.timer = null;
  if (h.dead !== null || stopping) return;
  h.sentAt = Date.now();
  h.socket.write(`GET /?c=${h.id}&n=${h.answers} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
}

function open(id: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    const h: Held = {
      id,
      socket,
      localPort: 0,
      real: '',
      answers: 0,
      lastAnswerAt: 0,
      sentAt: 0,
      buf: '',
      dead: null,
      timer: null,
    };
    held.push(h);
    socket.once('connect', () => {
      h.localPort = socket.localPort ?? 0;
      request(h);
      resolve();
    });
    socket.on('data', (d: string) => {
      h.buf += d;
      for (let r = takeResponse(h.buf); r !== null; r = takeResponse(h.buf)) {
        const [status, real, body, rest] = r;
        h.buf = rest;
        if (status !== 200 || body !== `${real}\n` || (h.real !== '' && real !== h.real)) {
          die(h, `wrong answer: ${status} ${real} after ${h.real || 'none'}`);
          return;
        }
        h.real = real;
        h.answers++;
        h.lastAnswerAt = Date.now();
        const ms = h.lastAnswerAt - h.sentAt;
        const sec = Math.floor(h.lastAnswerAt / 1000);
        if (ms > (slowestBySecond.get(sec) ?? -1)) slowestBySecond.set(sec, ms);
        const b = ANSWER_BUCKETS_MS.find((x) => ms < x);
        answerHistogram[b === undefined ? '>=1000' : `<${b}`]++;
        const wait = Math.max(0, h.sentAt + intervalMs - h.lastAnswerAt);
        h.sentAt = 0;
        h.timer = setTimeout(() => request(h), wait);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      die(h, `error ${err.code ?? err.message}`);
      resolve();
    });
    socket.on('close', () => {
      die(h, 'closed');
      resolve();
    });
  });
}

function shortOne(): void {
  const socket = connect({ host, port });
  let text = '';
  let done = false;
  const finish = (reason: string | null): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    if (reason === null) shortOk++;
    else {
      shortFailed++;
      shortFailures[reason] = (shortFailures[reason] ?? 0) + 1;
    }
  };
  const timer = setTimeout(() => finish('timeout'), 5000);
  socket.setEncoding('latin1');
  socket.once('connect', () => {
    socket.write(`GET /?short HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
  socket.on('data', (d: string) => {
    text += d;
  });
  socket.on('end', () => finish(text.startsWith('HTTP/1.1 200') ? null : 'wrong answer'));
  socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
}

function status(): object {
  const now = Date.now();
  let alive = 0;
  let answers = 0;
  let maxWaitMs = 0;
  for (const h of held) {
    answers += h.answers;
    if (h.dead !== null) continue;
    alive++;
    if (h.sentAt > 0) maxWaitMs = Math.max(maxWaitMs, now - h.sentAt);
  }
  return {
    holder: 'status',
    t: Math.round((now - started) / 100) / 10,
    open: alive,
    died: held.length - alive,
    answers,
    maxWaitMs,
    shortOk,
    shortFailed,
    shortFailures,
  };
}

const conns = Number(values.conns);
for (let i = 0; i < conns; i += 10) {
  await Promise.all(Array.from({ length: Math.min(10, conns - i) }, (_, k) => open(i + k)));
}
out({ holder: 'ready', open: held.filter((h) => h.dead === null).length, conns });

const shortRate = Number(values['short-per-second']);
const shortTimer = shortRate > 0 ? setInterval(shortOne, 1000 / shortRate) : null;
const statusTimer = setInterval(() => out(status()), 1000);

const stop = (): void => {
  if (stopping) return;
  stopping = true;
  if (shortTimer !== null) clearInterval(shortTimer);
  clearInterval(statusTimer);
  out(status());
  for (const h of held) {
    if (h.timer !== null) clearTimeout(h.timer);
    h.socket.destroy();
  }
  // Short connections in flight finish or time out within 5 s; the status above has the counts.
  setTimeout(() => process.exit(0), 100);
};

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, tag] = line.trim().split(/\s+/);
  if (cmd === 'report') {
    out({
      holder: 'report',
      tag,
      at: Date.now(),
      conns: held.map((h) => ({
        port: h.localPort,
        real: h.real,
        answers: h.answers,
        lastAnswerAt: h.lastAnswerAt,
        dead: h.dead,
      })),
      slowestBySecond: [...slowestBySecond],
      answerHistogram,
    });
  } else if (cmd === 'stop') stop();
}
stop();
