// A Director on loopback beside a fake real-server VTEP (FakeVtep), for the neighbour tests and
// the MAC-change measurement (tools/reliability): one service, one real server with `mac: null`
// behind the fake, the director's own overlay address for overlay checks, a client socket and
// helpers to open connections and read the real server's status and metrics.
import dgram from 'node:dgram';
import { type ConfigFile, validateConfigFile } from '@sluice/config';
import { addressBytes, FakeVtep, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import type { RealStatusView } from './control.ts';
import { Director } from './director.ts';
import type { NudTimings } from './neighbors.ts';

export const DIRECTOR_MAC = '02:5c:00:00:00:01';
export const MAC_A = '02:00:00:00:0a:0a';
export const MAC_B = '02:00:00:00:0b:0b';
export const REAL = '10.42.0.11';
export const VIP = '10.42.0.100';
export const OWN = '10.42.0.2';

export interface Rig {
  director: Director;
  fake: FakeVtep;
  client: dgram.Socket;
  listenPort: number;
  logs: string[];
}

export async function stopRig(r: Rig): Promise<void> {
  await r.director.stop();
  await r.fake.close();
  await new Promise<void>((res) => r.client.close(() => res()));
}

export async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - start;
}

export async function startRig(
  healthCheck: object | null,
  neighbors: Partial<NudTimings> = {},
): Promise<Rig> {
  const listenPort = await freeUdpPort('127.0.0.1');
  const remotePort = await freeUdpPort('127.0.0.2');
  const fake = await FakeVtep.open({
    address: '127.0.0.2',
    port: remotePort,
    vni: 42,
    realAddress: REAL,
    mac: MAC_A,
    directorVtep: { address: '127.0.0.1', port: listenPort },
    directorMac: DIRECTOR_MAC,
    listening: [80],
  });
  const file: ConfigFile = validateConfigFile({
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers: 1,
      connectionCapacity: 4096,
    },
    overlay: { vni: 42, directorMac: DIRECTOR_MAC, address: OWN },
    services: [
      {
        name: 'web',
        vip: VIP,
        port: 80,
        scheduler: 'rr',
        reals: [{ address: REAL, port: 80, vtep: '127.0.0.2', mac: null, healthCheck }],
      },
    ],
    defense: { strategy: 'none' },
  });
  const logs: string[] = [];
  const log = {
    info: (m: string) => logs.push(m),
    warn: (m: string) => logs.push(m),
    error: (m: string) => logs.push(m),
  };
  const director = await Director.start({ file, configPath: null, log, remotePort, neighbors });
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.3', () => r()));
  return { director, fake, client, listenPort, logs };
}

const traffic = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:09:01', directorMac: DIRECTOR_MAC });

export function send(r: Rig, frame: Uint8Array): Promise<void> {
  return new Promise((res) => r.client.send(frame, r.listenPort, '127.0.0.1', () => res()));
}

export function segment(port: number, flags: number, seq: number, payloadLen = 0): Uint8Array {
  return traffic.tcp({
    src: addressBytes('198.51.100.7'),
    dst: addressBytes(VIP),
    srcPort: port,
    dstPort: 80,
    flags,
    seq,
    ack: 1,
    payloadLen,
  });
}

/** A connection from client port `port`, established and with a request sent. */
export async function establish(r: Rig, port: number): Promise<void> {
  await send(r, segment(port, TCP.syn, 1000));
  await send(r, segment(port, TCP.ack, 1001));
  await send(r, segment(port, TCP.ack | TCP.psh, 1001, 10));
}

export function status(r: Rig): RealStatusView {
  return (r.director.realStatus('web') as RealStatusView[])[0];
}

export async function metric(r: Rig, line: string): Promise<number | null> {
  const { body } = await r.director.metrics();
  const found = body.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
}
