// The modelled real servers: what decides whether a client that got past the director is served.
// Linux defaults and a web server with a fixed number of workers (Apache prefork-like): what the
// issue's lab ran.
//
//   - SYN: a new one takes a place in the SYN queue (`backlog`) and gets a SYN-ACK with the
//     server's ISN; with the queue full, syncookies (Linux's default, tcp_syncookies=1) answer
//     statelessly: the server keeps nothing, and only a client that saw the SYN-ACK can complete.
//     A retransmitted SYN of a queued connection is answered again.
//   - The handshake's ACK: only a genuine one (the client saw the server's ISN) completes it; a
//     blind ACK's acknowledgement number is wrong, the server answers the (spoofed) address with an
//     RST and keeps its queue entry, which times out after `halfOpenTimeoutMs` (SYN-ACK retries).
//   - Workers (`capacity`, the director's upperThreshold for it): an established connection takes a
//     worker and holds it until its client closes (FIN), the director resets it (an RST with the
//     client's next sequence number), or a server timeout: the request head not complete within
//     `headerTimeoutMs` (mod_reqtimeout's header=20-40), or the keep-alive idle timeout after a
//     response (`keepAliveMs`), or a large response whose client reads nothing for `sendTimeoutMs`
//     (Apache's Timeout: slow readers reading a little more often hold the worker). With every worker busy, completed handshakes wait in the accept
//     queue (`acceptBacklog`) and take a worker in order as one frees; beyond it the ACK is dropped
//     (Linux drops it when the accept queue overflows) and the client retries its request.
//   - A request head that completes gets its response `serviceMs` later (the caller schedules it);
//     the response's bytes are what the client's acknowledgement numbers then show.
//
// Connections are keyed by client address and port (addr * 65536 + port); storage is a pool of
// typed arrays with a free list, so a flood does not allocate an object per SYN.
import { TupleQueue } from './queue.ts';

export const Owner = {
  valid: 0,
  partner: 1,
  flood: 2,
  spoof: 3,
  bot: 4,
} as const;
export type Owner = (typeof Owner)[keyof typeof Owner];
export const OWNER_COUNT = 5;
export const OWNER_NAMES: readonly string[] = ['valid', 'partner', 'flood', 'spoof', 'bot'];

export const ConnState = { free: 0, queued: 1, accepting: 2, working: 3 } as const;

export const SynResult = { dropped: 0, queued: 1, cookie: 2 } as const;

export interface ServerOptions {
  reals: number;
  /** Workers per server: the connections it serves at once (its upperThreshold at the director). */
  capacity: number;
  /** SYN queue per server. */
  backlog: number;
  /** Completed handshakes that may wait for a worker. */
  acceptBacklog: number;
  /** Answer SYNs with syncookies when the SYN queue is full (Linux's default). */
  syncookies: boolean;
  halfOpenTimeoutMs: number;
  /** A request head must be complete this long after the connection took a worker. */
  headerTimeoutMs: number;
  /** An idle keep-alive connection is closed this long after its last response. */
  keepAliveMs: number;
  /** A response's write that moves no byte for this long ends the connection (Apache's Timeout). */
  sendTimeoutMs: number;
}

/** The server's initial sequence number for a connection: a function of its key (not guessable by spoofers in the model, who never see it). */
export function serverIsn(key: number): number {
  let h = Math.imul((key / 65536) | 0, 0x9e3779b1) ^ Math.imul(key % 65536, 0x85ebca77);
  h ^= h >>> 15;
  return Math.imul(h, 0xc2b2ae3d) | 0;
}

