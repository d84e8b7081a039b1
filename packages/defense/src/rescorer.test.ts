// The re-scorer on one thread: victim lists after a pass over known priorities, the slots of
// unverified half-open entries it releases, late verification, and the fair share it publishes.
import {
  Conn,
  ConnBit,
  ConnectionTable,
  ConnFlag,
  SourceTable,
  Src,
  TcpState,
  VerifiedSourceTable,
} from '@sluice/conntrack';
import { RealServerCounters } from '@sluice/schedulers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFENSE_WEIGHTS,
  DefenseConnFlag,
  DefenseState,
  Rescorer,
  VICTIM_GLOBAL,
  VictimHeader,
  VictimIndex,
} from './index.ts';

/** The priority and state of the entry in `slot`. */
function prioOf(table: ConnectionTable, slot: number): { prio: number; state: number } {
  const sp = table.i32[table.recordBase(slot) + Conn.statePrio];
  return { prio: (sp >>> 8) & 0xff, state: sp & 0xff };
}

interface Put {
  addr: number;
  port: number;
  real: number;
  prio: number;
  fixed: boolean;
  lastSeen: number;
}

/** Writes entries whose priority the re-scorer keeps as is at any time (rule-fixed). */
function fill(table: ConnectionTable, puts: Put[]): Map<number, Put> {
  const bySlot = new Map<number, Put>();
  for (const p of puts) {
    const s = table.acquire(0, 0, 0xffff, p.addr, p.port << 16, true, p.prio, 0);
    if (s < 0) continue;
    const b = table.recordBase(s);
    table.i32[b + Conn.real] = p.real;
    table.i32[b + Conn.statePrio] = (p.prio << 8) | (p.prio << 16);
    // Held and rule-fixed, so the re-scorer keeps the priority as written and lists it per real.
    table.i32[b + Conn.flagsSyn] = DefenseConnFlag.priorityFixed | ConnFlag.held;
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
        const r = new Rescorer({ connections: table, victims: v });
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
    const r = new Rescorer({ connections: table, victims: v });
    r.runPass(0, 256);
    while (v.takeVictim(0) >= 0) {}
    expect(r.step(0, 128)).toBe(0); // mid-pass
    expect(v.remaining(0)).toBeGreaterThan(0);
  });
});

