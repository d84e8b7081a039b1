// BatchedPort in this thread over real UDP sockets and the real Pipeline: VXLAN frames from a
// client VTEP socket are classified and forwarded to the real server's VTEP socket with the inner
// MAC rewritten; ARP for the VIP is answered to the sender; ARP replies are punted; a displaced
// connection's RST leaves in the same sendmmsg as, and before, the SYN that displaced it; an
// oversized datagram is counted, not crashed on; the batch size follows the load; run() ends on
// the stop word.
import type dgram from 'node:dgram';
import { ConnectionTable, clockNow, PersistenceTable, SourceTable } from '@sluice/conntrack';
import { Rescorer, VictimIndex } from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import {
  EtherType,
  FrameInfo,
  ParseStatus,
  parseFrame,
  writeArp,
  writeEthernet,
  writeVxlan,
} from '@sluice/wire';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BATCH_MIN,
  BatchedPort,
  CompiledConfig,
  type ConfigSnapshot,
  CounterBlock,
  DEFAULT_PIPELINE_OPTIONS,
  DEFAULT_VXLAN_PORT_SETTINGS,
  DropReason,
  Pipeline,
  SLOT_BYTES,
  Verdict,
} from './index.ts';
import { until, vtepSocket } from './test-helpers.ts';
import { oneRealSnapshot } from './testing.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const REAL_MAC = [2, 0, 0, 0, 1, 1];
const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
const VIP = addressBytes('10.0.0.100');

function snapshotFor(vtep: string, upper = 0): ConfigSnapshot {
  return {
    ...oneRealSnapshot(vtep, DIRECTOR_MAC, upper),
    defense: {
      strategy: 'priority',
      highWatermark: 0.98,
      lowWatermark: 0.95,
      lvs: { dropEntry: 0, dropPacket: 0, secureTcp: 0, amemthresh: 0, amDroprate: 10 },
      weights: {},
      rules: [],
      sourceChecks: { enabled: false, action: 'lowest' },
    },
  };
}

const isTcp = (m: Buffer, flag: number) => {
  const f = new FrameInfo();
  return parseFrame(m, 8, m.length - 8, f) === ParseStatus.ok && (f.tcpFlags & flag) !== 0;
};

