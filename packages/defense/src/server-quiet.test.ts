// ServerQuietMarks on an in-memory connection table: what a load agent's report marks and clears.
import { Conn, ConnBit, ConnectionTable, ConnFlag } from '@sluice/conntrack';
import { describe, expect, it } from 'vitest';
import { QUIET_KEY_WORDS, ServerQuietMarks, SLOW_SHARE_FREE, slowToMark } from './index.ts';

const SERVICE = 3;

function entry(table: ConnectionTable, addr: number, port: number, real: number): number {
  const s = table.acquire(0, 0, 0xffff, addr, (port << 16) | SERVICE, true, 8, 0);
  const b = table.recordBase(s);
  table.i32[b + Conn.real] = real;
  table.i32[b + Conn.flagsSyn] = ConnFlag.handshake | ConnFlag.data | ConnFlag.progress | (1 << 16);
  table.setExpires(s, 0x3fffffff);
  table.release(s);
  return s;
}

function keysOf(conns: [number, number][]): Int32Array {
  const k = new Int32Array(conns.length * QUIET_KEY_WORDS);
  conns.forEach(([addr, port], i) => {
    k.set([0, 0, 0xffff, addr, (port << 16) | SERVICE], i * QUIET_KEY_WORDS);
  });
  return k;
}

const quiet = (table: ConnectionTable, slot: number) =>
  (table.i32[table.recordBase(slot) + Conn.flagsSyn] & ConnBit.serverQuiet) !== 0;

