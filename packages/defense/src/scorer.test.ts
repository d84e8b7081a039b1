// Scoring real SYNs (captures in packages/wire/fixtures), the source's history, rules, bogons,
// retransmissions, and the adjustments later packets make, through a model of the pipeline.
import { readFileSync } from 'node:fs';
import { Conn, ConnectionTable, ConnFlag, SourceTable, Src } from '@sluice/conntrack';
import { FrameInfo, ParseStatus, parseFrame, readPcap, TcpFlag } from '@sluice/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFENSE_WEIGHTS,
  DefenseConnFlag,
  PriorityAdjuster,
  PriorityRules,
  PriorityScorer,
  resolveWeights,
  SCORE_DROP,
  ScoreReason,
  SOURCE_LOOKUP,
  SOURCE_NONE,
  SourceChecks,
} from './index.ts';
import { frameWith, PipelineModel, prioOf, v4src } from './pipeline-model.fixture.ts';

function capture(name: string): FrameInfo {
  const bytes = new Uint8Array(readFileSync(new URL(`../../wire/fixtures/${name}`, import.meta.url)));
  const data = readPcap(bytes)[0].data;
  const f = new FrameInfo();
  expect(parseFrame(data, 0, data.length, f)).toBe(ParseStatus.ok);
  return f;
}

const curl = capture('curl-syn-ipv4.pcap');
const curl6 = capture('curl-syn-ipv6.pcap');
const hping = capture('hping3-syn.pcap');
// The captures come from the lab's 10.99.0.0/16 (and fd99::/64): source checks must be off there.
const lab = () => new PriorityScorer(DEFENSE_WEIGHTS, PriorityRules.empty(), SourceChecks.disabled());
const PUBLIC = v4src(198, 100, 7, 9);

function tables() {
  return { table: ConnectionTable.create(4096, 0), sources: SourceTable.create(1024, 0) };
}

describe('scoreSyn: the SYN itself', () => {
  it("a kernel's SYN (curl) scores strictly better than hping3's bare SYN", () => {
    const s = lab();
    const { sources } = tables();
    const kernel = s.scoreSyn(curl, sources, SOURCE_LOOKUP, 1000);
    expect(s.lastReasons).toBe(0);
    const tool = s.scoreSyn(hping, sources, SOURCE_LOOKUP, 1000);
    expect(s.lastReasons & ScoreReason.noOptions).not.toBe(0);
    expect(s.lastReasons & ScoreReason.smallWindow).not.toBe(0); // window 512
    expect(kernel).toBeLessThan(tool);
    expect(kernel).toBe(DEFENSE_WEIGHTS.base);
    expect(tool).toBe(DEFENSE_WEIGHTS.base + DEFENSE_WEIGHTS.noOptions + DEFENSE_WEIGHTS.smallWindow);
    expect(s.scoreSyn(curl6, sources, SOURCE_LOOKUP, 1000)).toBe(kernel);
    expect(s.lastRule).toBe(-1);
    expect(s.lastFlags).toBe(0);
  });

  it('TTL: plausible below 64/128/255, a mismatch with the layout, or implausible', () => {
    const s = new PriorityScorer(DEFENSE_WEIGHTS, PriorityRules.empty(), SourceChecks.disabled());
    const at = (patch: Partial<FrameInfo>) => {
      const p = s.scoreSyn(frameWith(curl, patch), null, SOURCE_NONE, 0);
      return [p, s.lastReasons] as const;
    };
    expect(at({ ttl: 64 })).toEqual([8, 0]);
    expect(at({ ttl: 47 })).toEqual([8, 0]); // 17 hops from Linux's 64
    expect(at({ ttl: 120 })).toEqual([9, ScoreReason.osMismatch]); // Linux layout, Windows TTL
    expect(at({ ttl: 80 })).toEqual([9, ScoreReason.badTtl]); // 48 hops below 128: nothing starts there
    expect(at({ ttl: 200 })).toEqual([9, ScoreReason.badTtl]);
    expect(at({ ttl: 250 })[0]).toBe(9); // 255 is plausible, but not for Linux's layout
    // Windows' layout is also Linux without timestamps: both TTL families fit.
    const win = { optSignature: 0x411312, optCount: 6, optMss: 1460 };
    expect(at({ ...win, ttl: 117 })).toEqual([8, 0]);
    expect(at({ ...win, ttl: 60 })).toEqual([8, 0]);
    // Options but not a kernel's layout, or no MSS: partial.
    expect(at({ optSignature: 0x2, optCount: 1, optMss: 1460 })).toEqual([9, ScoreReason.partialOptions]);
    expect(at({ optMss: -1 })).toEqual([9, ScoreReason.partialOptions]);
  });

  it('UDP has no SYN shape to judge', () => {
    const s = lab();
    expect(
      s.scoreSyn(frameWith(hping, { ipProto: 17, optCount: 0, tcpWindow: 0 }), null, SOURCE_NONE, 0),
    ).toBe(8);
  });
});

