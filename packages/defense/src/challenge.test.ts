// The challenge on the wire: a SYN-ACK a real stack takes for a real server's (correct checksums,
// from the VIP to the client), whose acknowledgement number is a cookie only a host that received
// it can echo, and never the valid one.

import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { FrameInfo, internetChecksum, ParseStatus, parseFrame, pseudoHeaderSum, TcpFlag } from '@sluice/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Challenger, CookieKind, probePortFor } from './challenge.ts';

const traffic = new TrafficFrames({
  vni: 7,
  clientMac: '02:00:00:00:09:09',
  directorMac: '02:00:00:00:00:01',
});
const OURS = Uint8Array.of(2, 0, 0, 0, 0, 1);

function syn(src: string, dst: string, port: number, seq: number): { buf: Uint8Array; f: FrameInfo } {
  const buf = traffic.tcp({
    src: addressBytes(src),
    dst: addressBytes(dst),
    srcPort: port,
    dstPort: 443,
    flags: TCP.syn,
    seq,
    shape: 'linux',
  });
  const f = new FrameInfo();
  expect(parseFrame(buf, 8, buf.length - 8, f)).toBe(ParseStatus.ok);
  return { buf, f };
}

function reparse(buf: Uint8Array, off: number, len = buf.length - off): FrameInfo {
  const f = new FrameInfo();
  expect(parseFrame(buf, off, len, f)).toBe(ParseStatus.ok);
  return f;
}

/** The TCP checksum of the segment in the parsed frame verifies (sums to 0xffff over it). */
function tcpChecksumOk(buf: Uint8Array, f: FrameInfo): boolean {
  const l3 = f.l3Offset;
  const l4Len = f.l4Len;
  const pseudo =
    f.ipVersion === 4
      ? pseudoHeaderSum(buf, l3 + 12, l3 + 16, 4, 6, l4Len)
      : pseudoHeaderSum(buf, l3 + 8, l3 + 24, 16, 6, l4Len);
  return internetChecksum(buf, f.l4Offset, l4Len, pseudo) === 0;
}

