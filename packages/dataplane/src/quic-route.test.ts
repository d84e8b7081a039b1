// QUIC connection-ID routing through the real packet path (Pipeline, CompiledConfig, the shared
// tables) in this thread: long headers are scheduled and recorded, short headers follow the
// server ID of their connection ID whatever their 5-tuple, unknown and unroutable IDs fall back
// to the 5-tuple entry or the scheduler, and the entry tables follow the client to its new path.
import { Conn, ConnectionTable, clockNow, PersistenceTable, SourceTable } from '@sluice/conntrack';
import { RealServerCounters } from '@sluice/schedulers';
import { addressBytes, TrafficFrames } from '@sluice/traffic';
import { QUIC_V1, writeQuicLongHeader, writeQuicShortHeader } from '@sluice/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Batch,
  CompiledConfig,
  ConfigError,
  type ConfigSnapshot,
  CounterBlock,
  DEFAULT_PIPELINE_OPTIONS,
  Per,
  Pipeline,
  Quic,
  type QuicSnapshot,
  Verdict,
} from './index.ts';

const MAC = '02:00:00:00:00:01';
const traffic = new TrafficFrames({ vni: 7, clientMac: '02:00:00:00:09:09', directorMac: MAC });
const VIP = addressBytes('10.0.0.100');
const PORT = 443;
/** Plain layout: a 2-byte server ID at offset 1 of an 8-byte CID. */
const PLAIN: QuicSnapshot = {
  serverIdOffset: 1,
  serverIdLength: 2,
  cidLength: 8,
  configId: -1,
  lengthSelfEncoded: false,
};
const IDS = ['0a01', '0a02', '0a03'];

function config(quic: QuicSnapshot | null = PLAIN, mutate?: (s: ConfigSnapshot) => void): ConfigSnapshot {
  const s: ConfigSnapshot = {
    version: 1,
    vni: 7,
    directorMac: MAC,
    services: [
      {
        index: 0,
        vip: '10.0.0.100',
        port: PORT,
        protocol: 'udp',
        scheduler: 'rr',
        persistence: null,
        ...(quic === null ? {} : { quic }),
        reals: IDS.map((id, i) => ({
          index: i,
          address: `10.0.1.${i + 1}`,
          port: PORT,
          mac: `02:00:00:00:01:0${i + 1}`,
          vtep: `192.168.0.${i + 1}`,
          weight: 1,
          upperThreshold: 0,
          lowerThreshold: 0,
          ...(quic === null ? {} : { quicServerId: id }),
        })),
      },
    ],
  };
  mutate?.(s);
  return s;
}

function setup(snapshot: ConfigSnapshot) {
  const limits = { maxServices: 4, maxReals: 8 };
  const reals = RealServerCounters.create(8);
  const connections = ConnectionTable.create(4096);
  const tables = {
    connections,
    sources: SourceTable.create(1024),
    persistence: PersistenceTable.create(256),
    reals,
  };
  const counters = CounterBlock.create({ maxWorkers: 1, ...limits });
  const pipe = new Pipeline(
    tables,
    counters.region(0),
    counters.layout,
    new CompiledConfig(snapshot, limits, reals),
    DEFAULT_PIPELINE_OPTIONS,
  );
  const batch = Batch.create({ maxFrames: 64, dataBytes: 64 * 1600 });
  /** Classifies one frame; returns the real server it was forwarded to, or -1 (with the verdict). */
  const send = (frame: Uint8Array): number => {
    batch.reset();
    expect(batch.push(frame, 0, frame.length, 0)).toBe(true);
    pipe.processBatch(batch);
    return batch.verdictOf(0) === Verdict.forward ? batch.argOf(0) : -1;
  };
  const quic = (k: number) => counters.sum(counters.layout.quic + k);
  /** The real server of (client, port)'s entry, or -1 when the path has none. */
  const entryReal = (client: string, port: number): number => {
    const a = addressBytes(client);
    const w3 = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3] | 0;
    const slot = connections.acquire(
      0,
      0,
      0xffff,
      w3,
      (port << 16) | 0,
      false,
      0,
      clockNow(connections.epochMs),
    );
    if (slot < 0) return -1;
    const real = connections.i32[connections.recordBase(slot) + Conn.real];
    connections.release(slot);
    return real;
  };
  return { pipe, send, quic, reals, counters, entryReal, connections };
}