describe('scoreSyn: rules and source checks', () => {
  const rules = PriorityRules.compile([
    { cidr: '198.51.100.0/24', priority: 0, pool: [3, 4] },
    { cidr: '203.0.113.0/24', priority: 15 },
  ]);

  it('a partner subnet gets its fixed priority and its pool, before any other check', () => {
    const s = new PriorityScorer(DEFENSE_WEIGHTS, rules, SourceChecks.compile({ action: 'drop' }));
    // 198.51.100.0/24 is also a default bogon: the operator's rule wins.
    expect(s.scoreSyn(frameWith(hping, v4src(198, 51, 100, 20)), null, SOURCE_NONE, 0)).toBe(0);
    expect(s.lastRule).toBe(0);
    expect(s.lastFlags).toBe(DefenseConnFlag.priorityFixed);
    expect(s.lastReasons).toBe(ScoreReason.rule);
    expect(Array.from(rules.poolOf(s.lastRule) ?? [])).toEqual([3, 4]);
    expect(s.scoreSyn(frameWith(curl, v4src(203, 0, 113, 1)), null, SOURCE_NONE, 0)).toBe(15);
    expect(s.lastRule).toBe(1);
  });

  it("bogons: dropped under 'drop', lowest and fixed under 'lowest'; public sources pass", () => {
    const drop = new PriorityScorer(
      DEFENSE_WEIGHTS,
      PriorityRules.empty(),
      SourceChecks.compile({ action: 'drop' }),
    );
    expect(drop.scoreSyn(curl, null, SOURCE_NONE, 0)).toBe(SCORE_DROP); // 10.99.0.1
    expect(drop.lastReasons).toBe(ScoreReason.bogon);
    expect(drop.scoreSyn(frameWith(curl, PUBLIC), null, SOURCE_NONE, 0)).toBe(8);
    const lowest = new PriorityScorer();
    expect(lowest.scoreSyn(curl, null, SOURCE_NONE, 0)).toBe(15);
    expect(lowest.lastFlags).toBe(DefenseConnFlag.priorityFixed);
    expect(lowest.scoreSyn(curl6, null, SOURCE_NONE, 0)).toBe(15); // fd99:: is unique-local
  });
});

