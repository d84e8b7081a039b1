// The `forward` suite: frames per second through the director's real data path (serving worker
// threads, each with its own SO_REUSEPORT VXLAN socket, classifying and forwarding to a real
// server's VTEP) over loopback, against a bare Node UDP relay measured in the same run (the
// same number of worker threads, each with a SO_REUSEPORT socket, receiving and sending on,
// nothing else). The ratio says what classification costs next to socket I/O.
//
// One generator thread blasts established-flow frames from 16 source ports (so the kernel's
// reuseport hash spreads them over the workers); the sink on the main thread counts what
// arrives at the "real server" VTEP. Both runs use the same frames, rates and sockets.
import dgram from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { Dataplane, DEFAULT_VXLAN_PORT_SETTINGS, oneRealSnapshot } from '@sluice/dataplane';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import type { BenchOptions } from './main.ts';
import { emit, note, round } from './report.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const FLOWS = 4096;
const SENDER_SOCKETS = 16;

const GENERATOR = `
const { workerData, parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const { frames, port, address, seconds, sockets } = workerData;
const socks = [];
let ready = 0;
for (let i = 0; i < sockets; i++) {
  const s = dgram.createSocket('udp4');
  s.on('error', () => {});
  s.bind(0, '127.0.0.3', () => { s.setSendBufferSize(1 << 20); if (++ready === sockets) go(); });
  socks.push(s);
}
function go() {
  const end = Date.now() + seconds * 1000;
  let i = 0, sent = 0;
  const burst = () => {
    for (let k = 0; k < 256; k++) {
      const f = frames[i % frames.length];
      socks[i % sockets].send(f, port, address);
      i++; sent++;
    }
    if (Date.now() < end) setImmediate(burst);
    else setTimeout(() => { for (const s of socks) s.close(); parentPort.postMessage(sent); }, 200);
  };
  burst();
}
`;

const RELAY = `
const { workerData, parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const { port, address, sinkPort, sinkAddress } = workerData;
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true, reusePort: true });
s.on('message', (m) => s.send(m, sinkPort, sinkAddress));
s.bind(port, address, () => { s.setRecvBufferSize(4 << 20); s.setSendBufferSize(4 << 20); parentPort.postMessage('bound'); });
parentPort.on('message', () => s.close(() => parentPort.postMessage('closed')));
`;

function buildFrames(): { syns: Uint8Array[]; data: Uint8Array[] } {
  const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
  const vip = addressBytes('10.0.0.100');
  const syns: Uint8Array[] = [];
  const data: Uint8Array[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const src = addressBytes(`10.1.${(i >>> 8) & 0xff}.${i & 0xff}`);
    syns.push(tf.tcp({ src, dst: vip, srcPort: 10000 + i, dstPort: 80, flags: TCP.syn, seq: 1 }));
    data.push(
      tf.tcp({
        src,
        dst: vip,
        srcPort: 10000 + i,
        dstPort: 80,
        flags: TCP.ack | TCP.psh,
        seq: 2,
        payloadLen: 64,
      }),
    );
  }
  return { syns, data };
}

interface Sink {
  count: () => number;
  close: () => Promise<void>;
  port: number;
}

async function openSink(address: string): Promise<Sink> {
  const s = dgram.createSocket('udp4');
  let n = 0;
  s.on('message', () => {
    n++;
  });
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  s.setRecvBufferSize(8 << 20);
  return { count: () => n, close: () => new Promise((r) => s.close(() => r())), port: s.address().port };
}

/** Runs the generator for `seconds`; returns frames sent. */
function generate(frames: Uint8Array[], port: number, seconds: number): Promise<number> {
  const w = new Worker(GENERATOR, {
    eval: true,
    workerData: { frames, port, address: '127.0.0.1', seconds, sockets: SENDER_SOCKETS },
  });
  return new Promise((resolve, reject) => {
    w.once('message', (n: number) => {
      resolve(n);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

async function measureDirector(workers: number, seconds: number, frames: ReturnType<typeof buildFrames>) {
  const sink = await openSink('127.0.0.2');
  const port = await freeUdpPort('127.0.0.1');
  const dp = new Dataplane({ workers, connectionCapacity: 1 << 16 });
  dp.publishConfig(oneRealSnapshot('127.0.0.2', DIRECTOR_MAC));
  await dp.serve(
    { ...DEFAULT_VXLAN_PORT_SETTINGS, address: '127.0.0.1', port, remotePort: sink.port },
    () => {},
  );
  await generate(frames.syns, port, 0.5); // establish the flows first
  await new Promise((r) => setTimeout(r, 200));
  const entries = dp.connections.count();
  const before = sink.count();
  const t0 = performance.now();
  const sent = await generate(frames.data, port, seconds);
  const elapsed = (performance.now() - t0) / 1000;
  const got = sink.count() - before;
  await dp.close();
  await sink.close();
  return { fps: got / elapsed, sent, got, entries };
}

async function measureRelay(workers: number, seconds: number, frames: ReturnType<typeof buildFrames>) {
  const sink = await openSink('127.0.0.2');
  const port = await freeUdpPort('127.0.0.1');
  const relays: Worker[] = [];
  for (let i = 0; i < workers; i++) {
    const w = new Worker(RELAY, {
      eval: true,
      workerData: { port, address: '127.0.0.1', sinkPort: sink.port, sinkAddress: '127.0.0.2' },
    });
    await new Promise((r) => w.once('message', r));
    relays.push(w);
  }
  const t0 = performance.now();
  const sent = await generate(frames.data, port, seconds);
  const elapsed = (performance.now() - t0) / 1000;
  const got = sink.count();
  for (const w of relays) {
    w.postMessage('close');
    await new Promise((r) => w.once('message', r));
    await w.terminate();
  }
  await sink.close();
  return { fps: got / elapsed, sent, got };
}

export async function runForward(opts: BenchOptions): Promise<void> {
  const frames = buildFrames();
  const workerCounts = opts.workers.length > 0 ? opts.workers : [1, 2];
  for (const workers of workerCounts) {
    note(`forward, ${workers} worker(s): bare relay, then director`);
    const relay = await measureRelay(workers, opts.seconds, frames);
    const director = await measureDirector(workers, opts.seconds, frames);
    emit({
      suite: 'forward',
      case: 'relay',
      workers,
      fps: Math.round(relay.fps),
      sent: relay.sent,
      delivered: relay.got,
      seconds: opts.seconds,
    });
    emit({
      suite: 'forward',
      case: 'director',
      workers,
      fps: Math.round(director.fps),
      sent: director.sent,
      delivered: director.got,
      seconds: opts.seconds,
      tableEntries: director.entries,
      ratioToRelay: round(director.fps / relay.fps),
    });
  }
}