export class ServerFarm {
  readonly opts: ServerOptions;
  /** Per real: queued (SYN queue), accepting (done, waiting for a worker), working. */
  readonly queued: Int32Array;
  readonly accepting: Int32Array;
  readonly working: Int32Array;
  /** Per real × owner: workers held. */
  readonly held: Int32Array;
  /** SYNs dropped (queue full without syncookies), per owner. */
  readonly refused: Float64Array = new Float64Array(OWNER_COUNT);
  /** Handshakes dropped because the accept queue was full, per owner. */
  readonly acceptDrops: Float64Array = new Float64Array(OWNER_COUNT);
  /** Cookies sent (the SYN queue was full), per owner. */
  readonly cookies: Float64Array = new Float64Array(OWNER_COUNT);
  /** Connections removed by a director RST, per owner. */
  readonly resetByDirector: Float64Array = new Float64Array(OWNER_COUNT);
  /** Connections a server timeout ended, per owner. */
  readonly timedOut: Float64Array = new Float64Array(OWNER_COUNT);
  /** RSTs from the director for a connection the server did not hold. */
  resetsForNothing = 0;
  private readonly index = new Map<number, number>();
  private cap = 0;
  private key = new Float64Array(0);
  private real = new Int32Array(0);
  private state = new Uint8Array(0);
  private owner = new Uint8Array(0);
  private gen = new Int32Array(0);
  /** ms of the deadline that applies in the current state (queue, header, keep-alive). */
  private deadline = new Int32Array(0);
  /** 1 once the request head is complete (its header deadline no longer applies). */
  private served = new Uint8Array(0);
  /**
   * ms of the last data the server sent on the connection, or of its socket's birth when it sent
   * none (the kernel's tcpi_last_data_sent, which a load agent reads): only the server moves it.
   */
  private lastSent = new Int32Array(0);
  /**
   * ms the server began sending an answer it has not finished (a large one to a slow reader), −1
   * when it is not sending: the start of the kernel's tcpi_busy_time, which a load agent reads.
   */
  private busySince = new Int32Array(0);
  /** Bytes of that answer the client acknowledged (tcpi_bytes_acked, as far as it matters here). */
  private acked = new Float64Array(0);
  private free: number[] = [];
  /** (slot, generation, deadline) per deadline kind, in order. */
  private readonly queueTimers = new TupleQueue(3);
  private readonly headerTimers = new TupleQueue(3);
  private readonly idleTimers = new TupleQueue(3);
  /** Deadlines of responses being sent to clients that read slowly (a constant delay: FIFO). */
  private readonly sendTimers = new TupleQueue(3);
  /** Per real: slots waiting for a worker, FIFO (slot, generation). */
  private readonly acceptQueues: TupleQueue[];
  /** Called when a waiting connection takes a worker (the caller's model may start a request). */
  onWorker: (key: number, owner: number, now: number) => void = () => {};

  constructor(opts: ServerOptions) {
    this.opts = opts;
    this.queued = new Int32Array(opts.reals);
    this.accepting = new Int32Array(opts.reals);
    this.working = new Int32Array(opts.reals);
    this.held = new Int32Array(opts.reals * OWNER_COUNT);
    this.acceptQueues = Array.from({ length: opts.reals }, () => new TupleQueue(2));
    this.growPool(4096);
  }

  private growPool(n: number): void {
    const old = this.cap;
    const grow = <A extends Float64Array | Int32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.key = grow(this.key, (k) => new Float64Array(k));
    this.real = grow(this.real, (k) => new Int32Array(k));
    this.state = grow(this.state, (k) => new Uint8Array(k));
    this.owner = grow(this.owner, (k) => new Uint8Array(k));
    this.gen = grow(this.gen, (k) => new Int32Array(k));
    this.deadline = grow(this.deadline, (k) => new Int32Array(k));
    this.served = grow(this.served, (k) => new Uint8Array(k));
    this.lastSent = grow(this.lastSent, (k) => new Int32Array(k));
    this.busySince = grow(this.busySince, (k) => new Int32Array(k));
    this.acked = grow(this.acked, (k) => new Float64Array(k));
    for (let i = n - 1; i >= old; i--) this.free.push(i);
    this.cap = n;
  }

  static key(addr: number, port: number): number {
    return (addr >>> 0) * 65536 + port;
  }

  /** Workers held by `owner` on every server. */
  heldBy(owner: number): number {
    let n = 0;
    for (let r = 0; r < this.opts.reals; r++) n += this.held[r * OWNER_COUNT + owner];
    return n;
  }

  /** The server holds this connection with a worker. */
  isWorking(key: number): boolean {
    const s = this.index.get(key);
    return s !== undefined && this.state[s] === ConnState.working;
  }

  /** The server holds this connection in any state. */
  has(key: number): boolean {
    return this.index.has(key);
  }

  /** A SYN forwarded to `real`. */
  syn(real: number, key: number, owner: number, now: number): number {
    const have = this.index.get(key);
    if (have !== undefined)
      return this.state[have] === ConnState.queued ? SynResult.queued : SynResult.dropped;
    const o = this.opts;
    if (this.queued[real] >= o.backlog) {
      if (!o.syncookies) {
        this.refused[owner]++;
        return SynResult.dropped;
      }
      this.cookies[owner]++;
      return SynResult.cookie;
    }
    const s = this.alloc(key, real, owner, ConnState.queued);
    this.queued[real]++;
    this.deadline[s] = (now + o.halfOpenTimeoutMs) | 0;
    this.queueTimers.push(s, this.gen[s], this.deadline[s]);
    return SynResult.queued;
  }

