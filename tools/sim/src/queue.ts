// Queues for the simulator's event bookkeeping. Most follow-ups happen a fixed delay after their
// cause (a spoofer's blind ACK, a bot's ACK, a server's half-open timeout), so they come due in the
// order they were queued: a FIFO of int tuples (TupleQueue) is enough and costs no allocation per
// event at flood rates. Valid clients, whose events are few and at varied times, use EventHeap.

/** FIFO of fixed-width int32 tuples in a growable ring. */
export class TupleQueue {
  private buf: Int32Array;
  private head = 0;
  private len = 0;
  readonly width: number;

  constructor(width: number, initial = 1024) {
    this.width = width;
    this.buf = new Int32Array(width * initial);
  }

  get size(): number {
    return this.len;
  }

  push(a: number, b = 0, c = 0, d = 0): void {
    const w = this.width;
    const cap = this.buf.length / w;
    if (this.len === cap) this.grow();
    const i = ((this.head + this.len) % (this.buf.length / w)) * w;
    const buf = this.buf;
    buf[i] = a;
    if (w > 1) buf[i + 1] = b;
    if (w > 2) buf[i + 2] = c;
    if (w > 3) buf[i + 3] = d;
    this.len++;
  }

  /** Field `k` of the oldest tuple (the queue must not be empty). */
  peek(k: number): number {
    return this.buf[this.head * this.width + k];
  }

  /** Field `k` of the `i`-th oldest tuple (i < size). */
  peekAt(i: number, k: number): number {
    return this.buf[((this.head + i) % (this.buf.length / this.width)) * this.width + k];
  }

  /** Drops the oldest tuple. */
  shift(): void {
    this.head = (this.head + 1) % (this.buf.length / this.width);
    this.len--;
  }

  private grow(): void {
    const w = this.width;
    const cap = this.buf.length / w;
    const next = new Int32Array(this.buf.length * 2);
    for (let k = 0; k < this.len; k++) {
      const from = ((this.head + k) % cap) * w;
      next.set(this.buf.subarray(from, from + w), k * w);
    }
    this.buf = next;
    this.head = 0;
  }
}

/** Min-heap of (time, sequence) → payload; ties break by insertion order, so runs are deterministic. */
export class EventHeap<T> {
  private readonly times: number[] = [];
  private readonly seqs: number[] = [];
  private readonly items: T[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  push(time: number, item: T): void {
    const t = this.times;
    const s = this.seqs;
    const it = this.items;
    let i = it.length;
    t.push(time);
    s.push(this.seq++);
    it.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p] < t[i] || (t[p] === t[i] && s[p] < s[i])) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Time of the earliest event, or Infinity. */
  peekTime(): number {
    return this.items.length > 0 ? this.times[0] : Number.POSITIVE_INFINITY;
  }

  pop(): T {
    const t = this.times;
    const s = this.seqs;
    const it = this.items;
    const top = it[0];
    const last = it.length - 1;
    this.swap(0, last);
    t.pop();
    s.pop();
    it.pop();
    let i = 0;
    const n = it.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && (t[l] < t[m] || (t[l] === t[m] && s[l] < s[m]))) m = l;
      if (r < n && (t[r] < t[m] || (t[r] === t[m] && s[r] < s[m]))) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  private swap(i: number, j: number): void {
    const t = this.times;
    const s = this.seqs;
    const it = this.items;
    const tt = t[i];
    t[i] = t[j];
    t[j] = tt;
    const ss = s[i];
    s[i] = s[j];
    s[j] = ss;
    const x = it[i];
    it[i] = it[j];
    it[j] = x;
  }
}
