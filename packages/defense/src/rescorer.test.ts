// The re-scorer on one thread: victim lists after a pass over known priorities, idle decay, the
// per-source hoarding aggregate, and the bookkeeping it keeps exact.
import { Conn, ConnectionTable, ConnFlag, SourceTable, Src, TcpState } from '@sluice/conntrack';
import { FrameInfo, TcpFlag } from '@sluice/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFENSE_WEIGHTS,
  DefenseConnFlag,
  PriorityScorer,
  Rescorer,
  SourceChecks,
  VICTIM_GLOBAL,
  VictimHeader,
  VictimIndex,
} from './index.ts';
import { PipelineModel, prioOf, v4src } from './pipeline-model.fixture.ts';

interface Put {
  addr: number;
  port: number;
  real: number;
  prio: number;
  fixed: boolean;
  lastSeen: number;
}

/** Writes entries whose priority the re-scorer keeps as is at `now` (fixed, or UDP with initial = prio). */
function fill(table: ConnectionTable, puts: Put[]): Map<number, Put> {
  const bySlot = new Map<number, Put>();
  for (const p of puts) {
    const s = table.acquire(0, 0, 0xffff, p.addr, p.port << 16, true, p.prio, 0);
    if (s < 0) continue;
    const b = table.recordBase(s);
    table.i32[b + Conn.real] = p.real;
    table.i32[b + Conn.statePrio] = (p.prio << 8) | (p.prio << 16);
    table.i32[b + Conn.flagsSyn] = p.fixed || p.prio === 0 ? DefenseConnFlag.priorityFixed : ConnFlag.udp;
    table.i32[b + Conn.packets] = 1;
    table.i32[b + Conn.lastSeen] = p.lastSeen;
    table.setExpires(s, 0x3fffffff);
    table.release(s);
    bySlot.set(s, p);
  }
  return bySlot;
}

const put = fc.record({
  addr: fc.integer({ min: 0x0b000000, max: 0x0b0000ff }),
  port: fc.integer({ min: 1, max: 40 }),
  real: fc.integer({ min: 0, max: 3 }),
  prio: fc.integer({ min: 0, max: 15 }),
  fixed: fc.boolean(),
  lastSeen: fc.integer({ min: 0, max: 1000 }),
});