  /**
   * The handshake's ACK reaching `real`: `genuine` when the client saw the server's SYN-ACK (a queued
   * entry or a valid cookie). Returns the state it is in now: working, accepting (waiting for a
   * worker), queued (a blind ACK for a queued entry), or free (a blind ACK for nothing, or the
   * accept queue was full: dropped).
   */
  ack(real: number, key: number, owner: number, genuine: boolean, now: number): number {
    let s = this.index.get(key);
    if (s !== undefined && this.state[s] !== ConnState.queued) return this.state[s];
    // A blind ACK: the server answers it with an RST and keeps its queue entry, if any.
    if (!genuine) return s === undefined ? ConnState.free : ConnState.queued;
    if (s === undefined) {
      // A valid cookie: the connection is made from it (no queue entry existed).
      s = this.alloc(key, real, owner, ConnState.queued);
      this.queued[real]++;
    }
    this.queued[real]--;
    return this.place(s, now);
  }

  /** A waiting or new connection takes a worker, or waits for one, or is dropped. */
  private place(s: number, now: number): number {
    const r = this.real[s];
    this.lastSent[s] = now;
    if (this.working[r] < this.opts.capacity) {
      this.startWork(s, now);
      return ConnState.working;
    }
    if (this.accepting[r] >= this.opts.acceptBacklog) {
      this.acceptDrops[this.owner[s]]++;
      this.release(s);
      return ConnState.free;
    }
    this.state[s] = ConnState.accepting;
    this.accepting[r]++;
    this.acceptQueues[r].push(s, this.gen[s]);
    return ConnState.accepting;
  }

  private startWork(s: number, now: number): void {
    const r = this.real[s];
    this.state[s] = ConnState.working;
    this.working[r]++;
    this.held[r * OWNER_COUNT + this.owner[s]]++;
    this.served[s] = 0;
    this.deadline[s] = (now + this.opts.headerTimeoutMs) | 0;
    this.headerTimers.push(s, this.gen[s], this.deadline[s]);
  }

  /** The request head completed (the server will answer): its header timeout stops. */
  requestDone(key: number): boolean {
    const s = this.index.get(key);
    if (s === undefined || this.state[s] !== ConnState.working) return false;
    this.served[s] = 1;
    return true;
  }

  /** A response was sent: the keep-alive timer starts. */
  responded(key: number, now: number): void {
    this.answering(key, (now + this.opts.keepAliveMs) | 0, this.idleTimers, now);
  }

  /**
   * A large response is being sent and the client took some of it: the worker stays blocked in
   * its write, and the server gives up only if no byte moves for `sendTimeoutMs` (Apache's
   * `Timeout`, 60 s, applies to each write).
   */
  sending(key: number, now: number): void {
    const s = this.index.get(key);
    if (s !== undefined && this.state[s] === ConnState.working && this.busySince[s] < 0) {
      this.busySince[s] = now;
      this.acked[s] = 0;
    }
    this.answering(key, (now + this.opts.sendTimeoutMs) | 0, this.sendTimers, now);
  }

  /** The client acknowledged `bytes` more of the answer being sent. */
  delivered(key: number, bytes: number): void {
    const s = this.index.get(key);
    if (s !== undefined && this.busySince[s] >= 0) this.acked[s] += bytes;
  }

  /** A working connection's request is answered; its next deadline goes on `timers` (one constant delay each). */
  private answering(key: number, deadline: number, timers: TupleQueue, now: number): void {
    const s = this.index.get(key);
    if (s === undefined || this.state[s] !== ConnState.working) return;
    this.served[s] = 1;
    this.lastSent[s] = now;
    this.deadline[s] = deadline;
    timers.push(s, this.gen[s], deadline);
  }

  /**
   * What a load agent's quiet list holds for `real` (@sluice/agent, `quiet` lines): its established
   * connections (a worker's, or waiting in the accept queue) whose server has sent no data for
   * `minMs` or more. Writes their keys and how long into `keys` and `lastSendMs`, at most
   * `keys.length`; returns how many.
   */
  quiet(real: number, now: number, minMs: number, keys: Float64Array, lastSendMs: Int32Array): number {
    let n = 0;
    for (let s = 0; s < this.cap && n < keys.length; s++) {
      const st = this.state[s];
      if (this.real[s] !== real || (st !== ConnState.working && st !== ConnState.accepting)) continue;
      const ms = (now - this.lastSent[s]) | 0;
      if (ms < minMs) continue;
      keys[n] = this.key[s];
      lastSendMs[n] = ms;
      n++;
    }
    return n;
  }

