import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  longTypeBits,
  parseQuicHeader,
  QUIC_V1,
  QUIC_V2,
  QuicForm,
  QuicHeader,
  QuicPacketType,
  QuicStatus,
  writeQuicLongHeader,
  writeQuicShortHeader,
} from './index.ts';

function hex(s: string): Uint8Array {
  const clean = s.replace(/#.*$/gm, '').replace(/\s+/g, '');
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}

function toHex(b: Uint8Array, off: number, len: number): string {
  return Buffer.from(b.subarray(off, off + len)).toString('hex');
}

function parse(bytes: Uint8Array, shortLen = 8): { st: number; h: QuicHeader } {
  const h = new QuicHeader();
  return { st: parseQuicHeader(bytes, 0, bytes.length, shortLen, h), h };
}

describe('annotated hex fixtures from the RFCs', () => {
  it("RFC 9001 A.2: the client's protected Initial (QUIC v1)", () => {
    const bytes = hex(`
      c0                  # 1 1 00 0000: long header, fixed bit, type 0 = Initial (low bits protected)
      00000001            # version 1
      08 8394c8f03e515708 # DCID: 8 bytes, chosen by the client
      00                  # SCID: empty
      00                  # token length 0
      449e                # length (varint) ...
    `);
    const { st, h } = parse(bytes);
    expect(st).toBe(QuicStatus.ok);
    expect(h.form).toBe(QuicForm.long);
    expect(h.version).toBe(QUIC_V1);
    expect(h.packetType).toBe(QuicPacketType.initial);
    expect(toHex(bytes, h.dcidOffset, h.dcidLength)).toBe('8394c8f03e515708');
    expect(h.scidLength).toBe(0);
    expect(h.scidOffset).toBe(15);
  });

  it("RFC 9001 A.3: the server's Initial carries its own connection ID as SCID", () => {
    const bytes = hex('c1 00000001 00 08 f067a5502a4262b5 00 4075');
    const { st, h } = parse(bytes);
    expect(st).toBe(QuicStatus.ok);
    expect(h.packetType).toBe(QuicPacketType.initial);
    expect(h.dcidLength).toBe(0);
    expect(toHex(bytes, h.scidOffset, h.scidLength)).toBe('f067a5502a4262b5');
  });

  it('RFC 9369 A.2: QUIC v2 numbers its Initial 0b01', () => {
    const bytes = hex(`
      d7                  # 1 1 01 0111: long header, type bits 01 = Initial in v2
      6b3343cf            # version 2
      08 8394c8f03e515708 # DCID
      00 00 449e          # SCID empty, token length, length
    `);
    const { st, h } = parse(bytes);
    expect(st).toBe(QuicStatus.ok);
    expect(h.version).toBe(QUIC_V2);
    expect(h.packetType).toBe(QuicPacketType.initial);
  });

  it('a short header: the DCID is as long as the configuration says', () => {
    const bytes = hex(`
      43                  # 0 1 0 00 0 11: short header, fixed bit, key phase 0, pn length 4
      07c4605e4504cc4f    # DCID: draft-ietf-quic-load-balancers-20 B.1's first unencrypted CID
      00000001 aabbccdd   # packet number, protected payload ...
    `);
    const { st, h } = parse(bytes, 8);
    expect(st).toBe(QuicStatus.ok);
    expect(h.form).toBe(QuicForm.short);
    expect(h.packetType).toBe(QuicPacketType.oneRtt);
    expect(h.version).toBe(0);
    expect(toHex(bytes, h.dcidOffset, h.dcidLength)).toBe('07c4605e4504cc4f');
    expect(h.scidOffset).toBe(-1);
  });

  it('version negotiation (version 0) and unknown versions keep their connection IDs', () => {
    const vn = parse(hex('80 00000000 04 01020304 02 0506 00000001'));
    expect(vn.st).toBe(QuicStatus.ok);
    expect(vn.h.packetType).toBe(QuicPacketType.versionNegotiation);
    // RFC 8999 allows up to 255 bytes of connection ID for versions it does not define.
    const long = new Uint8Array(6 + 30 + 1);
    writeQuicLongHeader(long, 0, {
      firstByte: 0xc0,
      version: 0x1a2a3a4a,
      dcid: new Uint8Array(30).fill(7),
      scid: new Uint8Array(0),
    });
    const unknown = parse(long);
    expect(unknown.st).toBe(QuicStatus.ok);
    expect(unknown.h.packetType).toBe(QuicPacketType.unknown);
    expect(unknown.h.dcidLength).toBe(30);
  });
});

describe('statuses', () => {
  it('a v1 long header with a connection ID over 20 bytes is cid-too-long', () => {
    const b = new Uint8Array(6 + 21 + 1);
    writeQuicLongHeader(b, 0, {
      firstByte: 0xe0,
      version: QUIC_V1,
      dcid: new Uint8Array(21),
      scid: new Uint8Array(0),
    });
    expect(parse(b).st).toBe(QuicStatus.cidTooLong);
  });

  it('every truncation of a valid long header is truncated, the whole header is ok', () => {
    const b = new Uint8Array(64);
    const n = writeQuicLongHeader(b, 0, {
      firstByte: 0xe0,
      version: QUIC_V1,
      dcid: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      scid: Uint8Array.of(9, 10, 11),
    });
    const h = new QuicHeader();
    for (let len = 0; len < n; len++) expect(parseQuicHeader(b, 0, len, 8, h)).toBe(QuicStatus.truncated);
    expect(parseQuicHeader(b, 0, n, 8, h)).toBe(QuicStatus.ok);
    expect(h.packetType).toBe(QuicPacketType.handshake);
  });

  it('a short header shorter than its configured DCID is truncated; a bad length is reported', () => {
    const b = hex('40 0102030405');
    const h = new QuicHeader();
    expect(parseQuicHeader(b, 0, b.length, 5, h)).toBe(QuicStatus.ok);
    expect(parseQuicHeader(b, 0, b.length, 6, h)).toBe(QuicStatus.truncated);
    expect(parseQuicHeader(b, 0, b.length, 21, h)).toBe(QuicStatus.badArgument);
    expect(parseQuicHeader(b, 0, b.length, -1, h)).toBe(QuicStatus.badArgument);
    expect(parseQuicHeader(b, 0, 0, 0, h)).toBe(QuicStatus.truncated);
    expect(parseQuicHeader(b, 3, b.length, 0, h)).toBe(QuicStatus.truncated);
  });
});

describe('round trips and robustness', () => {
  const cid = fc.uint8Array({ minLength: 0, maxLength: 20 });

  it('write → parse gives back the version, the type and both connection IDs (v1 and v2)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(QUIC_V1, QUIC_V2),
        fc.constantFrom(
          QuicPacketType.initial,
          QuicPacketType.zeroRtt,
          QuicPacketType.handshake,
          QuicPacketType.retry,
        ),
        fc.integer({ min: 0, max: 15 }),
        cid,
        cid,
        fc.integer({ min: 0, max: 8 }),
        fc.uint8Array({ maxLength: 40 }),
        (version, type, low, dcid, scid, at, rest) => {
          const b = new Uint8Array(at + 48 + rest.length);
          const n = writeQuicLongHeader(b, at, {
            firstByte: 0xc0 | (longTypeBits(version, type) << 4) | low,
            version,
            dcid,
            scid,
          });
          b.set(rest, at + n);
          const h = new QuicHeader();
          expect(parseQuicHeader(b, at, n + rest.length, 0, h)).toBe(QuicStatus.ok);
          expect(h.version >>> 0).toBe(version);
          expect(h.packetType).toBe(type);
          expect(b.subarray(h.dcidOffset, h.dcidOffset + h.dcidLength)).toEqual(dcid);
          expect(b.subarray(h.scidOffset, h.scidOffset + h.scidLength)).toEqual(scid);
        },
      ),
    );
  });

  it('short headers: write → parse gives back the DCID', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        cid,
        fc.uint8Array({ maxLength: 30 }),
        (first, dcid, rest) => {
          const b = new Uint8Array(1 + dcid.length + rest.length);
          const n = writeQuicShortHeader(b, 0, first, dcid);
          b.set(rest, n);
          const h = new QuicHeader();
          expect(parseQuicHeader(b, 0, b.length, dcid.length, h)).toBe(QuicStatus.ok);
          expect(h.form).toBe(QuicForm.short);
          expect(h.firstByte).toBe(first & 0x7f);
          expect(b.subarray(h.dcidOffset, h.dcidOffset + h.dcidLength)).toEqual(dcid);
        },
      ),
    );
  });

  it('random bytes never throw, and what they report lies inside the datagram', () => {
    const h = new QuicHeader();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: -2, max: 302 }),
        fc.integer({ min: -2, max: 302 }),
        fc.integer({ min: -2, max: 22 }),
        (bytes, off, len, shortLen) => {
          const st = parseQuicHeader(bytes, off, len, shortLen, h);
          expect([0, 1, 2, 3]).toContain(st);
          if (st === QuicStatus.ok || st === QuicStatus.cidTooLong) {
            expect(h.dcidOffset).toBeGreaterThan(off);
            expect(h.dcidOffset + h.dcidLength).toBeLessThanOrEqual(off + len);
            if (h.form === QuicForm.long) expect(h.scidOffset + h.scidLength).toBeLessThanOrEqual(off + len);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