function cid(serverId: string, nonce = 0x5a, first = 0x11, length = 8): Uint8Array {
  const c = new Uint8Array(length).fill(nonce);
  c[0] = first;
  c.set(Buffer.from(serverId, 'hex'), 1);
  return c;
}

/** A client's Initial (long header, client-chosen DCID) from client:port. */
function initial(client: string, port: number, dcid = Uint8Array.of(9, 8, 7, 6, 5, 4, 3, 2)): Uint8Array {
  const q = new Uint8Array(1200);
  writeQuicLongHeader(q, 0, { firstByte: 0xc3, version: QUIC_V1, dcid, scid: Uint8Array.of(1, 2, 3, 4) });
  return traffic.udp(addressBytes(client), VIP, port, PORT, 0, q);
}

/** A 1-RTT packet (short header) to `dcid` from client:port. */
function shortPacket(client: string, port: number, dcid: Uint8Array, extra = 24): Uint8Array {
  const q = new Uint8Array(1 + dcid.length + extra).fill(0xee);
  writeQuicShortHeader(q, 0, 0x41, dcid);
  return traffic.udp(addressBytes(client), VIP, port, PORT, 0, q);
}

describe('QUIC connection-ID routing in the pipeline', () => {
  it('schedules the Initial, then follows the server ID when the client changes port and address', () => {
    const { send, quic, entryReal } = setup(config());
    const first = send(initial('198.51.100.7', 5000));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(quic(Quic.longHeader)).toBe(1);
    expect(entryReal('198.51.100.7', 5000)).toBe(first);
    const mine = cid(IDS[first]);
    // Same path: the server ID and the entry agree.
    expect(send(shortPacket('198.51.100.7', 5000, mine))).toBe(first);
    // NAT rebinding (new port), then migration (new address): rr would give the next server.
    expect(send(shortPacket('198.51.100.7', 6001, mine))).toBe(first);
    expect(send(shortPacket('203.0.113.9', 7002, mine))).toBe(first);
    expect(quic(Quic.cidRouted)).toBe(3);
    expect(quic(Quic.newPath)).toBe(2);
    // Each new path is recorded on the server that owns the connection.
    expect(entryReal('198.51.100.7', 6001)).toBe(first);
    expect(entryReal('203.0.113.9', 7002)).toBe(first);
  });

  it('without `quic` the same service loses the migrated client to the scheduler', () => {
    const { send, quic, counters } = setup(config(null));
    const first = send(initial('198.51.100.7', 5000));
    expect(send(shortPacket('198.51.100.7', 6001, cid(IDS[first])))).not.toBe(first);
    expect(counters.sum(counters.layout.quic + 0 * Quic.words + Quic.longHeader)).toBe(0);
    expect(quic(Quic.cidRouted)).toBe(0);
  });

  it("repoints an entry that names another server, moving it in the real servers' counts", () => {
    const { send, quic, entryReal, reals } = setup(config());
    const got = send(initial('198.51.100.8', 5000));
    const other = (got + 1) % IDS.length;
    expect(reals.inactive[got]).toBe(1);
    expect(send(shortPacket('198.51.100.8', 5000, cid(IDS[other])))).toBe(other);
    expect(quic(Quic.repointed)).toBe(1);
    expect(entryReal('198.51.100.8', 5000)).toBe(other);
    expect(reals.inactive[got]).toBe(0);
    expect(reals.inactive[other]).toBe(1);
    expect(reals.held[got]).toBe(0);
    expect(reals.held[other]).toBe(1);
  });

  it('an unknown server ID falls back to the 5-tuple entry, else to the scheduler', () => {
    const { send, quic, entryReal } = setup(config());
    const got = send(initial('198.51.100.9', 5000));
    expect(send(shortPacket('198.51.100.9', 5000, cid('ffff')))).toBe(got);
    expect(quic(Quic.unknownServerId)).toBe(1);
    // A new path with an unknown ID: scheduled like any new UDP flow (rr: the next server), recorded.
    const scheduled = send(shortPacket('198.51.100.9', 5001, cid('ffff')));
    expect(scheduled).toBe((got + 1) % IDS.length);
    expect(entryReal('198.51.100.9', 5001)).toBe(scheduled);
    expect(quic(Quic.unknownServerId)).toBe(2);
    expect(quic(Quic.cidRouted)).toBe(0);
  });

  it('a datagram too short for the configured CID is unroutable and falls back', () => {
    const { send, quic } = setup(config());
    const got = send(initial('198.51.100.10', 5000));
    const tiny = traffic.udp(
      addressBytes('198.51.100.10'),
      VIP,
      5000,
      PORT,
      0,
      Uint8Array.of(0x40, 0x11, 0x0a),
    );
    expect(send(tiny)).toBe(got);
    const empty = traffic.udp(addressBytes('198.51.100.10'), VIP, 5000, PORT, 0);
    expect(send(empty)).toBe(got);
    expect(quic(Quic.unroutable)).toBe(2);
  });

  it('routes to a draining (weight 0) real server its own connections, never an unresolved one', () => {
    const drained = config(PLAIN, (s) => {
      s.services[0].reals[1].weight = 0;
      s.services[0].reals[2].mac = '00:00:00:00:00:00';
    });
    const { send, quic } = setup(drained);
    expect(send(shortPacket('198.51.100.11', 5000, cid(IDS[1])))).toBe(1);
    // Real 2 has no MAC yet: its ID is not in the table; the datagram is scheduled (never to 2).
    const fallback = send(shortPacket('198.51.100.11', 5001, cid(IDS[2])));
    expect(fallback).toBe(0);
    expect(quic(Quic.cidRouted)).toBe(1);
    expect(quic(Quic.unknownServerId)).toBe(1);
  });

  it('a short header with a known server ID reaches its owner from any address and port', () => {
    const { send } = setup(config());
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: IDS.length - 1 }),
        fc.tuple(
          fc.integer({ min: 1, max: 223 }),
          fc.nat(255),
          fc.nat(255),
          fc.integer({ min: 1, max: 254 }),
        ),
        fc.integer({ min: 1, max: 65535 }),
        fc.uint8Array({ minLength: 5, maxLength: 5 }),
        fc.integer({ min: 0, max: 0x7f }),
        (owner, [a, b, c, d], port, nonce, first) => {
          const id = cid(IDS[owner]);
          id.set(nonce, 3);
          id[0] = first;
          expect(send(shortPacket(`${a}.${b}.${c}.${d}`, port, id))).toBe(owner);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never throws on hostile payloads and counts each datagram once', () => {
    const { send, quic } = setup(config());
    let n = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 65535 }), (payload, port) => {
        send(traffic.udp(addressBytes('198.51.100.12'), VIP, port, PORT, 0, payload));
        n++;
        const total =
          quic(Quic.longHeader) + quic(Quic.cidRouted) + quic(Quic.unknownServerId) + quic(Quic.unroutable);
        expect(total).toBe(n);
      }),
      { numRuns: 500 },
    );
  });

  it('counts per service, and forwards CID-routed packets into the real server counters', () => {
    const { send, counters } = setup(config());
    send(shortPacket('198.51.100.13', 5000, cid(IDS[2])));
    const l = counters.layout;
    expect(counters.sum(l.reals + 2 * Per.words + Per.packets)).toBe(1);
    expect(counters.sum(l.reals + 2 * Per.words + Per.connections)).toBe(1);
    expect(counters.sum(l.quic + 1 * Quic.words + Quic.cidRouted)).toBe(0);
  });
});

