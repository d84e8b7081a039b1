// OwnFrames: the send path for frames the director makes itself — RSTs that end a connection on
// its real server, ARP and neighbour-solicitation probes for real servers whose MAC is not
// configured. A socket of the main thread's own, not bound to the VTEP port: receivers accept
// VXLAN from any source port, and the serving workers keep the VTEP port to themselves.
import dgram from 'node:dgram';

export class OwnFrames {
  readonly remotePort: number;
  private socket: dgram.Socket | null = null;
  sent = 0;

  constructor(remotePort: number) {
    this.remotePort = remotePort;
  }

  async open(): Promise<void> {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {}); // an ICMP error on a later send is a lost frame, not a crash
    await new Promise<void>((resolve) => s.bind(0, () => resolve()));
    this.socket = s;
  }

  /** Sends one VXLAN datagram to a VTEP; rejects when the socket reports an error. */
  send(datagram: Uint8Array, vtep: string): Promise<void> {
    const s = this.socket;
    if (s === null) return Promise.reject(new Error('own-frame socket not open'));
    return new Promise((resolve, reject) =>
      s.send(datagram, this.remotePort, vtep, (err) => {
        if (err) reject(err);
        else {
          this.sent++;
          resolve();
        }
      }),
    );
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = null;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }
}
