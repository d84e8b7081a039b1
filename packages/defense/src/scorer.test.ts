// Scoring real SYNs (captures in packages/wire/fixtures) into their band, the rules (and their
// verification), bogons, the source's history, and the priority function the packet path and the
// re-scorer share. The pipeline around it is tested with the real Pipeline in packages/dataplane
// (defense.test.ts).
import { readFileSync } from 'node:fs';
import { Conn, ConnBit, ConnFlag, SourceTable, Src } from '@sluice/conntrack';
import { FrameInfo, ParseStatus, parseFrame, readPcap } from '@sluice/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFENSE_WEIGHTS,
  DefenseConnFlag,
  PRIORITY_UNVERIFIED_WORST,
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

function capture(name: string): FrameInfo {
  const bytes = new Uint8Array(readFileSync(new URL(`../../wire/fixtures/${name}`, import.meta.url)));
  const data = readPcap(bytes)[0].data;
  const f = new FrameInfo();
  expect(parseFrame(data, 0, data.length, f)).toBe(ParseStatus.ok);
  return f;
}

/** A copy of `f` with some fields changed. */
function frameWith(f: FrameInfo, patch: Partial<FrameInfo>): FrameInfo {
  return Object.assign(Object.assign(new FrameInfo(), f), patch);
}

/** The src0..src3 words of an IPv4 source (v4-mapped). */
function v4src(a: number, b: number, c: number, d: number): Partial<FrameInfo> {
  return { src0: 0, src1: 0, src2: 0xffff, src3: (a << 24) | (b << 16) | (c << 8) | d | 0 };
}

const curl = capture('curl-syn-ipv4.pcap');
const curl6 = capture('curl-syn-ipv6.pcap');
const hping = capture('hping3-syn.pcap');
// The captures come from the lab's 10.99.0.0/16 (and fd99::/64): source checks must be off there.
const lab = () => new PriorityScorer(DEFENSE_WEIGHTS, PriorityRules.empty(), SourceChecks.disabled());
const PUBLIC = v4src(198, 100, 7, 9);
const W = DEFENSE_WEIGHTS;

