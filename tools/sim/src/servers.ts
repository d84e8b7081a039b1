// The modelled real servers: what decides whether a client that got past the director is served.
// Each has a connection capacity (the director's upperThreshold for it: the operator sets the
// threshold to what the server can hold) and a SYN backlog. A SYN is accepted when the server
// has a free slot (half-open + established < capacity) and backlog room (half-open < backlog);
// otherwise it is silently dropped, as Linux drops a SYN on a full queue without syncookies, and
// the client's only recourse is its retransmission timer. A connection holds its slot until the
// client closes it (FIN), the director resets it (an RST carrying the client's address and
// sequence number: the server drops the connection), or the server times it out: half-open after
// `halfOpenTimeoutMs` (Linux retransmits the SYN-ACK 5 times, ~63 s) and idle established after
// `idleTimeoutMs` (a web server's keep-alive / header timeout).
//
// A blind ACK (the spoofer's, who never saw the SYN-ACK) does not complete the handshake: its
// acknowledgement number is wrong, the server answers with an RST to the spoofed address and keeps
// the half-open entry. That is why "SYN then ACK" fools the director (DR sees no replies) but not
// the server, and why those entries hold server slots until they time out or are reset.
//
// Connections are keyed by client address and port (addr * 65536 + port); storage is a pool of
// typed arrays with a free list so a flood does not allocate an object per SYN.
import { TupleQueue } from './queue.ts';

export const Owner = { valid: 0, partner: 1, flood: 2, spoofAck: 3, bot: 4 } as const;
export type Owner = (typeof Owner)[keyof typeof Owner];
export const OWNER_COUNT = 5;
export const OWNER_NAMES: readonly string[] = ['valid', 'partner', 'flood', 'spoofAck', 'bot'];

export const ConnState = { free: 0, halfOpen: 1, established: 2 } as const;

export const SynResult = { refused: 0, accepted: 1 } as const;

export interface ServerOptions {
  reals: number;
  capacity: number;
  backlog: number;
  halfOpenTimeoutMs: number;
  idleTimeoutMs: number;
}

export class ServerFarm {
  readonly opts: ServerOptions;
  /** Per real: half-open and established connections. */
  readonly halfOpen: Int32Array;
  readonly established: Int32Array;
  /** Per real × owner: slots held. */
  readonly held: Int32Array;
  /** SYNs refused per owner (full backlog or capacity). */
  readonly refused: Float64Array = new Float64Array(OWNER_COUNT);
  /** Connections removed by a director RST, per owner. */
  readonly resetByDirector: Float64Array = new Float64Array(OWNER_COUNT);
  /** RSTs from the director for a connection the server did not hold. */
  resetsForNothing = 0;
  private readonly index = new Map<number, number>();
  private cap = 0;
  private key = new Float64Array(0);
  private real = new Int32Array(0);
  private state = new Uint8Array(0);
  private owner = new Uint8Array(0);
  private id = new Int32Array(0);
  private gen = new Int32Array(0);
  private lastActive = new Int32Array(0);
  private free: number[] = [];
  /** (slot, generation, created) in creation order. */
  private readonly halfOpenFifo = new TupleQueue(3);
  /** (slot, generation, lastActive) in order of activity. */
  private readonly idleFifo = new TupleQueue(3);

  constructor(opts: ServerOptions) {
    this.opts = opts;
    this.halfOpen = new Int32Array(opts.reals);
    this.established = new Int32Array(opts.reals);
    this.held = new Int32Array(opts.reals * OWNER_COUNT);
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
    this.id = grow(this.id, (k) => new Int32Array(k));
    this.gen = grow(this.gen, (k) => new Int32Array(k));
    this.lastActive = grow(this.lastActive, (k) => new Int32Array(k));
    for (let i = n - 1; i >= old; i--) this.free.push(i);
    this.cap = n;
  }

  static key(addr: number, port: number): number {
    return (addr >>> 0) * 65536 + port;
  }

  /** Slots used on `real`. */
  used(real: number): number {
    return this.halfOpen[real] + this.established[real];
  }

  /** Total slots held by `owner` on every server. */
  heldBy(owner: number): number {
    let n = 0;
    for (let r = 0; r < this.opts.reals; r++) n += this.held[r * OWNER_COUNT + owner];
    return n;
  }

