import { describe, expect, it } from 'vitest';
import {
  AnswerKind,
  PORT_ANSWER_MS,
  PORT_SLOTS,
  SLOTS_PER_BUCKET,
  VERIFY_CROWDED,
  Verification,
  Verified,
  VerifiedSourceTable,
} from './index.ts';

const v4 = (a: number) => [0, 0, 0xffff, a] as const;

describe('VerifiedSourceTable', () => {
  it('knows an address from its answer until its verification expires, and forgets it after', () => {
    const t = VerifiedSourceTable.create(64, 0);
    expect(t.isVerified(...v4(0x0b000001), 0)).toBe(0);
    expect(t.verify(...v4(0x0b000001), 40000, 1, 100, 1000)).toBe(1);
    expect(t.isVerified(...v4(0x0b000001), 100)).toBe(1);
    expect(t.isVerified(...v4(0x0b000001), 1099)).toBe(1);
    expect(t.isVerified(...v4(0x0b000001), 1100)).toBe(0);
    expect(t.isVerified(...v4(0x0b000002), 100)).toBe(0);
    // a second answer refreshes it, one entry still
    t.verify(...v4(0x0b000001), 40000, 1, 1000, 1000);
    expect(t.isVerified(...v4(0x0b000001), 1500)).toBe(1);
    expect(t.count()).toBe(1);
    const rec = new Int32Array(Verified.snapshotWords);
    const slot = t.find(...v4(0x0b000001));
    expect(t.readRecord(slot, rec)).toBe(true);
    expect([rec[Verified.verifiedAt], rec[Verified.answers], rec[Verified.expires]]).toEqual([1000, 2, 2000]);
    expect(t.expireStep(2000, t.capacity)).toBe(1);
    expect(t.count()).toBe(0);
  });

  it("keeps the longest round trip its probes' answers show while it is verified", () => {
    const t = VerifiedSourceTable.create(64, 0);
    const a = v4(0x0b000001);
    expect(t.roundTrip(...a)).toBe(0);
    // a new address: its first probe went at 150 (the source table says), answered at 800
    t.verify(...a, 40001, AnswerKind.probe, 800, 60_000, 150);
    expect(t.roundTrip(...a)).toBe(650);
    t.verify(...a, 40002, AnswerKind.challenge, 5000, 60_000); // a challenge's answer times nothing
    expect(t.roundTrip(...a)).toBe(650);
    // asked again every 200 ms while SYNs come in its name: probes overlap. The first answer is
    // timed from the first ask still unanswered; an answer to a later probe, timed from the
    // latest, looks short and is not kept.
    t.noteAsked(...a, 30_000);
    t.noteAsked(...a, 30_200); // still the first ask that counts
    t.verify(...a, 40004, AnswerKind.probe, 30_700, 60_000, 30_400);
    expect(t.roundTrip(...a)).toBe(700);
    t.verify(...a, 40005, AnswerKind.probe, 30_900, 60_000, 30_400); // 30_200's answer
    expect(t.roundTrip(...a)).toBe(700);
    // an answer 5 s after the ask is not a round trip (a lost probe, a host gone and back)
    t.noteAsked(...a, 40_000);
    t.verify(...a, 40006, AnswerKind.probe, 45_000, 60_000, 44_000);
    expect(t.roundTrip(...a)).toBe(700);
    // a verification that expired starts over
    t.verify(...a, 40007, AnswerKind.probe, 200_000, 60_000, 199_900);
    expect(t.roundTrip(...a)).toBe(100);
    // the ports and marks beside it are untouched
    expect(t.isVerifiedFor(...a, 40007, 200_000)).toBe(Verification.thisConnectionAnswered);
  });

  it('cuts a refuted round trip, which answers held back then never raise while the record lives', () => {
    const t = VerifiedSourceTable.create(64, 0);
    const a = v4(0x0b000001);
    expect(t.refuteRoundTrip(...a, 40)).toBe(0); // not there
    t.verify(...a, 40001, AnswerKind.probe, 1100, 60_000, 100);
    expect(t.roundTrip(...a)).toBe(1000);
    expect(t.refuteRoundTrip(...a, 2000)).toBe(0); // no longer than measured: nothing to cut
    expect(t.refuteRoundTrip(...a, 40)).toBe(1);
    expect(t.roundTrip(...a)).toBe(40);
    expect(t.isVerifiedFor(...a, 40001, 1200)).toBe(Verification.thisConnectionAnswered);
    t.verify(...a, 40002, AnswerKind.probe, 3000, 60_000, 2000);
    expect(t.roundTrip(...a)).toBe(40);
    expect(t.refuteRoundTrip(...a, 0)).toBe(1); // at least 1: still measured, as near as the clock tells
    expect(t.roundTrip(...a)).toBe(1);
    t.verify(...a, 40003, AnswerKind.probe, 100_000, 60_000, 99_300); // expired: measured afresh
    expect(t.roundTrip(...a)).toBe(700);
  });

  it('keys IPv6 by the whole address: one host of a /64 does not verify its neighbours', () => {
    const t = VerifiedSourceTable.create(64, 0);
    t.verify(0x20010db8, 0, 0, 1, 40000, 1, 0, 1000);
    expect(t.isVerified(0x20010db8, 0, 0, 1, 10)).toBe(1);
    expect(t.isVerified(0x20010db8, 0, 0, 2, 10)).toBe(0);
  });

  it('when full, makes room with the verification closest to expiry: answers keep coming in', () => {
    const t = VerifiedSourceTable.create(16, 0);
    for (let i = 0; i < 200; i++) expect(t.verify(...v4(0x0c000000 + i), 40000, 1, i, 10_000)).toBe(1);
    expect(t.count()).toBeLessThanOrEqual(t.capacity);
    // the latest answers are all there: an entry goes only when every slot of the newcomer's
    // buckets is at least as recent, so the last SLOTS_PER_BUCKET are certain (its two buckets may
    // be one: the hash seed is random, and asking for the last 10 failed 4 times in 3000 seeds)
    for (let i = 200 - SLOTS_PER_BUCKET; i < 200; i++)
      expect(t.isVerified(...v4(0x0c000000 + i), 200)).toBe(1);
  });

  it("says when answers push out ports still fresh (the owner answering a spoofer's challenges), once in PORT_SLOTS answers", () => {
    const t = VerifiedSourceTable.create(64, 0);
    const a = v4(0x0b000002);
    const got: number[] = [];
    for (let i = 0; i < 3 * PORT_SLOTS; i++)
      got.push(t.verify(...a, 2000 + i, AnswerKind.challenge, 100 + i, 60_000));
    // the first PORT_SLOTS fill the record; after that one answer in PORT_SLOTS is flagged
    expect(got.slice(0, PORT_SLOTS)).toEqual(new Array(PORT_SLOTS).fill(1));
    expect(got.filter((r) => r === VERIFY_CROWDED).length).toBe(2);
    // answers spread out (each port old by the time it is pushed out): never
    const b = v4(0x0b000003);
    for (let i = 0; i < 3 * PORT_SLOTS; i++) {
      expect(t.verify(...b, 3000 + i, AnswerKind.challenge, 1000 + i * PORT_ANSWER_MS, 600_000)).toBe(1);
    }
    // verified per source (a probe answered): nothing is asked connection by connection
    const c = v4(0x0b000004);
    t.verify(...c, 1, AnswerKind.probe, 100, 60_000);
    for (let i = 0; i < 3 * PORT_SLOTS; i++)
      expect(t.verify(...c, 4000 + i, AnswerKind.challenge, 101 + i, 60_000)).toBe(1);
  });

  it('asks an address connection by connection from a challenge until it answers a probe; a revoked one until it answers again', () => {
    const t = VerifiedSourceTable.create(64, 0);
    const a = v4(0x0b000001);
    t.verify(...a, 1000, AnswerKind.challenge, 100, 60_000);
    expect(t.isVerified(...a, 110)).toBe(1);
    expect(t.isVerifiedFor(...a, 1000, 110)).toBe(Verification.thisConnectionAnswered);
    expect(t.isVerifiedFor(...a, 1001, 110)).toBe(Verification.askThisConnection);
    // a port's answer lasts PORT_ANSWER_MS (the slowest stacks' SYN again; to 64 ms), no longer
    expect(t.isVerifiedFor(...a, 1000, 36 + PORT_ANSWER_MS)).toBe(Verification.thisConnectionAnswered);
    expect(t.isVerifiedFor(...a, 1000, 100 + PORT_ANSWER_MS + 64)).toBe(Verification.askThisConnection);
    // the last PORT_SLOTS ports are remembered
    for (let i = 0; i < PORT_SLOTS + 1; i++) t.verify(...a, 2000 + i, AnswerKind.challenge, 200 + i, 60_000);
    expect(t.isVerifiedFor(...a, 2000, 300)).toBe(Verification.askThisConnection);
    for (let i = 1; i < PORT_SLOTS + 1; i++) {
      expect(t.isVerifiedFor(...a, 2000 + i, 300)).toBe(Verification.thisConnectionAnswered);
    }
    // a probe's answer: it resets what it never opened, so a plain verification is enough
    t.verify(...a, 3000, AnswerKind.probe, 400, 60_000);
    expect(t.isVerifiedFor(...a, 1001, 410)).toBe(Verification.verified);
    // asked at 1000 and silent: revoked, and asked per connection once it answers again
    t.noteAsked(...a, 1000);
    t.noteAsked(...a, 1200); // a later ask does not restart the silence
    expect(t.askedSilent(...a, 1500)).toBe(500);
    expect(t.revoke(...a, 1300)).toBe(1);
    expect(t.isVerified(...a, 1500)).toBe(0);
    expect(t.isVerifiedFor(...a, 1001, 1500)).toBe(Verification.none);
    t.verify(...a, 1001, AnswerKind.challenge, 1600, 60_000);
    expect(t.askedSilent(...a, 1700)).toBe(-1);
    expect(t.isVerifiedFor(...a, 1002, 1700)).toBe(Verification.askThisConnection);
    // an answer since `since` wins over the revocation
    t.noteAsked(...a, 1800);
    expect(t.revoke(...a, 1500)).toBe(0);
  });
});
