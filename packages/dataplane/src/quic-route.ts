// QUIC connection-ID routing for the UDP services that ask for it (`quic` in their snapshot).
//
// A QUIC server chooses the connection IDs its clients send to, and a cooperating server writes
// its server ID into them. A short-header packet (1-RTT) carries such an ID as its destination
// connection ID, so the director sends it to the real server that owns the ID whatever the
// client's address and port are now: a NAT rebinding or a migration lands on the same server
// although the new 5-tuple has no connection entry. Long-header packets (Initial, 0-RTT,
// Handshake) go the way every UDP datagram goes: the 5-tuple entry, else the service's
// scheduler, which records one. The client's Initial and 0-RTT carry an ID the client chose,
// which names no server; a Handshake's ID is the server's and is routed by its entry, which the
// Initial made (Katran routes Handshake packets by their ID too; here they need no special case).
//
// Server ID layouts: a plain one (`serverIdLength` bytes at `serverIdOffset` of the DCID), and the
// unencrypted algorithm of QUIC-LB, draft-ietf-quic-load-balancers-20: a first octet whose top 3
// bits are the config rotation codepoint (§2.1, 0b111 asking for 4-tuple routing, §2.2) and whose
// low 5 bits may encode the length of the rest of the CID (§2.3), then the server ID (§4.1).
//
// A server ID that no real server of the service owns, or an ID that cannot be read (too short,
// another codepoint) falls back as Katran does (balancer.bpf.c: `cid_invalid_server_id` then
// `ch_routed`: its connection table, then consistent hashing): the 5-tuple entry if the path has
// one, else the scheduler. The draft says a load balancer SHOULD drop short headers with
// unroutable IDs (§3.1); following Katran keeps clients of servers that issue 4-tuple IDs
// (0b111, or before their configuration arrives) connected while their address holds, and a
// misrouted packet costs the client a stateless reset from the server it reached, no more.
//
// A CID-routed packet is recorded as Katran records it (check_and_update_real_index_in_lru): its
// 5-tuple gets an entry on the named real server, or its entry is repointed there. So the entry
// tables, listings and ICMP errors follow the client to its new path; the entry of the old path
// stays until its UDP timeout, so a migrated connection is counted twice until then.
//
// Per packet: an array load for services without `quic`; for QUIC services a few byte reads and
// one lookup in an open-addressing table built at compile time. Nothing is allocated.
import { Conn, type ConnectionTable, ConnFlag } from '@sluice/conntrack';
import type { RealServerCounters } from '@sluice/schedulers';
import { parseQuicHeader, QUIC_MAX_CID_V1, QuicHeader, QuicStatus } from '@sluice/wire';
import type { CounterLayout } from './counters.ts';
import { Quic } from './counters.ts';
import type { QuicSnapshot, ServiceSnapshot } from './snapshot.ts';

/** A snapshot's server IDs that do not make a table; compile.ts turns it into a ConfigError. */
export class QuicTableError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_INVALID';
}

/** draft-ietf-quic-load-balancers-20 §2.1: three config rotation bits; 0b111 is 4-tuple routing. */
export const QUIC_LB_CONFIG_IDS = 7;
/** §2.3: the low 5 bits of the first octet: the CID's length less the first octet. */
const LENGTH_BITS = 0x1f;

const HEX = /^[0-9a-f]*$/;

