// The director as an operator runs it, on loopback: serving workers bound to a real UDP port,
// the control plane on a real HTTP listener, frames from a client VTEP socket, a real server's
// VTEP socket receiving what is forwarded. Proves: forwarding, connection listing, a reset that
// sends the RST with the tracked sequence number and removes the entry, draining over REST, MAC
// learning by ARP probe, health checks against a real TCP listener, a real load agent correcting
// the count, and /metrics.
import dgram from 'node:dgram';
import net from 'node:net';
import { AgentServer } from '@sluice/agent';
import { type ConfigFile, validateConfigFile } from '@sluice/config';
import { DEFAULT_VERIFICATION } from '@sluice/defense';
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
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildControlPlane } from './api/server.ts';
import type { ConnectionPage, RealStatusView } from './control.ts';
import { Director } from './director.ts';

const TOKEN = 'test-token-0123456789';
const DIRECTOR_MAC = '02:5c:00:00:00:01';
const REAL_MAC = '02:00:00:00:01:01';
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function vtep(address: string, port: number) {
  const socket = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  await new Promise<void>((r) => socket.bind(port, address, () => r()));
  return { socket, got };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A frame the director sent (8 bytes of VXLAN header first), parsed; null if it does not parse. */
function parsed(m: Buffer): FrameInfo | null {
  const f = new FrameInfo();
  return parseFrame(m, 8, m.length - 8, f) === ParseStatus.ok ? f : null;
}
const isRst = (m: Buffer) => ((parsed(m)?.tcpFlags ?? 0) & TCP.rst) !== 0;

type RealInput = Record<string, unknown>;
interface RealList {
  items: Array<{ status: RealStatusView | null }>;
}

async function getJson<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

function fileConfig(listenPort: number, reals: RealInput[], defense?: Record<string, unknown>): ConfigFile {
  return validateConfigFile({
    ...(defense === undefined ? {} : { defense }),
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers: 2,
      connectionCapacity: 4096,
    },
    overlay: { vni: 42, directorMac: DIRECTOR_MAC },
    services: [{ name: 'web', vip: '10.42.0.100', port: 80, protocol: 'tcp', scheduler: 'rr', reals }],
  });
}

