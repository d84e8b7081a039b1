// VxlanPort: the director's VTEP socket, owned by one worker thread. Every worker binds the same
// UDP address with SO_REUSEPORT, so the kernel spreads senders' flows over workers (the VXLAN
// outer source port is a per-flow hash) and receive scales with cores without a hop through
// the main thread. Datagrams are copied into a Batch as they arrive; the batch is classified
// in this thread once the current burst of reads is over (setImmediate runs after the I/O
// callbacks of one loop turn) or when it is full, and each frame is then sent by its verdict:
// forwards to the chosen real server's VTEP, replies (ARP/ND answers) to the sender's VTEP.
//
// Batches rotate through a small ring: a batch is refilled only after every datagram sent from
// it has been handed to the kernel (a send may complete after the call returns), so a frame is
// never overwritten while it waits in a send queue. With no batch free, arrivals are dropped and
// counted (`backpressure`), never queued without bound.
//
// Node's dgram API allocates a Buffer and an rinfo object per received datagram and a send
// request per sent one; that is the runtime's cost, outside the classifier, which allocates
// nothing (socket I/O, not classification, is the first ceiling: docs/BENCHMARKS.md).
import dgram from 'node:dgram';
import { RstSpec } from '@sluice/wire';
import { ResetWord } from './accounting.ts';
import { Batch, type BatchLimits } from './batch.ts';
import { type CounterLayout, Defense } from './counters.ts';
import { type Pipeline, PROBE_FRAME_BYTES } from './pipeline.ts';
import { RST_DATAGRAM_MAX, writeQueuedReset } from './reset.ts';
import { DropReason, Verdict } from './verdict.ts';

export interface VxlanPortSettings {
  /** Underlay address the VTEP listens on (IPv4). */
  address: string;
  port: number;
  /** UDP port of the real servers' VTEPs (Linux vxlan dstport; IANA 4789). */
  remotePort: number;
  /** Batches in the ring; each holds `batchLimits.maxFrames` frames. */
  ring: number;
  batchLimits: BatchLimits;
  /** Kernel socket buffers, bytes (0 = leave the system default). */
  receiveBufferBytes: number;
  sendBufferBytes: number;
}

export const DEFAULT_VXLAN_PORT_SETTINGS: VxlanPortSettings = {
  address: '0.0.0.0',
  port: 4789,
  remotePort: 4789,
  ring: 4,
  batchLimits: { maxFrames: 256, dataBytes: 256 * 1600 },
  receiveBufferBytes: 4 << 20,
  sendBufferBytes: 4 << 20,
};

/** Frames that are neither for a VIP nor a flow but may teach the control plane something
 * (ARP replies, neighbour advertisements from real servers) are handed to this hook. */
export type PuntHandler = (frame: Uint8Array, vtep: string) => void;

export class VxlanPort {
  readonly settings: VxlanPortSettings;
  private readonly socket: dgram.Socket;
  private readonly ring: Batch[];
  private readonly ringBuffers: Buffer[];
  /** Sends in flight per ring batch. */
  private readonly pending: Int32Array;
  /** One completion callback per ring batch, made once (no closure per datagram). */
  private readonly onSent: Array<() => void>;
  /** Sender VTEP address per frame of each batch (replies go back there). */
  private readonly senders: string[][];
  private current = -1;
  private flushScheduled = false;
  private readonly flushNow: () => void;
  private readonly counters: Float64Array;
  private readonly layout: CounterLayout;
  private readonly refresh: () => Pipeline | null;
  private readonly punt: PuntHandler | null;
  private closed = false;
  private readonly rst = new RstSpec();

