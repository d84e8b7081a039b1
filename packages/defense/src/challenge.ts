// The director's challenge: proof that a client's address receives packets, which no blind
// spoofer can give. The director answers a SYN itself with a SYN-ACK whose acknowledgement number
// is deliberately wrong: a keyed cookie, SipHash-2-4 of the 4-tuple and a 65-second time slot
// under a secret key (DefenseState). A TCP stack in SYN-SENT must answer an unacceptable ACK with
// an RST whose sequence number is that acknowledgement number (RFC 9293 §3.10.7.3: "<SEQ=SEG.ACK>
// <CTL=RST>"), and then retransmits its SYN, which the director, now knowing the source, forwards.
// Linux 6.18 does exactly that (measured with a raw-socket responder in two namespaces): the RST
// at once, the SYN again about 10 ms later.
//
// The acknowledgement number lies just behind the SYN's sequence number + 1: within 2^15 of it,
// its low 15 bits the cookie's. A Linux NAT router (conntrack, which nearly every home router and
// carrier NAT runs) decides what the client behind it sees (tools/lab/scripts/
// challenge-through-nat.py, 2026-12-06): a SYN-ACK acknowledging more than the client sent is
// invalid, never translated back (a plain router answers it with its own stack, so the client
// waits for its 1 s retransmission timeout; one that drops unsolicited input never answers, and
// the client is never verified); one acknowledging less passes, and the client's RST answers it,
// but conntrack takes that RST only within the SYN-ACK's window (65535) of the SYN's sequence
// number. Taken, it closes the router's entry and the client's next SYN opens a fresh one;
// ignored, the entry keeps the challenge's sequence numbers, and when the real server's SYN-ACK
// starts more than 64 KiB behind them (half of all), the client's ACK and request are invalid:
// they leave untranslated, from the private address, and the connection hangs. A host with no
// socket for the 4-tuple answers the same way (RFC 9293 §3.10.7.1, "If the state is CLOSED ...
// <SEQ=SEG.ACK><CTL=RST>"), so the same SYN-ACK sent to another port of a client that already has
// connections is a probe that verifies its address without touching them (it carries the cookie
// the same way; no router entry exists for that port, so its placement there is moot). The cookie
// needs no state: an answer is checked by recomputing it for this slot and the one before. A
// probe's cookie is another word of the hash than a challenge's (SipHash gives 64 bits: one hash
// checks both), so its answer says by itself that the host reset a SYN-ACK it never asked for; telling them apart by which
// ports answered lately failed when a spoofer using the address drew a challenge answer from its
// owner for every spoofed SYN, flushing the ports the director remembers (simulator,
// spoof-verified with verification on: first-time clients locked out).
//
// What the 15 bits cost: a blind guess is right once in 2^13 (two slots, two kinds), so verifying
// one address blind takes ~8k RSTs, and the attacker never learns which one worked. What it buys is
// little: a verified source that last answered more than weights.reconfirmAfterMs ago is asked
// again when it connects and loses its verification when silent (reconfirm.ts); answersWrong
// counts the guesses.
//
// Allocation-free: the message is written into a module scratch buffer, the segment is built with
// @sluice/wire's builder into the caller's buffer.

import { CHALLENGE_ACK_SPAN } from '@sluice/conntrack';
import { buildTcpSegment, type FrameInfo, RstSpec, SipHashOut, sipHash24, TcpFlag } from '@sluice/wire';

/** The time slot is the clock's ms >>> 16: 65.5 s; an answer is taken for this slot and the last. */
const SLOT_SHIFT = 16;
/**
 * The cookie bits a challenge's acknowledgement number carries: it sits within 2^15 behind the
 * SYN's sequence number + 1, inside a NAT router's window for the client's RST (see the header).
 */
const ANSWER_MASK = CHALLENGE_ACK_SPAN - 1;
/** The SYN-ACK's own sequence number is derived from the cookie (it is never acknowledged). */
const SEQ_MIX = 0x9e3779b9 | 0;
/**
 * The window the SYN-ACK offers: an ordinary one, so it looks like any server's; and at least
 * 2^15, as a NAT router takes the client's RST only within it (see the header).
 */
const WINDOW = 65535;
/** Bytes of the SipHash message: client address, VIP, ports, slot. */
const MESSAGE_BYTES = 40;

/** What an answer's cookie says was sent: isAnswer's result. */
export const CookieKind = {
  /** not an answer to anything the director sent */
  none: 0,
  /** a challenge to the SYN's own port */
  challenge: 1,
  /** a probe to another port of the client's: its host resets what it did not ask for */
  probe: 2,
} as const;

const message = new Uint8Array(MESSAGE_BYTES);
const hashOut = new SipHashOut();

function putWord(o: number, v: number): void {
  message[o] = (v >>> 24) & 0xff;
  message[o + 1] = (v >>> 16) & 0xff;
  message[o + 2] = (v >>> 8) & 0xff;
  message[o + 3] = v & 0xff;
}

export class Challenger {
  /** SipHash key (four words; DefenseState.key, shared by every worker). */
  readonly key: Int32Array;
  private readonly spec = new RstSpec();

  constructor(key: Int32Array) {
    this.key = key;
  }

