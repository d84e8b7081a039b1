// The serving workers with the native port (io: 'native'): two worker threads each own a
// SO_REUSEPORT socket opened by the addon; flows from 16 client sockets (16 outer source ports,
// as kernel VTEPs spread flows) are forwarded by both; a worker that is terminated is replaced,
// the table survives, and every flow is still served afterwards, which holds only if the dead
// thread's socket left the kernel's reuseport group with it (the addon's teardown hook).
import type dgram from 'node:dgram';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import { afterEach, describe, expect, it } from 'vitest';
import { Dataplane, DEFAULT_VXLAN_PORT_SETTINGS, type ServeEvent } from './index.ts';
import { until, vtepSocket } from './test-helpers.ts';
import { oneRealSnapshot } from './testing.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const FLOWS = 64;
const CLIENT_SOCKETS = 16;

describe('Dataplane.serve with the native port', () => {
  let dp: Dataplane | null = null;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    await dp?.close();
    dp = null;
    for (const s of sockets.splice(0)) s.close();
  });

  it('forwards on every worker, replaces a terminated one, and keeps serving every flow', async () => {
    const remotePort = await freeUdpPort('127.0.0.1');
    const listenPort = await freeUdpPort('127.0.0.1');
    const real = await vtepSocket('127.0.0.2', remotePort);
    sockets.push(real.socket);
    const clients: dgram.Socket[] = [];
    for (let i = 0; i < CLIENT_SOCKETS; i++) {
      const c = await vtepSocket('127.0.0.3', 0);
      clients.push(c.socket);
      sockets.push(c.socket);
    }

    dp = new Dataplane({ workers: 2, connectionCapacity: 4096 });
    dp.publishConfig(oneRealSnapshot('127.0.0.2', DIRECTOR_MAC));
    const events: ServeEvent[] = [];
    await dp.serve(
      { ...DEFAULT_VXLAN_PORT_SETTINGS, address: '127.0.0.1', port: listenPort, remotePort },
      (e) => events.push(e),
      'native',
    );
    expect(dp.io).toEqual({ io: 'native', reason: 'configured', fellBack: false });
    const bound = events.filter((e) => e.kind === 'bound');
    expect(bound.map((e) => e.kind === 'bound' && e.io)).toEqual(['native', 'native']);

    const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
    const vip = addressBytes('10.0.0.100');
    const flow = (i: number, flags: number, seq: number, payloadLen = 0) =>
      tf.tcp({
        src: addressBytes('10.0.2.1'),
        dst: vip,
        srcPort: 20000 + i,
        dstPort: 80,
        flags,
        seq,
        payloadLen,
      });
    // Flow i always leaves from client socket i % 16, as a VTEP keeps a flow on one source port.
    const send = (i: number, frame: Uint8Array) =>
      clients[i % CLIENT_SOCKETS].send(frame, listenPort, '127.0.0.1');

    for (let i = 0; i < FLOWS; i++) send(i, flow(i, TCP.syn, 1));
    await until(() => real.got.length === FLOWS, 8000);
    expect(dp.connections.count()).toBe(FLOWS);
    const forwarded = dp.counters.sum(1); // Verdict.forward, summed over the worker regions
    expect(forwarded).toBe(FLOWS);
    // Both workers took a share (16 source ports over 2 reuseport sockets).
    const perWorker = dp.servingSlots.map((s) => dp?.counters.region(s)[1] ?? 0);
    expect(perWorker.every((n) => n > 0)).toBe(true);

    const replaced = new Promise<number>((r) => {
      if (dp) dp.onWorkerReplaced = (slot) => r(slot);
    });
    const victim = dp.servingSlots[0];
    await dp.killServingWorker(0);
    expect(await replaced).toBe(victim);
    await until(() => events.filter((e) => e.kind === 'bound').length === 3);
    expect(dp.connections.count()).toBe(FLOWS);

    // Every established flow sends data: all of it must arrive.
    const before = real.got.length;
    for (let i = 0; i < FLOWS; i++) send(i, flow(i, TCP.ack | TCP.psh, 2, 100));
    await until(() => real.got.length === before + FLOWS);
    expect(dp.connections.count()).toBe(FLOWS);
  });
});