// The addon is part of the build (build-essential is a test prerequisite): without it these fail
// with the load error, rather than skip.
describe('BatchedPort over real sockets', () => {
  const sockets: dgram.Socket[] = [];
  const ports: BatchedPort[] = [];
  const stops: Int32Array[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) Atomics.store(s, 0, 1);
    for (const p of ports.splice(0)) await p.close();
    for (const s of sockets.splice(0)) s.close();
  });

  async function setup(upper = 0, configured = true) {
    const remotePort = await freeUdpPort('127.0.0.1');
    const real = await vtepSocket('127.0.0.2', remotePort);
    const client = await vtepSocket('127.0.0.3', remotePort);
    sockets.push(real.socket, client.socket);
    const limits = { maxServices: 4, maxReals: 8 };
    const reals = RealServerCounters.create(8);
    const victims = VictimIndex.create(8, 64);
    const tables = {
      connections: ConnectionTable.create(4096),
      sources: SourceTable.create(1024),
      persistence: PersistenceTable.create(256),
      reals,
      victims,
    };
    const counters = CounterBlock.create({ maxWorkers: 1, ...limits });
    const region = counters.region(0);
    const pipe = new Pipeline(
      tables,
      region,
      counters.layout,
      new CompiledConfig(snapshotFor('127.0.0.2', upper), limits, reals),
      DEFAULT_PIPELINE_OPTIONS,
    );
    const punted: Array<{ frame: Uint8Array; vtep: string }> = [];
    const port = new BatchedPort(
      { ...DEFAULT_VXLAN_PORT_SETTINGS, address: '127.0.0.1', port: 0, remotePort },
      region,
      counters.layout,
      () => (configured ? pipe : null),
      (frame, vtep) => punted.push({ frame: frame.slice(), vtep }),
    );
    await port.bind();
    ports.push(port);
    const listen = port.address().port;
    const send = (frame: Uint8Array) => client.socket.send(frame, listen, '127.0.0.1');
    const stop = new Int32Array(new SharedArrayBuffer(4));
    stops.push(stop);
    const serve = () => port.run(stop, () => clockNow(tables.connections.epochMs));
    return { port, real, client, send, serve, stop, region, layout: counters.layout, tables, punted };
  }

  it('forwards through the real Pipeline, answers ARP to the sender, punts ARP replies, and stops on the stop word', async () => {
    const { real, client, send, serve, stop, tables, punted, port } = await setup();
    const running = serve();
    for (let i = 0; i < 40; i++) {
      send(
        tf.tcp({
          src: addressBytes('10.0.2.1'),
          dst: VIP,
          srcPort: 20000 + i,
          dstPort: 80,
          flags: TCP.syn,
          seq: i,
        }),
      );
    }
    await until(() => real.got.length === 40);
    for (const m of real.got) expect([...m.subarray(8, 14)]).toEqual(REAL_MAC);
    expect(tables.connections.count()).toBe(40);

    send(tf.arpRequest(addressBytes('10.0.2.1'), VIP));
    await until(() => client.got.length === 1);
    expect(client.got[0].readUInt16BE(8 + 20)).toBe(2); // ARP op: reply

    // An ARP reply from a real server (what the control plane's probe draws) is punted.
    const reply = new Uint8Array(8 + 14 + 28);
    writeVxlan(reply, 0, 42);
    const mac = Uint8Array.from(REAL_MAC);
    const dmac = Uint8Array.from([2, 0, 0, 0, 0, 1]);
    writeEthernet(reply, 8, dmac, 0, mac, 0, EtherType.arp, -1);
    writeArp(reply, 22, 2, mac, 0, 0x0a000101, dmac, 0, 0);
    real.socket.send(reply, port.address().port, '127.0.0.1');
    await until(() => punted.length === 1);
    expect(punted[0].vtep).toBe('127.0.0.2');
    expect([...punted[0].frame]).toEqual([...reply]);

    Atomics.store(stop, 0, 1);
    await running; // returns within one wait (WAIT_MS), not never
  });

  it('sends a displaced connection’s RST before the SYN that displaced it, in the same batch', async () => {
    const { real, send, serve, tables } = await setup(20);
    const running = serve();
    // 20 bare SYNs (a flood tool's shape), each with a blind ACK, fill the real server to its upper
    // threshold (half-open, a displaced one would only stop being counted: no RST for it).
    for (let i = 0; i < 20; i++) {
      const spoof = { src: addressBytes(`11.0.0.${i + 1}`), dst: VIP, srcPort: 1000 + i, dstPort: 80 };
      send(tf.tcp({ ...spoof, flags: TCP.syn, seq: 7, shape: 'bare' }));
      send(tf.tcp({ ...spoof, flags: TCP.ack, seq: 8, ack: 1 }));
    }
    await until(() => real.got.length === 40);
    new Rescorer({
      connections: tables.connections,
      sources: tables.sources,
      victims: tables.victims,
    }).runPass(clockNow(tables.connections.epochMs));
    const before = real.got.length;
    // A kernel-shaped SYN outranks them: it displaces the lowest, whose RST goes first.
    send(
      tf.tcp({
        src: addressBytes('11.0.1.1'),
        dst: VIP,
        srcPort: 40000,
        dstPort: 80,
        flags: TCP.syn,
        seq: 100,
      }),
    );
    await until(() => real.got.length === before + 2);
    const [first, second] = real.got.slice(before);
    expect(isTcp(first, TCP.rst)).toBe(true);
    expect(isTcp(second, TCP.syn)).toBe(true);
    const f = new FrameInfo();
    parseFrame(first, 8, first.length - 8, f);
    expect(f.tcpSeq >>> 0).toBe(8); // the bare SYN's seq + 1: what the real server expects next
    expect(tables.connections.count()).toBe(20);
    void running;
  });

  it('counts an oversized datagram as frame-too-large and keeps serving; without a config counts no-config', async () => {
    const { real, send, serve, region, layout } = await setup();
    const running = serve();
    send(new Uint8Array(SLOT_BYTES + 500));
    send(
      tf.tcp({ src: addressBytes('10.0.2.9'), dst: VIP, srcPort: 999, dstPort: 80, flags: TCP.syn, seq: 1 }),
    );
    await until(() => real.got.length === 1);
    expect(region[layout.drops + DropReason.frameTooLarge]).toBe(1);
    expect(region[Verdict.drop]).toBe(1);
    expect(region[Verdict.forward]).toBe(1);
    void running;

    const idle = await setup(0, false);
    const r2 = idle.serve();
    idle.send(
      tf.tcp({ src: addressBytes('10.0.2.9'), dst: VIP, srcPort: 999, dstPort: 80, flags: TCP.syn, seq: 1 }),
    );
    await until(() => idle.region[idle.layout.drops + DropReason.noConfig] === 1);
    void r2;
  });

  it('grows the batch while receives fill it and shrinks it when they come back mostly empty', async () => {
    const { port, send, region, layout } = await setup();
    const frames = 1200;
    for (let i = 0; i < frames; i++) {
      send(
        tf.tcp({
          src: addressBytes(`10.3.${i >> 8}.${i & 255}`),
          dst: VIP,
          srcPort: 3000,
          dstPort: 80,
          flags: TCP.syn,
          seq: 1,
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 100)); // all queued at the socket
    const sizes: number[] = [];
    let received = 0;
    for (;;) {
      const n = port.poll();
      if (n <= 0) break;
      received += n;
      sizes.push(port.batchSize);
    }
    expect(received).toBe(frames);
    expect(sizes.slice(0, 5)).toEqual([BATCH_MIN * 2, BATCH_MIN * 4, BATCH_MIN * 8, BATCH_MIN * 16, 256]);
    // All forwarded and handed to the kernel (the receiving test socket's small buffer may not
    // hold 1200 at once, so the sender's side is what is checked here).
    expect(region[Verdict.forward]).toBe(frames);
    expect(region[layout.drops + DropReason.sendFailed]).toBe(0);
    // A trickle: one frame per receive halves the batch back to the minimum.
    for (let i = 0; i < 6; i++) {
      send(
        tf.tcp({
          src: addressBytes('10.4.0.1'),
          dst: VIP,
          srcPort: 4000 + i,
          dstPort: 80,
          flags: TCP.syn,
          seq: 1,
        }),
      );
      await new Promise((r) => setTimeout(r, 10));
      expect(port.poll()).toBe(1);
    }
    expect(port.batchSize).toBe(BATCH_MIN);
  });
});
