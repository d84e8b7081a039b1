// The re-scorer in its own worker thread while this thread updates, scores, removes and sheds
// entries: no record is ever torn or overwritten with stale fields, partner entries stay at
// priority 0 and are never shed, and the victim index stays well-formed and, at rest, exact.
import { Worker } from 'node:worker_threads';
import {
  Conn,
  ConnectionTable,
  ConnFlag,
  clockNow,
  RemoveReason,
  SourceTable,
  TcpState,
} from '@sluice/conntrack';
import { describe, expect, it } from 'vitest';
import {
  DefenseConnFlag,
  PriorityScorer,
  Rescorer,
  RescorerThread,
  VICTIM_GLOBAL,
  VictimHeader,
  VictimIndex,
} from './index.ts';

const REALS = 8;
const KEYS = 200;
const PARTNERS = 64;
const initialOf = (k: number) => 1 + (k % 14);

function worseOrEqual(a: { priority: number; idleMs: number }, b: { priority: number; idleMs: number }) {
  return a.priority > b.priority || (a.priority === b.priority && a.idleMs >= b.idleMs);
}

describe('re-scorer worker under concurrent updates', () => {
  it('ends with no torn records, untouched partners and a consistent victim index', async () => {
    const epoch = Date.now();
    const table = ConnectionTable.create(2048, epoch);
    const sources = SourceTable.create(4096, epoch);
    const victims = VictimIndex.create(REALS, 32);
    const scorer = new PriorityScorer();
    const rec = new Int32Array(Conn.snapshotWords);
    let rng = 12345;
    const rand = (n: number) => {
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return (rng >>> 0) % n;
    };
    const write = (slot: number, k: number, now: number, idleMs: number) => {
      const i32 = table.i32;
      const b = table.recordBase(slot);
      if (table.created === 1) {
        i32[b + Conn.real] = k % REALS;
        i32[b + Conn.firstSeen] = now;
        const partner = k < PARTNERS;
        const prio = partner ? 0 : initialOf(k);
        i32[b + Conn.statePrio] = (prio << 8) | (prio << 16);
        i32[b + Conn.flagsSyn] = (partner ? DefenseConnFlag.priorityFixed : 0) | ConnFlag.held | (1 << 16);
      }
      // invariants: bytes = 7 × packets, nextSeq = packets ^ 0x5a5a5a5a, state = packets & 7
      const p = (i32[b + Conn.packets] + 1) | 0;
      i32[b + Conn.packets] = p;
      i32[b + Conn.awaitingSince] = p * 7;
      i32[b + Conn.nextSeq] = p ^ 0x5a5a5a5a;
      const sp = i32[b + Conn.statePrio];
      i32[b + Conn.statePrio] = (sp & ~0xff) | (p & 7);
      if (rand(3) === 0) i32[b + Conn.flagsSyn] |= ConnFlag.handshake;
      // Scored as news (idle 0), then aged: the re-scorer has idle time to score.
      i32[b + Conn.lastSeen] = now;
      table.setExpires(slot, (now + 3_600_000) | 0);
      scorer.onPacket(i32, b, now);
      i32[b + Conn.lastSeen] = (now - idleMs) | 0;
    };
    // partners first, so they exist from the start
    for (let k = 0; k < PARTNERS; k++) {
      const now = clockNow(epoch);
      const s = table.acquire(0, 0, 0xffff, 0x0a000000 + k, (k & 0xffff) << 16, true, 0, now);
      write(s, k, now, 0);
      table.release(s);
    }

    const stop = new SharedArrayBuffer(4);
    const reader = new Worker(new URL('./torn-reader.fixture.ts', import.meta.url), {
      workerData: { sab: table.sab, stop },
    });
    const readerDone = new Promise<{ reads: number; torn: number }>((resolve, reject) => {
      reader.once('message', resolve);
      reader.once('error', reject);
    });
    const rt = RescorerThread.start({ connections: table, sources, victims, slotsPerStep: 512, pauseMs: 0 });
    await rt.whenReady();

    let ops = 0;
    let shed = 0;
    let taken = 0;
    const passesAtStart = victims.headerValue(VictimHeader.passes);
    // Run until the re-scorer has completed several passes under load (bounded by op count, not time).
    while (ops < 400_000 || victims.headerValue(VictimHeader.passes) < passesAtStart + 4) {
      if (ops > 50_000_000) throw new Error('the re-scorer made no progress');
      ops++;
      const k = PARTNERS + rand(KEYS - PARTNERS);
      const now = clockNow(epoch);
      const s = table.acquire(0, 0, 0xffff, 0x0a000000 + k, (k & 0xffff) << 16, true, 8, now);
      if (s < 0) continue;
      write(s, k, now, rand(4) * 20_000);
      if (rand(20) === 0) table.removeHeld(s, RemoveReason.reset);
      else table.release(s);
      if (rand(50) === 0) {
        const real = rand(REALS + 1) - 1 < 0 ? VICTIM_GLOBAL : rand(REALS);
        const slot = victims.takeVictim(real);
        if (slot >= 0) {
          taken++;
          expect(victims.outPriority).toBeGreaterThan(0);
          if (table.removeIfStill(slot, victims.outTag, victims.outPriority, 0, RemoveReason.shed, null))
            shed++;
        }
      }
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const stats = await rt.stop();
    const torn = await readerDone;
    await reader.terminate();

    expect(stats.passes).toBeGreaterThanOrEqual(4);
    expect(stats.changed).toBeGreaterThan(0);
    expect(taken).toBeGreaterThan(0);
    expect(shed).toBeGreaterThan(0);
    expect(torn.reads).toBeGreaterThan(1000);
    expect(torn.torn).toBe(0);

    // Every record intact: the re-scorer only ever changed the priority byte.
    let partners = 0;
    for (let s = 0; s < table.capacity; s++) {
      expect(table.readRecord(s, rec)).toBe(true);
      if (rec[Conn.tag] === 0) continue;
      const p = rec[Conn.packets];
      const k = rec[Conn.addr3] - 0x0a000000;
      const sp = rec[Conn.statePrio];
      expect(rec[Conn.awaitingSince]).toBe(p * 7);
      expect(rec[Conn.nextSeq]).toBe(p ^ 0x5a5a5a5a);
      expect(sp & 0xff).toBe(p & 7);
      const prio = (sp >>> 8) & 0xff;
      if (k < PARTNERS) {
        partners++;
        expect(prio).toBe(0);
      } else {
        expect((sp >>> 16) & 0xff).toBeLessThanOrEqual(initialOf(k));
        expect(prio).toBeGreaterThanOrEqual(1);
        expect(prio).toBeLessThanOrEqual(15);
      }
      expect(sp & 0xff).toBeLessThan(TcpState.listen);
    }
    expect(partners).toBe(PARTNERS); // never shed, never reset

    // The index the worker left: well-formed.
    for (let real = -1; real < REALS; real++) {
      const list = victims.entries(real);
      expect(list.length).toBeLessThanOrEqual(32);
      for (let i = 0; i < list.length; i++) {
        expect(list[i].priority).toBeGreaterThan(0);
        expect(list[i].slot).toBeLessThan(table.capacity);
        if (i > 0) expect(worseOrEqual(list[i - 1], list[i])).toBe(true);
      }
    }
    // At rest, one more pass makes it exact: live slots, their current priorities, the worst first.
    const now = clockNow(epoch);
    const final = new Rescorer({ connections: table, sources, victims });
    final.runPass(now);
    const all: { slot: number; priority: number; real: number }[] = [];
    for (let s = 0; s < table.capacity; s++) {
      if (!table.readRecord(s, rec) || rec[Conn.tag] === 0) continue;
      const priority = (rec[Conn.statePrio] >>> 8) & 0xff;
      if (priority > 0) all.push({ slot: s, priority, real: rec[Conn.real] });
    }
    for (let real = -1; real < REALS; real++) {
      const list = victims.entries(real);
      const mine = all.filter((e) => real < 0 || e.real === real).map((e) => e.priority);
      mine.sort((a, b) => b - a);
      expect(list.map((e) => e.priority)).toEqual(mine.slice(0, 32));
      for (const e of list) {
        expect(table.core.tagOfSlot(e.slot)).toBe(e.tag);
        expect((table.i32[table.recordBase(e.slot) + Conn.statePrio] >>> 8) & 0xff).toBe(e.priority);
      }
    }
  });
});