describe('ServerQuietMarks', () => {
  it('marks the listed entries quiet servedIdleMs or more on the reporting real, and clears what the next report drops', () => {
    const table = ConnectionTable.create(256, 0);
    const a = entry(table, 0x0a000001, 4001, 0);
    const b = entry(table, 0x0a000002, 4002, 0);
    const other = entry(table, 0x0a000003, 4003, 1);
    const marks = new ServerQuietMarks(table);
    const first = marks.apply(
      0,
      keysOf([
        [0x0a000001, 4001],
        [0x0a000002, 4002],
        [0x0a000003, 4003], // on real 1: not this agent's to judge
        [0x0a000009, 4009], // not in the table
      ]),
      [5000, 999, 5000, 5000],
      4,
      1000,
      10,
    );
    expect(first).toEqual({ marked: 1, forged: 0, cleared: 0 });
    expect([quiet(table, a), quiet(table, b), quiet(table, other)]).toEqual([true, false, false]);
    // The rest of the word is untouched, the SYN count included.
    expect(table.i32[table.recordBase(a) + Conn.flagsSyn] & ~ConnBit.serverQuiet).toBe(
      ConnFlag.handshake | ConnFlag.data | ConnFlag.progress | (1 << 16),
    );

    const second = marks.apply(0, keysOf([[0x0a000002, 4002]]), [1500], 1, 1000, 20);
    expect(second).toEqual({ marked: 1, forged: 0, cleared: 1 });
    expect([quiet(table, a), quiet(table, b)]).toEqual([false, true]);
    expect(marks.markedCount(0)).toBe(1);

    expect(marks.forget(0)).toBe(1);
    expect(quiet(table, b)).toBe(false);
    expect(marks.markedCount()).toBe(0);
  });

  it('marks nothing with the rule off (servedIdleMs 0), and clears what it had marked', () => {
    const table = ConnectionTable.create(64, 0);
    const a = entry(table, 0x0a000001, 4001, 0);
    const marks = new ServerQuietMarks(table);
    marks.apply(0, keysOf([[0x0a000001, 4001]]), [5000], 1, 1000, 10);
    expect(quiet(table, a)).toBe(true);
    expect(marks.apply(0, keysOf([[0x0a000001, 4001]]), [5000], 1, 0, 20)).toEqual({
      marked: 0,
      forged: 0,
      cleared: 1,
    });
    expect(quiet(table, a)).toBe(false);
  });

  it('does not count a clear for an entry that left the table, nor touch its successor on another real', () => {
    const table = ConnectionTable.create(64, 0);
    entry(table, 0x0a000001, 4001, 0);
    const marks = new ServerQuietMarks(table);
    marks.apply(0, keysOf([[0x0a000001, 4001]]), [5000], 1, 1000, 10);
    const gone = table.acquire(0, 0, 0xffff, 0x0a000001, (4001 << 16) | SERVICE, false, 0, 20);
    table.removeHeld(gone, 5);
    // The client's port reused for a new connection, sent to another real server.
    const next = entry(table, 0x0a000001, 4001, 2);
    expect(marks.apply(0, keysOf([]), [], 0, 1000, 30)).toEqual({ marked: 0, forged: 0, cleared: 0 });
    expect(quiet(table, next)).toBe(false);
  });

  it("keys an agent's report to the service's entries: the service's port only, IPv4 and IPv6, an address that does not parse skipped", () => {
    const table = ConnectionTable.create(64, 0);
    const v4 = entry(table, 0x0a000001, 4001, 0);
    const s6 = table.acquire(0x20010db8, 0, 0, 5, (4002 << 16) | SERVICE, true, 8, 0);
    table.i32[table.recordBase(s6) + Conn.real] = 0;
    table.setExpires(s6, 0x3fffffff);
    table.release(s6);
    const marks = new ServerQuietMarks(table);
    const applied = marks.applyReport(
      0,
      [
        { client: '10.0.0.1', clientPort: 4001, localPort: 80, lastSendMs: 2000 },
        { client: '2001:db8::5', clientPort: 4002, localPort: 80, lastSendMs: 2000 },
        { client: '10.0.0.1', clientPort: 4001, localPort: 443, lastSendMs: 2000 }, // another service's
        { client: 'not-an-address', clientPort: 4003, localPort: 80, lastSendMs: 2000 },
      ],
      80,
      SERVICE,
      1000,
      10,
    );
    expect(applied).toEqual({ marked: 2, forged: 0, cleared: 0 });
    expect([quiet(table, v4), quiet(table, s6)]).toEqual([true, true]);
  });

  it('tries a clear whose record lock is taken again with the next report', () => {
    const table = ConnectionTable.create(64, 0);
    const a = entry(table, 0x0a000001, 4001, 0);
    const marks = new ServerQuietMarks(table);
    marks.apply(0, keysOf([[0x0a000001, 4001]]), [5000], 1, 1000, 10);
    // The packet path holds the record while the next report, which no longer lists it, arrives.
    const held = table.acquire(0, 0, 0xffff, 0x0a000001, (4001 << 16) | SERVICE, false, 0, 20);
    expect(held).toBe(a);
    expect(marks.apply(0, keysOf([]), [], 0, 1000, 20)).toEqual({ marked: 0, forged: 0, cleared: 0 });
    table.release(held);
    expect(quiet(table, a)).toBe(true);
    expect(marks.markedCount(0)).toBe(1);
    expect(marks.apply(0, keysOf([]), [], 0, 1000, 30)).toEqual({ marked: 0, forged: 0, cleared: 1 });
    expect(quiet(table, a)).toBe(false);
  });

  it("judges an entry its client showed news for inside its server's silence, before the agent looked, as forged; not a request, nor news after the probe or too near the silence's start", () => {
    const table = ConnectionTable.create(64, 0);
    // Served, no request waiting, the client's last news at `seen`.
    const at = (host: number, seen: number, extra = 0) => {
      const s = entry(table, 0x0a000000 + host, 4000 + host, 0);
      table.i32[table.recordBase(s) + Conn.lastSeen] = seen;
      table.i32[table.recordBase(s) + Conn.flagsSyn] |= extra;
      return s;
    };
    // The agent was asked at 10 000 and its answer applied at 10 002: each server silent 5 s, so
    // from 5 002 at the latest; an honest ACK may come ACK_LATE_MS after, until 6 002.
    const forged = at(1, 9000);
    const lateAck = at(2, 5500);
    const afterProbe = at(3, 10_001);
    const request = at(4, 9000, ConnFlag.awaiting);
    const marks = new ServerQuietMarks(table);
    const hosts = [1, 2, 3, 4];
    const applied = marks.apply(
      0,
      keysOf(hosts.map((h) => [0x0a000000 + h, 4000 + h])),
      hosts.map(() => 5000),
      hosts.length,
      1000,
      10_002,
      10_000,
    );
    expect(applied).toEqual({ marked: 4, forged: 1, cleared: 0 });
    const isForged = (s: number) =>
      (table.i32[table.recordBase(s) + Conn.flagsSyn] & ConnFlag.ackForged) !== 0;
    expect([forged, lateAck, afterProbe, request].map(isForged)).toEqual([true, false, false, false]);
    // Without the probe's time nothing is judged.
    const other = new ServerQuietMarks(ConnectionTable.create(64, 0));
    expect(other.apply(0, keysOf([]), [], 0, 1000, 10_002).forged).toBe(0);
  });

  it("marks the agent's slow list whatever its quiet times, never judges it, and clears it with the next report or the rule off", () => {
    const table = ConnectionTable.create(64, 0);
    const slow = entry(table, 0x0a000001, 4001, 0);
    const both = entry(table, 0x0a000002, 4002, 0);
    // The client's news inside what would be a silence: a slow reader's ACKs of data really sent.
    table.i32[table.recordBase(slow) + Conn.lastSeen] = 9000;
    const marks = new ServerQuietMarks(table);
    const applied = marks.applyReport(
      0,
      [{ client: '10.0.0.2', clientPort: 4002, localPort: 80, lastSendMs: 5000 }],
      80,
      SERVICE,
      1000,
      10_002,
      {
        probeAt: 10_000,
        slow: [
          { client: '10.0.0.1', clientPort: 4001, localPort: 80 },
          { client: '10.0.0.2', clientPort: 4002, localPort: 80 }, // listed quiet already: marked once
          { client: '10.0.0.3', clientPort: 4003, localPort: 443 }, // another service's port
        ],
      },
    );
    expect(applied).toEqual({ marked: 2, forged: 0, cleared: 0 });
    expect([quiet(table, slow), quiet(table, both)]).toEqual([true, true]);
    expect(table.i32[table.recordBase(slow) + Conn.flagsSyn] & ConnFlag.ackForged).toBe(0);

    // The next report lists it no more: cleared.
    expect(marks.applyReport(0, [], 80, SERVICE, 1000, 11_002, { probeAt: 11_000 })).toEqual({
      marked: 0,
      forged: 0,
      cleared: 2,
    });
    // The rule off marks no slow entry either.
    const off = marks.applyReport(0, [], 80, SERVICE, 0, 12_002, {
      probeAt: 12_000,
      slow: [{ client: '10.0.0.1', clientPort: 4001, localPort: 80 }],
    });
    expect(off.marked).toBe(0);
    expect(quiet(table, slow)).toBe(false);
  });

  it('leaves a few slow connections unmarked: none while they are at most a tenth of what the server holds', () => {
    expect(SLOW_SHARE_FREE).toBe(0.1);
    expect(slowToMark(10, 100)).toBe(0);
    expect(slowToMark(11, 100)).toBe(11);
    expect(slowToMark(1, 0)).toBe(1);
    expect(slowToMark(0, 0)).toBe(0);
    expect(slowToMark(3, null)).toBe(3); // no count: the list as it is
    const table = ConnectionTable.create(64, 0);
    const a = entry(table, 0x0a000001, 4001, 0);
    const marks = new ServerQuietMarks(table);
    const slow = [{ client: '10.0.0.1', clientPort: 4001, localPort: 80 }];
    expect(marks.applyReport(0, [], 80, SERVICE, 1000, 10, { probeAt: 8, slow, held: 10 }).marked).toBe(0);
    expect(quiet(table, a)).toBe(false);
    expect(marks.applyReport(0, [], 80, SERVICE, 1000, 20, { probeAt: 18, slow, held: 9 }).marked).toBe(1);
    expect(quiet(table, a)).toBe(true);
    // Back under the share: the mark is cleared with the next report.
    expect(marks.applyReport(0, [], 80, SERVICE, 1000, 30, { probeAt: 28, slow, held: 10 })).toEqual({
      marked: 0,
      forged: 0,
      cleared: 1,
    });
    expect(quiet(table, a)).toBe(false);
  });
});