describe('Rescorer: the victim index after a pass', () => {
  it('lists the worst entries of each real server and overall, lowest priority first, never 0', () => {
    fc.assert(
      fc.property(fc.array(put, { maxLength: 300 }), fc.integer({ min: 1, max: 16 }), (puts, perList) => {
        const table = ConnectionTable.create(1024, 0);
        const live = fill(table, puts);
        const v = VictimIndex.create(4, perList);
        const r = new Rescorer(table, null, v);
        r.runPass(1000, 100);
        expect(v.headerValue(VictimHeader.passes)).toBe(1);
        const idleOf = (p: Put) => Math.max(0, 1000 - p.lastSeen);
        const worse = (a: Put, b: Put) => b.prio - a.prio || idleOf(b) - idleOf(a);
        for (const real of [0, 1, 2, 3, VICTIM_GLOBAL]) {
          const mine = [...live.values()]
            .filter((p) => p.prio > 0 && (real < 0 || p.real === real))
            .sort(worse);
          const listed = v.entries(real);
          expect(listed.length).toBe(Math.min(perList, mine.length));
          // same (priority, idle) sequence as the sorted truth; every entry names its own live slot
          expect(listed.map((e) => [e.priority, e.idleMs])).toEqual(
            mine.slice(0, perList).map((p) => [p.prio, idleOf(p)]),
          );
          for (const e of listed) {
            const p = live.get(e.slot) as Put;
            expect(p.prio).toBe(e.priority);
            expect(table.core.tagOfSlot(e.slot)).toBe(e.tag);
            if (real >= 0) expect(p.real).toBe(real);
          }
          // takers get them in that order, then nothing
          const taken: number[] = [];
          for (let s = v.takeVictim(real); s >= 0; s = v.takeVictim(real)) {
            expect(v.outPriority).toBeGreaterThan(0);
            taken.push(s);
          }
          expect(taken).toEqual(listed.map((e) => e.slot));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('refills a list its shedders emptied before the pass ends', () => {
    const table = ConnectionTable.create(1024, 0);
    fill(
      table,
      Array.from({ length: 200 }, (_, i) => ({
        addr: 0x0b000000 + i,
        port: 1,
        real: 0,
        prio: 9,
        fixed: true,
        lastSeen: 0,
      })),
    );
    const v = VictimIndex.create(1, 4);
    const r = new Rescorer(table, null, v);
    r.runPass(0, 256);
    while (v.takeVictim(0) >= 0) {}
    expect(r.step(0, 128)).toBe(0); // mid-pass
    expect(v.remaining(0)).toBeGreaterThan(0);
  });
});

describe('Rescorer: ageing and aggregates', () => {
  const syn = Object.assign(new FrameInfo(), {
    ipVersion: 4,
    ipProto: 6,
    ttl: 64,
    tcpFlags: TcpFlag.syn,
    tcpWindow: 64240,
    optCount: 5,
    optSignature: 0x31542,
    optMss: 1460,
    srcPort: 40000,
  });
  const setup = () => {
    const table = ConnectionTable.create(4096, 0);
    const sources = SourceTable.create(1024, 0);
    const scorer = new PriorityScorer(DEFENSE_WEIGHTS, undefined, SourceChecks.disabled());
    const m = new PipelineModel(table, sources, scorer);
    const v = VictimIndex.create(2, 64);
    return { table, sources, m, v, r: new Rescorer(table, sources, v) };
  };
  const open = (m: PipelineModel, host: number, port: number, t: number, established: boolean) => {
    const f = Object.assign(Object.assign(new FrameInfo(), syn), {
      ...v4src(198, 100, 1, host),
      srcPort: port,
    });
    const slot = m.packet(f, host & 1, t);
    if (established) {
      m.packet(Object.assign(Object.assign(new FrameInfo(), f), { tcpFlags: TcpFlag.ack }), host & 1, t + 20);
      m.packet(
        Object.assign(Object.assign(new FrameInfo(), f), { tcpFlags: TcpFlag.ack, payloadLen: 200 }),
        host & 1,
        t + 21,
      );
    }
    return slot;
  };

  it('half-open entries sink after the grace period; idle ones decay; a packet brings them back', () => {
    const { table, m, r } = setup();
    const half = open(m, 1, 1000, 0, false);
    const est = open(m, 2, 1000, 0, true);
    expect([prioOf(table, half).prio, prioOf(table, est).prio]).toEqual([8, 6]);
    r.runPass(2000);
    expect([prioOf(table, half).prio, prioOf(table, est).prio]).toEqual([8, 6]);
    r.runPass(3100);
    expect(prioOf(table, half).prio).toBe(11);
    r.runPass(20_021);
    expect([prioOf(table, half).prio, prioOf(table, est).prio]).toEqual([13, 8]);
    r.runPass(800_000);
    expect([prioOf(table, half).prio, prioOf(table, est).prio]).toEqual([15, 12]);
    // the idle client speaks again: its standing is back at once
    const f = Object.assign(Object.assign(new FrameInfo(), syn), { ...v4src(198, 100, 1, 2), srcPort: 1000 });
    m.packet(Object.assign(f, { tcpFlags: TcpFlag.ack, payloadLen: 10 }), 0, 800_001);
    expect(prioOf(table, est).prio).toBe(6);
  });

  it('a source hoarding idle connections sinks those connections; prioritySum stays exact', () => {
    const { table, sources, m, r } = setup();
    const hog: number[] = [];
    for (let p = 0; p < 20; p++) hog.push(open(m, 3, 2000 + p, 0, true));
    const calm: number[] = [];
    for (let p = 0; p < 3; p++) calm.push(open(m, 4, 2000 + p, 0, true));
    const before = new Map([...hog, ...calm].map((s) => [s, prioOf(table, s).prio]));
    r.runPass(40_021);
    r.runPass(40_021);
    // 40 s idle: +4 for everyone, +2 more for the hoarder's 20 idle connections
    for (const s of calm) expect(prioOf(table, s).prio).toBe((before.get(s) as number) + 4);
    for (const s of hog) expect(prioOf(table, s).prio).toBe((before.get(s) as number) + 4 + 2);
    expect(r.changed).toBeGreaterThan(0);
    for (const [host, slots] of [
      [3, hog],
      [4, calm],
    ] as const) {
      const s = sources.acquire(0, 0, 0xffff, v4src(198, 100, 1, host).src3 as number, false, 0);
      const sum = slots.reduce((acc, slot) => acc + prioOf(table, slot).prio, 0);
      expect(sources.i32[sources.recordBase(s) + Src.prioritySum]).toBe(sum);
      sources.release(s);
    }
  });

  it('never changes priority 0 or rule-fixed entries, whatever their age', () => {
    const table = ConnectionTable.create(256, 0);
    const live = fill(table, [
      { addr: 1, port: 1, real: 0, prio: 0, fixed: false, lastSeen: 0 },
      { addr: 2, port: 1, real: 0, prio: 3, fixed: true, lastSeen: 0 },
    ]);
    // Both look half-open and ancient. The priority-0 one loses its fixed mark too: 0 alone protects it.
    for (const [slot, p] of live) if (p.prio === 0) table.i32[table.recordBase(slot) + Conn.flagsSyn] = 0;
    const v = VictimIndex.create(1, 8);
    const r = new Rescorer(table, null, v);
    r.runPass(100_000_000);
    expect([...live.keys()].map((s) => prioOf(table, s).prio).sort()).toEqual([0, 3]);
    expect(v.entries(0).map((e) => e.priority)).toEqual([3]);
    expect(r.changed).toBe(0);
    expect(prioOf(table, [...live.keys()][0]).state).toBe(TcpState.none);
  });
});
