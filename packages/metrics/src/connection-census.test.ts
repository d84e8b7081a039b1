import {
  Conn,
  ConnectionTable,
  ConnFlag,
  clockNow,
  packStatePrio,
  RemoveReason,
  TcpState,
} from '@sluice/conntrack';
import { describe, expect, it } from 'vitest';
import { CONNECTION_STATE_NAMES, ConnectionCensus, PRIORITY_COUNT } from './connection-census.ts';
import { addConnection } from './test-helpers.ts';

const stateIndex = (name: string) => CONNECTION_STATE_NAMES.indexOf(name);

/** The census computed the slow way, one consistent record copy per slot. */
function reference(table: ConnectionTable): {
  byState: number[];
  byService: Map<number, number>;
  byPriority: number[];
} {
  const byState = new Array<number>(CONNECTION_STATE_NAMES.length).fill(0);
  const byPriority = new Array<number>(PRIORITY_COUNT).fill(0);
  const byService = new Map<number, number>();
  const rec = new Int32Array(Conn.snapshotWords);
  for (let slot = 0; slot < table.capacity; slot++) {
    if (table.core.tagOfSlot(slot) === 0) continue;
    expect(table.readRecord(slot, rec)).toBe(true);
    const svc = rec[Conn.portService] & 0xffff;
    byService.set(svc, (byService.get(svc) ?? 0) + 1);
    byPriority[(rec[Conn.statePrio] >>> 8) & 0xff]++;
    if ((rec[Conn.flagsSyn] & ConnFlag.udp) !== 0) byState[stateIndex('UDP')]++;
    else byState[rec[Conn.statePrio] & 0xff]++;
  }
  return { byState, byService, byPriority };
}

describe('ConnectionCensus', () => {
  it('names every TCP state as ipvsadm does, then UDP', () => {
    expect(CONNECTION_STATE_NAMES[TcpState.established]).toBe('ESTABLISHED');
    expect(CONNECTION_STATE_NAMES[TcpState.synRecv]).toBe('SYN_RECV');
    expect(CONNECTION_STATE_NAMES.at(-1)).toBe('UDP');
    expect(new Set(CONNECTION_STATE_NAMES).size).toBe(CONNECTION_STATE_NAMES.length);
  });

  it('counts entries by state and service, and forgets removed ones at the next scan', () => {
    const table = ConnectionTable.create(256);
    const census = new ConnectionCensus(table);
    const slots = [
      addConnection(table, {
        client: 0x0a000001,
        port: 1000,
        service: 0,
        real: 0,
        state: TcpState.established,
        priority: 0,
      }),
      addConnection(table, {
        client: 0x0a000002,
        port: 1000,
        service: 0,
        real: 1,
        state: TcpState.established,
      }),
      addConnection(table, { client: 0x0a000003, port: 1000, service: 0, real: 1, state: TcpState.synRecv }),
      addConnection(table, {
        client: 0x0a000004,
        port: 1000,
        service: 2,
        real: 3,
        state: TcpState.timeWait,
        priority: 15,
      }),
      addConnection(table, {
        client: 0x0a000005,
        port: 53,
        service: 3,
        real: 4,
        state: 0,
        udp: true,
        priority: 15,
      }),
    ];
    census.scan();
    expect(census.entries).toBe(5);
    expect(census.byState[stateIndex('ESTABLISHED')]).toBe(2);
    expect(census.byState[stateIndex('SYN_RECV')]).toBe(1);
    expect(census.byState[stateIndex('TIME_WAIT')]).toBe(1);
    expect(census.byState[stateIndex('UDP')]).toBe(1);
    // A UDP entry is not also counted under NONE (its TCP state word is 0).
    expect(census.byState[stateIndex('NONE')]).toBe(0);
    expect([census.byService[0], census.byService[1], census.byService[2], census.byService[3]]).toEqual([
      3, 0, 1, 1,
    ]);
    // By priority, UDP included: one at 0, two at the default 5, two at 15.
    expect([...census.byPriority]).toEqual([1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

    const tag = table.core.tagOfSlot(slots[0]);
    expect(table.removeSlot(slots[0], tag, RemoveReason.control)).toBe(true);
    census.scan();
    expect(census.entries).toBe(4);
    expect(census.byState[stateIndex('ESTABLISHED')]).toBe(1);
    expect(census.byService[0]).toBe(2);
    // The entry at priority 0 was the one removed.
    expect([...census.byPriority]).toEqual([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  });

  it('walks 1 M slots in bounded time and agrees with a record-by-record count', () => {
    const table = ConnectionTable.create(1 << 20);
    const census = new ConnectionCensus(table);
    expect(table.capacity).toBe(1 << 20);

    // The first walk pays for page faults and unoptimised code; later scrapes pay the best time.
    const timed = () => {
      const first = census.scan().seconds;
      let best = first;
      for (let i = 0; i < 4; i++) best = Math.min(best, census.scan().seconds);
      return { first, best };
    };
    const empty = timed();
    expect(census.entries).toBe(0);

    // Half full, through the table's API; states and services vary with the client.
    const now = clockNow(table.epochMs);
    const states = [
      TcpState.established,
      TcpState.synRecv,
      TcpState.finWait,
      TcpState.timeWait,
      TcpState.close,
    ];
    let inserted = 0;
    for (let i = 0; inserted < table.capacity / 2; i++) {
      const slot = table.acquire(0, 0, 0xffff, 0x0b000000 + i, (4000 << 16) | (i % 7), true, 5, now);
      if (slot < 0) continue;
      const base = table.recordBase(slot);
      table.i32[base + Conn.statePrio] = packStatePrio(states[i % states.length], i % 16, 8, 0);
      table.i32[base + Conn.flagsSyn] = i % 11 === 0 ? ConnFlag.udp : 0;
      table.release(slot);
      inserted++;
    }
    const half = timed();
    expect(census.entries).toBe(inserted);
    const ref = reference(table);
    expect([...census.byState]).toEqual(ref.byState);
    for (let svc = 0; svc < 7; svc++) expect(census.byService[svc]).toBe(ref.byService.get(svc) ?? 0);
    expect([...census.byPriority]).toEqual(ref.byPriority);
    expect(ref.byPriority.every((n) => n > 0)).toBe(true);

    const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
    console.info(
      `connection census, ${table.capacity} slots: empty ${ms(empty.best)} (first ${ms(empty.first)}), ` +
        `half full ${ms(half.best)} (first ${ms(half.first)})`,
    );
    // Timing is reported, not asserted: these machines are shared and noisy.
  });
});