describe('scoreSyn: the band, then the SYN itself', () => {
  it("an unverified kernel's SYN (curl) starts the unverified band; hping3's bare SYN sinks in it", () => {
    const s = lab();
    const sources = SourceTable.create(1024, 0);
    const kernel = s.scoreSyn(curl, sources, SOURCE_LOOKUP, 0, 1000);
    expect(s.lastReasons).toBe(0);
    expect(kernel).toBe(W.unverifiedBase);
    const tool = s.scoreSyn(hping, sources, SOURCE_LOOKUP, 0, 1000);
    expect(s.lastReasons & ScoreReason.noOptions).not.toBe(0);
    expect(s.lastReasons & ScoreReason.smallWindow).not.toBe(0); // window 512
    expect(tool).toBe(W.unverifiedBase + W.noOptions + W.smallWindow);
    expect(s.lastInitial).toBe(W.noOptions + W.smallWindow);
    expect(s.scoreSyn(curl6, sources, SOURCE_LOOKUP, 0, 1000)).toBe(kernel);
    expect(s.lastRule).toBe(-1);
    expect(s.lastFlags).toBe(0);
  });

  it("a verified source's SYN starts the verified band whatever it looks like: the shape is spoofable, the answer is not", () => {
    const s = lab();
    expect(s.scoreSyn(hping, null, SOURCE_NONE, 1, 0)).toBe(W.verifiedBase);
    expect(s.lastFlags).toBe(ConnFlag.verified);
    expect(s.lastReasons & ScoreReason.verified).not.toBe(0);
    expect(s.scoreSyn(curl, null, SOURCE_NONE, 1, 0)).toBe(W.verifiedBase);
  });

  it('TTL: plausible below 64/128/255, a mismatch with the layout, or implausible', () => {
    const s = lab();
    const at = (patch: Partial<FrameInfo>) => {
      const p = s.scoreSyn(frameWith(curl, patch), null, SOURCE_NONE, 0, 0);
      return [p - W.unverifiedBase, s.lastReasons] as const;
    };
    expect(at({ ttl: 64 })).toEqual([0, 0]);
    expect(at({ ttl: 47 })).toEqual([0, 0]); // 17 hops from Linux's 64
    expect(at({ ttl: 120 })).toEqual([1, ScoreReason.osMismatch]); // Linux layout, Windows TTL
    expect(at({ ttl: 80 })).toEqual([1, ScoreReason.badTtl]); // 48 hops below 128: nothing starts there
    expect(at({ ttl: 200 })).toEqual([1, ScoreReason.badTtl]);
    const win = { optSignature: 0x411312, optCount: 6, optMss: 1460 };
    expect(at({ ...win, ttl: 117 })).toEqual([0, 0]);
    expect(at({ ...win, ttl: 60 })).toEqual([0, 0]);
    expect(at({ optSignature: 0x2, optCount: 1, optMss: 1460 })).toEqual([1, ScoreReason.partialOptions]);
    expect(at({ optMss: -1 })).toEqual([1, ScoreReason.partialOptions]);
  });

  it('UDP has no SYN shape to judge', () => {
    expect(
      lab().scoreSyn(frameWith(hping, { ipProto: 17, optCount: 0, tcpWindow: 0 }), null, SOURCE_NONE, 0, 0),
    ).toBe(W.unverifiedBase);
  });

  it('never leaves its band, whatever the SYN and history', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 1 }),
        (ttl, window, optCount, verified) => {
          const s = lab();
          s.fairShare = 1;
          const sources = SourceTable.create(64, 0);
          const slot = sources.acquire(0, 0, 0xffff, PUBLIC.src3 as number, true, 0);
          sources.i32[sources.recordBase(slot) + Src.concurrent] = 100;
          for (let i = 0; i < 200; i++) sources.countSyn(sources.recordBase(slot), 0);
          sources.release(slot);
          const p = s.scoreSyn(
            frameWith(curl, { ...PUBLIC, ttl, tcpWindow: window, optCount, optMss: optCount ? 1460 : -1 }),
            sources,
            SOURCE_LOOKUP,
            verified,
            0,
          );
          if (verified === 1) expect(p).toBeLessThan(W.unverifiedBase);
          else expect(p).toBeGreaterThanOrEqual(W.unverifiedBase);
          expect(p).toBeGreaterThanOrEqual(1);
          expect(p).toBeLessThanOrEqual(PRIORITY_UNVERIFIED_WORST);
        },
      ),
    );
  });
});

describe('scoreSyn: rules and source checks', () => {
  const rules = PriorityRules.compile([
    { cidr: '198.51.100.0/24', priority: 0, pool: [3, 4] },
    { cidr: '203.0.113.0/24', priority: 15 },
    { cidr: '192.0.2.0/24', priority: 0, verify: false },
  ]);

  it('a partner subnet (priority 0 verifies by default) gets its priority only from a verified source', () => {
    const s = new PriorityScorer(DEFENSE_WEIGHTS, rules, SourceChecks.compile({ action: 'drop' }));
    // 198.51.100.0/24 is also a default bogon: the operator's rule wins.
    const partner = frameWith(hping, v4src(198, 51, 100, 20));
    expect(s.scoreSyn(partner, null, SOURCE_NONE, 1, 0)).toBe(0);
    expect(s.lastRule).toBe(0);
    expect(s.lastFlags).toBe(DefenseConnFlag.priorityFixed | ConnFlag.verified);
    expect(Array.from(rules.poolOf(s.lastRule) ?? [])).toEqual([3, 4]);
    // a spoofer using the partner's prefix: the rule waits, the SYN ranks as an unverified kernel
    expect(s.scoreSyn(partner, null, SOURCE_NONE, 0, 0)).toBe(W.unverifiedBase);
    expect(s.lastFlags).toBe(DefenseConnFlag.priorityFixed | ConnBit.ruleNeedsVerify);
    expect(s.lastInitial).toBe(0);
    expect(s.lastReasons & ScoreReason.ruleUnverified).not.toBe(0);
    // a lower rule does not verify unless asked; verify: false trusts the prefix
    expect(s.scoreSyn(frameWith(curl, v4src(203, 0, 113, 1)), null, SOURCE_NONE, 0, 0)).toBe(15);
    expect(s.scoreSyn(frameWith(curl, v4src(192, 0, 2, 9)), null, SOURCE_NONE, 0, 0)).toBe(0);
    expect(rules.verifiesSource(0)).toBe(1);
    expect(rules.verifiesSource(1)).toBe(0);
    expect(rules.verifiesSource(2)).toBe(0);
  });

  it('rejects a verify that is not a boolean', () => {
    expect(() =>
      PriorityRules.compile([{ cidr: '10.0.0.0/8', priority: 0, verify: 'yes' as never }]),
    ).toThrow(/verify must be true or false/);
  });

  it("bogons: dropped under 'drop', lowest and fixed under 'lowest'; public sources pass", () => {
    const drop = new PriorityScorer(
      DEFENSE_WEIGHTS,
      PriorityRules.empty(),
      SourceChecks.compile({ action: 'drop' }),
    );
    expect(drop.scoreSyn(curl, null, SOURCE_NONE, 0, 0)).toBe(SCORE_DROP); // 10.99.0.1
    expect(drop.lastReasons).toBe(ScoreReason.bogon);
    expect(drop.scoreSyn(frameWith(curl, PUBLIC), null, SOURCE_NONE, 0, 0)).toBe(W.unverifiedBase);
    const lowest = new PriorityScorer();
    expect(lowest.scoreSyn(curl, null, SOURCE_NONE, 0, 0)).toBe(15);
    expect(lowest.lastFlags).toBe(DefenseConnFlag.priorityFixed);
    expect(lowest.scoreSyn(curl6, null, SOURCE_NONE, 0, 0)).toBe(15); // fd99:: is unique-local
  });
});