  constructor(
    settings: VxlanPortSettings,
    counters: Float64Array,
    layout: CounterLayout,
    refresh: () => Pipeline | null,
    punt: PuntHandler | null,
  ) {
    this.settings = settings;
    this.counters = counters;
    this.layout = layout;
    this.refresh = refresh;
    this.punt = punt;
    this.ring = [];
    this.ringBuffers = [];
    this.senders = [];
    this.onSent = [];
    this.pending = new Int32Array(settings.ring);
    for (let i = 0; i < settings.ring; i++) {
      const b = Batch.create(settings.batchLimits);
      this.ring.push(b);
      this.ringBuffers.push(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));
      this.senders.push(new Array<string>(settings.batchLimits.maxFrames).fill(''));
      this.onSent.push(() => {
        this.pending[i]--;
      });
    }
    this.flushNow = () => {
      this.flushScheduled = false;
      this.flush();
    };
    this.socket = dgram.createSocket({ type: 'udp4', reuseAddr: true, reusePort: true });
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address));
  }

  /** Binds the socket; rejects with the OS error (EADDRINUSE, EADDRNOTAVAIL, EACCES ...). */
  bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind({ address: this.settings.address, port: this.settings.port, exclusive: false }, () => {
        this.socket.off('error', onError);
        // A socket error after bind (e.g. ICMP port unreachable surfaced on send) must not kill
        // the worker: the frame is lost as it would be on a wire.
        this.socket.on('error', () => {});
        const s = this.settings;
        if (s.receiveBufferBytes > 0) this.socket.setRecvBufferSize(s.receiveBufferBytes);
        if (s.sendBufferBytes > 0) this.socket.setSendBufferSize(s.sendBufferBytes);
        resolve();
      });
    });
  }

  /** The bound address (port 0 in settings picks a free one). */
  address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  private receive(msg: Buffer, from: string): void {
    if (this.closed) return;
    let b = this.current;
    if (b < 0) {
      b = this.takeFree();
      if (b < 0) {
        this.counters[this.layout.drops + DropReason.backpressure] += 1;
        this.counters[Verdict.drop] += 1;
        return;
      }
      this.current = b;
    }
    const batch = this.ring[b];
    if (msg.length > batch.data.length) {
      this.counters[this.layout.drops + DropReason.frameTooLarge] += 1;
      this.counters[Verdict.drop] += 1;
      return;
    }
    const n = batch.count;
    if (!batch.push(msg, 0, msg.length, ipv4Word(from))) {
      this.flush();
      this.receive(msg, from);
      return;
    }
    this.senders[b][n] = from;
    if (batch.count >= batch.maxFrames) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private takeFree(): number {
    for (let i = 0; i < this.ring.length; i++) {
      if (this.pending[i] === 0 && i !== this.current) {
        this.ring[i].reset();
        return i;
      }
    }
    return -1;
  }

  /** Classifies the current batch and sends its frames. */
  flush(): void {
    const b = this.current;
    if (b < 0) return;
    this.current = -1;
    const batch = this.ring[b];
    if (batch.count === 0) return;
    const p = this.refresh();
    if (p === null) {
      // No configuration yet: nothing can be classified (counted, not guessed).
      this.counters[this.layout.drops + DropReason.noConfig] += batch.count;
      this.counters[Verdict.drop] += batch.count;
      batch.reset();
      return;
    }
    p.processBatch(batch);
    // Resets first: a displaced connection's RST frees its slot (and its SYN-backlog entry, for
    // a half-open one) on the real server before the SYN that displaced it arrives there, so a
    // server whose backlog is full does not drop the very SYN that was given the room.
    if (p.resetCount > 0) this.sendResets(p);
    this.send(b, batch, p);
    if (p.probeCount > 0) this.sendProbes(p);
  }

  /** The defense's probes, each to the VTEP its client's packet came from. */
  private sendProbes(p: Pipeline): void {
    for (let i = 0; i < p.probeCount; i++) {
      // Copied: probes are rare, and the queue is reused by the next batch before the send completes.
      const off = i * PROBE_FRAME_BYTES;
      const frame = p.probeFrames.slice(off, off + p.probeLengths[i]);
      this.socket.send(frame, this.settings.remotePort, wordToIpv4(p.probeVteps[i]));
    }
    p.probeCount = 0;
  }

  /** RSTs for connections the pipeline displaced: each ends on its real server too. */
  private sendResets(p: Pipeline): void {
    const q = p.resetQueue;
    const cfg = p.config;
    for (let i = 0; i < p.resetCount; i++) {
      // A datagram per reset: resets are rare control events, and the socket keeps the buffer
      // until it is sent.
      const out = new Uint8Array(RST_DATAGRAM_MAX);
      const real = q[i * ResetWord.words + ResetWord.real];
      const len = writeQueuedReset(cfg, this.rst, q, i, out);
      if (len === 0) continue;
      this.socket.send(out, 0, len, this.settings.remotePort, cfg.realVtep[real]);
      this.counters[this.layout.defense + Defense.rstSent] += 1;
    }
    p.resetCount = 0;
  }

  private send(b: number, batch: Batch, p: Pipeline): void {
    const buf = this.ringBuffers[b];
    const senders = this.senders[b];
    const vteps = p.config.realVtep;
    const port = this.settings.remotePort;
    const done = this.onSent[b];
    const n = batch.count;
    for (let i = 0; i < n; i++) {
      const verdict = batch.verdictOf(i);
      if (verdict === Verdict.forward) {
        this.pending[b]++;
        this.socket.send(buf, batch.offsetOf(i), batch.lengthOf(i), port, vteps[batch.argOf(i)], done);
      } else if (verdict === Verdict.reply) {
        this.pending[b]++;
        this.socket.send(buf, batch.offsetOf(i), batch.lengthOf(i), port, senders[i], done);
      } else if (
        this.punt !== null &&
        batch.argOf(i) === DropReason.notForUs &&
        p.config.realVteps.has(senders[i])
      ) {
        this.punt(batch.frame(i), senders[i]);
      }
    }
  }

  /** Sends a frame the director made itself (an RST, an ARP request) to a VTEP. */
  sendOwn(datagram: Uint8Array, vtep: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.send(datagram, this.settings.remotePort, vtep, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Does idle-time expiry when no frame came for a while (tables still age). */
  maintain(now: number): void {
    const p = this.refresh();
    if (p !== null) p.maintain(now);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.flush();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** An IPv4 dotted quad as a 32-bit word (0 when it is not one), without allocating. */
export function ipv4Word(s: string): number {
  let word = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255) return 0;
      word = (word << 8) | octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else {
      return 0;
    }
  }
  if (dots !== 3 || digits === 0 || octet > 255) return 0;
  return (word << 8) | octet;
}

export function wordToIpv4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}