describe('Challenger', () => {
  const ch = new Challenger(Int32Array.of(11, 22, 33, 44));

  for (const [name, client, vip] of [
    ['IPv4', '203.0.113.9', '10.0.0.100'],
    ['IPv6', '2001:db8::9', '2001:db8:ffff::100'],
  ] as const) {
    it(`${name}: writes, in place, a SYN-ACK from the VIP to the client with correct checksums`, () => {
      const { buf, f } = syn(client, vip, 40000, 1000);
      const len = ch.writeChallenge(buf, 8, f, OURS, 5000);
      const out = reparse(buf, 8, len);
      expect(out.tcpFlags).toBe(TcpFlag.syn | TcpFlag.ack);
      expect([out.srcPort, out.dstPort]).toEqual([443, 40000]);
      expect([out.src0, out.src1, out.src2, out.src3]).toEqual([f.dst0, f.dst1, f.dst2, f.dst3]);
      expect([out.dst0, out.dst1, out.dst2, out.dst3]).toEqual([f.src0, f.src1, f.src2, f.src3]);
      expect(Array.from(buf.subarray(8, 14))).toEqual([2, 0, 0, 0, 9, 9]); // back to the client's MAC
      expect(Array.from(buf.subarray(14, 20))).toEqual(Array.from(OURS));
      expect(tcpChecksumOk(buf, out)).toBe(true);
      if (name === 'IPv4') expect(internetChecksum(buf, out.l3Offset, 20, 0)).toBe(0);
      // the client's RST <SEQ=SEG.ACK> is the answer, within this slot and the next
      const rst = reparse(
        traffic.tcp({
          src: addressBytes(client),
          dst: addressBytes(vip),
          srcPort: 40000,
          dstPort: 443,
          flags: TCP.rst,
          seq: out.tcpAck,
        }),
        8,
      );
      expect(ch.isAnswer(rst, 5000)).toBe(CookieKind.challenge);
      expect(ch.isAnswer(rst, 5000 + 65_536)).toBe(CookieKind.challenge);
      expect(ch.isAnswer(rst, 5000 + 2 * 65_536)).toBe(CookieKind.none);
      expect(new Challenger(Int32Array.of(11, 22, 33, 45)).isAnswer(rst, 5000)).toBe(CookieKind.none); // another key
    });
  }

  it('acknowledges the ISN or up to 2^15 - 1 behind it, never ISN + 1, for any ISN (what NAT conntrack takes)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1024, max: 65535 }),
        fc.nat(),
        (isn, port, now) => {
          const { buf, f } = syn('198.51.100.7', '10.0.0.100', port, isn | 0);
          const out = reparse(buf, 8, ch.writeChallenge(buf, 8, f, OURS, now));
          expect(out.tcpAck).not.toBe((isn + 1) >>> 0);
          // sequence space: SEG.ACK =< ISS (unacceptable) and inside the SYN-ACK's window, where a
          // router's conntrack passes it and takes the client's RST
          const behind = (isn - out.tcpAck) | 0;
          expect(behind).toBeGreaterThanOrEqual(0);
          expect(behind).toBeLessThan(0x8000);
          expect(out.tcpWindow).toBeGreaterThanOrEqual(0x8000);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a probe goes to another port, built into a buffer of its own, and its answer says it answered a probe', () => {
    const { buf, f } = syn('198.51.100.7', '10.0.0.100', 40000, 1);
    const before = Uint8Array.from(buf);
    const out = new Uint8Array(128);
    const len = ch.writeProbe(buf, 8, f, probePortFor(40000), OURS, 100, out, 0);
    expect(Array.from(buf)).toEqual(Array.from(before)); // the client's frame is untouched
    const probe = reparse(out, 0, len);
    expect(probe.dstPort).toBe(probePortFor(40000));
    expect(probePortFor(40000)).not.toBe(40000);
    expect(tcpChecksumOk(out, probe)).toBe(true);
    const rst = reparse(
      traffic.tcp({
        src: addressBytes('198.51.100.7'),
        dst: addressBytes('10.0.0.100'),
        srcPort: probe.dstPort,
        dstPort: 443,
        flags: TCP.rst,
        seq: probe.tcpAck,
      }),
      8,
    );
    // Told apart by the cookie alone, not by what else the address answered: the owner of an
    // address a spoofer uses answers a challenge for every spoofed SYN too.
    expect(ch.isAnswer(rst, 200)).toBe(CookieKind.probe);
    // a challenge to that same port is answered as a challenge
    const { buf: buf2, f: f2 } = syn('198.51.100.7', '10.0.0.100', probePortFor(40000), 1);
    rst.tcpSeq = reparse(buf2, 8, ch.writeChallenge(buf2, 8, f2, OURS, 200)).tcpAck;
    expect(ch.isAnswer(rst, 200)).toBe(CookieKind.challenge);
  });

  it('a blind guess is right about once in 2^13 (15 bits, two time slots, two kinds), and then only for its own 4-tuple', () => {
    // A fixed sequence of guesses (an LCG), so the count is the same on every run.
    let x = 12345;
    let hits = 0;
    const guesses = 100_000;
    const rst = reparse(
      traffic.tcp({
        src: addressBytes('198.51.100.7'),
        dst: addressBytes('10.0.0.100'),
        srcPort: 40000,
        dstPort: 443,
        flags: TCP.rst,
        seq: 0,
      }),
      8,
    );
    for (let i = 0; i < guesses; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) | 0;
      rst.tcpSeq = x;
      hits += ch.isAnswer(rst, 70_000) === CookieKind.none ? 0 : 1;
    }
    expect(hits / guesses).toBeGreaterThan(2 ** -14);
    expect(hits / guesses).toBeLessThan(2 ** -12);
    // the right answer for one port is no answer for the next
    const { buf, f } = syn('198.51.100.7', '10.0.0.100', 40000, 777);
    rst.tcpSeq = reparse(buf, 8, ch.writeChallenge(buf, 8, f, OURS, 70_000)).tcpAck;
    expect(ch.isAnswer(rst, 70_000)).toBe(CookieKind.challenge);
    rst.srcPort = 40001;
    expect(ch.isAnswer(rst, 70_000)).toBe(CookieKind.none);
  });
});
