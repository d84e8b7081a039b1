// BatchedPort: the serving worker's loop over its VTEP socket through the sluice_io addon
// (@sluice/io), in the role VxlanPort plays with Node's dgram. One loop per worker thread: recvmmsg a batch of
// datagrams straight into the frame slots of the worker's Batch (no Buffer, no rinfo, no copy),
// classify the batch in place with the Pipeline, then hand the kernel, in one sendmmsg, the RSTs
// the pipeline queued (first: a displaced connection must leave its real server before the SYN
// that displaced it arrives there), the forwards (to the chosen real server's VTEP) and the
// ARP/ND replies (to the sender's VTEP); punt what the control plane learns from; repeat.
//
// Batch size adapts to load: it starts small (a frame that arrives alone is classified and sent
// at once, not after 255 others), doubles each time a receive fills it and halves when receives
// come back mostly empty, between BATCH_MIN and the batch's maxFrames.
//
// Waiting: when the socket is empty the loop blocks this thread in poll(2) (addon `wait`) for at
// most WAIT_MS, then yields to the thread's event loop; under load it yields every SLICE_MS. The
// thread is the worker's own, so blocking it costs nothing else; the stop word, the config
// mailbox (read before each batch), idle-time expiry and worker.terminate() (which lands when
// the poll returns) are all served within WAIT_MS. Measured in docs/ARCHITECTURE.md.
//
// Slots are fixed (SLOT_BYTES each, a VXLAN frame of a 1500-byte inner MTU is 1526): frame i
// of a receive lives at i * SLOT_BYTES of the batch's data, so the batch descriptors only point
// at it. A datagram longer than its slot is cut by the kernel, flagged by the addon, and dropped
// here as `frame-too-large`. After the slots come the RST scratch slots, so every datagram of a
// sendmmsg lives in the one buffer the addon is given.
//
// Below the loop is a DatagramChannel: the socket (NativeSocket, the addon's calls on one
// descriptor) in the director, or a pair of FrameRings (RingChannel, frame-ring.ts) where frames
// come from memory: the hot-path benchmark, the synthetic demo, the tests. The loop is the same.
import {
  errnoName,
  intToIpv4,
  ipv4ToInt,
  type NativeIo,
  nativeIo,
  OpenFlag,
  RecvFlag,
  RecvWord,
  SendFlag,
  SendWord,
} from '@sluice/io';
import { RstSpec } from '@sluice/wire';
import { RESET_QUEUE_LENGTH, ResetWord } from './accounting.ts';
import { Batch, BatchHeader, Desc } from './batch.ts';
import type { CompiledConfig } from './compile.ts';
import { type CounterLayout, Defense } from './counters.ts';
import { type Pipeline, PROBE_FRAME_BYTES, PROBE_QUEUE_LENGTH } from './pipeline.ts';
import { RST_DATAGRAM_MAX, writeQueuedReset } from './reset.ts';
import { DropReason, Verdict } from './verdict.ts';
import type { PuntHandler, VxlanPortSettings } from './vxlan-port.ts';

/** Bytes per receive slot: a VXLAN frame of a 1500-byte inner MTU (1526) and then some. */
export const SLOT_BYTES = 2048;
/** Smallest adaptive batch. */
export const BATCH_MIN = 16;
/** Longest a blocked wait lasts: bounds the stop, mailbox and terminate latency when idle. */
const WAIT_MS = 20;
/** Longest the loop drains without yielding to the thread's event loop under load. */
const SLICE_MS = 5;
/** Idle-time expiry interval (as the dgram worker's timer). */
const MAINTAIN_MS = 50;
const RST_SLOT = (RST_DATAGRAM_MAX + 7) & ~7;

/** The dgram port's settings, and whether same-destination runs go out as UDP GSO messages. */
export interface BatchedPortSettings extends VxlanPortSettings {
  /** Default true: a run of equal-length frames to one VTEP walks the stack once (UDP_SEGMENT). */
  gso?: boolean;
}

