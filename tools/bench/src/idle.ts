// The `idle` suite: what the serving worker's way of waiting costs when traffic is light, for the
// native port (a blocking poll(2) on the worker's own thread, at most 20 ms, then a turn of the
// event loop) and the dgram port (libuv's epoll on the worker's event loop). Per port, one
// worker: the process's CPU time over 3 idle seconds, the one-frame latency from a client socket
// to the real server's socket through the director (500 frames, 2 ms apart: p50 and p99), how
// long the stop word takes to end serving, and how long terminating the worker thread takes.
import dgram from 'node:dgram';
import { Dataplane, DEFAULT_VXLAN_PORT_SETTINGS } from '@sluice/dataplane';
import { oneRealSnapshot } from '@sluice/dataplane/testing';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import type { BenchOptions } from './main.ts';
import { emit, note, quantile, round } from './report.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const PINGS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(io: 'native' | 'dgram') {
  const real = dgram.createSocket('udp4');
  await new Promise<void>((r) => real.bind(0, '127.0.0.2', () => r()));
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.3', () => r()));
  const port = await freeUdpPort('127.0.0.1');
  const dp = new Dataplane({ workers: 1, connectionCapacity: 1 << 16 });
  dp.publishConfig(oneRealSnapshot('127.0.0.2', DIRECTOR_MAC));
  const settings = {
    ...DEFAULT_VXLAN_PORT_SETTINGS,
    address: '127.0.0.1',
    port,
    remotePort: real.address().port,
  };
  await dp.serve(settings, () => {}, io);
  await sleep(300);

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(3000);
  const c = process.cpuUsage(cpu0);
  const idleCpuShare = (c.user + c.system) / 1000 / (performance.now() - t0);

  const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
  const vip = addressBytes('10.0.0.100');
  const latencies: number[] = [];
  let sentAt = 0;
  let arrived: (() => void) | null = null;
  real.on('message', () => {
    latencies.push(performance.now() - sentAt);
    arrived?.();
  });
  for (let i = 0; i < PINGS; i++) {
    const frame = tf.tcp({
      src: addressBytes('11.2.0.1'),
      dst: vip,
      srcPort: 10000 + i,
      dstPort: 80,
      flags: TCP.syn,
      seq: 1,
    });
    const got = new Promise<void>((r) => {
      arrived = r;
    });
    sentAt = performance.now();
    client.send(frame, port, '127.0.0.1');
    await Promise.race([got, sleep(200)]);
    await sleep(2);
  }

  // Terminating the thread (a crash drill): until terminate() resolves.
  const k0 = performance.now();
  await dp.killServingWorker(0);
  const terminateMs = performance.now() - k0;
  await sleep(500); // the replacement binds
  const s0 = performance.now();
  await dp.stopServing();
  const stopMs = performance.now() - s0;
  await dp.close();
  real.close();
  client.close();
  return {
    idleCpuShare,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    lost: PINGS - latencies.length,
    terminateMs,
    stopMs,
  };
}

export async function runIdle(opts: BenchOptions): Promise<void> {
  const ios = opts.io.length > 0 ? opts.io : (['native', 'dgram'] as const);
  for (const io of ios) {
    note(`idle: ${io} port, one worker`);
    const m = await measure(io);
    emit({
      suite: 'idle',
      io,
      idleCpuShare: round(m.idleCpuShare, 4),
      oneFrameLatencyP50Ms: round(m.p50, 3),
      oneFrameLatencyP99Ms: round(m.p99, 3),
      lost: m.lost,
      terminateMs: round(m.terminateMs, 1),
      stopMs: round(m.stopMs, 1),
    });
  }
}
