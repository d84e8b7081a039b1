// ConnectionIndex: the control plane's view of the shared connection table. Lists walk the table
// in slot order from a cursor (a slot number), reading each record under its seqlock so a row
// is never torn, and stop after a bounded number of slots per request, so a listing never holds
// anything a worker waits for. Ids are `<slot>-<tag>` in hex: a slot reused by another flow has
// another tag, so a stale id finds nothing instead of the wrong connection.
import { ConfigValidationError, realId } from '@sluice/config';
import {
  Conn,
  ConnFlag,
  clockNow,
  elapsed,
  SYN_COUNT_MAX,
  statePrioInitial,
  statePrioPriority,
  statePrioState,
  TCP_STATE_NAMES,
} from '@sluice/conntrack';
import {
  type CompiledConfig,
  type Dataplane,
  PROTO_TCP,
  RST_DATAGRAM_MAX,
  writeResetForRecord,
} from '@sluice/dataplane';
import { explainPriority } from '@sluice/defense';
import { formatAddress, parseAddress, RstSpec } from '@sluice/wire';
import type { ConnectionFilter, ConnectionPage, ConnectionView } from './control.ts';

/** Slots examined per listing request at most (the page may be short; follow nextCursor). */
const SCAN_BUDGET = 1 << 18;

export type ServiceNames = Map<number, { name: string; protocol: 'tcp' | 'udp' }>;
export type RealIds = Map<number, { address: string; port: number }>;

export interface ResetTarget {
  slot: number;
  tag: number;
  vtep: string;
  datagram: Uint8Array;
}

interface ClientMatch {
  words: [number, number, number, number];
  prefix: number;
}

export class ConnectionIndex {
  config: CompiledConfig | null = null;
  private readonly dp: Dataplane;
  private readonly rec = new Int32Array(Conn.snapshotWords);
  private readonly spec = new RstSpec();

  constructor(dp: Dataplane) {
    this.dp = dp;
  }

  list(filter: ConnectionFilter, services: ServiceNames, reals: RealIds): ConnectionPage {
    const table = this.dp.connections;
    const capacity = table.core.capacity;
    let slot = filter.cursor === undefined ? 0 : Number.parseInt(filter.cursor, 16);
    if (!Number.isInteger(slot) || slot < 0) slot = capacity;
    const client = filter.client === undefined ? null : parseClient(filter.client);
    if (filter.client !== undefined && client === null) {
      throw new ConfigValidationError('/client', 'must be an IP address or a CIDR such as 10.0.0.0/8');
    }
    const items: ConnectionView[] = [];
    const end = Math.min(capacity, slot + SCAN_BUDGET);
    const now = clockNow(table.epochMs);
    for (; slot < end && items.length < filter.limit; slot++) {
      if (table.core.tagOfSlot(slot) === 0) continue;
      const v = this.view(slot, now, services, reals);
      if (v === null) continue;
      if (filter.service !== undefined && v.service !== filter.service) continue;
      if (filter.state !== undefined && v.state !== filter.state.toUpperCase()) continue;
      if (
        filter.real !== undefined &&
        (v.real === null || realId(v.real.address, v.real.port) !== filter.real)
      )
        continue;
      if (client !== null && !matchesClient(this.rec, client)) continue;
      items.push(v);
    }
    return { items, nextCursor: slot < capacity ? slot.toString(16) : null, tableCount: table.count() };
  }

  get(id: string, services: ServiceNames, reals: RealIds): ConnectionView | null {
    const parsed = parseId(id);
    if (parsed === null || parsed.slot >= this.dp.connections.core.capacity) return null;
    const v = this.view(parsed.slot, clockNow(this.dp.connections.epochMs), services, reals);
    return v !== null && this.rec[Conn.tag] === parsed.tag ? v : null;
  }