export class BatchedPortError extends Error {
  readonly code = 'SLUICE_ERR_IO_SOCKET';
  /** The negative errno the addon returned. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'BatchedPortError';
    this.status = status;
  }
}

/**
 * What the port's loop needs below it, with the addon's word layouts (RecvWord, SendWord) and its
 * status codes: counts, or a negative errno; nothing on the per-batch path throws.
 */
export interface DatagramChannel {
  /** Most datagrams one recv or send moves. */
  readonly maxBatch: number;
  /** 0, or a negative errno (the bind failed). */
  open(): number;
  localPort(): number;
  recv(data: Uint8Array, slotBytes: number, first: number, max: number, meta: Int32Array): number;
  send(data: Uint8Array, list: Int32Array, count: number, flags: number): number;
  /** Blocks this thread until a datagram waits or `timeoutMs` passed: 1 | 0 | -errno. */
  wait(timeoutMs: number): number;
  /** Datagrams lost below the port because it did not read them in time. */
  drops(): number;
  close(): void;
}

/** The director's channel: one UDP socket (SO_REUSEPORT) through the sluice_io addon. */
export class NativeSocket implements DatagramChannel {
  readonly maxBatch: number;
  private readonly io: NativeIo;
  private readonly settings: BatchedPortSettings;
  private fd = -1;

  /** Throws IoError(SLUICE_ERR_IO_UNAVAILABLE) when the addon did not load. */
  constructor(settings: BatchedPortSettings) {
    this.io = nativeIo();
    this.settings = settings;
    this.maxBatch = this.io.MAX_BATCH;
  }

  open(): number {
    const s = this.settings;
    const fd = this.io.open(s.address, s.port, OpenFlag.reusePort, s.receiveBufferBytes, s.sendBufferBytes);
    if (fd < 0) return fd;
    this.fd = fd;
    return 0;
  }

  localPort(): number {
    return this.io.localPort(this.fd);
  }

  recv(data: Uint8Array, slotBytes: number, first: number, max: number, meta: Int32Array): number {
    return this.io.recv(this.fd, data, slotBytes, first, max, meta);
  }

  send(data: Uint8Array, list: Int32Array, count: number, flags: number): number {
    return this.io.send(this.fd, data, list, count, flags);
  }

  wait(timeoutMs: number): number {
    return this.io.wait(this.fd, timeoutMs);
  }

  drops(): number {
    return this.fd < 0 ? 0 : Math.max(0, this.io.drops(this.fd));
  }

  close(): void {
    // Nothing is held between rounds: what the kernel still queues goes with the socket.
    if (this.fd >= 0) this.io.close(this.fd);
    this.fd = -1;
  }
}

export class BatchedPort {
  readonly settings: BatchedPortSettings;
  private readonly channel: DatagramChannel;
  private readonly sendFlags: number;
  private boundPort = 0;
  readonly batch: Batch;
  private readonly data: Uint8Array;
  private readonly meta: Int32Array;
  private readonly list: Int32Array;
  private readonly maxBatch: number;
  private want: number;
  private readonly rstBase: number;
  private readonly rstViews: Uint8Array[];
  private readonly rst = new RstSpec();
  private readonly counters: Float64Array;
  private readonly layout: CounterLayout;
  private readonly refresh: () => Pipeline | null;
  private readonly punt: PuntHandler | null;
  /** Real server index → VTEP as the addon wants it, rebuilt when the config object changes. */
  private vtepOf: Int32Array = new Int32Array(0);
  /** The real servers' VTEPs as the addon reports senders: only their frames are punted. */
  private realVtepInts: Set<number> = new Set();
  private vtepFor: CompiledConfig | null = null;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  private closed = false;
  /** Receives that failed with an OS error (not EAGAIN), and the last errno seen. */
  receiveErrors = 0;
  lastError = 0;
  /** Where the probes the pipeline queued are copied before the send (in `data`). */
  private readonly probeBase: number;

  constructor(
    settings: BatchedPortSettings,
    counters: Float64Array,
    layout: CounterLayout,
    refresh: () => Pipeline | null,
    punt: PuntHandler | null,
    channel: DatagramChannel = new NativeSocket(settings),
  ) {
    this.channel = channel;
    this.settings = settings;
    this.sendFlags = settings.gso === false ? 0 : SendFlag.gso;
    this.counters = counters;
    this.layout = layout;
    this.refresh = refresh;
    this.punt = punt;
    this.maxBatch = Math.min(settings.batchLimits.maxFrames, channel.maxBatch);
    this.want = Math.min(BATCH_MIN, this.maxBatch);
    this.rstBase = this.maxBatch * SLOT_BYTES;
    this.batch = Batch.create({
      maxFrames: this.maxBatch,
      dataBytes: this.rstBase + RESET_QUEUE_LENGTH * RST_SLOT + PROBE_QUEUE_LENGTH * PROBE_FRAME_BYTES,
    });
    this.probeBase = this.rstBase + RESET_QUEUE_LENGTH * RST_SLOT;
    this.data = this.batch.data;
    this.meta = new Int32Array(this.maxBatch * RecvWord.words);
    this.list = new Int32Array((this.maxBatch + RESET_QUEUE_LENGTH + PROBE_QUEUE_LENGTH) * SendWord.words);
    this.rstViews = [];
    for (let i = 0; i < RESET_QUEUE_LENGTH; i++) {
      const off = this.rstBase + i * RST_SLOT;
      this.rstViews.push(this.data.subarray(off, off + RST_SLOT));
    }
  }