describe('scoreSyn: the source history', () => {
  function sourceWith(fields: Partial<Record<keyof typeof Src, number>>, now: number) {
    const sources = SourceTable.create(64, 0);
    const s = sources.acquire(0, 0, 0xffff, PUBLIC.src3 as number, true, now);
    const b = sources.recordBase(s);
    for (const [k, v] of Object.entries(fields)) sources.i32[b + Src[k as keyof typeof Src]] = v as number;
    sources.release(s);
    return { sources, slot: s };
  }
  const syn = frameWith(curl, PUBLIC);

  it.each([
    ['a fast SYN rate', { synCurrent: 25, periodStart: 1000 }, 8 + 3, ScoreReason.highSynRate],
    ['many concurrent connections', { concurrent: 64 }, 8 + 2, ScoreReason.manyConcurrent],
    ['connections that never completed', { connectionsTotal: 4 }, 8 + 3, ScoreReason.neverCompleted],
    [
      'earlier connections that carried data',
      { connectionsTotal: 9, handshakes: 3, spoke: 1 },
      8 - 2,
      ScoreReason.spokeBefore,
    ],
    // a handshake alone earns nothing: blind ACKs fake one, slot-holding bots complete thousands
    ['a few handshakes, no data yet', { connectionsTotal: 9, handshakes: 3 }, 8, 0],
    [
      'handshakes and never any data',
      { connectionsTotal: 9, handshakes: 4 },
      8 + 3,
      ScoreReason.silentSource,
    ],
    ['a quiet, unknown source', { connectionsTotal: 3 }, 8, 0],
  ])('%s', (_name, fields, expected, reason) => {
    const { sources, slot } = sourceWith(fields, 1000);
    const s = new PriorityScorer();
    expect(s.scoreSyn(syn, sources, SOURCE_LOOKUP, 1500)).toBe(expected);
    expect(s.lastReasons).toBe(reason);
    // the caller may hold the source itself and pass its slot
    const held = sources.acquire(0, 0, 0xffff, PUBLIC.src3 as number, false, 1500);
    expect(held).toBe(slot);
    expect(s.scoreSyn(syn, sources, held, 1500)).toBe(expected);
    sources.release(held);
    expect(s.scoreSyn(syn, sources, SOURCE_NONE, 1500)).toBe(8);
  });

  it('the SYN rate comes from the pipeline counting SYNs: a flood from one source sinks', () => {
    const { table, sources } = tables();
    const m = new PipelineModel(table, sources, new PriorityScorer());
    const prios: number[] = [];
    for (let port = 1000; port < 1040; port++) {
      const slot = m.packet(frameWith(curl, { ...PUBLIC, srcPort: port }), 0, 5000 + port);
      prios.push(prioOf(table, slot).prio);
    }
    expect(prios[0]).toBe(8);
    // after 4 connections that never completed, and past 20 SYNs/s
    expect(prios[4]).toBe(11);
    expect(prios[39]).toBe(14);
  });
});