function parseHex(text: string, bytes: number, where: string): Uint8Array {
  if (!HEX.test(text) || text.length !== bytes * 2) {
    throw new QuicTableError(
      `${where}: quicServerId must be ${bytes} bytes of lowercase hex (got "${text}")`,
    );
  }
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** The server IDs of one QUIC service: server ID bytes → global real index. */
export class QuicServerTable {
  readonly serverIdOffset: number;
  readonly serverIdLength: number;
  readonly cidLength: number;
  readonly configId: number;
  readonly lengthSelfEncoded: boolean;
  /** Server IDs in the table (real servers whose MAC is known). */
  readonly count: number;
  private readonly mask: number;
  /** Slot i's server ID: bytes [i * serverIdLength, (i + 1) * serverIdLength). */
  private readonly ids: Uint8Array;
  /** Slot i's real index, -1 when the slot is empty. */
  private readonly reals: Int32Array;

  /**
   * Builds the table of `svc` (its snapshot has `quic`). `routable(index)` says whether a real
   * server may be sent frames now (its MAC known): one that may not stays out, so its ID falls
   * back like an unknown one until a later version has its MAC.
   */
  constructor(svc: ServiceSnapshot, routable: (realIndex: number) => boolean) {
    const q = svc.quic as QuicSnapshot;
    const where = `service ${svc.index} (${svc.vip}:${svc.port}/${svc.protocol})`;
    const int = (v: number, min: number, max: number, name: string): number => {
      if (!Number.isInteger(v) || v < min || v > max)
        throw new QuicTableError(
          `${where}: quic.${name} must be an integer from ${min} to ${max} (got ${v})`,
        );
      return v;
    };
    this.serverIdLength = int(q.serverIdLength, 1, 15, 'serverIdLength');
    this.serverIdOffset = int(q.serverIdOffset, 0, QUIC_MAX_CID_V1 - this.serverIdLength, 'serverIdOffset');
    this.cidLength = int(
      q.cidLength,
      this.serverIdOffset + this.serverIdLength,
      QUIC_MAX_CID_V1,
      'cidLength',
    );
    this.configId = int(q.configId, -1, QUIC_LB_CONFIG_IDS - 1, 'configId');
    this.lengthSelfEncoded = q.lengthSelfEncoded === true;
    if (this.lengthSelfEncoded && this.configId < 0)
      throw new QuicTableError(`${where}: quic.lengthSelfEncoded is QUIC-LB framing: it needs a configId`);
    let slots = 8;
    while (slots < svc.reals.length * 2) slots *= 2;
    this.mask = slots - 1;
    this.ids = new Uint8Array(slots * this.serverIdLength);
    this.reals = new Int32Array(slots).fill(-1);
    const seen = new Map<string, string>();
    let count = 0;
    for (const r of svc.reals) {
      const rwhere = `${where} real server ${r.address}:${r.port}`;
      if (r.quicServerId === undefined) throw new QuicTableError(`${rwhere}: has no quicServerId`);
      const id = parseHex(r.quicServerId, this.serverIdLength, rwhere);
      const other = seen.get(r.quicServerId);
      if (other !== undefined)
        throw new QuicTableError(`${rwhere}: quicServerId ${r.quicServerId} is also ${other}'s`);
      seen.set(r.quicServerId, `${r.address}:${r.port}`);
      if (!routable(r.index)) continue;
      let s = this.hash(id, 0);
      while (this.reals[s] >= 0) s = (s + 1) & this.mask;
      this.ids.set(id, s * this.serverIdLength);
      this.reals[s] = r.index;
      count++;
    }
    this.count = count;
  }

  /** FNV-1a over the ID's bytes: a handful of bytes, spread well enough for a table this small. */
  private hash(buf: Uint8Array, at: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < this.serverIdLength; i++) h = Math.imul(h ^ buf[at + i], 0x01000193);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** The real index whose server ID is buf[at, at + serverIdLength), or -1. On the packet path. */
  lookup(buf: Uint8Array, at: number): number {
    const n = this.serverIdLength;
    const ids = this.ids;
    let s = this.hash(buf, at);
    for (;;) {
      const real = this.reals[s];
      if (real < 0) return -1;
      const k = s * n;
      let i = 0;
      while (i < n && ids[k + i] === buf[at + i]) i++;
      if (i === n) return real;
      s = (s + 1) & this.mask;
    }
  }
}

/** What route() needs of a compiled config: the table per service index (null: not QUIC). */
export interface QuicTables {
  readonly quicTables: readonly (QuicServerTable | null)[];
  readonly realUpper: Int32Array;
  readonly realLower: Int32Array;
}

/** One per Pipeline: reads a datagram's connection ID and counts how QUIC services route. */
export class QuicRouter {
  readonly header = new QuicHeader();
  /** The real server the last route() named, or -1. */
  real = -1;
  private readonly counters: Float64Array;
  private readonly base: number;

  constructor(counters: Float64Array, layout: CounterLayout) {
    this.counters = counters;
    this.base = layout.quic;
  }

  /**
   * The real server whose server ID the short-header datagram buf[off, off+len) carries, or -1
   * (not a QUIC service, a long header, an unroutable or unknown ID: the caller falls back).
   */
  route(cfg: QuicTables, svc: number, buf: Uint8Array, off: number, len: number): number {
    this.real = -1;
    const t = cfg.quicTables[svc];
    if (t === null) return -1;
    const c = this.counters;
    const at = this.base + svc * Quic.words;
    if (len >= 1 && (buf[off] & 0x80) !== 0) {
      c[at + Quic.longHeader] += 1;
      return -1;
    }
    let dcidLength = t.cidLength;
    if (t.lengthSelfEncoded && len >= 2) {
      dcidLength = (buf[off + 1] & LENGTH_BITS) + 1;
      if (dcidLength < t.cidLength || dcidLength > QUIC_MAX_CID_V1) dcidLength = -1;
    }
    const h = this.header;
    if (parseQuicHeader(buf, off, len, dcidLength, h) !== QuicStatus.ok) {
      c[at + Quic.unroutable] += 1;
      return -1;
    }
    const dcid = h.dcidOffset;
    // The codepoint must be this configuration's; 0b111 (a server without one) never is.
    if (t.configId >= 0 && buf[dcid] >>> 5 !== t.configId) {
      c[at + Quic.unroutable] += 1;
      return -1;
    }
    const real = t.lookup(buf, dcid + t.serverIdOffset);
    if (real < 0) {
      c[at + Quic.unknownServerId] += 1;
      return -1;
    }
    c[at + Quic.cidRouted] += 1;
    this.real = real;
    return real;
  }

  /** A CID-routed datagram made a new entry (its path is new): it goes to the routed real server. */
  newPath(svc: number): number {
    this.counters[this.base + svc * Quic.words + Quic.newPath] += 1;
    return this.real;
  }

  /**
   * A CID-routed datagram found its 5-tuple's entry (held by the caller) bound to real server
   * `from`: the entry moves to the routed one, with its place in the real servers' counts.
   */
  repoint(
    cfg: QuicTables,
    table: ConnectionTable,
    base: number,
    svc: number,
    from: number,
    reals: RealServerCounters,
  ): number {
    const to = this.real;
    const i32 = table.i32;
    const cflags = i32[base + Conn.flagsSyn] & 0xffff;
    const active = (cflags & ConnFlag.active) !== 0;
    const held = (cflags & ConnFlag.held) !== 0;
    reals.unbind(from, active, cfg.realUpper[from], cfg.realLower[from], held);
    reals.bind(to, active, cfg.realUpper[to], cfg.realLower[to]);
    if (!held) reals.addHeld(to, -1);
    i32[base + Conn.real] = to;
    this.counters[this.base + svc * Quic.words + Quic.repointed] += 1;
    return to;
  }
}