describe('scoreSyn: the source history', () => {
  /** A source that held `held` connections at the re-scorer's last pass and sent `syns` SYNs. */
  function sourceWith(held: number, syns: number) {
    const sources = SourceTable.create(64, 0);
    const s = sources.acquire(0, 0, 0xffff, PUBLIC.src3 as number, true, 0);
    const b = sources.recordBase(s);
    sources.i32[b + Src.heldLastPass] = held;
    for (let i = 0; i < syns; i++) sources.countSyn(b, 0);
    sources.release(s);
    return sources;
  }

  it('a fast SYN rate sinks an unverified source only: a spoofer could raise any address rate', () => {
    const s = lab();
    const busy = sourceWith(0, 50);
    const f = frameWith(curl, PUBLIC);
    expect(s.scoreSyn(f, busy, SOURCE_LOOKUP, 0, 10)).toBe(W.unverifiedBase + W.highSynRate);
    expect(s.lastReasons & ScoreReason.highSynRate).not.toBe(0);
    expect(s.scoreSyn(f, busy, SOURCE_LOOKUP, 1, 10)).toBe(W.verifiedBase);
  });

  it('a source that held more than its fair share at the last pass sinks in either band', () => {
    const s = lab();
    s.fairShare = 10;
    const f = frameWith(curl, PUBLIC);
    expect(s.scoreSyn(f, sourceWith(10, 0), SOURCE_LOOKUP, 1, 0)).toBe(W.verifiedBase);
    expect(s.scoreSyn(f, sourceWith(11, 0), SOURCE_LOOKUP, 1, 0)).toBe(W.verifiedBase + W.hogPenalty);
    expect(s.lastReasons & ScoreReason.overShare).not.toBe(0);
    expect(s.scoreSyn(f, sourceWith(11, 0), SOURCE_LOOKUP, 0, 0)).toBe(W.unverifiedBase + W.hogPenalty);
  });
});