  /**
   * The cookie for client c0..c3:clientPort talking to v0..v3:vipPort in time slot `slot`
   * (addresses as four words, IPv4 v4-mapped), for a challenge or (`probe` 1) a probe: the
   * hash's low word or its high one.
   */
  cookie(
    c0: number,
    c1: number,
    c2: number,
    c3: number,
    clientPort: number,
    v0: number,
    v1: number,
    v2: number,
    v3: number,
    vipPort: number,
    slot: number,
    probe: number,
  ): number {
    putWord(0, c0);
    putWord(4, c1);
    putWord(8, c2);
    putWord(12, c3);
    putWord(16, v0);
    putWord(20, v1);
    putWord(24, v2);
    putWord(28, v3);
    putWord(32, ((clientPort & 0xffff) << 16) | (vipPort & 0xffff));
    putWord(36, slot);
    sipHash24(this.key, message, 0, MESSAGE_BYTES, hashOut);
    return probe === 0 ? hashOut.lo | 0 : hashOut.hi | 0;
  }

  /** The cookie for the flow of frame `f` (client → VIP) in `slot` (`probe` 1: a probe's). */
  private cookieOf(f: FrameInfo, clientPort: number, slot: number, probe: number): number {
    return this.cookie(
      f.src0 | 0,
      f.src1 | 0,
      f.src2 | 0,
      f.src3 | 0,
      clientPort,
      f.dst0 | 0,
      f.dst1 | 0,
      f.dst2 | 0,
      f.dst3 | 0,
      f.dstPort,
      slot,
      probe,
    );
  }

  /**
   * A CookieKind: whether `f` (a TCP segment to a VIP with RST set and ACK clear) answers a
   * challenge or a probe sent to its 4-tuple in this time slot or the previous one (its sequence
   * number carries the cookie's low 15 bits), or nothing.
   */
  isAnswer(f: FrameInfo, now: number): number {
    if ((f.tcpFlags & (TcpFlag.rst | TcpFlag.ack | TcpFlag.syn)) !== TcpFlag.rst) return CookieKind.none;
    const seq = f.tcpSeq | 0;
    const slot = now >>> SLOT_SHIFT;
    for (let back = 0; back < 2; back++) {
      // One hash: the challenge's cookie is its low word, the probe's its high one.
      if (((seq ^ this.cookieOf(f, f.srcPort, (slot - back) >>> 0, 0)) & ANSWER_MASK) === 0)
        return CookieKind.challenge;
      if (((seq ^ hashOut.hi) & ANSWER_MASK) === 0) return CookieKind.probe;
    }
    return CookieKind.none;
  }

  /**
   * Writes, over the SYN parsed in `f` (its Ethernet frame at `inner` of `buf`), the challenge: a
   * SYN-ACK from the VIP back to the client carrying the cookie as its acknowledgement number.
   * Returns the new frame length (the VXLAN header before `inner` is left as it is).
   */
  writeChallenge(buf: Uint8Array, inner: number, f: FrameInfo, directorMac: Uint8Array, now: number): number {
    return this.write(buf, inner, f, f.srcPort, 0, directorMac, now, buf, inner);
  }

  /**
   * Writes into `out` at `outOff` a probe for the source of the client packet parsed in `f`
   * (bytes at `inner` of `buf`): the same SYN-ACK sent to the client's `probePort` instead of the
   * connection's port. Returns the frame length.
   */
  writeProbe(
    buf: Uint8Array,
    inner: number,
    f: FrameInfo,
    probePort: number,
    directorMac: Uint8Array,
    now: number,
    out: Uint8Array,
    outOff: number,
  ): number {
    return this.write(buf, inner, f, probePort, 1, directorMac, now, out, outOff);
  }

  private write(
    buf: Uint8Array,
    inner: number,
    f: FrameInfo,
    clientPort: number,
    probe: number,
    directorMac: Uint8Array,
    now: number,
    out: Uint8Array,
    outOff: number,
  ): number {
    const spec = this.spec;
    // Read everything from the client's frame before it may be overwritten (in place).
    for (let i = 0; i < 6; i++) {
      spec.dstMac[i] = buf[inner + 6 + i];
      spec.srcMac[i] = directorMac[i];
    }
    spec.vlanId = f.vlanId;
    spec.ipVersion = f.ipVersion;
    spec.src[0] = f.dst0;
    spec.src[1] = f.dst1;
    spec.src[2] = f.dst2;
    spec.src[3] = f.dst3;
    spec.dst[0] = f.src0;
    spec.dst[1] = f.src1;
    spec.dst[2] = f.src2;
    spec.dst[3] = f.src3;
    spec.srcPort = f.dstPort;
    spec.dstPort = clientPort;
    const c = this.cookieOf(f, clientPort, now >>> SLOT_SHIFT, probe);
    spec.seq = c ^ SEQ_MIX;
    // The ISN itself or up to 2^15 - 1 behind it, with the cookie's low bits: unacceptable to the
    // client (RFC 9293: SEG.ACK =< ISS), never its valid ACK (ISN + 1). (A probe's frame may be a
    // later segment; to a port without a connection any number does.)
    const isn = f.tcpSeq | 0;
    spec.ack = (isn - ((isn - c) & ANSWER_MASK)) | 0;
    spec.flags = TcpFlag.syn | TcpFlag.ack;
    spec.window = WINDOW;
    spec.ttl = 64;
    return buildTcpSegment(spec, out, outOff);
  }
}

/**
 * The client port a probe goes to: not the connection's own (an established socket would answer
 * with a challenge ACK, not the cookie), but one derived from it, fixed per connection.
 */
export function probePortFor(clientPort: number): number {
  const p = (clientPort ^ 0x4000) & 0xffff;
  return p === 0 ? 0x4000 : p;
}
