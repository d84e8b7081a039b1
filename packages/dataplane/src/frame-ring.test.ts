// FrameRing and RingChannel on one thread: the addon's word layouts and status codes over rings
// (what BatchedPort relies on), a queue's order and its full condition, truncation flagged with
// the real length, a replay ring that loops and renews flagged sources in the copy only, a sink
// that counts, and the bad shapes refused with the ring's error code.
import { RecvFlag, RecvWord, SendWord } from '@sluice/io';
import { describe, expect, it } from 'vitest';
import { FrameRing, RingChannel } from './index.ts';

const SLOT = 256;

function bytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

describe('FrameRing', () => {
  it('a queue keeps order, refuses a push when full and counts it, and is read with shift', () => {
    const q = FrameRing.create({ kind: 'queue', slots: 4, slotBytes: SLOT });
    for (let i = 0; i < 4; i++) expect(q.push(bytes(10 + i, i), 100 + i, 4789)).toBe(true);
    expect(q.push(bytes(1, 9), 1)).toBe(false);
    expect(q.lost).toBe(1);
    expect(q.pending).toBe(4);
    const got = q.drain();
    expect(got.map((d) => [d.bytes.length, d.bytes[0], d.address, d.port])).toEqual([
      [10, 0, 100, 4789],
      [11, 1, 101, 4789],
      [12, 2, 102, 4789],
      [13, 3, 103, 4789],
    ]);
    expect(q.shift()).toBeNull();
    // The slots are free again, and the counters wrap-safely keep counting.
    expect(q.push(bytes(5, 7), 1)).toBe(true);
    expect(q.pushed).toBe(5);
    expect(q.taken).toBe(4);
  });

  it('recv copies into the caller slots with the RecvWord layout; a long datagram is cut and flagged', () => {
    const q = FrameRing.create({ kind: 'queue', slots: 8, slotBytes: 2048 });
    const ch = new RingChannel(q, null);
    q.push(bytes(60, 0xab), 0x0a000001, 5000);
    q.push(bytes(300, 0xcd), 0x0a000002, 5001);
    const data = new Uint8Array(4 * SLOT);
    const meta = new Int32Array(4 * RecvWord.words);
    expect(ch.recv(data, SLOT, 1, 4, meta)).toBe(2);
    expect(data[SLOT]).toBe(0xab);
    expect(data[SLOT + 59]).toBe(0xab);
    expect(data[SLOT + 60]).toBe(0); // nothing beyond the datagram's word
    expect([...meta.subarray(0, 4)]).toEqual([60, 0x0a000001, 5000, 0]);
    expect(meta[RecvWord.words + RecvWord.length]).toBe(300); // its real length
    expect(meta[RecvWord.words + RecvWord.flags] & RecvFlag.truncated).toBe(RecvFlag.truncated);
    expect(data[2 * SLOT + SLOT - 1]).toBe(0xcd); // cut at the slot
    expect(data[3 * SLOT]).toBe(0);
    expect(ch.recv(data, SLOT, 0, 4, meta)).toBe(0);
    expect(ch.wait(1)).toBe(0);
    // Bad arguments are a status, never a throw.
    expect(ch.recv(data, SLOT, 0, 0, meta)).toBe(-22);
    expect(ch.recv(data.subarray(1), SLOT, 0, 1, meta)).toBe(-22);
  });

  it('a replay ring loops without being consumed and renews a flagged source in the copy only', () => {
    const r = FrameRing.create({ kind: 'replay', slots: 4, slotBytes: SLOT });
    r.push(bytes(40, 1), 1, 4789, 0);
    r.push(bytes(40, 2), 2, 4789, 8); // bytes 8..11 renewed on each replay
    r.startReplay();
    expect(() => r.push(bytes(4, 0), 3)).toThrow(
      expect.objectContaining({ code: 'SLUICE_ERR_DATAPLANE_RING' }),
    );
    const ch = new RingChannel(r, null);
    const data = new Uint8Array(5 * SLOT);
    const meta = new Int32Array(5 * RecvWord.words);
    expect(ch.recv(data, SLOT, 0, 5, meta)).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => meta[i * RecvWord.words + RecvWord.address])).toEqual([1, 2, 1, 2, 1]);
    const sourceOf = (slot: number) => data.subarray(slot * SLOT + 8, slot * SLOT + 12).join('.');
    expect(sourceOf(0)).toBe('1.1.1.1');
    expect(sourceOf(1)).not.toBe('2.2.2.2');
    expect(sourceOf(3)).not.toBe(sourceOf(1)); // a new source each time round
    expect(r.data.subarray(SLOT + 8, SLOT + 12).join('.')).toBe('2.2.2.2'); // the ring's own bytes
    expect(ch.wait(20)).toBe(1); // never runs dry
    expect(r.taken).toBe(5);
  });

  it('send queues listed frames with their destinations, or counts them into a sink', () => {
    const inbound = FrameRing.create({ kind: 'queue', slots: 2, slotBytes: SLOT });
    const out = FrameRing.create({ kind: 'queue', slots: 2, slotBytes: SLOT });
    const data = new Uint8Array(4 * SLOT);
    data.fill(0x11, 0, 50);
    data.fill(0x22, SLOT, SLOT + 70);
    const list = new Int32Array(3 * SendWord.words);
    list.set([0, 50, 0x7f000002, 4789, SLOT, 70, 0x7f000003, 4790, 0, 10, 1, 1]);
    const ch = new RingChannel(inbound, out);
    expect(ch.send(data, list, 3, 0)).toBe(2); // room for two: the third is not taken
    expect(out.lost).toBe(1);
    const sent = out.drain();
    expect(sent.map((d) => [d.bytes.length, d.bytes[0], d.bytes.at(-1), d.address, d.port])).toEqual([
      [50, 0x11, 0x11, 0x7f000002, 4789],
      [70, 0x22, 0x22, 0x7f000003, 4790],
    ]);
    const sink = FrameRing.create({ kind: 'sink' });
    const counted = new RingChannel(inbound, sink);
    expect(counted.send(data, list, 3, 0)).toBe(3);
    expect(sink.taken).toBe(3);
    expect(sink.sinkBytes).toBe(130);
  });

  it('refuses shapes it cannot serve, with a clear error', () => {
    const code = expect.objectContaining({ code: 'SLUICE_ERR_DATAPLANE_RING' });
    expect(() => FrameRing.create({ kind: 'queue', slots: 3 })).toThrow(code);
    expect(() => FrameRing.create({ kind: 'queue', slots: 4, slotBytes: 100 })).toThrow(code);
    expect(() => FrameRing.create({ kind: 'nope' as 'queue' })).toThrow(code);
    const sink = FrameRing.create({ kind: 'sink' });
    expect(() => sink.push(bytes(1, 0), 1)).toThrow(code);
    expect(() => new RingChannel(sink, null)).toThrow(code);
    const replay = FrameRing.create({ kind: 'replay', slots: 2 });
    expect(() => replay.startReplay()).toThrow(/load a replay ring/);
    expect(() => new RingChannel(FrameRing.create({ kind: 'queue', slots: 2 }), replay)).toThrow(code);
  });
});