describe('onPacket: adjustments as packets arrive', () => {
  it('a client that completes the handshake and sends data climbs; the counts credit volume', () => {
    const { table, sources } = tables();
    const m = new PipelineModel(table, sources, new PriorityScorer());
    const syn = frameWith(curl, PUBLIC);
    const slot = m.packet(syn, 0, 0);
    expect(prioOf(table, slot)).toEqual({ prio: 8, initial: 8, state: 3 });
    m.packet(frameWith(syn, { tcpFlags: TcpFlag.ack }), 0, 30);
    expect(prioOf(table, slot).prio).toBe(8); // the ACK alone: faked blind for free, worth nothing
    m.packet(frameWith(syn, { tcpFlags: TcpFlag.ack | TcpFlag.psh, payloadLen: 300 }), 0, 31);
    expect(prioOf(table, slot).prio).toBe(6);
    for (let i = 0; i < 40; i++) m.packet(frameWith(syn, { tcpFlags: TcpFlag.ack }), 0, 40 + i);
    expect(prioOf(table, slot)).toEqual({ prio: 3, initial: 8, state: 1 });
    // a new connection from the same source now has history: it spoke
    const again = m.packet(frameWith(syn, { srcPort: syn.srcPort + 1 }), 0, 100);
    expect(prioOf(table, again).prio).toBe(6);
  });

  it('priority never rises as ACKs and data arrive (any order, any sizes)', () => {
    const packet = fc.record({ data: fc.integer({ min: 0, max: 1460 }), fin: fc.boolean() });
    fc.assert(
      fc.property(fc.constantFrom(curl, hping), fc.array(packet, { maxLength: 60 }), (first, seq) => {
        const { table, sources } = tables();
        const m = new PipelineModel(table, sources, lab());
        const slot = m.packet(first, 0, 0);
        let last = prioOf(table, slot).prio;
        let t = 1;
        for (const p of seq) {
          const flags = TcpFlag.ack | (p.fin ? TcpFlag.fin : 0);
          m.packet(frameWith(first, { tcpFlags: flags, payloadLen: p.data }), 0, t++);
          const now = prioOf(table, slot).prio;
          expect(now).toBeLessThanOrEqual(last);
          expect(now).toBeGreaterThanOrEqual(1);
          last = now;
        }
      }),
      { numRuns: 200 },
    );
  });

  // Not monotone in the handshake flag alone, on purpose: a completed handshake followed by silence
  // (a blind ACK, a slot-holding bot) ends up below a half-open entry; data and packets always help.
  it('the adjuster is monotone: more packets or data never worse, more idle never better', () => {
    const a = new PriorityAdjuster(DEFENSE_WEIGHTS);
    const flagsArb = fc.constantFrom(0, ConnFlag.handshake);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 15 }),
        flagsArb,
        fc.boolean(),
        fc.nat(100_000),
        fc.nat(100_000),
        fc.nat(600_000),
        fc.nat(600_000),
        (initial, f1, addData, p1, p2, i1, i2) => {
          const more = f1 | (addData ? ConnFlag.data : 0);
          expect(a.priority(initial, more, p1 + p2, i1, 0)).toBeLessThanOrEqual(
            a.priority(initial, f1, p1, i1, 0),
          );
          const lo = Math.min(i1, i2);
          const hi = Math.max(i1, i2);
          expect(a.priority(initial, f1, p1, hi, 0)).toBeGreaterThanOrEqual(
            a.priority(initial, f1, p1, lo, 0),
          );
        },
      ),
    );
  });

  it('idle decay: a point per 10 s up to 6, half-open entries sink after the grace period', () => {
    const a = new PriorityAdjuster(DEFENSE_WEIGHTS);
    const est = ConnFlag.handshake | ConnFlag.data;
    expect(a.priority(8, est, 5, 0, 0)).toBe(6);
    expect(a.priority(8, est, 5, 9_999, 0)).toBe(6);
    expect(a.priority(8, est, 5, 10_000, 0)).toBe(7);
    expect(a.priority(8, est, 5, 35_000, 0)).toBe(9);
    expect(a.priority(8, est, 5, 3_600_000, 0)).toBe(12);
    // a handshake and then nothing: silent after a second (+4), below a half-open entry
    expect(a.priority(8, ConnFlag.handshake, 2, 999, 0)).toBe(8);
    expect(a.priority(8, ConnFlag.handshake, 2, 1_000, 0)).toBe(12);
    expect(a.priority(8, 0, 1, 2_999, 0)).toBe(8);
    expect(a.priority(8, 0, 1, 3_000, 0)).toBe(11);
    expect(a.priority(12, 0, 1, 3_000, 0)).toBe(15);
    expect(a.priority(8, ConnFlag.udp | ConnFlag.data, 1, 3_000, 0)).toBe(8); // no handshake in UDP
  });

  it('a retransmitted SYN (a real stack, about a second later) raises the priority, once', () => {
    const { table, sources } = tables();
    const m = new PipelineModel(table, sources, new PriorityScorer());
    const syn = frameWith(curl, PUBLIC);
    const slot = m.packet(syn, 0, 0);
    m.packet(syn, 0, 1000);
    expect(prioOf(table, slot)).toEqual({ prio: 5, initial: 5, state: 3 });
    m.packet(syn, 0, 3000);
    expect(prioOf(table, slot).prio).toBe(5); // third SYN: no more credit
    // the connection then completes and keeps its credit
    m.packet(frameWith(syn, { tcpFlags: TcpFlag.ack }), 0, 3030);
    expect(prioOf(table, slot).prio).toBe(5);
    expect(table.i32[table.recordBase(slot) + Conn.flagsSyn] >>> 16).toBe(3);
  });

  it('a duplicate SYN sent at once (a tool, not a stack) earns nothing', () => {
    const { table, sources } = tables();
    const m = new PipelineModel(table, sources, new PriorityScorer());
    const syn = frameWith(hping, PUBLIC);
    const slot = m.packet(syn, 0, 0);
    m.packet(syn, 0, 5);
    m.packet(syn, 0, 2000);
    expect(prioOf(table, slot)).toEqual({ prio: 12, initial: 12, state: 3 });
  });

  it('partner entries (priority 0) and other rule-fixed entries never change', () => {
    const rules = PriorityRules.compile([
      { cidr: '198.51.100.0/24', priority: 0 },
      { cidr: '203.0.113.0/24', priority: 13 },
    ]);
    const kinds = fc.constantFrom(
      TcpFlag.syn,
      TcpFlag.ack,
      TcpFlag.ack | TcpFlag.psh,
      TcpFlag.fin | TcpFlag.ack,
    );
    fc.assert(
      fc.property(
        fc.constantFrom(v4src(198, 51, 100, 9), v4src(203, 0, 113, 9)),
        fc.array(fc.tuple(kinds, fc.nat(1460), fc.nat(5000)), { maxLength: 40 }),
        (src, packets) => {
          const { table, sources } = tables();
          const scorer = new PriorityScorer(DEFENSE_WEIGHTS, rules, SourceChecks.compile({ action: 'drop' }));
          const m = new PipelineModel(table, sources, scorer);
          const syn = frameWith(hping, src);
          const slot = m.packet(syn, 0, 0);
          const fixed = prioOf(table, slot).prio;
          expect(table.i32[table.recordBase(slot) + Conn.flagsSyn] & DefenseConnFlag.priorityFixed).not.toBe(
            0,
          );
          let t = 0;
          for (const [flags, len, dt] of packets) {
            t += dt;
            m.packet(frameWith(syn, { tcpFlags: flags, payloadLen: len }), 0, t);
            expect(prioOf(table, slot).prio).toBe(fixed);
          }
          expect([0, 13]).toContain(fixed);
        },
      ),
      { numRuns: 100 },
    );
    // priority 0 is left alone even without the fixed mark
    const i32 = new Int32Array(Conn.words);
    i32[Conn.statePrio] = 3 | (0 << 8) | (8 << 16);
    i32[Conn.flagsSyn] = 2 << 16;
    i32[Conn.packets] = 1000;
    expect(new PriorityScorer().onPacket(i32, 0, TcpFlag.syn, 100, 5000)).toBe(0);
    expect(i32[Conn.statePrio]).toBe(3 | (8 << 16));
  });

  it("keeps each source's prioritySum equal to the sum of its live entries' priorities", () => {
    const { table, sources } = tables();
    const m = new PipelineModel(table, sources, new PriorityScorer());
    let t = 0;
    for (let i = 0; i < 300; i++) {
      const host = i % 5;
      const port = 2000 + (i % 23);
      const f = frameWith(i % 3 === 0 ? hping : curl, { ...v4src(198, 100, 0, host), srcPort: port });
      const kind = i % 4;
      const flags = kind === 0 ? TcpFlag.syn : kind === 3 ? TcpFlag.ack : TcpFlag.ack | TcpFlag.psh;
      t += 400;
      const slot = m.packet(frameWith(f, { tcpFlags: flags, payloadLen: kind === 2 ? 100 : 0 }), 0, t);
      if (slot >= 0 && i % 17 === 0) {
        const tag = table.core.tagOfSlot(slot);
        table.removeSlot(slot, tag, 4);
      }
    }
    const sums = new Map<number, number>();
    const rec = new Int32Array(Conn.words);
    for (let s = 0; s < table.capacity; s++) {
      if (!table.readRecord(s, rec) || rec[Conn.tag] === 0) continue;
      sums.set(rec[Conn.addr3], (sums.get(rec[Conn.addr3]) ?? 0) + ((rec[Conn.statePrio] >>> 8) & 0xff));
    }
    expect(sums.size).toBe(5);
    for (const [addr, sum] of sums) {
      const s = sources.acquire(0, 0, 0xffff, addr, false, t);
      expect(sources.i32[sources.recordBase(s) + Src.prioritySum]).toBe(sum);
      sources.release(s);
    }
  });
});

describe('weights', () => {
  it('overrides are validated with typed errors naming the field', () => {
    expect(resolveWeights({ noOptions: 5 }).noOptions).toBe(5);
    expect(resolveWeights().base).toBe(8);
    const bad = (w: unknown) => {
      try {
        resolveWeights(w as never);
      } catch (e) {
        return [(e as { code: string }).code, (e as { field: string }).field];
      }
      return null;
    };
    expect(bad({ noOptions: -1 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'noOptions']);
    expect(bad({ noOptions: 1.5 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'noOptions']);
    expect(bad({ packetsPerStep: 0 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'packetsPerStep']);
    expect(bad({ bogus: 1 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'bogus']);
    expect(bad({ base: 0 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'base']);
    expect(bad({ idlePenaltyPerSecond: Number.NaN })).toEqual([
      'SLUICE_ERR_DEFENSE_WEIGHTS',
      'idlePenaltyPerSecond',
    ]);
    expect(resolveWeights({ idlePenaltyPerSecond: 0.25 }).idlePenaltyPerSecond).toBe(0.25);
  });
});
