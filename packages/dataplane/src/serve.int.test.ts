// The serving workers over real sockets: two worker threads each own a UDP socket bound to one
// address with SO_REUSEPORT; frames from a sender socket are classified and forwarded to a real
// server's VTEP socket, ARP for the VIP is answered to the sender's VTEP, and a worker that is
// killed is replaced with the shared table intact.
import type dgram from 'node:dgram';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import { afterEach, describe, expect, it } from 'vitest';
import { Dataplane, DEFAULT_VXLAN_PORT_SETTINGS, type ServeEvent } from './index.ts';
import { until, vtepSocket } from './test-helpers.ts';
import { oneRealSnapshot } from './testing.ts';

const DIRECTOR_MAC = '02:00:00:00:00:01';
const REAL_MAC = [2, 0, 0, 0, 1, 1];

describe('Dataplane.serve over real UDP sockets', () => {
  let dp: Dataplane | null = null;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    await dp?.close();
    dp = null;
    for (const s of sockets.splice(0)) s.close();
  });

  it('forwards, answers ARP, and survives a killed worker with the table intact', async () => {
    const remotePort = await freeUdpPort('127.0.0.1');
    const listenPort = await freeUdpPort('127.0.0.1');
    // The real server's VTEP on 127.0.0.2, the client's on 127.0.0.3, both on the VTEP port.
    const real = await vtepSocket('127.0.0.2', remotePort);
    const client = await vtepSocket('127.0.0.3', remotePort);
    sockets.push(real.socket, client.socket);

    dp = new Dataplane({ workers: 2, connectionCapacity: 4096 });
    dp.publishConfig(oneRealSnapshot('127.0.0.2', DIRECTOR_MAC));
    const events: ServeEvent[] = [];
    await dp.serve(
      { ...DEFAULT_VXLAN_PORT_SETTINGS, address: '127.0.0.1', port: listenPort, remotePort },
      (e) => events.push(e),
    );
    expect(events.filter((e) => e.kind === 'bound').length).toBe(2);

    const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
    const vip = addressBytes('10.0.0.100');
    const send = (frame: Uint8Array) => client.socket.send(frame, listenPort, '127.0.0.1');

    // 40 flows from distinct source ports (distinct outer ports too, as a kernel VTEP would).
    for (let i = 0; i < 40; i++) {
      send(
        tf.tcp({
          src: addressBytes('10.0.2.1'),
          dst: vip,
          srcPort: 20000 + i,
          dstPort: 80,
          flags: TCP.syn,
          seq: i,
        }),
      );
    }
    await until(() => real.got.length === 40);
    for (const m of real.got) {
      expect([...m.subarray(8, 14)]).toEqual(REAL_MAC); // inner destination MAC rewritten
    }
    expect(dp.connections.count()).toBe(40);

    send(tf.arpRequest(addressBytes('10.0.2.1'), vip));
    await until(() => client.got.length === 1);
    expect(client.got[0].readUInt16BE(8 + 20)).toBe(2); // ARP op: reply

    // Kill one serving worker: it is replaced, the table keeps its 40 entries, traffic flows.
    const before = events.filter((e) => e.kind === 'bound').length;
    const replaced = new Promise<number>((r) => {
      if (dp) dp.onWorkerReplaced = (slot) => r(slot);
    });
    const victim = dp.servingSlots[0];
    expect(victim).toBeGreaterThanOrEqual(0);
    // As a crash would: the worker thread terminated; the director replaces it on the same slot.
    await dp.killServingWorker(0);
    expect(await replaced).toBe(victim);
    await until(() => events.filter((e) => e.kind === 'bound').length === before + 1);
    expect(dp.connections.count()).toBe(40);
    for (let i = 0; i < 10; i++) {
      send(
        tf.tcp({
          src: addressBytes('10.0.2.2'),
          dst: vip,
          srcPort: 30000 + i,
          dstPort: 80,
          flags: TCP.syn,
          seq: i,
        }),
      );
    }
    await until(() => real.got.length === 50);
    expect(dp.connections.count()).toBe(50);
  });
});