  /** Opens and binds the socket; rejects with the OS error (EADDRINUSE, EADDRNOTAVAIL ...). */
  bind(): Promise<void> {
    const s = this.settings;
    const status = this.channel.open();
    if (status < 0) return Promise.reject(socketError(`bind ${s.address}:${s.port}`, status));
    this.boundPort = this.channel.localPort();
    return Promise.resolve();
  }

  address(): { address: string; port: number } {
    return { address: this.settings.address, port: this.boundPort };
  }

  /** Datagrams the kernel dropped at this socket because its receive buffer was full. */
  kernelDrops(): number {
    return this.channel.drops();
  }

  /** Current adaptive batch size (for tests and the benchmark's report). */
  get batchSize(): number {
    return this.want;
  }

  /**
   * Serves until `stop[0]` becomes non-zero: drain, classify, send; block in poll when empty;
   * yield to the event loop between slices. `now` is the tables' millisecond clock.
   */
  async run(stop: Int32Array, now: () => number): Promise<void> {
    let lastMaintain = performance.now();
    while (Atomics.load(stop, 0) === 0 && !this.closed) {
      const sliceEnd = performance.now() + SLICE_MS;
      let got = 1;
      while (got > 0 && performance.now() < sliceEnd) got = this.poll();
      if (got <= 0) {
        const t = performance.now();
        if (t - lastMaintain >= MAINTAIN_MS) {
          lastMaintain = t;
          this.maintain(now());
        }
        const w = this.channel.wait(WAIT_MS);
        // A socket that cannot be polled (it should not happen) must not turn into a spin.
        if (w < 0) Atomics.wait(this.sleeper, 0, 0, WAIT_MS);
      }
      await yieldToEventLoop();
    }
  }

  /**
   * One round: receive up to the adaptive batch size, classify, send. Returns the datagrams
   * received (0: the socket was empty), or a negative errno when the receive failed.
   */
  poll(): number {
    const want = this.want;
    const n = this.channel.recv(this.data, SLOT_BYTES, 0, want, this.meta);
    if (n <= 0) {
      if (n < 0) {
        this.receiveErrors++;
        this.lastError = n;
      }
      return n;
    }
    if (n === want) {
      if (want < this.maxBatch) this.want = Math.min(want * 2, this.maxBatch);
    } else if (n <= want >>> 2 && want > BATCH_MIN) {
      this.want = Math.max(want >>> 1, BATCH_MIN);
    }
    this.process(n);
    return n;
  }

  /** Fills the batch descriptors from the receive metadata, classifies, sends. */
  private process(n: number): void {
    const batch = this.batch;
    const desc = batch.desc;
    const meta = this.meta;
    const c = this.counters;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const m = i * RecvWord.words;
      if ((meta[m + RecvWord.flags] & RecvFlag.truncated) !== 0) {
        c[this.layout.drops + DropReason.frameTooLarge] += 1;
        c[Verdict.drop] += 1;
        continue;
      }
      const d = k * Desc.words;
      desc[d + Desc.offset] = i * SLOT_BYTES;
      desc[d + Desc.length] = meta[m + RecvWord.length];
      desc[d + Desc.verdict] = 0;
      desc[d + Desc.arg] = 0;
      desc[d + Desc.peer] = meta[m + RecvWord.address];
      k++;
    }
    batch.header[BatchHeader.count] = k;
    batch.header[BatchHeader.dataUsed] = n * SLOT_BYTES;
    if (k === 0) return;
    const p = this.refresh();
    if (p === null) {
      // No configuration yet: nothing can be classified (counted, not guessed).
      c[this.layout.drops + DropReason.noConfig] += k;
      c[Verdict.drop] += k;
      return;
    }
    p.processBatch(batch);
    this.send(p, k);
  }