describe('Director on loopback', () => {
  let director: Director | null = null;
  let app: FastifyInstance | null = null;
  const sockets: dgram.Socket[] = [];
  const servers: net.Server[] = [];
  afterEach(async () => {
    await app?.close();
    await director?.stop();
    app = null;
    director = null;
    for (const s of sockets.splice(0)) s.close();
    for (const s of servers.splice(0)) s.close();
  });

  async function start(reals: RealInput[], defense?: Record<string, unknown>) {
    const remotePort = await freeUdpPort('127.0.0.1');
    const listenPort = await freeUdpPort('127.0.0.1');
    const real = await vtep('127.0.0.2', remotePort);
    const client = await vtep('127.0.0.3', remotePort);
    sockets.push(real.socket, client.socket);
    director = await Director.start({
      file: fileConfig(listenPort, reals, defense),
      configPath: null,
      log: quiet,
      remotePort,
    });
    app = buildControlPlane(director, { token: TOKEN });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
    const send = (f: Uint8Array) => client.socket.send(f, listenPort, '127.0.0.1');
    return { real, client, base, tf, send, listenPort };
  }

  /**
   * One real server with upper threshold `upper`, the priority defense, no source checks, and
   * verification from a full server only: the tests fill it with one burst of frames, and with
   * the default watermark (0.7) the defense loop's 20 ms tick could switch verification on in the
   * middle of the burst, challenge its last SYNs instead of counting them, and leave the server
   * short of the capacity the test is about (seen: 1 run in 12 of this file).
   */
  function startPriority(upper: number) {
    return start(
      [
        {
          address: '10.42.0.11',
          port: 80,
          vtep: '127.0.0.2',
          mac: REAL_MAC,
          healthCheck: null,
          upperThreshold: upper,
        },
      ],
      {
        strategy: 'priority',
        sourceChecks: { enabled: false, action: 'lowest' },
        verification: { ...DEFAULT_VERIFICATION, watermark: 1 },
      },
    );
  }

  it('forwards, lists, resets with the tracked sequence number, drains, and exports metrics', async () => {
    const { real, base, tf, send } = await start([
      { address: '10.42.0.11', port: 80, vtep: '127.0.0.2', mac: REAL_MAC, healthCheck: null },
    ]);
    const vip = addressBytes('10.42.0.100');
    const src = addressBytes('10.42.0.101');
    send(tf.tcp({ src, dst: vip, srcPort: 40000, dstPort: 80, flags: TCP.syn, seq: 1000 }));
    send(tf.tcp({ src, dst: vip, srcPort: 40000, dstPort: 80, flags: TCP.ack, seq: 1001, ack: 1 }));
    send(
      tf.tcp({
        src,
        dst: vip,
        srcPort: 40000,
        dstPort: 80,
        flags: TCP.ack | TCP.psh,
        seq: 1001,
        payloadLen: 100,
      }),
    );
    await until(() => real.got.length === 3);

    const list = await getJson<ConnectionPage>(`${base}/v1/connections?service=web`);
    expect(list.items).toHaveLength(1);
    const conn = list.items[0];
    expect(conn).toMatchObject({
      state: 'ESTABLISHED',
      client: { address: '10.42.0.101', port: 40000 },
      nextSeq: 1101,
    });

    // Draining: a new SYN finds no real server; the established flow carries on.
    const patch = await fetch(`${base}/v1/services/web/reals/${encodeURIComponent('10.42.0.11:80')}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'draining' }),
    });
    expect(patch.status).toBe(200);
    send(tf.tcp({ src, dst: vip, srcPort: 40001, dstPort: 80, flags: TCP.syn, seq: 5 }));
    send(
      tf.tcp({
        src,
        dst: vip,
        srcPort: 40000,
        dstPort: 80,
        flags: TCP.ack | TCP.psh,
        seq: 1101,
        payloadLen: 10,
      }),
    );
    await until(() => real.got.length === 4);
    await new Promise((r) => setTimeout(r, 200));
    expect(real.got.length).toBe(4);
    const frame = new FrameInfo();
    expect(parseFrame(real.got[3], 8, real.got[3].length - 8, frame)).toBe(ParseStatus.ok);
    expect(frame.srcPort).toBe(40000);

    // Reset: the RST reaches the real server's VTEP with the sequence number the client is at.
    const del = await fetch(`${base}/v1/connections/${conn.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(del.status).toBe(204);
    await until(() => real.got.length === 5);
    const rst = real.got[4];
    expect(parseFrame(rst, 8, rst.length - 8, frame)).toBe(ParseStatus.ok);
    expect(frame.tcpFlags & TCP.rst).toBe(TCP.rst);
    expect(frame.tcpSeq >>> 0).toBe(1111);
    expect(frame.srcPort).toBe(40000);
    expect([...rst.subarray(8, 14)].map((b) => b.toString(16).padStart(2, '0')).join(':')).toBe(REAL_MAC);
    expect((await getJson<ConnectionPage>(`${base}/v1/connections`)).tableCount).toBe(0);
    const reals = await getJson<RealList>(`${base}/v1/services/web/reals`);
    expect(reals.items[0].status).toMatchObject({ activeConnections: 0, inactiveConnections: 0 });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/sluice_packets_total\{verdict="forward"\} 4/);
    expect(metrics).toMatch(/sluice_dropped_packets_total\{reason="no-real-server"\} 1/);
    expect(metrics).toMatch(/sluice_connections_removed_total\{reason="reset"\} 1/);
  });

  it('learns an unconfigured MAC by ARP probe and takes the real server into service', async () => {
    const { real, base, tf, send, listenPort } = await start([
      { address: '10.42.0.11', port: 80, vtep: '127.0.0.2', mac: null, healthCheck: null },
    ]);
    // The probe arrives at the real server's VTEP: "who has 10.42.0.11?" from the director.
    await until(() => real.got.some((m) => m.readUInt16BE(8 + 12) === EtherType.arp));
    const reply = new Uint8Array(8 + 14 + 28);
    writeVxlan(reply, 0, 42);
    const mac = Uint8Array.from(REAL_MAC.split(':').map((h) => Number.parseInt(h, 16)));
    const dmac = Uint8Array.from(DIRECTOR_MAC.split(':').map((h) => Number.parseInt(h, 16)));
    writeEthernet(reply, 8, dmac, 0, mac, 0, EtherType.arp, -1);
    writeArp(reply, 22, 2, mac, 0, 0x0a2a000b, dmac, 0, 0);
    real.socket.send(reply, listenPort, '127.0.0.1');
    await until(async () => {
      const r = await getJson<RealList>(`${base}/v1/services/web/reals`);
      const status = r.items[0].status;
      return status?.macSource === 'learned' && status?.mac === REAL_MAC;
    });
    const before = real.got.length;
    send(
      tf.tcp({
        src: addressBytes('10.42.0.101'),
        dst: addressBytes('10.42.0.100'),
        srcPort: 40000,
        dstPort: 80,
        flags: TCP.syn,
        seq: 1,
      }),
    );
    await until(() => real.got.slice(before).some((m) => m.readUInt16BE(8 + 12) === EtherType.ipv4));
  });

  it('takes a real server whose health check fails out of scheduling, and back', async () => {
    const listener = net.createServer((s) => s.destroy());
    servers.push(listener);
    await new Promise<void>((r) => listener.listen(0, '127.0.0.2', () => r()));
    const hcPort = (listener.address() as net.AddressInfo).port;
    const { base } = await start([
      {
        address: '10.42.0.11',
        port: 80,
        vtep: '127.0.0.2',
        mac: REAL_MAC,
        healthCheck: {
          type: 'tcp',
          port: hcPort,
          intervalSeconds: 0.05,
          timeoutSeconds: 0.5,
          rise: 1,
          fall: 2,
        },
      },
    ]);
    const health = async () => {
      const r = await getJson<RealList>(`${base}/v1/services/web/reals`);
      return r.items[0].status?.health;
    };
    expect(await health()).toBe('up');
    await new Promise<void>((r) => listener.close(() => r()));
    await until(async () => (await health()) === 'down');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/sluice_real_server_up\{service="web",real="10.42.0.11:80"\} 0/);
  });

  it('at capacity stops counting half-open spoofs instead of resetting them: no RST reaches the real server', async () => {
    const { real, base, tf, send } = await startPriority(20);
    const vip = addressBytes('10.42.0.100');
    for (let i = 0; i < 20; i++) {
      send(
        tf.tcp({
          src: addressBytes(`198.18.1.${i + 1}`),
          dst: vip,
          srcPort: 1000 + i,
          dstPort: 80,
          flags: TCP.syn,
          seq: 7,
          shape: 'bare',
        }),
      );
    }
    const released = async () => {
      const m = (await (await fetch(`${base}/metrics`)).text()).match(
        /^sluice_half_open_released_total (\d+)/m,
      );
      return m === null ? 0 : Number(m[1]);
    };
    await until(async () => (await released()) >= 1);
    expect(real.got.filter(isRst)).toHaveLength(0);
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^sluice_rsts_sent_total 0$/m);
  });

  it('at capacity sheds the lowest by RST, challenges an unverified client, and its verified SYN takes the room the shedding made', async () => {
    const { real, client, base, tf, send } = await startPriority(20);
    const vip = addressBytes('10.42.0.100');
    // 20 bare SYNs (hping3's shape: no options) from spoofed sources fill the real server, each
    // with a blind ACK (a half-open one would only stop being counted: no RST for it).
    for (let i = 0; i < 20; i++) {
      const spoof = { src: addressBytes(`198.18.0.${i + 1}`), dst: vip, srcPort: 1000 + i, dstPort: 80 };
      send(tf.tcp({ ...spoof, flags: TCP.syn, seq: 7, shape: 'bare' }));
      send(tf.tcp({ ...spoof, flags: TCP.ack, seq: 8, ack: 1 }));
    }
    // At the high watermark (98% of 20) the shedder resets down to the low one (95%): one RST.
    await until(() => real.got.filter(isRst).length >= 1);
    const rst = parsed(real.got.find(isRst) as Buffer) as FrameInfo;
    expect(rst.tcpSeq >>> 0).toBe(8); // the bare SYN's seq + 1: what the real server expects
    // The service is verifying now: a kernel's SYN from an unverified source gets the director's
    // challenge back at its VTEP, not a real server.
    const c = { src: addressBytes('10.42.0.101'), dst: vip, srcPort: 40000, dstPort: 80 };
    const forwardedBefore = real.got.length;
    send(tf.tcp({ ...c, flags: TCP.syn, seq: 100 }));
    // (Each bare SYN's new source was probed too, at another port: those SYN-ACKs come first.)
    const isChallenge = (m: Buffer) => {
      const f = parsed(m);
      return f !== null && f.tcpFlags === (TCP.syn | TCP.ack) && f.dstPort === 40000;
    };
    await until(() => client.got.some(isChallenge));
    const challenge = parsed(client.got.find(isChallenge) as Buffer);
    const probes = client.got.filter((m) => {
      const f = parsed(m);
      return f !== null && f.tcpFlags === (TCP.syn | TCP.ack) && f.dstPort !== 40000;
    });
    expect(probes.length).toBe(20);
    expect(real.got.slice(forwardedBefore).some((m) => parsed(m)?.srcPort === 40000)).toBe(false);
    // The client's stack answers (<SEQ=SEG.ACK><CTL=RST>) and sends its SYN again: verified, it
    // takes the room the shedder made (a bare SYN would not: under pressure only a verified
    // source's new connection is admitted in the threshold's hysteresis band).
    send(tf.tcp({ ...c, flags: TCP.rst, seq: challenge?.tcpAck ?? 0 }));
    await until(async () => (await getJson<{ total: number }>(`${base}/v1/sources/verified`)).total === 1);
    send(tf.tcp({ ...c, flags: TCP.syn, seq: 100 }));
    await until(() =>
      real.got.slice(forwardedBefore).some((m) => {
        const f = parsed(m);
        return f !== null && f.srcPort === 40000 && (f.tcpFlags & TCP.syn) !== 0;
      }),
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/sluice_connections_removed_total\{reason="shed"\} [1-9]/);
    expect(metrics).toMatch(/sluice_connections_removed_total\{reason="displaced"\} 0/);
    expect(metrics).toMatch(/sluice_challenges_sent_total 1/);
    expect(metrics).toMatch(/sluice_probes_sent_total 2[01]\n/);
    expect(metrics).toMatch(/sluice_challenge_answers_total\{result="verified"\} 1/);
    expect(metrics).toMatch(/sluice_service_verifying\{service="web"\} 1/);
    // The director feeds the dashboard's threshold line, defense panel and worker alert.
    expect(metrics).toMatch(/sluice_real_server_upper_threshold\{service="web",real="10.42.0.11:80"\} 20\n/);
    expect(metrics).toMatch(/sluice_defense_strategy\{strategy="priority"\} 1\n/);
    expect(metrics).toMatch(/sluice_defense_strategy\{strategy="drop_packet"\} 0\n/);
    expect(metrics).toMatch(/sluice_workers_configured 2\n/);
    const list = await getJson<ConnectionPage>(`${base}/v1/connections?client=10.42.0.101`);
    expect(list.items).toHaveLength(1);
    expect(list.items[0].verified).toBe(true);
    expect(list.items[0].priority).toBe(4);
    // the bare SYNs left say why they go first
    const bare = await getJson<ConnectionPage>(`${base}/v1/connections?client=198.18.0.0/24&limit=1`);
    expect(bare.items[0].priorityReasons).toEqual(expect.arrayContaining(['unverified', 'syn-no-options']));
  });

  it('counts what the real server holds: a connection its client closed frees its slot, with no RST', async () => {
    const { real, base, tf, send } = await startPriority(4);
    const vip = addressBytes('10.42.0.100');
    const conn = (host: number) => ({
      src: addressBytes(`10.42.1.${host}`),
      dst: vip,
      srcPort: 40000,
      dstPort: 80,
    });
    // Four clients open, send a request and close, one after the other: with IPVS's count their
    // FIN_WAIT entries would hold the server's four slots for 120 s.
    for (let h = 1; h <= 4; h++) {
      send(tf.tcp({ ...conn(h), flags: TCP.syn, seq: 100 }));
      send(tf.tcp({ ...conn(h), flags: TCP.ack, seq: 101, ack: 5001 }));
      send(tf.tcp({ ...conn(h), flags: TCP.ack | TCP.psh, seq: 101, ack: 5001, payloadLen: 100 }));
      send(tf.tcp({ ...conn(h), flags: TCP.fin | TCP.ack, seq: 201, ack: 9001 }));
    }
    await until(() => real.got.length >= 16);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/sluice_real_server_held_connections\{service="web",real="10.42.0.11:80"\} 0/);
    expect(metrics).toMatch(
      /sluice_real_server_inactive_connections\{service="web",real="10.42.0.11:80"\} 4/,
    );
    // a fifth client is forwarded at once, unchallenged, and nobody is reset
    send(tf.tcp({ ...conn(5), flags: TCP.syn, seq: 100 }));
    await until(() => real.got.length >= 17);
    expect(
      real.got.some((m) => {
        const f = new FrameInfo();
        return parseFrame(m, 8, m.length - 8, f) === ParseStatus.ok && (f.tcpFlags & TCP.rst) !== 0;
      }),
    ).toBe(false);
    const list = await getJson<ConnectionPage>(`${base}/v1/connections?client=10.42.1.1`);
    expect(list.items[0].held).toBe(false);
    expect(list.items[0].serverProgress).toBe(true);
  });

  it('takes what a real load agent says the server does not hold out of the count, and puts it back when the agent goes', async () => {
    // The real server's side: one connection really held on a local service port, counted by a
    // real sluice-agent reading this namespace's /proc/net/tcp.
    const service = net.createServer(() => {});
    servers.push(service);
    await new Promise<void>((r) => service.listen(0, '127.0.0.2', () => r()));
    const servicePort = (service.address() as net.AddressInfo).port;
    const held = net.connect(servicePort, '127.0.0.2');
    await new Promise<void>((r) => held.once('connect', () => r()));
    const agent = await AgentServer.listen({ host: '127.0.0.2', port: 0, ports: [servicePort] });
    try {
      const { real, base, tf, send } = await start(
        [
          {
            address: '10.42.0.11',
            port: 80,
            vtep: '127.0.0.2',
            mac: REAL_MAC,
            healthCheck: null,
            upperThreshold: 3,
            agent: { port: agent.address.port, intervalSeconds: 0.05, timeoutSeconds: 0.5 },
          },
        ],
        { strategy: 'priority', sourceChecks: { enabled: false, action: 'lowest' } },
      );
      const status = async () => (await getJson<RealList>(`${base}/v1/services/web/reals`)).items[0].status;
      await until(async () => (await status())?.agentHeld === 1);
      // Three clients the director forwards and counts (their handshakes and requests are forged:
      // the server never held them): the director alone would call the server full. (A fourth
      // would meet verification, on from the low watermark.)
      const vip = addressBytes('10.42.0.100');
      for (let h = 1; h <= 3; h++) {
        const conn = { src: addressBytes(`10.42.1.${h}`), dst: vip, srcPort: 40000, dstPort: 80 };
        send(tf.tcp({ ...conn, flags: TCP.syn, seq: 100 }));
        send(tf.tcp({ ...conn, flags: TCP.ack, seq: 101, ack: 5001 }));
        send(tf.tcp({ ...conn, flags: TCP.ack | TCP.psh, seq: 101, ack: 5001, payloadLen: 100 }));
      }
      await until(() => real.got.length >= 9);
      // The next reports: the director holds what it forwarded (less what the shedder reset: at
      // its threshold it sheds), the server holds 1; the rest is taken out of the count.
      await until(async () => {
        const st = await status();
        return st?.load === 1 && st.overloaded === false;
      });
      const gauge = async (name: string) => {
        const text = await (await fetch(`${base}/metrics`)).text();
        const m = text.match(new RegExp(`^${name}\\{service="web",real="10.42.0.11:80"\\} (\\d+)$`, 'm'));
        return m === null ? -1 : Number(m[1]);
      };
      const heldHere = await gauge('sluice_real_server_held_connections');
      const unheld = await gauge('sluice_real_server_unheld_connections');
      expect(heldHere - unheld).toBe(1);
      expect(unheld).toBeGreaterThanOrEqual(1);
      // The agent stops answering: no report is in force, and the director's own count is back.
      await agent.close();
      await until(async () => (await status())?.agentHeld === null);
      expect(await gauge('sluice_real_server_unheld_connections')).toBe(0);
    } finally {
      held.destroy();
      await agent.close();
    }
  });
});