describe('QUIC-LB (draft-ietf-quic-load-balancers-20), unencrypted', () => {
  // Appendix B.1's first vector: config rotation 0, server ID c4605e, nonce 4504cc4f, the first
  // octet encoding the length (0x07: 7 more bytes).
  const LB: QuicSnapshot = {
    serverIdOffset: 1,
    serverIdLength: 3,
    cidLength: 8,
    configId: 0,
    lengthSelfEncoded: true,
  };
  const lbConfig = (q = LB) =>
    config(q, (s) => {
      s.services[0].reals[0].quicServerId = 'c4605e';
      s.services[0].reals[1].quicServerId = '0a0b0c';
      s.services[0].reals[2].quicServerId = '0d0e0f';
    });

  it("routes the draft's test vector to the server that owns c4605e", () => {
    const { send, quic } = setup(lbConfig());
    expect(send(shortPacket('198.51.100.20', 5000, Buffer.from('07c4605e4504cc4f', 'hex')))).toBe(0);
    expect(quic(Quic.cidRouted)).toBe(1);
  });

  it('reads the CID length from the first octet: a longer CID routes, a too short one does not', () => {
    const { send, quic } = setup(lbConfig());
    const long = Buffer.from('0b0a0b0c1111111111111111', 'hex'); // 0x0b: 11 more bytes
    expect(send(shortPacket('198.51.100.21', 5000, long, 0))).toBe(1);
    // 0x05 says 5 more bytes: shorter than server ID + nonce (7): unroutable.
    const short = Buffer.from('050a0b0c1111', 'hex');
    send(shortPacket('198.51.100.21', 5001, short, 0));
    expect(quic(Quic.unroutable)).toBe(1);
    expect(quic(Quic.cidRouted)).toBe(1);
  });

  it('another config rotation codepoint, or 0b111 (4-tuple routing), is unroutable', () => {
    const { send, quic, entryReal } = setup(lbConfig());
    const got = send(initial('198.51.100.22', 5000));
    // 0x27: codepoint 1; 0xe7: codepoint 7 (a server without configuration). Both name server 1.
    expect(send(shortPacket('198.51.100.22', 5000, Buffer.from('270a0b0c4504cc4f', 'hex')))).toBe(got);
    expect(send(shortPacket('198.51.100.22', 5000, Buffer.from('e70a0b0c4504cc4f', 'hex')))).toBe(got);
    expect(quic(Quic.unroutable)).toBe(2);
    expect(entryReal('198.51.100.22', 5000)).toBe(got);
  });
});

