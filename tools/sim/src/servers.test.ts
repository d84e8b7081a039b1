// The server model's rules, which decide what "served" means in every simulated run: capacity
// and backlog refuse SYNs, a blind ACK does not complete a handshake, an RST or a FIN frees the
// slot, and half-open connections time out.
import { describe, expect, it } from 'vitest';
import { Owner, ServerFarm, SynResult } from './servers.ts';

const farm = (capacity: number, backlog: number) =>
  new ServerFarm({ reals: 1, capacity, backlog, halfOpenTimeoutMs: 60_000, idleTimeoutMs: 60_000 });

describe('ServerFarm', () => {
  it('refuses SYNs once the backlog or the capacity is full', () => {
    const s = farm(3, 2);
    expect(s.syn(0, 1, Owner.flood, -1, 0)).toBe(SynResult.accepted);
    expect(s.syn(0, 2, Owner.flood, -1, 0)).toBe(SynResult.accepted);
    expect(s.syn(0, 3, Owner.valid, 0, 0)).toBe(SynResult.refused); // backlog
    expect(s.ack(1, true, 1)).toBe(true);
    expect(s.syn(0, 3, Owner.valid, 0, 1)).toBe(SynResult.accepted);
    expect(s.ack(3, true, 2)).toBe(true);
    expect(s.syn(0, 4, Owner.valid, 1, 2)).toBe(SynResult.refused); // capacity: 2 established + 1 half-open
    expect(s.refused[Owner.valid]).toBe(2);
    expect(s.heldBy(Owner.flood)).toBe(2);
  });

  it('answers a retransmitted SYN of a half-open connection without taking a second slot', () => {
    const s = farm(1, 1);
    expect(s.syn(0, 9, Owner.valid, 0, 0)).toBe(SynResult.accepted);
    expect(s.syn(0, 9, Owner.valid, 0, 1000)).toBe(SynResult.accepted);
    expect(s.used(0)).toBe(1);
  });

  it('keeps a blind ACK half-open; a genuine one establishes', () => {
    const s = farm(10, 10);
    s.syn(0, 5, Owner.spoofAck, -1, 0);
    expect(s.ack(5, false, 50)).toBe(false);
    expect(s.halfOpen[0]).toBe(1);
    expect(s.segment(5, 60)).toBe(false);
    s.syn(0, 6, Owner.bot, -1, 0);
    expect(s.ack(6, true, 30)).toBe(true);
    expect(s.established[0]).toBe(1);
  });

  it('frees the slot on a director RST (telling whose it was), on a FIN, and on timeouts', () => {
    const s = farm(10, 10);
    s.syn(0, 1, Owner.valid, 3, 0);
    s.ack(1, true, 10);
    expect(s.reset(1)).toBe(Owner.valid);
    expect(s.resetByDirector[Owner.valid]).toBe(1);
    expect(s.reset(1)).toBe(-1);
    expect(s.resetsForNothing).toBe(1);
    s.syn(0, 2, Owner.valid, 4, 0);
    s.ack(2, true, 10);
    s.close(2);
    s.syn(0, 3, Owner.flood, -1, 100);
    s.syn(0, 4, Owner.bot, -1, 100);
    s.ack(4, true, 130);
    expect(s.used(0)).toBe(2);
    s.expire(60_099);
    expect(s.used(0)).toBe(2);
    s.expire(60_100);
    expect(s.halfOpen[0]).toBe(0);
    s.expire(60_130);
    expect(s.used(0)).toBe(0);
  });
});
