// Frames no one here wrote: real captures from Linux kernels (see fixtures/README.md), parsed
// field by field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EtherType,
  FrameInfo,
  IpProto,
  ParseStatus,
  parseFrame,
  parseQuicHeader,
  QUIC_V1,
  QuicForm,
  QuicHeader,
  QuicPacketType,
  QuicStatus,
  readPcap,
  TcpFlag,
} from './index.ts';

function load(name: string): Uint8Array {
  const pkts = readPcap(new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url))));
  expect(pkts).toHaveLength(1);
  return pkts[0].data;
}

function parse(name: string): FrameInfo {
  const data = load(name);
  const f = new FrameInfo();
  expect(parseFrame(data, 0, data.length, f)).toBe(ParseStatus.ok);
  return f;
}

const v4 = (a: number, b: number, c: number, d: number) => (a << 24) | (b << 16) | (c << 8) | d | 0;

describe('real captures', () => {
  it("curl's IPv4 SYN: Linux's options in Linux's order", () => {
    const f = parse('curl-syn-ipv4.pcap');
    expect(f.ipVersion).toBe(4);
    expect(f.src3).toBe(v4(10, 99, 0, 1));
    expect(f.dst3).toBe(v4(10, 99, 1, 2));
    expect(f.dstPort).toBe(8080);
    expect(f.tcpFlags).toBe(TcpFlag.syn);
    expect(f.ttl).toBe(64);
    expect(f.optMss).toBe(1460);
    expect(f.optSackPerm).toBe(1);
    expect(f.optTimestamp).toBe(1);
    expect(f.tsEcr).toBe(0);
    expect(f.optWscale).toBe(10);
    expect(f.optCount).toBe(5);
    expect(f.optSignature).toBe(0x31542); // MSS, SACK_PERM, TS, NOP, WS
    expect(f.payloadLen).toBe(0);
  });

  it("hping3's SYN has no options at all", () => {
    const f = parse('hping3-syn.pcap');
    expect(f.tcpFlags).toBe(TcpFlag.syn);
    expect(f.optCount).toBe(0);
    expect(f.optSignature).toBe(0);
    expect(f.optMss).toBe(-1);
    expect(f.tcpWindow).toBe(512);
    expect(f.tcpHeaderLen).toBe(20);
  });

  it("curl's IPv6 SYN: addresses, ports, options", () => {
    const f = parse('curl-syn-ipv6.pcap');
    expect(f.ipVersion).toBe(6);
    expect(f.ipProto).toBe(IpProto.tcp);
    expect([f.src0 >>> 0, f.src1, f.src2, f.src3]).toEqual([0xfd990000, 0, 0, 1]);
    expect([f.dst0 >>> 0, f.dst1, f.dst2, f.dst3]).toEqual([0xfd990000, 0, 0, 2]);
    expect(f.dstPort).toBe(8080);
    expect(f.optMss).toBe(1440);
    expect(f.optSignature).toBe(0x31542);
  });

  it('ICMP fragmentation needed names the embedded flow and the MTU', () => {
    const f = parse('icmp-frag-needed.pcap');
    expect(f.ipProto).toBe(IpProto.icmp);
    expect([f.icmpType, f.icmpCode]).toEqual([3, 4]);
    expect(f.icmpMtu).toBe(1300);
    expect(f.innerValid).toBe(1);
    expect(f.innerProto).toBe(IpProto.icmp);
    expect(f.innerSrc3).toBe(v4(10, 99, 0, 1));
    expect(f.innerDst3).toBe(v4(10, 99, 1, 2));
    expect(f.src3).toBe(v4(10, 99, 0, 254));
  });

  it('ARP request and IPv6 neighbour solicitation from a kernel', () => {
    const a = parse('arp-request.pcap');
    expect(a.etherType).toBe(EtherType.arp);
    expect(a.arpOp).toBe(1);
    expect(a.arpSenderIp).toBe(v4(10, 99, 0, 1));
    expect(a.arpTargetIp).toBe(v4(10, 99, 0, 254));
    const n = parse('ipv6-neighbor-solicitation.pcap');
    const data = load('ipv6-neighbor-solicitation.pcap');
    expect(n.icmpType).toBe(135);
    expect(n.ttl).toBe(255);
    expect(Array.from(data.subarray(n.ndTargetOffset, n.ndTargetOffset + 16))).toEqual([
      0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    ]);
    expect(Array.from(data.subarray(n.ndLinkAddrOffset, n.ndLinkAddrOffset + 6))).toEqual(
      Array.from(data.subarray(6, 12)),
    );
  });

  it("ngtcp2's client migrating: Initials, then short headers to the server's CIDs from two ports", () => {
    const pkts = readPcap(
      new Uint8Array(readFileSync(new URL('../fixtures/quic-migration.pcap', import.meta.url))),
    );
    const f = new FrameInfo();
    const h = new QuicHeader();
    const rows = pkts.map((p) => {
      expect(parseFrame(p.data, 0, p.data.length, f)).toBe(ParseStatus.ok);
      expect(f.ipProto).toBe(IpProto.udp);
      expect(f.dstPort).toBe(4433);
      // The server's CIDs are 18 bytes (ngtcp2's NGTCP2_SV_SCIDLEN).
      expect(parseQuicHeader(p.data, f.payloadOffset, f.payloadLen, 18, h)).toBe(QuicStatus.ok);
      const dcid = Buffer.from(p.data.subarray(h.dcidOffset, h.dcidOffset + h.dcidLength)).toString('hex');
      return { port: f.srcPort, form: h.form, version: h.version, type: h.packetType, dcid };
    });
    expect(rows).toHaveLength(13);
    // The client's first Initial goes to a DCID it chose; its second already to the server's.
    expect(rows[0]).toMatchObject({ form: QuicForm.long, version: QUIC_V1, type: QuicPacketType.initial });
    expect(rows[0].dcid.startsWith('310a01')).toBe(false);
    expect(rows[1]).toMatchObject({ form: QuicForm.long, type: QuicPacketType.initial });
    // Every other datagram is a 1-RTT short header whose DCID carries the QUIC-LB first octet
    // 0x31 (config rotation 1, 17 more bytes) and server ID 0a01.
    for (const r of rows.slice(1)) expect(r.dcid).toMatch(/^310a01[0-9a-f]{30}$/);
    for (const r of rows.slice(2))
      expect(r).toMatchObject({ form: QuicForm.short, type: QuicPacketType.oneRtt });
    // The migration: a new source port from the 7th datagram on, with a fresh connection ID.
    const ports = [...new Set(rows.map((r) => r.port))];
    expect(ports).toHaveLength(2);
    expect(rows.slice(0, 6).every((r) => r.port === ports[0])).toBe(true);
    expect(rows.slice(6).every((r) => r.port === ports[1])).toBe(true);
    expect(rows[6].dcid).not.toBe(rows[5].dcid);
  });
});
