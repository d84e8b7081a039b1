import { describe, expect, it } from 'vitest';
import { AnsweredPort, AnsweredPortTable, CHALLENGE_ACK_SPAN, SLOTS_PER_BUCKET } from './index.ts';

const v4 = (a: number) => [0, 0, 0xffff, a] as const;

describe('AnsweredPortTable', () => {
  it("knows that an address's port answered the challenge to one SYN, for the time it was given, and nothing else", () => {
    const t = AnsweredPortTable.create(64, 0);
    const isn = 0x12345678;
    const ack = isn - 0x1234; // the challenge's acknowledgement: just behind the SYN's sequence number
    expect(t.answered(...v4(0x0b000001), 40000, isn, 0)).toBe(0);
    expect(t.record(...v4(0x0b000001), 40000, ack, 100, 4000)).toBe(1);
    expect(t.answered(...v4(0x0b000001), 40000, isn, 4099)).toBe(1);
    expect(t.answered(...v4(0x0b000001), 40000, isn, 4100)).toBe(0);
    // only that SYN again: another sequence number is another SYN (a spoofer's guess)
    expect(t.answered(...v4(0x0b000001), 40000, ack - 1, 200)).toBe(0);
    expect(t.answered(...v4(0x0b000001), 40000, ack + CHALLENGE_ACK_SPAN - 1, 200)).toBe(1);
    expect(t.answered(...v4(0x0b000001), 40000, ack + CHALLENGE_ACK_SPAN, 200)).toBe(0);
    // another port, another address
    expect(t.answered(...v4(0x0b000001), 40001, isn, 200)).toBe(0);
    expect(t.answered(...v4(0x0b000002), 40000, isn, 200)).toBe(0);
    // IPv6: the whole address
    t.record(0x20010db8, 0, 0, 1, 443, 7, 0, 4000);
    expect(t.answered(0x20010db8, 0, 0, 1, 443, 7, 10)).toBe(1);
    expect(t.answered(0x20010db8, 0, 0, 2, 443, 7, 10)).toBe(0);
    // a second answer refreshes the entry in place
    t.record(...v4(0x0b000001), 40000, ack, 3000, 4000);
    expect(t.answered(...v4(0x0b000001), 40000, isn, 6000)).toBe(1);
    expect(t.count()).toBe(4); // each answer kept by port and by sequence number
    const rec = new Int32Array(AnsweredPort.snapshotWords);
    expect(t.readRecord(t.find(...v4(0x0b000001), 40000), rec)).toBe(true);
    expect([rec[AnsweredPort.port], rec[AnsweredPort.seq], rec[AnsweredPort.expires]]).toEqual([
      40000,
      ack,
      7000,
    ]);
  });

  it('lets the answered SYN through once from another port (a NAT that moved it), and nothing else', () => {
    const t = AnsweredPortTable.create(64, 0);
    const isn = 0x7fffc000; // near a bucket's end: the answer's number is in the bucket before
    const ack = isn - 0x5000;
    t.record(...v4(0x0b000001), 40000, ack, 0, 4000);
    expect(t.takeBySeq(...v4(0x0b000001), 0x12345678, 10)).toBe(0); // another SYN
    expect(t.takeBySeq(...v4(0x0b000002), isn, 10)).toBe(0); // another address
    expect(t.takeBySeq(...v4(0x0b000001), isn, 4000)).toBe(0); // too late
    expect(t.takeBySeq(...v4(0x0b000001), isn, 10)).toBe(1);
    expect(t.takeBySeq(...v4(0x0b000001), isn, 20)).toBe(0); // used up
    // its own port still knows it
    expect(t.answered(...v4(0x0b000001), 40000, isn, 30)).toBe(1);
    // the bucket's wrap: an answer just below 2^32, its SYN's number just above 0
    t.record(...v4(0x0b000001), 40001, -0x10, 0, 4000);
    expect(t.takeBySeq(...v4(0x0b000001), 0x100, 10)).toBe(1);
  });

  it('holds every port of a busy address, and when full makes room with the answer closest to expiry', () => {
    const t = AnsweredPortTable.create(2 * SLOTS_PER_BUCKET, 0);
    const cap = t.capacity;
    // one address, more ports than any per-address record keeps
    for (let p = 0; p < cap; p++) expect(t.record(...v4(0x0b000001), 1000 + p, 5, p, 4000)).toBe(1);
    let known = 0;
    for (let p = 0; p < cap; p++) known += t.answered(...v4(0x0b000001), 1000 + p, 5, cap);
    // (two candidate buckets per key in a small table: some keys share both and push each other out)
    expect(known).toBeGreaterThan(cap / 2);
    // a new answer in a full table takes the place of the oldest of its candidates
    t.record(...v4(0x0b000002), 1, 5, cap, 4000);
    expect(t.answered(...v4(0x0b000002), 1, 5, cap)).toBe(1);
  });
});
