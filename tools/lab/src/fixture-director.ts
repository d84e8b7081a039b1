// A test fixture, not a director: the least a userspace VTEP must do for the lab's kernels to
// carry a connection through it, so the lab can be proven before Sluice's director exists.
// It answers ARP and neighbour solicitations for the VIPs with the director's MAC, and forwards a
// client's frame to the VIP by rewriting only the destination MAC to a real server's and sending
// it, VXLAN header and all, to that real's VTEP. The real is picked from the client's source port,
// so a test chooses it with `curl --local-port`. Checksums are never touched (real NICs deliver them complete).
// It also records what arrives, so a test can check what the director does and does not see.
import { createSocket, type Socket } from 'node:dgram';
import { addressBytes } from '@sluice/traffic';
import {
  buildArpReply,
  buildNeighborAdvert,
  EtherType,
  FrameInfo,
  fillL4Checksum,
  IpProto,
  ParseStatus,
  parseFrame,
  parseVxlan,
  VXLAN_HEADER_LEN,
  VXLAN_PORT,
  VxlanInfo,
  writeArp,
  writeEthernet,
  writeIcmp,
  writeIpv6,
  writeVxlan,
} from '@sluice/wire';
import type { Lab } from './lab.ts';

export interface ReceivedFrame {
  /** The sending VTEP (underlay address). */
  from: string;
  /** The inner Ethernet frame (a copy). */
  frame: Buffer;
  info: FrameInfo;
}

export interface FixtureCounts {
  arpAnswered: number;
  ndAnswered: number;
  forwarded: number;
  /** IP frames whose source is a VIP: a real server's reply, which DSR should keep away. */
  replies: number;
  other: number;
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => Number.parseInt(h, 16)));
}

function words(bytes: Uint8Array): Int32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w = new Int32Array(4);
  if (bytes.length === 4) {
    w[2] = 0xffff;
    w[3] = dv.getInt32(0);
  } else for (let i = 0; i < 4; i++) w[i] = dv.getInt32(4 * i);
  return w;
}

export class FixtureDirector {
  readonly counts: FixtureCounts = { arpAnswered: 0, ndAnswered: 0, forwarded: 0, replies: 0, other: 0 };
  /** Everything received, in order, when `record` is on. */
  readonly received: ReceivedFrame[] = [];
  record = false;
  readonly #sock: Socket;
  readonly #lab: Lab;
  readonly #mac: Buffer;
  readonly #vip4: Int32Array;
  readonly #vip6: Buffer;
  readonly #vip6w: Int32Array;
  readonly #realMacs: Buffer[];
  readonly #vx = new VxlanInfo();
  readonly #info = new FrameInfo();