describe('the priority function (adjust.ts)', () => {
  const a = new PriorityAdjuster(DEFENSE_WEIGHTS);
  const V = ConnFlag.verified;
  const H = ConnFlag.handshake;
  const D = ConnFlag.data;

  it('places the populations as weights.ts says', () => {
    expect(a.priority(0, V, 0, 0, 0)).toBe(4); // verified, new
    expect(a.priority(0, V | H | D | ConnFlag.progress, 5000, 0, 0)).toBe(2); // being served
    expect(a.priority(0, V | H | D | ConnFlag.progress, 5000, 999, 0)).toBe(2); // answered, idle under 1 s
    expect(a.priority(0, V | H | D | ConnFlag.progress, 5000, 1000, 0)).toBe(5); // idle keep-alive: below a new client
    expect(a.priority(0, V | H | D | ConnFlag.progress, 40_000, 30_000, 0)).toBe(7); // idle 30 s
    expect(a.priority(0, V | H | D | ConnFlag.awaiting, 6000, 1000, 5000)).toBe(7); // stalled
    expect(a.priority(0, V | H, 1000, 0, 0)).toBe(7); // silent after its handshake
    expect(a.priority(0, 0, 0, 0, 0)).toBe(8); // unverified kernel
    expect(a.priority(0, 0, 3000, 0, 0)).toBe(11); // unverified half-open
    expect(a.priority(4, 0, 3000, 3000, 0)).toBe(14); // hping3-shaped half-open: the band's floor
    expect(a.priority(0, V | ConnFlag.fin, 0, 0, 0)).toBe(15); // closed
    expect(a.priority(0, V | H | D | ConnFlag.ackForged, 2000, 0, 0)).toBe(7);
  });

  it('the served credit lapses while a next request waits a second for its answer', () => {
    const served = V | H | D | ConnFlag.progress;
    expect(a.priority(0, served | ConnFlag.awaiting, 10_000, 0, 999)).toBe(2);
    expect(a.priority(0, served | ConnFlag.awaiting, 10_000, 0, 1000)).toBe(4);
    expect(a.priority(0, served | ConnFlag.awaiting, 10_000, 0, 5000)).toBe(7);
  });

  it('a request head that keeps growing unanswered is stalled at once, not after stallGraceMs', () => {
    const waiting = V | H | D | ConnFlag.progress | ConnFlag.awaiting;
    expect(a.priority(0, waiting, 10_000, 0, 1900)).toBe(4); // a next request, waiting
    expect(a.priority(0, waiting | ConnBit.holdsUp, 10_000, 0, 1900)).toBe(7); // trickled on
    expect(a.priority(0, ConnBit.holdsUp | V | H | D, 10_000, 0, 0)).toBe(4); // answered: not awaiting
  });

  it('a connection the server closed by its keep-alive timeout, when the operator told it, is the first to go', () => {
    const told = new PriorityAdjuster({ ...DEFENSE_WEIGHTS, serverKeepAliveMs: 5000 });
    const served = V | H | D | ConnFlag.progress;
    expect(told.priority(0, served, 10_000, 4999, 0)).toBe(7);
    expect(told.priority(0, served, 10_000, 5000, 0)).toBe(15);
    // still waiting for an answer: the server has not closed it
    expect(told.priority(0, served | ConnFlag.awaiting, 10_000, 5000, 5000)).toBeLessThan(15);
    expect(a.priority(0, served, 10_000, 5000, 0)).toBe(7);
  });

  it("takes its server's word that nothing is being served over the client's acknowledgements", () => {
    const served = V | H | D | ConnFlag.progress;
    // Acknowledgements moved just now (idle 0): served, by the client's packets.
    expect(a.priority(0, served, 10_000, 0, 0)).toBe(W.verifiedBase - W.progress);
    // Its server's agent saw it send nothing for servedIdleMs: acknowledgements of data never
    // sent, ranked as forged ones are.
    expect(a.priority(0, served | ConnBit.serverQuiet, 10_000, 0, 0)).toBe(W.verifiedBase + W.ackForged);
    // Idle by its own packets too: an idle keep-alive connection, as without the word.
    expect(a.priority(0, served | ConnBit.serverQuiet, 10_000, 1500, 0)).toBe(
      a.priority(0, served, 10_000, 1500, 0),
    );
    // A request under way keeps no credit its server has not earned since.
    expect(a.priority(0, served | ConnFlag.awaiting, 10_000, 0, 100)).toBe(W.verifiedBase - W.progress);
    expect(a.priority(0, served | ConnFlag.awaiting | ConnBit.serverQuiet, 10_000, 0, 100)).toBe(
      W.verifiedBase,
    );
  });

  it('rule-fixed entries keep their priority; one waiting for verification is scored until then', () => {
    expect(a.priority(0, ConnFlag.priorityFixed, 1e9, 1e9, 0)).toBe(0);
    expect(a.priority(0, ConnFlag.priorityFixed | ConnBit.ruleNeedsVerify, 0, 0, 0)).toBe(8);
    expect(a.priority(0, ConnFlag.priorityFixed | ConnBit.ruleNeedsVerify | V, 0, 0, 0)).toBe(0);
  });

  it('keeps every verified connection above every unverified one, and only time and forgery sink an entry', () => {
    const flagBits = [
      V,
      H,
      D,
      ConnFlag.udp,
      ConnFlag.progress,
      ConnFlag.ackForged,
      ConnFlag.awaiting,
      ConnFlag.fin,
      ConnBit.serverQuiet,
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.subarray(flagBits),
        fc.nat(2_000_000),
        fc.nat(2_000_000),
        fc.nat(100_000),
        fc.integer({ min: 0, max: 7 }),
        (initial, bits, age, idle, awaiting, penalty) => {
          // its source's share penalty rides in the flag word
          const fs = bits.reduce((x, b) => x | b, 0) | (penalty << ConnBit.sourcePenaltyShift);
          const p = a.priority(initial, fs, age, idle, awaiting);
          if ((fs & ConnFlag.fin) !== 0) {
            expect(p).toBe(15);
            return;
          }
          if ((fs & V) !== 0) expect(p).toBeLessThan(W.unverifiedBase);
          else expect(p).toBeGreaterThanOrEqual(W.unverifiedBase);
          expect(p).toBeGreaterThanOrEqual(1);
          expect(p).toBeLessThanOrEqual(14);
          // more idle never helps; progress never hurts (unless forged, or answered and idle since
          // with nothing asked: an idle keep-alive connection ranks below a new client)
          expect(a.priority(initial, fs, age, idle + 10_000, awaiting)).toBeGreaterThanOrEqual(p);
          const idleKeepAlive =
            (fs & ConnFlag.awaiting) === 0 && (idle >= W.servedIdleMs || (fs & ConnBit.serverQuiet) !== 0);
          if ((fs & ConnFlag.ackForged) === 0 && !idleKeepAlive) {
            expect(a.priority(initial, fs | ConnFlag.progress, age, idle, awaiting)).toBeLessThanOrEqual(p);
          }
        },
      ),
    );
  });
});