  /** Reads the entry and builds the RST a real server will accept (VXLAN-encapsulated). */
  prepareReset(id: string, cfg: CompiledConfig): ResetTarget | null {
    const parsed = parseId(id);
    const table = this.dp.connections;
    if (parsed === null || parsed.slot >= table.core.capacity) return null;
    const r = this.rec;
    if (!table.readRecord(parsed.slot, r) || r[Conn.tag] !== parsed.tag) return null;
    const svc = r[Conn.portService] & 0xffff;
    const real = r[Conn.real];
    if (cfg.serviceProto[svc] !== PROTO_TCP) return null;
    const out = new Uint8Array(RST_DATAGRAM_MAX);
    const len = writeResetForRecord(cfg, this.spec, r, out);
    if (len === 0) return null;
    return { slot: parsed.slot, tag: parsed.tag, vtep: cfg.realVtep[real], datagram: out.subarray(0, len) };
  }

  /** Removes the entry with the workers' bookkeeping (real and source counts, persistence). */
  remove(slot: number, tag: number, reason: number): boolean {
    return this.dp.removeConnection(slot, tag, reason);
  }

  private view(slot: number, now: number, services: ServiceNames, reals: RealIds): ConnectionView | null {
    const r = this.rec;
    if (!this.dp.connections.readRecord(slot, r) || r[Conn.tag] === 0) return null;
    const svcIdx = r[Conn.portService] & 0xffff;
    const svc = services.get(svcIdx);
    const real = reals.get(r[Conn.real]);
    const sp = r[Conn.statePrio];
    const fs = r[Conn.flagsSyn];
    const protocol = svc?.protocol ?? 'tcp';
    return {
      id: `${slot.toString(16)}-${(r[Conn.tag] >>> 0).toString(16)}`,
      service: svc?.name ?? String(svcIdx),
      protocol,
      client: {
        address: formatAddress(r[Conn.addr0], r[Conn.addr1], r[Conn.addr2], r[Conn.addr3]),
        port: r[Conn.portService] >>> 16,
      },
      real: real === undefined ? null : { address: real.address, port: real.port },
      state: protocol === 'udp' ? 'UDP' : (TCP_STATE_NAMES[statePrioState(sp)] ?? 'NONE'),
      priority: statePrioPriority(sp),
      initialPriority: statePrioInitial(sp),
      priorityReasons: explainPriority(r, now, this.config?.scorer?.weights ?? null),
      packets: r[Conn.packets] >>> 0,
      synCount: (fs >>> 16) & SYN_COUNT_MAX,
      handshakeSeen: (fs & ConnFlag.handshake) !== 0,
      dataSeen: (fs & ConnFlag.data) !== 0,
      verified: (fs & ConnFlag.verified) !== 0,
      held: (fs & ConnFlag.held) !== 0,
      serverProgress: (fs & ConnFlag.progress) !== 0,
      awaitingSeconds:
        (fs & ConnFlag.awaiting) !== 0 ? Math.max(0, elapsed(r[Conn.awaitingSince], now) / 1000) : null,
      ageSeconds: elapsed(r[Conn.firstSeen], now) / 1000,
      idleSeconds: elapsed(r[Conn.lastSeen], now) / 1000,
      expiresInSeconds: Math.max(0, elapsed(now, r[Conn.expires]) / 1000),
      nextSeq: r[Conn.nextSeq] >>> 0,
    };
  }
}

function parseId(id: string): { slot: number; tag: number } | null {
  const m = /^([0-9a-f]{1,8})-([0-9a-f]{1,8})$/.exec(id);
  if (m === null) return null;
  return { slot: Number.parseInt(m[1], 16), tag: Number.parseInt(m[2], 16) | 0 };
}

function parseClient(text: string): ClientMatch | null {
  const [addr, len] = text.split('/');
  let words: [number, number, number, number];
  try {
    words = parseAddress(addr);
  } catch {
    return null;
  }
  const v4 = !addr.includes(':');
  const bits = len === undefined ? (v4 ? 32 : 128) : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > (v4 ? 32 : 128)) return null;
  return { words, prefix: v4 ? 96 + bits : bits };
}

function matchesClient(r: Int32Array, c: ClientMatch): boolean {
  let left = c.prefix;
  for (let i = 0; i < 4 && left > 0; i++, left -= 32) {
    const mask = left >= 32 ? -1 : ~((1 << (32 - left)) - 1);
    if ((r[Conn.addr0 + i] & mask) !== (c.words[i] & mask)) return false;
  }
  return true;
}