  /** Owner id of the connection (valid clients' index), or -1 when the server holds none. */
  lookup(key: number): number {
    const s = this.index.get(key);
    return s === undefined ? -1 : this.id[s];
  }

  isEstablished(key: number): boolean {
    const s = this.index.get(key);
    return s !== undefined && this.state[s] === ConnState.established;
  }

  /** A SYN forwarded to `real`. A retransmitted SYN of a held half-open connection is answered again. */
  syn(real: number, key: number, owner: number, id: number, now: number): number {
    const have = this.index.get(key);
    if (have !== undefined) return SynResult.accepted;
    const o = this.opts;
    if (this.halfOpen[real] >= o.backlog || this.used(real) >= o.capacity) {
      this.refused[owner]++;
      return SynResult.refused;
    }
    if (this.free.length === 0) this.growPool(this.cap * 2);
    const s = this.free.pop() as number;
    this.key[s] = key;
    this.real[s] = real;
    this.state[s] = ConnState.halfOpen;
    this.owner[s] = owner;
    this.id[s] = id;
    this.gen[s] = (this.gen[s] + 1) | 0;
    this.lastActive[s] = now;
    this.index.set(key, s);
    this.halfOpen[real]++;
    this.held[real * OWNER_COUNT + owner]++;
    this.halfOpenFifo.push(s, this.gen[s], now);
    return SynResult.accepted;
  }

  /** The client's handshake ACK; `genuine` false for a blind one. True when the connection is established. */
  ack(key: number, genuine: boolean, now: number): boolean {
    const s = this.index.get(key);
    if (s === undefined) return false;
    if (this.state[s] === ConnState.established) {
      this.touch(s, now);
      return true;
    }
    if (!genuine) return false;
    const r = this.real[s];
    this.state[s] = ConnState.established;
    this.halfOpen[r]--;
    this.established[r]++;
    this.touch(s, now);
    return true;
  }

  /** Any later client segment (data, ACKs): true when the server still holds the connection. */
  segment(key: number, now: number): boolean {
    const s = this.index.get(key);
    if (s === undefined || this.state[s] !== ConnState.established) return false;
    this.touch(s, now);
    return true;
  }

  /** The client closed (FIN): the server frees the slot. */
  close(key: number): void {
    const s = this.index.get(key);
    if (s !== undefined) this.remove(s);
  }

  /** An RST from the director. Returns the owner of the connection dropped, or -1. */
  reset(key: number): number {
    const s = this.index.get(key);
    if (s === undefined) {
      this.resetsForNothing++;
      return -1;
    }
    const owner = this.owner[s];
    this.resetByDirector[owner]++;
    this.remove(s);
    return owner;
  }

  /** Owner of a held connection, or -1. */
  ownerOf(key: number): number {
    const s = this.index.get(key);
    return s === undefined ? -1 : this.owner[s];
  }

  /** Server-side timeouts due at `now`. */
  expire(now: number): void {
    const o = this.opts;
    const h = this.halfOpenFifo;
    while (h.size > 0 && now - h.peek(2) >= o.halfOpenTimeoutMs) {
      const s = h.peek(0);
      if (this.gen[s] === h.peek(1) && this.state[s] === ConnState.halfOpen) this.remove(s);
      h.shift();
    }
    const q = this.idleFifo;
    while (q.size > 0 && now - q.peek(2) >= o.idleTimeoutMs) {
      const s = q.peek(0);
      if (
        this.gen[s] === q.peek(1) &&
        this.state[s] === ConnState.established &&
        this.lastActive[s] === q.peek(2)
      )
        this.remove(s);
      q.shift();
    }
  }

  private touch(s: number, now: number): void {
    this.lastActive[s] = now;
    this.idleFifo.push(s, this.gen[s], now);
  }

  private remove(s: number): void {
    const r = this.real[s];
    if (this.state[s] === ConnState.halfOpen) this.halfOpen[r]--;
    else this.established[r]--;
    this.held[r * OWNER_COUNT + this.owner[s]]--;
    this.state[s] = ConnState.free;
    this.gen[s] = (this.gen[s] + 1) | 0;
    this.index.delete(this.key[s]);
    this.free.push(s);
  }
}