describe('Rescorer: ageing, verification, what the servers hold, fair shares', () => {
  /** One connection record written the way the pipeline would (unverified kernel SYN unless told). */
  function conn(table: ConnectionTable, host: number, port: number, fs: number, firstSeen: number, prio = 8) {
    const s = table.acquire(0, 0, 0xffff, 0x0b000000 + host, port << 16, true, prio, firstSeen);
    const b = table.recordBase(s);
    table.i32[b + Conn.real] = 0;
    table.i32[b + Conn.statePrio] = TcpState.synRecv | (prio << 8);
    table.i32[b + Conn.flagsSyn] = fs | ConnFlag.held | ConnFlag.sourceCounted;
    table.i32[b + Conn.firstSeen] = firstSeen;
    table.i32[b + Conn.lastSeen] = firstSeen;
    table.setExpires(s, 0x3fffffff);
    table.release(s);
    return s;
  }
  const parts = () => {
    const connections = ConnectionTable.create(1024, 0);
    const sources = SourceTable.create(1024, 0);
    const reals = RealServerCounters.create(1);
    const verified = VerifiedSourceTable.create(1024, 0);
    const state = DefenseState.create(1, [1, 2, 3, 4]);
    const victims = VictimIndex.create(1, 64);
    return { connections, sources, reals, verified, state, victims };
  };
  const flagsOf = (t: ConnectionTable, slot: number) => t.i32[t.recordBase(slot) + Conn.flagsSyn];

  it("releases an unverified half-open entry's slot after its grace, once, and lists it only globally then", () => {
    const p = parts();
    p.reals.held[0] = 2;
    const half = conn(p.connections, 1, 1000, 0, 0);
    const done = conn(p.connections, 2, 1000, ConnFlag.handshake, 0);
    const r = new Rescorer(p);
    r.runPass(999);
    expect(p.reals.held[0]).toBe(2);
    r.runPass(1000);
    expect(p.reals.held[0]).toBe(1);
    expect(flagsOf(p.connections, half) & ConnFlag.held).toBe(0);
    expect(flagsOf(p.connections, done) & ConnFlag.held).toBe(ConnFlag.held);
    r.runPass(5000);
    expect(p.reals.held[0]).toBe(1);
    expect(r.released).toBe(1);
    // the real server's list names only what it holds; the table's list names both
    expect(p.victims.entries(0).map((e) => e.slot)).toEqual([done]);
    expect(p.victims.entries(VICTIM_GLOBAL).length).toBe(2);
  });

  it('joins a connection to the verified band when its source answered after it began; releases it half-open all the same', () => {
    const p = parts();
    p.reals.held[0] = 2;
    const slot = conn(p.connections, 1, 1000, 0, 0);
    const done = conn(p.connections, 1, 1001, ConnFlag.handshake, 0);
    p.verified.verify(0, 0, 0xffff, 0x0b000001, 40000, 1, 10, 60_000);
    const r = new Rescorer(p);
    r.runPass(400);
    expect(flagsOf(p.connections, slot) & (ConnFlag.verified | ConnFlag.held)).toBe(
      ConnFlag.verified | ConnFlag.held,
    );
    expect(r.verifiedLate).toBe(2);
    expect(prioOf(p.connections, slot).prio).toBe(DEFENSE_WEIGHTS.verifiedBase);
    r.runPass(DEFENSE_WEIGHTS.halfOpenHoldMs - 1);
    expect(prioOf(p.connections, slot).prio).toBe(DEFENSE_WEIGHTS.verifiedBase);
    // past halfOpenHoldMs without a handshake it holds nothing on its server, verified or not (a
    // live host flooding SYNs whose resets the director missed), and sinks below its source's
    // completed connections (the half-open penalty's verified grace); the completed one holds on
    r.runPass(DEFENSE_WEIGHTS.halfOpenHoldMs);
    expect(prioOf(p.connections, slot).prio).toBe(DEFENSE_WEIGHTS.verifiedBase + DEFENSE_WEIGHTS.halfOpen);
    expect(flagsOf(p.connections, slot) & ConnFlag.held).toBe(0);
    expect(flagsOf(p.connections, done) & ConnFlag.held).toBe(ConnFlag.held);
    expect(p.reals.held[0]).toBe(1);
    expect(r.released).toBe(1);
  });

  it('publishes the fair share and, under pressure, sinks the connections of a source holding more', () => {
    const p = parts();
    p.state.setCapacity(40);
    const served = ConnFlag.verified | ConnFlag.handshake | ConnFlag.data | ConnFlag.progress;
    const hogSlots: number[] = [];
    for (let i = 0; i < 12; i++) hogSlots.push(conn(p.connections, 1, 1000 + i, served, 0, 4));
    const calm = [2, 3, 4].map((host) => conn(p.connections, host, 1000, served, 0, 4));
    for (const host of [1, 2, 3, 4])
      p.sources.release(p.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, true, 0));
    const W = DEFENSE_WEIGHTS;
    const being = W.verifiedBase - W.progress;
    const r = new Rescorer(p);
    r.runPass(100);
    // no service under pressure: no share, nobody counted
    expect(p.state.fairShare()).toBe(0x7fffffff);
    expect(p.state.activeSources()).toBe(0);
    for (const s of [...hogSlots, ...calm]) expect(prioOf(p.connections, s).prio).toBe(being);
    p.state.setVerifying(0, 1);
    r.runPass(200); // the pressure is seen at the end of this pass
    r.runPass(300); // counts what each source holds
    // 40 slots among 4 sources: a share of 10 (never below the floor)
    expect(p.state.fairShare()).toBe(10);
    expect(p.state.activeSources()).toBe(4);
    r.runPass(400);
    for (const s of hogSlots) expect(prioOf(p.connections, s).prio).toBe(being + W.hogPenalty);
    for (const s of calm) expect(prioOf(p.connections, s).prio).toBe(being);
    // the pressure ends: the share lifts and the hog climbs back
    p.state.setVerifying(0, 0);
    r.runPass(500);
    r.runPass(600);
    expect(p.state.fairShare()).toBe(0x7fffffff);
    for (const s of hogSlots) expect(prioOf(p.connections, s).prio).toBe(being);
  });

  it('rounds the share down, so a botnet holding exactly its share from enough addresses is over it', () => {
    const p = parts();
    // 10 slots among 3 sources: 3 each (rounded up, 4 each would sum to 12: more than the cluster)
    p.state.setCapacity(10);
    p.state.setVerifying(0, 1);
    const served = ConnFlag.verified | ConnFlag.handshake | ConnFlag.data | ConnFlag.progress;
    const atFour = [1, 2].flatMap((host) =>
      [0, 1, 2, 3].map((i) => conn(p.connections, host, 1000 + i, served, 0, 4)),
    );
    const one = conn(p.connections, 3, 1000, served, 0, 4);
    for (const host of [1, 2, 3])
      p.sources.release(p.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, true, 0));
    const being = DEFENSE_WEIGHTS.verifiedBase - DEFENSE_WEIGHTS.progress;
    const r = new Rescorer(p);
    r.runPass(100);
    r.runPass(200);
    expect(p.state.fairShare()).toBe(3);
    r.runPass(300);
    for (const s of atFour) expect(prioOf(p.connections, s).prio).toBe(being + DEFENSE_WEIGHTS.hogPenalty);
    expect(prioOf(p.connections, one).prio).toBe(being);
  });

  it('marks the source of a stalled head that kept growing, not of a request waiting silently for a busy server', () => {
    const p = parts();
    const waiting = ConnFlag.verified | ConnFlag.handshake | ConnFlag.data | ConnFlag.awaiting;
    const growing = conn(p.connections, 1, 1000, waiting | ConnBit.holdsUp, 0, 4);
    const queued = conn(p.connections, 2, 1000, waiting, 0, 4);
    for (const s of [growing, queued]) {
      const b = p.connections.recordBase(s);
      p.connections.i32[b + Conn.awaitingSince] = 100;
      p.connections.i32[b + Conn.lastSeen] = 100;
    }
    for (const host of [1, 2]) p.sources.release(p.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, true, 0));
    const markOf = (host: number) => {
      const s = p.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, false, 0);
      const at = p.sources.i32[p.sources.recordBase(s) + Src.misbehavedAt];
      p.sources.release(s);
      return at;
    };
    const r = new Rescorer(p);
    r.runPass(100 + DEFENSE_WEIGHTS.stallGraceMs);
    // both stalled, both sink
    expect(prioOf(p.connections, growing).prio).toBeGreaterThanOrEqual(
      DEFENSE_WEIGHTS.verifiedBase + DEFENSE_WEIGHTS.stall,
    );
    expect(prioOf(p.connections, queued).prio).toBeGreaterThan(DEFENSE_WEIGHTS.verifiedBase);
    expect(markOf(1)).toBe(100 + DEFENSE_WEIGHTS.stallGraceMs);
    expect(markOf(2)).toBe(0);
  });

  it("counts no idle keep-alive connection toward the share: a client's next request beside the idle ones it keeps is not over it", () => {
    const p = parts();
    p.state.setCapacity(6);
    p.state.setVerifying(0, 1);
    const answered = ConnFlag.verified | ConnFlag.handshake | ConnFlag.data | ConnFlag.progress;
    const asking = ConnFlag.verified | ConnFlag.handshake | ConnFlag.data | ConnFlag.awaiting;
    const W = DEFENSE_WEIGHTS;
    // host 1: two connections answered 2 s before the pass, idle since, and a request on a third;
    // host 2: three requests; host 3: one. 6 slots, 3 sources: a share of 2.
    const idle = [0, 1].map((i) => conn(p.connections, 1, 1000 + i, answered, 0, 4));
    const next = conn(p.connections, 1, 1002, asking, 0, 4);
    const busy = [0, 1, 2].map((i) => conn(p.connections, 2, 1000 + i, asking, 0, 4));
    conn(p.connections, 3, 1000, asking, 0, 4);
    for (const s of [next, ...busy]) {
      const b = p.connections.recordBase(s);
      p.connections.i32[b + Conn.awaitingSince] = 1900;
      p.connections.i32[b + Conn.lastSeen] = 1900;
    }
    for (const host of [1, 2, 3])
      p.sources.release(p.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, true, 0));
    const r = new Rescorer(p);
    r.runPass(2000);
    r.runPass(2100);
    expect(p.state.fairShare()).toBe(2);
    r.runPass(2200);
    expect(prioOf(p.connections, next).prio).toBe(W.verifiedBase);
    for (const s of busy) expect(prioOf(p.connections, s).prio).toBe(W.verifiedBase + W.hogPenalty);
    // the idle ones rank as idle keep-alive connections (servedIdle), with no hog penalty on top
    for (const s of idle)
      expect(prioOf(p.connections, s).prio).toBeLessThan(W.verifiedBase + W.servedIdle + W.hogPenalty);
  });

  it('counts toward the share only connections served or half a second old: a spoofer cannot push a verified client over it', () => {
    const p = parts();
    p.state.setCapacity(4);
    p.state.setVerifying(0, 1);
    const fresh = ConnFlag.verified | ConnFlag.handshake;
    for (let i = 0; i < 10; i++) conn(p.connections, 1, 1000 + i, fresh, 0, 4);
    conn(p.connections, 2, 1000, fresh | ConnFlag.data | ConnFlag.progress, 0, 4);
    for (const host of [1, 2]) p.sources.release(p.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, true, 0));
    const r = new Rescorer(p);
    r.runPass(400);
    expect(p.state.activeSources()).toBe(1);
    r.runPass(600);
    expect(p.state.activeSources()).toBe(2);
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
    const r = new Rescorer({ connections: table, victims: v });
    r.runPass(100_000_000);
    expect([...live.keys()].map((s) => prioOf(table, s).prio).sort()).toEqual([0, 3]);
    expect(v.entries(0).map((e) => e.priority)).toEqual([3]);
    expect(r.changed).toBe(0);
    expect(prioOf(table, [...live.keys()][0]).state).toBe(TcpState.none);
  });
});
