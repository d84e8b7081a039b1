// Runs inside the holder namespace (`ip netns exec <ns> node holder.ts ...`): the idle botnet.
// From each of a few real (not spoofed) source addresses it opens `--per` TCP connections to the
// VIP, completes the handshake and then sends nothing, holding the real servers' slots the way a
// slowloris-style botnet does. A connection that closes (an RST or FIN reaches this kernel) is
// opened again, so the pressure stays constant. A connection the director shed on the real server
// is NOT noticed here: the RST went to the real only, this side still thinks it is established,
// which is exactly why the shed check looks at the real's `ss` and not at this process.
// Every second it prints one JSON line: { open, connecting, opened, closed }.
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '80' },
    addrs: { type: 'string' },
    per: { type: 'string', default: '100' },
    'connect-timeout-ms': { type: 'string', default: '10000' },
  },
  strict: true,
});
if (values.host === undefined || values.addrs === undefined) {
  process.stderr.write('usage: holder.ts --host VIP --addrs a,b,c [--per 100] [--port 80]\n');
  process.exit(2);
}
const host = values.host;
const port = Number(values.port);
const per = Number(values.per);
const connectTimeoutMs = Number(values['connect-timeout-ms']);
const addrs = values.addrs.split(',').filter((a) => a !== '');

let open = 0;
let connecting = 0;
let opened = 0;
let closed = 0;
let stopping = false;
const sockets = new Set<Socket>();

function hold(localAddress: string): void {
  if (stopping) return;
  connecting++;
  let established = false;
  const s = connect({ host, port, localAddress });
  sockets.add(s);
  // No data, ever: the point is to hold a slot. A connect that hangs (SYNs dropped) is retried.
  s.setTimeout(connectTimeoutMs, () => {
    if (!established) s.destroy();
  });
  s.once('connect', () => {
    established = true;
    connecting--;
    open++;
    opened++;
    s.setTimeout(0);
  });
  s.on('error', () => {});
  s.once('close', () => {
    sockets.delete(s);
    if (established) {
      open--;
      closed++;
    } else {
      connecting--;
    }
    // A short pause, so a refusing server does not turn this into a connect storm.
    setTimeout(() => hold(localAddress), 200);
  });
}

// Opened in a ramp (a few per address every 10 ms) rather than all at once: a burst of 500
// SYNs from one socket call loop is a different experiment (a SYN burst) from holding.
let started = 0;
const total = per * addrs.length;
const ramp = setInterval(() => {
  for (let k = 0; k < 10 && started < total; k++, started++) hold(addrs[started % addrs.length]);
  if (started >= total) clearInterval(ramp);
}, 10);

const report = setInterval(() => {
  process.stdout.write(`${JSON.stringify({ open, connecting, opened, closed })}\n`);
}, 1000);

const stop = (): void => {
  stopping = true;
  clearInterval(ramp);
  clearInterval(report);
  for (const s of sockets) s.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
