// Runs inside the valid clients' namespace: valid clients that look like the Internet. Open-loop
// Poisson arrivals (`--rate` new connections/s), each a real TCP connection from the kernel of this
// namespace (its SYN retransmissions, its answers to the director's challenge) bound to one of
// `--addrs`: an address not used before in this run (a first-time source), or with `--return-prob`
// one used before (a returning source, at most `--max-uses` uses each). Each connection sends one HTTP/1.1 GET
// with `Connection: close` and reads the response to its end; it succeeds with a 200 inside
// `--deadline-ms` from the start of connect(). Partners (`--partners`, `--partner-rate`) do the
// same from the priority-0 rule's addresses, round-robin.
//
// One JSON line per connection when it ends:
//   { t, kind: 'new'|'returning'|'partner', addr, port, use, outcome, http, connectMs, ttfbMs, totalMs }
// outcome: 'ok', 'http' (another status), 'connect-timeout' (no handshake by the deadline),
// 'response-timeout' (connected, no complete response by the deadline), 'reset', or an errno code.
// SIGTERM: no new arrivals; the ones in flight finish (at most the deadline), then it exits.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '80' },
    addrs: { type: 'string' },
    rate: { type: 'string', default: '20' },
    partners: { type: 'string', default: '' },
    'partner-rate': { type: 'string', default: '0' },
    'return-prob': { type: 'string', default: '0.45' },
    'max-uses': { type: 'string', default: '4' },
    'deadline-ms': { type: 'string', default: '4000' },
    seed: { type: 'string', default: '1' },
  },
  strict: true,
});
if (values.host === undefined || values.addrs === undefined) {
  process.stderr.write(
    'usage: valid-clients.ts --host VIP --addrs a,b,... [--rate 20] [--partners p,q --partner-rate 2]\n',
  );
  process.exit(2);
}
const host = values.host;
const port = Number(values.port);
const deadlineMs = Number(values['deadline-ms']);
const returnProb = Number(values['return-prob']);
const maxUses = Number(values['max-uses']);

// mulberry32: a seeded generator, so a run's sequence of addresses and gaps is reproducible.
let seed = Number(values.seed) >>> 0;
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const fresh = values.addrs.split(',').filter((a) => a !== '');
// Shuffled, so first-time sources come from every /24 of the pool.
for (let i = fresh.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [fresh[i], fresh[j]] = [fresh[j], fresh[i]];
}
const uses = new Map<string, number>();
const partners = values.partners.split(',').filter((a) => a !== '');
let partnerNext = 0;

function pickInternet(): { addr: string; kind: 'new' | 'returning' } {
  const used = [...uses.keys()].filter((a) => (uses.get(a) ?? 0) < maxUses);
  if (fresh.length > 0 && (used.length === 0 || random() >= returnProb)) {
    return { addr: fresh.pop() as string, kind: 'new' };
  }
  if (used.length === 0)
    return { addr: [...uses.keys()][Math.floor(random() * uses.size)], kind: 'returning' };
  return { addr: used[Math.floor(random() * used.length)], kind: 'returning' };
}

let inflight = 0;
let stopping = false;

function launch(addr: string, kind: 'new' | 'returning' | 'partner'): void {
  const use = (uses.get(addr) ?? 0) + 1;
  uses.set(addr, use);
  const t = Date.now();
  const t0 = performance.now();
  let connectMs: number | null = null;
  let ttfbMs: number | null = null;
  let http = 0;
  let head = '';
  let localPort = 0;
  let done = false;
  inflight++;
  const s = connect({ host, port, localAddress: addr });
  const finish = (outcome: string): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    s.destroy();
    inflight--;
    const ms = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);
    process.stdout.write(
      `${JSON.stringify({
        t,
        kind,
        addr,
        port: localPort,
        use,
        outcome,
        http,
        connectMs: ms(connectMs),
        ttfbMs: ms(ttfbMs),
        totalMs: ms(performance.now() - t0),
      })}\n`,
    );
    if (stopping && inflight === 0) process.exit(0);
  };
  const timer = setTimeout(
    () => finish(connectMs === null ? 'connect-timeout' : 'response-timeout'),
    deadlineMs,
  );
  s.once('connect', () => {
    connectMs = performance.now() - t0;
    localPort = s.localPort ?? 0;
    s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: sluice-lab-eval\r\nConnection: close\r\n\r\n`);
  });
  s.setEncoding('latin1');
  s.on('data', (d: string) => {
    if (ttfbMs === null) ttfbMs = performance.now() - t0;
    if (http === 0) {
      head += d;
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (m !== null) http = Number(m[1]);
    }
  });
  s.once('end', () => finish(http === 200 ? 'ok' : 'http'));
  s.once('error', (err: NodeJS.ErrnoException) =>
    finish(err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : (err.code ?? 'error')),
  );
}

/** Open-loop Poisson arrivals at `rate`/s calling `fire`, on one 5 ms timer. */
function arrivals(rate: number, fire: () => void): NodeJS.Timeout | null {
  if (!(rate > 0)) return null;
  let next = performance.now() + (-Math.log(1 - random()) * 1000) / rate;
  return setInterval(() => {
    const now = performance.now();
    while (next <= now) {
      fire();
      next += (-Math.log(1 - random()) * 1000) / rate;
    }
  }, 5);
}

const timers = [
  arrivals(Number(values.rate), () => {
    const { addr, kind } = pickInternet();
    launch(addr, kind);
  }),
  arrivals(Number(values['partner-rate']), () => {
    if (partners.length === 0) return;
    launch(partners[partnerNext++ % partners.length], 'partner');
  }),
];

const stop = (): void => {
  stopping = true;
  for (const t of timers) if (t !== null) clearInterval(t);
  if (inflight === 0) process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