  /**
   * What a load agent's slow list holds for `real` (@sluice/agent, `slow` lines): its connections
   * busy sending an answer for `graceMs` or more whose client acknowledged under `bps` bytes per
   * second of it, and that are not on the quiet list (no data for `quietMs`). Writes their keys
   * into `keys` from index `from`, at most up to `keys.length`; returns how many.
   */
  slow(
    real: number,
    now: number,
    graceMs: number,
    bps: number,
    quietMs: number,
    keys: Float64Array,
    from: number,
  ): number {
    let n = from;
    for (let s = 0; s < this.cap && n < keys.length; s++) {
      if (this.real[s] !== real || this.state[s] !== ConnState.working || this.busySince[s] < 0) continue;
      const busy = now - this.busySince[s];
      if (busy < graceMs || now - this.lastSent[s] >= quietMs) continue;
      if (this.acked[s] * 1000 >= bps * busy) continue;
      keys[n++] = this.key[s];
    }
    return n - from;
  }

  /** A new request on a kept-alive connection: the header timer again. */
  newRequest(key: number, now: number): void {
    const s = this.index.get(key);
    if (s === undefined || this.state[s] !== ConnState.working) return;
    this.served[s] = 0;
    this.deadline[s] = (now + this.opts.headerTimeoutMs) | 0;
    this.headerTimers.push(s, this.gen[s], this.deadline[s]);
  }

  /** The client closed (FIN) or reset: the server frees what it held. */
  close(key: number, now: number): void {
    const s = this.index.get(key);
    if (s !== undefined) this.end(s, now);
  }

  /** An RST from the director. Returns the owner of the connection dropped, or -1. */
  reset(key: number, now: number): number {
    const s = this.index.get(key);
    if (s === undefined) {
      this.resetsForNothing++;
      return -1;
    }
    const owner = this.owner[s];
    this.resetByDirector[owner]++;
    this.end(s, now);
    return owner;
  }

  /** Server-side timeouts due at `now`; `onTimeout` hears of each connection a timeout ended. */
  expire(now: number, onTimeout: (key: number, owner: number) => void): void {
    for (const q of [this.queueTimers, this.headerTimers, this.idleTimers, this.sendTimers]) {
      while (q.size > 0 && ((now - q.peek(2)) | 0) >= 0) {
        const s = q.peek(0);
        const g = q.peek(1);
        const d = q.peek(2);
        q.shift();
        if (this.gen[s] !== g || this.deadline[s] !== d || this.state[s] === ConnState.free) continue;
        // A header timer is moot once the head completed; the keep-alive timer applies then.
        if (q === this.headerTimers && this.served[s] === 1) continue;
        if (q === this.queueTimers && this.state[s] !== ConnState.queued) continue;
        const key = this.key[s];
        const owner = this.owner[s];
        this.timedOut[owner]++;
        this.end(s, now);
        onTimeout(key, owner);
      }
    }
  }

  private alloc(key: number, real: number, owner: number, state: number): number {
    if (this.free.length === 0) this.growPool(this.cap * 2);
    const s = this.free.pop() as number;
    this.key[s] = key;
    this.real[s] = real;
    this.state[s] = state;
    this.owner[s] = owner;
    this.gen[s] = (this.gen[s] + 1) | 0;
    this.served[s] = 0;
    this.busySince[s] = -1;
    this.index.set(key, s);
    return s;
  }

  /** Frees a connection in any state; a freed worker takes the next waiting connection. */
  private end(s: number, now: number): void {
    const r = this.real[s];
    const st = this.state[s];
    if (st === ConnState.queued) this.queued[r]--;
    else if (st === ConnState.accepting) this.accepting[r]--;
    else if (st === ConnState.working) {
      this.working[r]--;
      this.held[r * OWNER_COUNT + this.owner[s]]--;
    }
    this.release(s);
    if (st === ConnState.working) this.admitWaiting(r, now);
  }

  private release(s: number): void {
    this.state[s] = ConnState.free;
    this.gen[s] = (this.gen[s] + 1) | 0;
    this.index.delete(this.key[s]);
    this.free.push(s);
  }

  private admitWaiting(r: number, now: number): void {
    const q = this.acceptQueues[r];
    while (q.size > 0 && this.working[r] < this.opts.capacity) {
      const s = q.peek(0);
      const g = q.peek(1);
      q.shift();
      if (this.gen[s] !== g || this.state[s] !== ConnState.accepting) continue;
      this.accepting[r]--;
      this.startWork(s, now);
      this.onWorker(this.key[s], this.owner[s], now);
    }
  }
}
