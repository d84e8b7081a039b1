// QUIC connection-ID routing in the director on loopback, with recorded packets from a real QUIC
// implementation: the 13 client → server datagrams of an ngtcp2 connection whose client moved to
// a new port mid-connection (packages/wire/fixtures/quic-migration.pcap, its server's CIDs carry
// QUIC-LB server ID 0a01). Each is sent, VXLAN-encapsulated, from a client VTEP socket to the
// director's real UDP port; two real servers' VTEP sockets receive what is forwarded. The
// scheduler is rr, so a director routing by 5-tuple sends the moved client to the other server:
// the control run without `quic` shows that, the QUIC run that every datagram reaches 0a01's.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { type ConfigFile, validateConfigFile } from '@sluice/config';
import { freeUdpPort } from '@sluice/traffic';
import { readPcap, writeVxlan } from '@sluice/wire';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildControlPlane } from './api/server.ts';
import type { QuicServiceView, StatsView } from './control.ts';
import { Director } from './director.ts';

const TOKEN = 'test-token-0123456789';
const VNI = 42;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
/** The capture's inner frames (Ethernet, IPv4 10.97.0.1 → 10.97.0.2, UDP → 4433). */
const FRAMES = readPcap(
  new Uint8Array(
    readFileSync(new URL('../../../packages/wire/fixtures/quic-migration.pcap', import.meta.url)),
  ),
).map((p) => p.data);
/** The client's port changes from the 7th datagram on. */
const MOVED_AT = 6;

async function vtep(address: string, port: number) {
  const socket = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  await new Promise<void>((r) => socket.bind(port, address, () => r()));
  return { socket, got };
}

async function until(cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function fileConfig(listenPort: number, quic: boolean): ConfigFile {
  const real = (last: number, vtepAddress: string, id: string) => ({
    address: `10.97.0.${last}`,
    port: 4433,
    vtep: vtepAddress,
    mac: `02:00:00:00:01:${last}`,
    healthCheck: null,
    ...(quic ? { quicServerId: id } : {}),
  });
  return validateConfigFile({
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers: 1,
      connectionCapacity: 4096,
    },
    overlay: { vni: VNI, directorMac: '02:5c:00:00:00:01' },
    services: [
      {
        name: 'h3',
        vip: '10.97.0.2',
        port: 4433,
        protocol: 'udp',
        scheduler: 'rr',
        ...(quic
          ? { quic: { quicLb: { configId: 1, serverIdLength: 2, nonceLength: 15, lengthSelfEncoded: true } } }
          : {}),
        // rr's first pick is the first real server: the one whose server ID the capture carries.
        reals: [real(11, '127.0.0.2', '0a01'), real(12, '127.0.0.4', '0a02')],
      },
    ],
  });
}

describe('QUIC connection-ID routing on loopback, recorded ngtcp2 packets', () => {
  let director: Director | null = null;
  let app: FastifyInstance | null = null;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    await app?.close();
    await director?.stop();
    app = null;
    director = null;
    for (const s of sockets.splice(0)) s.close();
  });

  /** Replays the capture through a director; returns both real servers' VTEP sockets and the API. */
  async function replay(quic: boolean) {
    const remotePort = await freeUdpPort('127.0.0.1');
    const listenPort = await freeUdpPort('127.0.0.1');
    const owner = await vtep('127.0.0.2', remotePort);
    const other = await vtep('127.0.0.4', remotePort);
    const client = await vtep('127.0.0.3', remotePort);
    sockets.push(owner.socket, other.socket, client.socket);
    director = await Director.start({
      file: fileConfig(listenPort, quic),
      configPath: null,
      log: quiet,
      remotePort,
    });
    app = buildControlPlane(director, { token: TOKEN });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    // One at a time, in order, as the client sent them: each reaches a real server before the next.
    for (const frame of FRAMES) {
      const datagram = new Uint8Array(8 + frame.length);
      writeVxlan(datagram, 0, VNI);
      datagram.set(frame, 8);
      const before = owner.got.length + other.got.length;
      client.socket.send(datagram, listenPort, '127.0.0.1');
      await until(() => owner.got.length + other.got.length === before + 1);
    }
    return { owner, other, base };
  }

  it('keeps the moved client on the server its connection IDs name, and says so over REST and /metrics', async () => {
    const { owner, other, base } = await replay(true);
    expect(owner.got).toHaveLength(FRAMES.length);
    expect(other.got).toHaveLength(0);
    // Forwarded unchanged but for the inner MACs: the QUIC payload is the one recorded.
    const last = owner.got.at(-1) as Buffer;
    expect(last.subarray(8 + 12)).toEqual(Buffer.from(FRAMES.at(-1)?.subarray(12) as Uint8Array));

    const view = (await (await fetch(`${base}/v1/services/h3/quic`)).json()) as QuicServiceView;
    expect(view.layout).toMatchObject({ algorithm: 'quic-lb-draft-20', configId: 1, serverIdLength: 2 });
    expect(view.servers).toEqual([
      { serverId: '0a01', real: '10.97.0.11:4433', routable: true },
      { serverId: '0a02', real: '10.97.0.12:4433', routable: true },
    ]);
    // Two Initials (long headers); eleven 1-RTT datagrams routed by ID, one new path recorded.
    expect(view.counters).toEqual({
      longHeader: 2,
      cidRouted: FRAMES.length - 2,
      unknownServerId: 0,
      unroutable: 0,
      newPaths: 1,
      repointed: 0,
    });
    const stats = (await (await fetch(`${base}/v1/stats`)).json()) as StatsView;
    expect(stats.services[0].quic).toEqual(view.counters);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`sluice_quic_packets_total{service="h3",route="cid"} ${FRAMES.length - 2}`);
    expect(metrics).toContain('sluice_quic_path_changes_total{service="h3",entry="created"} 1');
    // Both paths are entries of the owner.
    const conns = (await (await fetch(`${base}/v1/connections?service=h3`)).json()) as {
      items: { client: { port: number }; real: { address: string } }[];
    };
    expect(conns.items).toHaveLength(2);
    expect(new Set(conns.items.map((c) => c.real.address))).toEqual(new Set(['10.97.0.11']));
  });

  it('control: routed by 5-tuple, the moved client lands on the other server', async () => {
    const { owner, other } = await replay(false);
    expect(owner.got).toHaveLength(MOVED_AT);
    expect(other.got).toHaveLength(FRAMES.length - MOVED_AT);
  });
});