describe('onPacket', () => {
  it('recomputes the priority from the record and reports the change', () => {
    const s = lab();
    const i32 = new Int32Array(Conn.snapshotWords);
    i32[Conn.statePrio] = (8 << 8) | (0 << 16);
    i32[Conn.flagsSyn] = ConnFlag.verified | ConnFlag.handshake | ConnFlag.data | ConnFlag.progress;
    i32[Conn.firstSeen] = 0;
    expect(s.onPacket(i32, 0, 100)).toBe(2 - 8);
    expect((i32[Conn.statePrio] >>> 8) & 0xff).toBe(2);
    i32[Conn.statePrio] = 0; // priority 0 never moves
    expect(s.onPacket(i32, 0, 100)).toBe(0);
  });
});

describe('weights', () => {
  it('overrides are validated with typed errors naming the field', () => {
    expect(resolveWeights({ noOptions: 5 }).noOptions).toBe(5);
    expect(resolveWeights().verifiedBase).toBe(4);
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
    expect(bad({ fairShareFloor: 0 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'fairShareFloor']);
    expect(bad({ bogus: 1 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'bogus']);
    expect(bad({ verifiedBase: 8 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'verifiedBase']);
    expect(bad({ unverifiedBase: 15 })).toEqual(['SLUICE_ERR_DEFENSE_WEIGHTS', 'unverifiedBase']);
    expect(bad({ idlePenaltyPerSecond: Number.NaN })).toEqual([
      'SLUICE_ERR_DEFENSE_WEIGHTS',
      'idlePenaltyPerSecond',
    ]);
    expect(resolveWeights({ idlePenaltyPerSecond: 0.25 }).idlePenaltyPerSecond).toBe(0.25);
  });
});