  private send(p: Pipeline, k: number): void {
    const cfg = p.config;
    if (this.vtepFor !== cfg) this.learnVteps(cfg);
    const list = this.list;
    const port = this.settings.remotePort;
    let out = 0;
    let unsendable = 0;
    // Resets first (see the header).
    const resets = p.resetCount;
    if (resets > 0) {
      const q = p.resetQueue;
      for (let i = 0; i < resets; i++) {
        const len = writeQueuedReset(cfg, this.rst, q, i, this.rstViews[i]);
        if (len === 0) continue;
        const l = out * SendWord.words;
        list[l + SendWord.offset] = this.rstBase + i * RST_SLOT;
        list[l + SendWord.length] = len;
        list[l + SendWord.address] = this.vtepOf[q[i * ResetWord.words + ResetWord.real]];
        list[l + SendWord.port] = port;
        out++;
        this.counters[this.layout.defense + Defense.rstSent] += 1;
      }
      p.resetCount = 0;
    }
    const batch = this.batch;
    const desc = batch.desc;
    const vteps = this.vtepOf;
    for (let i = 0; i < k; i++) {
      const d = i * Desc.words;
      const verdict = desc[d + Desc.verdict];
      let to: number;
      if (verdict === Verdict.forward) {
        to = vteps[desc[d + Desc.arg]];
      } else if (verdict === Verdict.reply) {
        to = desc[d + Desc.peer];
      } else {
        if (
          this.punt !== null &&
          desc[d + Desc.arg] === DropReason.notForUs &&
          this.realVtepInts.has(desc[d + Desc.peer])
        ) {
          this.punt(batch.frame(i), intToIpv4(desc[d + Desc.peer]));
        }
        continue;
      }
      if (to === 0) {
        unsendable++;
        continue;
      }
      const l = out * SendWord.words;
      list[l + SendWord.offset] = desc[d + Desc.offset];
      list[l + SendWord.length] = desc[d + Desc.length];
      list[l + SendWord.address] = to;
      list[l + SendWord.port] = port;
      out++;
    }
    // The defense's probes, each back to the VTEP its client's packet came from.
    const probes = p.probeCount;
    if (probes > 0) {
      const data = this.data;
      for (let i = 0; i < probes; i++) {
        const from = i * PROBE_FRAME_BYTES;
        const at = this.probeBase + from;
        const len = p.probeLengths[i];
        data.set(p.probeFrames.subarray(from, from + len), at);
        const l = out * SendWord.words;
        list[l + SendWord.offset] = at;
        list[l + SendWord.length] = len;
        list[l + SendWord.address] = p.probeVteps[i];
        list[l + SendWord.port] = port;
        out++;
      }
      p.probeCount = 0;
    }
    let lost = unsendable;
    if (out > 0) {
      const sent = this.channel.send(this.data, list, out, this.sendFlags);
      lost += sent < 0 ? out : out - sent;
    }
    // The verdict stays what the pipeline decided; the port's loss is its own reason.
    if (lost > 0) this.counters[this.layout.drops + DropReason.sendFailed] += lost;
  }

  /** Parses the config's VTEP strings once per config version (0 = not an IPv4 VTEP). */
  private learnVteps(cfg: CompiledConfig): void {
    const strings = cfg.realVtep;
    if (this.vtepOf.length !== strings.length) this.vtepOf = new Int32Array(strings.length);
    const v = this.vtepOf;
    for (let i = 0; i < strings.length; i++) {
      const s = strings[i];
      const a = s === '' ? 0 : ipv4ToInt(s);
      v[i] = a === -1 ? 0 : a;
    }
    this.realVtepInts = new Set([...cfg.realVteps].map(ipv4ToInt).filter((a) => a !== -1));
    this.vtepFor = cfg;
  }

  /** Idle-time expiry (tables still age when no frame comes). */
  // Alike in VxlanPort on purpose: the two ports share no base class (each owns its own loop and
  // teardown), and two lines are not worth one.
  maintain(now: number): void {
    const p = this.refresh();
    if (p !== null) p.maintain(now);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.channel.close();
    return Promise.resolve();
  }
}

function socketError(what: string, status: number): BatchedPortError {
  return new BatchedPortError(`${what}: ${errnoName(status)}`, status);
}

/** Resolves after the event loop has turned once (timers, messages, immediates run). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
