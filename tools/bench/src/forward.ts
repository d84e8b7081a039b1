// The `forward` suite: frames per second through the director's real data path on loopback
// (serving worker threads, each owning a SO_REUSEPORT VXLAN socket, classifying and forwarding
// to a real server's VTEP), with the native batched port and/or Node's dgram port, against the
// C reference relay measured in the same run (sluice-relay: recvmmsg → sendmmsg, same batch
// size, no classification; one thread per worker). `--gso on` (the default) lets both the
// native port and the relay send runs of equal-length, same-destination frames as one UDP GSO
// message; `--gso off` measures both with one message per frame.
//
// Load comes from the native generator (sluice-gen send: sendmmsg of prebuilt VXLAN frames from
// 16 source ports, so the reuseport hash spreads flows over the workers), at --rate or as fast
// as the kernel takes them; a native sink (sluice-gen sink) counts what reaches the real
// server's VTEP. Flows are established first (their SYNs), then the measured window carries
// data segments of those flows (`--traffic established`) or half of them and half spoofed bare
// SYNs from 65,536 sources (`--traffic mixed`). Each figure is one JSON line:
//   io (reference | native | dgram), workers, offeredMpps, deliveredMpps, ratioToReference,
//   lossShare (1 - delivered / offered), and the raw counts.
// On a two-core machine the generator, the sink and the workers share the cores: every row
// pays the same, which is why the reference runs in the same conditions.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Dataplane, DEFAULT_VXLAN_PORT_SETTINGS } from '@sluice/dataplane';
import { oneRealSnapshot } from '@sluice/dataplane/testing';
import { encodeFramesFile, nativeToolPath, readUdpCounters } from '@sluice/io';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import { cpuSeconds } from './cpu.ts';
import type { BenchOptions } from './main.ts';
import { emit, note, round } from './report.ts';

export const DIRECTOR_MAC = '02:00:00:00:00:01';
const FLOWS = 4096;
const SPOOFED = 65536;
const SENDER_SOCKETS = 16;
const BATCH = 64;

/** A frames file for sluice-gen: records of a 2-byte big-endian length and the bytes. */
export function writeFrames(file: string, frames: Uint8Array[]): void {
  writeFileSync(file, encodeFramesFile(frames));
}

export interface FrameFiles {
  syns: string;
  data: string;
  mixed: string;
  dir: string;
}

export function buildFrameFiles(): FrameFiles {
  const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
  const vip = addressBytes('10.0.0.100');
  const syns: Uint8Array[] = [];
  const data: Uint8Array[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const src = addressBytes(`11.1.${(i >>> 8) & 0xff}.${i & 0xff}`);
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
  const mixed: Uint8Array[] = [];
  for (let i = 0; i < SPOOFED; i++) {
    mixed.push(data[i % FLOWS]);
    const src = addressBytes(`12.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`);
    mixed.push(
      tf.tcp({
        src,
        dst: vip,
        srcPort: 1024 + (i % 60000),
        dstPort: 80,
        flags: TCP.syn,
        seq: i,
        shape: 'bare',
      }),
    );
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-forward-'));
  const files = {
    syns: path.join(dir, 'syns.frames'),
    data: path.join(dir, 'data.frames'),
    mixed: path.join(dir, 'mixed.frames'),
    dir,
  };
  writeFrames(files.syns, syns);
  writeFrames(files.data, data);
  writeFrames(files.mixed, mixed);
  return files;
}

export function removeFrameFiles(files: FrameFiles): void {
  rmSync(files.dir, { recursive: true, force: true });
}

/** A child process that prints one JSON object per line; `next()` resolves with the next one. */
class JsonChild {
  readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Array<Record<string, number>> = [];
  private waiting: ((v: Record<string, number>) => void) | null = null;
  private readonly exited: Promise<number>;

  constructor(file: string, args: string[]) {
    this.child = spawn(file, args);
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const v = JSON.parse(line) as Record<string, number>;
      if (this.waiting !== null) {
        const w = this.waiting;
        this.waiting = null;
        w(v);
      } else this.lines.push(v);
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code ?? -1)));
  }

  next(): Promise<Record<string, number>> {
    const v = this.lines.shift();
    if (v !== undefined) return Promise.resolve(v);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      void this.exited.then((code) => reject(new Error(`${this.child.spawnfile} exited (${code})`)));
    });
  }

  /** SIGUSR1 asks the sink for its count. */
  async ask(): Promise<Record<string, number>> {
    this.child.kill('SIGUSR1');
    return this.next();
  }

  async stop(): Promise<Record<string, number>> {
    this.child.kill('SIGTERM');
    const last = await this.next();
    await this.exited;
    return last;
  }

  done(): Promise<number> {
    return this.exited;
  }
}

export function generate(port: number, frames: string, seconds: number, rate: number): JsonChild {
  const args = ['send', '--to', `127.0.0.1:${port}`, '--frames', frames, '--from', '127.0.0.3'];
  args.push('--sockets', String(SENDER_SOCKETS), '--batch', String(BATCH), '--seconds', String(seconds));
  if (rate > 0) args.push('--rate', String(rate));
  return new JsonChild(nativeToolPath('sluice-gen'), args);
}

