// FakeVtep: a real server as the director meets it over the overlay, on a real UDP socket (for
// tests and the soak on loopback): a VTEP that decapsulates, a NIC with a MAC that drops frames
// addressed to another MAC (so a MAC change is real: unicast probes to the old MAC go unanswered),
// a neighbour stack that answers ARP for its overlay address (an RFC 5227 probe from 0.0.0.0 is
// answered to the asker's MAC, as Linux does) and resolves the director's own address by ARP
// before it answers a TCP SYN to its overlay address (SYN-ACK on a listening port, RST+ACK on
// another). Client traffic the director forwards (anything else) is recorded.
// IPv4 only, no VLAN tags: what the director sends real servers in the tests.
import dgram from 'node:dgram';
import { addressBytes, TCP, TrafficFrames } from './frames.ts';

export interface FakeVtepOptions {
  /** Where the socket listens (the real server's VTEP address) and its port. */
  address: string;
  port: number;
  vni: number;
  /** The real server's overlay address (IPv4). */
  realAddress: string;
  mac: string;
  /** The director's VTEP, where a kernel VTEP would send (its fdb entry for the director's MAC). */
  directorVtep: { address: string; port: number };
  directorMac: string;
  /** TCP ports with a listener on the real address; a SYN to another gets an RST. */
  listening?: number[];
  /** Keep every forwarded frame in `forwarded` (default true; a soak counts with onFrame instead). */
  keepForwarded?: boolean;
}

/** A frame the director forwarded to this real server (client traffic). */
export interface ForwardedFrame {
  dstMac: string;
  src: string;
  srcPort: number;
  dstPort: number;
  flags: number;
  seq: number;
  payloadLen: number;
}

