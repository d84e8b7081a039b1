// The server model's rules, which decide what "served" means in every simulated run: the SYN
// queue and syncookies, a blind ACK never completes a handshake, workers and the accept queue,
// the header and keep-alive timeouts, and an RST or FIN freeing what the server held.
import { describe, expect, it } from 'vitest';
import { ConnState, Owner, ServerFarm, type ServerOptions, SynResult, serverIsn } from './servers.ts';

const farm = (over: Partial<ServerOptions> = {}) =>
  new ServerFarm({
    reals: 1,
    capacity: 2,
    backlog: 2,
    acceptBacklog: 1,
    syncookies: true,
    halfOpenTimeoutMs: 60_000,
    headerTimeoutMs: 40_000,
    keepAliveMs: 5_000,
    sendTimeoutMs: 60_000,
    ...over,
  });
const key = (host: number, port = 1000) => ServerFarm.key(0x0b000000 + host, port);

describe('ServerFarm', () => {
  it('queues SYNs up to the backlog, then answers with cookies (or drops without syncookies)', () => {
    const s = farm();
    expect(s.syn(0, key(1), Owner.flood, 0)).toBe(SynResult.queued);
    expect(s.syn(0, key(2), Owner.flood, 0)).toBe(SynResult.queued);
    expect(s.syn(0, key(3), Owner.valid, 0)).toBe(SynResult.cookie);
    expect(s.cookies[Owner.valid]).toBe(1);
    expect(s.queued[0]).toBe(2);
    // a valid cookie makes the connection though no queue entry existed
    expect(s.ack(0, key(3), Owner.valid, true, 10)).toBe(ConnState.working);
    const strict = farm({ syncookies: false });
    strict.syn(0, key(1), Owner.flood, 0);
    strict.syn(0, key(2), Owner.flood, 0);
    expect(strict.syn(0, key(3), Owner.valid, 0)).toBe(SynResult.dropped);
    expect(strict.refused[Owner.valid]).toBe(1);
  });

  it('answers a retransmitted SYN of a queued connection without taking a second entry', () => {
    const s = farm();
    expect(s.syn(0, key(9), Owner.valid, 0)).toBe(SynResult.queued);
    expect(s.syn(0, key(9), Owner.valid, 1000)).toBe(SynResult.queued);
    expect(s.queued[0]).toBe(1);
  });

  it('keeps a blind ACK out: the queue entry stays half-open and times out', () => {
    const s = farm();
    s.syn(0, key(5), Owner.spoof, 0);
    expect(s.ack(0, key(5), Owner.spoof, false, 50)).toBe(ConnState.queued);
    expect(s.isWorking(key(5))).toBe(false);
    // a blind ACK with no queue entry (the queue was full: a cookie it cannot know) makes nothing
    expect(s.ack(0, key(6), Owner.spoof, false, 50)).toBe(ConnState.free);
    expect(s.has(key(6))).toBe(false);
    const ended: number[] = [];
    s.expire(59_999, (k) => ended.push(k));
    expect(ended).toEqual([]);
    s.expire(60_000, (k) => ended.push(k));
    expect(ended).toEqual([key(5)]);
    expect(s.queued[0]).toBe(0);
  });

  it('gives each completed handshake a worker; the rest wait in the accept queue, then are dropped', () => {
    const s = farm();
    const took: number[] = [];
    s.onWorker = (k) => took.push(k);
    for (const h of [1, 2, 3, 4]) s.syn(0, key(h), Owner.bot, 0);
    expect(s.ack(0, key(1), Owner.bot, true, 1)).toBe(ConnState.working);
    expect(s.ack(0, key(2), Owner.bot, true, 1)).toBe(ConnState.working);
    expect(s.ack(0, key(3), Owner.valid, true, 1)).toBe(ConnState.accepting);
    expect(s.ack(0, key(4), Owner.valid, true, 1)).toBe(ConnState.free);
    expect(s.acceptDrops[Owner.valid]).toBe(1);
    expect(s.heldBy(Owner.bot)).toBe(2);
    // a worker frees: the waiting connection takes it
    s.close(key(1), 5);
    expect(took).toEqual([key(3)]);
    expect(s.isWorking(key(3))).toBe(true);
    expect(s.heldBy(Owner.valid)).toBe(1);
  });

  it('ends a connection whose request head never completes, and an idle one after its response', () => {
    const s = farm();
    const ended: number[] = [];
    const note = (k: number) => ended.push(k);
    s.syn(0, key(1), Owner.bot, 0);
    s.ack(0, key(1), Owner.bot, true, 0);
    s.syn(0, key(2), Owner.valid, 0);
    s.ack(0, key(2), Owner.valid, true, 0);
    expect(s.requestDone(key(2))).toBe(true);
    s.responded(key(2), 100);
    s.expire(5_099, note);
    expect(ended).toEqual([]);
    s.expire(5_100, note); // keep-alive
    expect(ended).toEqual([key(2)]);
    s.expire(39_999, note);
    expect(ended).toEqual([key(2)]);
    s.expire(40_000, note); // header timeout
    expect(ended).toEqual([key(2), key(1)]);
    expect(s.timedOut[Owner.bot]).toBe(1);
    expect(s.timedOut[Owner.valid]).toBe(1);
  });

  it('a new request on a kept-alive connection restarts the header timer, not the keep-alive one', () => {
    const s = farm();
    const ended: number[] = [];
    s.syn(0, key(1), Owner.valid, 0);
    s.ack(0, key(1), Owner.valid, true, 0);
    s.requestDone(key(1));
    s.responded(key(1), 10);
    s.newRequest(key(1), 1000);
    s.expire(10_000, (k) => ended.push(k));
    expect(ended).toEqual([]);
    s.expire(41_000, (k) => ended.push(k));
    expect(ended).toEqual([key(1)]);
  });

  it('frees the worker on a director RST (telling whose it was) and counts an RST for nothing', () => {
    const s = farm();
    s.syn(0, key(1), Owner.valid, 0);
    s.ack(0, key(1), Owner.valid, true, 10);
    expect(s.reset(key(1), 20)).toBe(Owner.valid);
    expect(s.resetByDirector[Owner.valid]).toBe(1);
    expect(s.working[0]).toBe(0);
    expect(s.reset(key(1), 30)).toBe(-1);
    expect(s.resetsForNothing).toBe(1);
  });

  it('gives neighbouring connections unrelated initial sequence numbers', () => {
    const isns = new Set<number>();
    for (let h = 1; h <= 64; h++)
      for (let port = 1000; port < 1016; port++) isns.add(serverIsn(key(h, port)));
    expect(isns.size).toBe(64 * 16);
  });

  it('lists a connection busy sending past the grace at under the floor as slow, not a fast one, a quiet one or one in its grace', () => {
    const s = farm({ capacity: 4 });
    const open = (host: number) => {
      s.syn(0, key(host), Owner.bot, 0);
      s.ack(0, key(host), Owner.bot, true, 0);
      s.requestDone(key(host));
      s.sending(key(host), 0);
    };
    [1, 2, 3, 4].forEach(open);
    // 1: 1448 bytes a second; 2: 4000 a second; 3 and 4: nothing sent since the first flight
    // (quiet: the quiet list's, not the slow one's).
    for (let t = 1000; t <= 3000; t += 1000) {
      s.sending(key(1), t);
      s.delivered(key(1), 1448);
      s.sending(key(2), t);
      s.delivered(key(2), 4000);
    }
    s.delivered(key(3), 1448);
    const keys = new Float64Array(8);
    expect(s.slow(0, 3000, 2000, 2048, 1000, keys, 0)).toBe(1);
    expect(keys[0]).toBe(key(1));
    // From index 2 on (after a quiet list of two), and capped by the array.
    expect(s.slow(0, 3000, 2000, 2048, 1000, keys, 2)).toBe(1);
    expect(keys[2]).toBe(key(1));
    expect(s.slow(0, 3000, 2000, 2048, 1000, new Float64Array(0), 0)).toBe(0);
    // Under the grace nothing is listed.
    expect(s.slow(0, 1500, 2000, 2048, 1000, keys, 0)).toBe(0);
  });
});