  private constructor(lab: Lab, sock: Socket) {
    this.#lab = lab;
    this.#sock = sock;
    this.#mac = macBytes(lab.directorMac);
    this.#vip4 = words(addressBytes(lab.vip4));
    this.#vip6 = Buffer.from(addressBytes(lab.vip6));
    this.#vip6w = words(this.#vip6);
    this.#realMacs = lab.reals.map((r) => macBytes(r.mac));
    sock.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address));
  }

  /** Binds UDP 4789 on the lab's director underlay address. */
  static start(lab: Lab): Promise<FixtureDirector> {
    return new Promise((resolve, reject) => {
      const sock = createSocket('udp4');
      sock.once('error', reject);
      sock.bind(VXLAN_PORT, lab.directorUnderlay, () => {
        sock.off('error', reject);
        resolve(new FixtureDirector(lab, sock));
      });
    });
  }

  #closed = false;

  /** Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#sock.close(() => resolve()));
  }

  /** Sends an inner Ethernet frame to a VTEP, VXLAN-encapsulated with the lab's VNI. */
  send(frame: Uint8Array, vtep: string): void {
    const out = Buffer.alloc(VXLAN_HEADER_LEN + frame.length);
    writeVxlan(out, 0, this.#lab.vni);
    out.set(frame, VXLAN_HEADER_LEN);
    this.#sock.send(out, VXLAN_PORT, vtep);
  }

  #isVip(info: FrameInfo): boolean {
    const v = info.ipVersion === 4 ? this.#vip4 : this.#vip6w;
    return info.dst0 === v[0] && info.dst1 === v[1] && info.dst2 === v[2] && info.dst3 === v[3];
  }

  #srcIsVip(info: FrameInfo): boolean {
    const v = info.ipVersion === 4 ? this.#vip4 : this.#vip6w;
    return info.src0 === v[0] && info.src1 === v[1] && info.src2 === v[2] && info.src3 === v[3];
  }

  #onMessage(msg: Buffer, from: string): void {
    const vx = this.#vx;
    const info = this.#info;
    if (parseVxlan(msg, 0, msg.length, vx) !== ParseStatus.ok || vx.vni !== this.#lab.vni) return;
    const inner = vx.innerOffset;
    if (parseFrame(msg, inner, msg.length - inner, info) !== ParseStatus.ok) return;
    if (this.record) {
      const copy = new FrameInfo();
      parseFrame(Buffer.from(msg.subarray(inner)), 0, msg.length - inner, copy);
      this.received.push({ from, frame: Buffer.from(msg.subarray(inner)), info: copy });
    }
    if (info.etherType === EtherType.arp) {
      if (info.arpOp === 1 && info.arpTargetIp === this.#vip4[3]) {
        const out = Buffer.alloc(VXLAN_HEADER_LEN + 64);
        writeVxlan(out, 0, vx.vni);
        const n = buildArpReply(msg, inner, info, this.#mac, out, VXLAN_HEADER_LEN);
        this.#sock.send(out, 0, VXLAN_HEADER_LEN + n, VXLAN_PORT, from);
        this.counts.arpAnswered++;
      } else this.counts.other++;
      return;
    }
    if (info.ipVersion === 6 && info.ipProto === IpProto.icmpv6 && info.icmpType === 135) {
      if (
        info.ndTargetOffset >= 0 &&
        this.#vip6.equals(msg.subarray(info.ndTargetOffset, info.ndTargetOffset + 16))
      ) {
        const out = Buffer.alloc(VXLAN_HEADER_LEN + 128);
        writeVxlan(out, 0, vx.vni);
        const n = buildNeighborAdvert(msg, inner, info, this.#mac, out, VXLAN_HEADER_LEN);
        this.#sock.send(out, 0, VXLAN_HEADER_LEN + n, VXLAN_PORT, from);
        this.counts.ndAnswered++;
      } else this.counts.other++;
      return;
    }
    if (info.ipVersion !== 0 && this.#srcIsVip(info)) {
      this.counts.replies++;
      return;
    }
    if (info.ipVersion !== 0 && this.#mac.equals(msg.subarray(inner, inner + 6)) && this.#isVip(info)) {
      const i = info.srcPort % this.#realMacs.length;
      msg.set(this.#realMacs[i], inner);
      this.#sock.send(msg, VXLAN_PORT, this.#lab.reals[i].underlay);
      this.counts.forwarded++;
      return;
    }
    this.counts.other++;
  }
}

/** "Who has `target`? Tell `senderIp`" from `senderMac`, broadcast: the probe for arp_ignore. */
export function arpRequest(senderMac: string, senderIp: string, target: string): Buffer {
  const out = Buffer.alloc(42);
  const bcast = Buffer.alloc(6, 0xff);
  const p = writeEthernet(out, 0, bcast, 0, macBytes(senderMac), 0, EtherType.arp, -1);
  writeArp(
    out,
    p,
    1,
    macBytes(senderMac),
    0,
    words(addressBytes(senderIp))[3],
    Buffer.alloc(6),
    0,
    words(addressBytes(target))[3],
  );
  return out;
}

/**
 * A neighbour solicitation for `target` from `senderMac` (source: its EUI-64 link-local address),
 * to the target's solicited-node group (what a client sends) or, with `unicastMac`, straight to
 * that MAC and to `target` itself (which skips the multicast group filter and asks the ND code).
 */
export function neighborSolicit(senderMac: string, target: string, unicastMac?: string): Buffer {
  const mac = macBytes(senderMac);
  const t = Buffer.from(addressBytes(target));
  const ll = Buffer.from([
    0xfe,
    0x80,
    0,
    0,
    0,
    0,
    0,
    0,
    mac[0] ^ 2,
    mac[1],
    mac[2],
    0xff,
    0xfe,
    mac[3],
    mac[4],
    mac[5],
  ]);
  const solicited = Buffer.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15]]);
  const dstIp = unicastMac === undefined ? solicited : t;
  const dstMac =
    unicastMac === undefined ? Buffer.from([0x33, 0x33, 0xff, t[13], t[14], t[15]]) : macBytes(unicastMac);
  const out = Buffer.alloc(14 + 40 + 32);
  let p = writeEthernet(out, 0, dstMac, 0, mac, 0, EtherType.ipv6, -1);
  const ip = p;
  p += writeIpv6(out, p, words(ll), words(dstIp), IpProto.icmpv6, 32, 255);
  const l4 = p;
  p += writeIcmp(out, p, 135, 0, 0);
  out.set(t, p);
  p += 16;
  out[p] = 1; // source link-layer address option
  out[p + 1] = 1;
  out.set(mac, p + 2);
  fillL4Checksum(out, ip, 6, l4, 32, IpProto.icmpv6);
  return out;
}