function ipText(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

function macText(b: Uint8Array, o: number): string {
  return [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export class FakeVtep {
  readonly options: FakeVtepOptions;
  readonly socket: dgram.Socket;
  /** The NIC's MAC now; setMac changes it (a rebuilt VM). */
  mac: string;
  answerArp = true;
  answerTcp = true;
  readonly forwarded: ForwardedFrame[] = [];
  /** ARP requests for the real address: broadcast, unicast to our MAC, unicast to another MAC
   * (dropped by the NIC: a probe to a MAC we no longer have). */
  readonly arpRequests = { broadcast: 0, unicast: 0, otherMac: 0 };
  /** Frames dropped by the NIC filter (addressed to another MAC). */
  misaddressed = 0;
  /** SYNs to the real address answered, and the RSTs that then ended the half-open connections. */
  readonly checks = { syn: 0, synAck: 0, rst: 0, synSeqs: [] as number[], resetsReceived: [] as number[] };
  /** Called for every frame the NIC accepts (after the fake handled it). */
  onFrame: ((f: ForwardedFrame) => void) | null = null;
  private frames: TrafficFrames;
  private readonly vni: number;
  private readonly directorMac: Uint8Array;
  private readonly realBytes: Uint8Array;
  /** The MAC of the director's own address once resolved, and answers waiting for it. */
  private ownMac: Uint8Array | null = null;
  private waiting: Array<(mac: Uint8Array) => void> = [];

  private constructor(opts: FakeVtepOptions, socket: dgram.Socket) {
    this.options = opts;
    this.socket = socket;
    this.mac = opts.mac;
    this.vni = opts.vni;
    this.directorMac = Uint8Array.from(opts.directorMac.split(':').map((h) => Number.parseInt(h, 16)));
    this.realBytes = addressBytes(opts.realAddress);
    this.frames = this.framesFor(opts.mac);
    socket.on('message', (m) => this.receive(new Uint8Array(m.buffer, m.byteOffset, m.length)));
  }

  static async open(opts: FakeVtepOptions): Promise<FakeVtep> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port, opts.address, () => resolve());
    });
    return new FakeVtep(opts, socket);
  }

  private framesFor(mac: string): TrafficFrames {
    return new TrafficFrames({
      vni: this.options.vni,
      clientMac: mac,
      directorMac: this.options.directorMac,
    });
  }

  /** A new NIC: frames to the old MAC are dropped from now on; the neighbour cache is empty. */
  setMac(mac: string): void {
    this.mac = mac;
    this.frames = this.framesFor(mac);
    this.ownMac = null;
  }

  private send(datagram: Uint8Array): void {
    const { address, port } = this.options.directorVtep;
    this.socket.send(datagram, port, address);
  }

  private receive(d: Uint8Array): void {
    if (d.length < 8 + 14 || (d[0] & 0x08) === 0) return;
    if (((d[4] << 16) | (d[5] << 8) | d[6]) !== this.vni) return;
    const e = 8;
    const dst = macText(d, e);
    const broadcast = dst === 'ff:ff:ff:ff:ff:ff';
    const type = (d[e + 12] << 8) | d[e + 13];
    if (!broadcast && dst !== this.mac) {
      this.misaddressed++;
      if (type === 0x0806) this.arpRequests.otherMac++;
      return;
    }
    const l3 = e + 14;
    if (type === 0x0806 && d.length >= l3 + 28) {
      this.arp(d, l3, broadcast);
      return;
    }
    if (type !== 0x0800 || d.length < l3 + 20 || d[l3 + 9] !== 6) return;
    const l4 = l3 + (d[l3] & 0x0f) * 4;
    if (d.length < l4 + 20) return;
    const total = (d[l3 + 2] << 8) | d[l3 + 3];
    const f: ForwardedFrame = {
      dstMac: dst,
      src: ipText(d, l3 + 12),
      srcPort: (d[l4] << 8) | d[l4 + 1],
      dstPort: (d[l4 + 2] << 8) | d[l4 + 3],
      flags: d[l4 + 13],
      seq: be32(d, l4 + 4),
      payloadLen: total - (d[l3] & 0x0f) * 4 - (d[l4 + 12] >> 4) * 4,
    };
    if (ipText(d, l3 + 16) === this.options.realAddress) this.tcpToUs(f);
    else if (this.options.keepForwarded !== false) this.forwarded.push(f);
    this.onFrame?.(f);
  }

  private arp(d: Uint8Array, o: number, broadcast: boolean): void {
    const op = (d[o + 6] << 8) | d[o + 7];
    const senderMac = d.slice(o + 8, o + 14);
    const senderIp = d.slice(o + 14, o + 18);
    const target = ipText(d, o + 24);
    if (op === 2) {
      // An answer for the director's own address: what the SYN-ACKs wait for.
      this.ownMac = senderMac;
      for (const w of this.waiting.splice(0)) w(senderMac);
      return;
    }
    if (op !== 1 || target !== this.options.realAddress) return;
    if (broadcast) this.arpRequests.broadcast++;
    else this.arpRequests.unicast++;
    if (!this.answerArp) return;
    this.send(this.frames.arpReply(this.realBytes, senderIp, senderMac));
  }

  private tcpToUs(f: ForwardedFrame): void {
    if ((f.flags & TCP.rst) !== 0) {
      this.checks.rst++;
      this.checks.resetsReceived.push(f.seq);
      return;
    }
    if ((f.flags & (TCP.syn | TCP.ack)) !== TCP.syn || !this.answerTcp) return;
    this.checks.syn++;
    this.checks.synSeqs.push(f.seq);
    const listening = this.options.listening?.includes(f.dstPort) ?? false;
    const answer = () =>
      this.frames.tcp({
        src: this.realBytes,
        dst: addressBytes(f.src),
        srcPort: f.dstPort,
        dstPort: f.srcPort,
        flags: listening ? TCP.syn | TCP.ack : TCP.rst | TCP.ack,
        seq: listening ? 0x5eed0000 : 0,
        ack: (f.seq + 1) >>> 0,
        shape: 'bare',
      });
    if (listening) this.checks.synAck++;
    // Replies go on-link to the director's own address: resolve it first, as a kernel does.
    if (this.ownMac !== null) {
      this.send(answer());
      return;
    }
    this.waiting.push(() => this.send(answer()));
    if (this.waiting.length === 1) this.send(this.frames.arpRequest(this.realBytes, addressBytes(f.src)));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