export async function openSink(): Promise<{ sink: JsonChild; port: number }> {
  const sink = new JsonChild(nativeToolPath('sluice-gen'), ['sink', '--listen', '127.0.0.2:0']);
  const ready = await sink.next();
  return { sink, port: ready.port };
}

interface Figure {
  sent: number;
  seconds: number;
  delivered: number;
  rcvbufErrors: number;
  /** CPU seconds the forwarding threads used in the window (kernel work in their calls included). */
  cpu: number;
  tableEntries?: number;
}

/** Offers `frames` to `port` for `seconds` and counts what the sink got meanwhile (and just after). */
async function window(
  sink: JsonChild,
  port: number,
  frames: string,
  opts: BenchOptions,
  cpu: () => number,
): Promise<Figure> {
  const before = await sink.ask();
  const snmp0 = readUdpCounters();
  const cpu0 = cpu();
  const gen = generate(port, frames, opts.seconds, opts.rate);
  const g = await gen.next();
  await gen.done();
  await new Promise((r) => setTimeout(r, 100)); // what is in flight lands
  const after = await sink.ask();
  const snmp1 = readUdpCounters();
  const cpu1 = cpu();
  return {
    cpu: cpu1 - cpu0,
    sent: g.sent,
    seconds: g.seconds,
    delivered: after.received - before.received,
    rcvbufErrors: (snmp1?.rcvbufErrors ?? 0) - (snmp0?.rcvbufErrors ?? 0),
  };
}

async function measureReference(workers: number, files: FrameFiles, opts: BenchOptions): Promise<Figure> {
  const { sink, port: sinkPort } = await openSink();
  const relay = new JsonChild(nativeToolPath('sluice-relay'), [
    '--listen',
    '127.0.0.1:0',
    '--to',
    `127.0.0.2:${sinkPort}`,
    '--batch',
    String(DEFAULT_VXLAN_PORT_SETTINGS.batchLimits.maxFrames), // the director's largest batch
    '--threads',
    String(workers),
    '--gso',
    opts.gso ? '1' : '0',
  ]);
  const { port } = await relay.next();
  const pid = relay.child.pid ?? 0;
  const fig = await window(sink, port, opts.traffic === 'mixed' ? files.mixed : files.data, opts, () =>
    cpuSeconds(pid),
  );
  await relay.stop();
  await sink.stop();
  return fig;
}

async function measureDirector(
  io: 'native' | 'dgram',
  workers: number,
  files: FrameFiles,
  opts: BenchOptions,
): Promise<Figure> {
  const { sink, port: sinkPort } = await openSink();
  const port = await freeUdpPort('127.0.0.1');
  const dp = new Dataplane({ workers, connectionCapacity: 1 << 20, hugePages: opts.hugePages });
  dp.publishConfig(oneRealSnapshot('127.0.0.2', DIRECTOR_MAC));
  await dp.serve(
    { ...DEFAULT_VXLAN_PORT_SETTINGS, address: '127.0.0.1', port, remotePort: sinkPort, gso: opts.gso },
    () => {},
    io,
  );
  // Establish the flows first (paced, so the slower port takes every SYN).
  const warm = generate(port, files.syns, 0.6, 15_000);
  await warm.next();
  await new Promise((r) => setTimeout(r, 200));
  const entries = dp.connections.count();
  // Node names its worker threads' tasks "WorkerThread": the serving workers are all of them here.
  const fig = await window(sink, port, opts.traffic === 'mixed' ? files.mixed : files.data, opts, () =>
    cpuSeconds('self', 'WorkerThread'),
  );
  await dp.close();
  await sink.stop();
  return { ...fig, tableEntries: entries };
}

export async function runForward(opts: BenchOptions): Promise<void> {
  const files = buildFrameFiles();
  try {
    const workerCounts = opts.workers.length > 0 ? opts.workers : [1];
    const ios = opts.io.length > 0 ? opts.io : (['native', 'dgram'] as const);
    for (const workers of workerCounts) {
      note(`forward, ${workers} worker(s), ${opts.traffic}: C reference relay, then ${ios.join(', ')}`);
      const ref = await measureReference(workers, files, opts);
      const refMpps = ref.delivered / ref.seconds / 1e6;
      const row = (io: string, f: Figure) => ({
        suite: 'forward',
        traffic: opts.traffic,
        io,
        ...(io === 'dgram' ? {} : { gso: opts.gso }),
        workers,
        offeredMpps: round(f.sent / f.seconds / 1e6),
        deliveredMpps: round(f.delivered / f.seconds / 1e6),
        ratioToReference: round(f.delivered / f.seconds / 1e6 / refMpps),
        lossShare: round(f.sent > 0 ? Math.max(0, 1 - f.delivered / f.sent) : 0),
        sent: f.sent,
        delivered: f.delivered,
        seconds: round(f.seconds),
        udpRcvbufErrors: f.rcvbufErrors,
        // CPU of the forwarding threads per frame they delivered: robust to a busy machine.
        cpuUsPerFrame: f.delivered > 0 ? round((f.cpu / f.delivered) * 1e6, 2) : null,
        ...(f.tableEntries === undefined ? {} : { tableEntries: f.tableEntries }),
      });
      emit(row('reference', ref));
      for (const io of ios) emit(row(io, await measureDirector(io, workers, files, opts)));
    }
  } finally {
    removeFrameFiles(files);
  }
}