describe('compiling QUIC services', () => {
  const compile = (s: ConfigSnapshot) =>
    new CompiledConfig(s, { maxServices: 4, maxReals: 8 }, RealServerCounters.create(8));

  it('refuses what the packet path could not trust, naming the service and the real server', () => {
    expect(() => compile(config(PLAIN, (s) => (s.services[0].protocol = 'tcp')))).toThrow(
      /quic needs protocol udp/,
    );
    expect(() => compile(config(PLAIN, (s) => (s.services[0].reals[1].quicServerId = '0a01')))).toThrow(
      /quicServerId 0a01 is also 10\.0\.1\.1:443's/,
    );
    expect(() => compile(config(PLAIN, (s) => (s.services[0].reals[1].quicServerId = '0a0')))).toThrow(
      /2 bytes/,
    );
    expect(() => compile(config(PLAIN, (s) => delete s.services[0].reals[1].quicServerId))).toThrow(
      /10\.0\.1\.2:443: has no quicServerId/,
    );
    expect(() => compile(config({ ...PLAIN, cidLength: 2 }))).toThrow(
      /cidLength must be an integer from 3 to 20/,
    );
    expect(() => compile(config({ ...PLAIN, serverIdOffset: 19 }))).toThrow(/serverIdOffset/);
    expect(() => compile(config({ ...PLAIN, lengthSelfEncoded: true }))).toThrow(/needs a configId/);
    expect(() => compile(config({ ...PLAIN, configId: 7 }))).toThrow(ConfigError);
  });
});
