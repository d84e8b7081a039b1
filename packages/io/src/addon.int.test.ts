// The sluice_io addon against real UDP sockets on loopback (IPv4 underlay): receive batch
// boundaries (0, 1, N, N + 1 datagrams), source addresses and ports, truncation of an oversized
// datagram (flagged, real length kept, no crash), sends with a destination per frame, wait,
// per-socket kernel drops and /proc/net/snmp, status codes for bad arguments, ownership (another
// thread's or a closed socket is EBADF), and a terminated thread's socket closed with it.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  errnoName,
  intToIpv4,
  ipv4ToInt,
  nativeIo,
  OpenFlag,
  RecvFlag,
  RecvWord,
  readUdpCounters,
  SendFlag,
  SendWord,
} from './index.ts';

const io = nativeIo();
const SLOT = 2048;

async function sender(address = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

async function sendAll(s: dgram.Socket, port: number, frames: Uint8Array[]): Promise<void> {
  for (const f of frames) await new Promise<void>((r) => s.send(f, port, '127.0.0.1', () => r()));
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('sluice_io against real sockets', () => {
  const fds: number[] = [];
  const sockets: dgram.Socket[] = [];
  afterEach(() => {
    for (const fd of fds.splice(0)) io.close(fd);
    for (const s of sockets.splice(0)) s.close();
  });

  function open(address = '127.0.0.1', port = 0, flags = 0, rcv = 1 << 20): number {
    const fd = io.open(address, port, flags, rcv, 1 << 20);
    expect(fd, errnoName(fd)).toBeGreaterThanOrEqual(0);
    fds.push(fd);
    return fd;
  }

  it('receives batches at their boundaries: 0, 1, N and N + 1 datagrams', async () => {
    const fd = open();
    const port = io.localPort(fd);
    const tx = await sender('127.0.0.5');
    sockets.push(tx);
    const N = 8;
    const data = new Uint8Array(new SharedArrayBuffer(N * SLOT));
    const meta = new Int32Array(N * RecvWord.words);
    expect(io.recv(fd, data, SLOT, 0, N, meta)).toBe(0); // nothing waiting: 0, not an error

    await sendAll(tx, port, [Uint8Array.of(1, 2, 3)]);
    await pause(20);
    expect(io.recv(fd, data, SLOT, 0, N, meta)).toBe(1);
    expect(meta[RecvWord.length]).toBe(3);
    expect(intToIpv4(meta[RecvWord.address])).toBe('127.0.0.5');
    expect(meta[RecvWord.port]).toBe(tx.address().port);
    expect(meta[RecvWord.flags]).toBe(0);
    expect([...data.subarray(0, 3)]).toEqual([1, 2, 3]);

    const frames = (n: number, base: number) =>
      Array.from({ length: n }, (_, i) => new Uint8Array(60 + i).fill(base + i));
    await sendAll(tx, port, frames(N, 10));
    await pause(20);
    expect(io.recv(fd, data, SLOT, 0, N, meta)).toBe(N);
    for (let i = 0; i < N; i++) {
      expect(meta[i * RecvWord.words + RecvWord.length]).toBe(60 + i);
      expect(data[i * SLOT]).toBe(10 + i);
      expect(data[i * SLOT + 59 + i]).toBe(10 + i);
    }
    expect(io.recv(fd, data, SLOT, 0, N, meta)).toBe(0);

    await sendAll(tx, port, frames(N + 1, 100));
    await pause(20);
    expect(io.recv(fd, data, SLOT, 0, N, meta)).toBe(N);
    // The (N + 1)th waits for the next call; `first` puts it in slot 3 of an ArrayBuffer too.
    const plain = new Uint8Array(N * SLOT);
    expect(io.recv(fd, plain, SLOT, 3, 1, meta)).toBe(1);
    expect(meta[3 * RecvWord.words + RecvWord.length]).toBe(60 + N);
    expect(plain[3 * SLOT]).toBe(100 + N);
    expect(io.recv(fd, data, SLOT, 0, N, meta)).toBe(0);
  });

  it('cuts an oversized datagram to its slot, flags it and keeps its real length', async () => {
    const fd = open();
    const tx = await sender();
    sockets.push(tx);
    const big = new Uint8Array(3000).fill(7);
    await sendAll(tx, io.localPort(fd), [big, Uint8Array.of(9)]);
    await pause(20);
    const data = new Uint8Array(4 * 512);
    const meta = new Int32Array(4 * RecvWord.words);
    expect(io.recv(fd, data, 512, 0, 4, meta)).toBe(2);
    expect(meta[RecvWord.length]).toBe(3000);
    expect(meta[RecvWord.flags] & RecvFlag.truncated).toBe(RecvFlag.truncated);
    expect(data[511]).toBe(7);
    expect(data[512]).toBe(9); // the next slot is intact: the cut stopped at the slot's end
    expect(meta[RecvWord.words + RecvWord.length]).toBe(1);
    expect(meta[RecvWord.words + RecvWord.flags]).toBe(0);
  });

  it('sends a batch with a destination per frame, from any offsets of one buffer', async () => {
    const fd = open();
    const a = await sender('127.0.0.2');
    const b = await sender('127.0.0.3');
    sockets.push(a, b);
    const got: Array<[string, number[]]> = [];
    a.on('message', (m) => got.push(['a', [...m]]));
    b.on('message', (m) => got.push(['b', [...m]]));
    const data = new Uint8Array(new SharedArrayBuffer(4096));
    data.set([1, 1, 1], 100);
    data.set([2, 2], 2000);
    data.set([3], 4000);
    const list = new Int32Array(3 * SendWord.words);
    const put = (i: number, off: number, len: number, to: dgram.Socket) => {
      const l = i * SendWord.words;
      list[l + SendWord.offset] = off;
      list[l + SendWord.length] = len;
      list[l + SendWord.address] = ipv4ToInt(to.address().address);
      list[l + SendWord.port] = to.address().port;
    };
    put(0, 100, 3, a);
    put(1, 2000, 2, b);
    put(2, 4000, 1, a);
    expect(io.send(fd, data, list, 3)).toBe(3);
    const end = Date.now() + 2000;
    while (got.length < 3 && Date.now() < end) await pause(5);
    expect(got.sort()).toEqual([
      ['a', [1, 1, 1]],
      ['a', [3]],
      ['b', [2, 2]],
    ]);
    expect(io.send(fd, data, list, 0)).toBe(0);
  });

  it('with GSO, sends runs of same-destination, same-length frames as one message each; receivers get every frame in order', async () => {
    const fd = open();
    const a = await sender('127.0.0.2');
    const b = await sender('127.0.0.3');
    sockets.push(a, b);
    const got: Array<[string, number, number]> = [];
    a.on('message', (m) => got.push(['a', m.length, m[0]]));
    b.on('message', (m) => got.push(['b', m.length, m[0]]));
    // Frames in slots of 256: five of 100 to a, one of 50 to a, three of 100 to b, two of 100 to a.
    const plan: Array<[dgram.Socket, number]> = [
      ...Array.from({ length: 5 }, (): [dgram.Socket, number] => [a, 100]),
      [a, 50],
      ...Array.from({ length: 3 }, (): [dgram.Socket, number] => [b, 100]),
      [a, 100],
      [a, 100],
    ];
    const data = new Uint8Array(new SharedArrayBuffer(plan.length * 256));
    const list = new Int32Array(plan.length * SendWord.words);
    plan.forEach(([to, len], i) => {
      data.fill(i + 1, i * 256, i * 256 + len);
      const l = i * SendWord.words;
      list[l + SendWord.offset] = i * 256;
      list[l + SendWord.length] = len;
      list[l + SendWord.address] = ipv4ToInt(to.address().address);
      list[l + SendWord.port] = to.address().port;
    });
    expect(io.send(fd, data, list, plan.length, SendFlag.gso)).toBe(plan.length);
    const end = Date.now() + 2000;
    while (got.length < plan.length && Date.now() < end) await pause(5);
    const want = plan.map(([to, len], i): [string, number, number] => [to === a ? 'a' : 'b', len, i + 1]);
    const order = (who: string, xs: Array<[string, number, number]>) => xs.filter((x) => x[0] === who);
    expect(order('a', got)).toEqual(order('a', want));
    expect(order('b', got)).toEqual(order('b', want));
  });

  it('waits for readability without spinning: 0 after the timeout, 1 when a datagram is there', async () => {
    const fd = open();
    const t0 = performance.now();
    expect(io.wait(fd, 30)).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    const tx = await sender();
    sockets.push(tx);
    await sendAll(tx, io.localPort(fd), [Uint8Array.of(1)]);
    expect(io.wait(fd, 1000)).toBe(1);
  });

  it('counts what the kernel drops at a full socket, per socket and in /proc/net/snmp', async () => {
    // The smallest receive buffer the kernel grants; nobody reads it.
    const fd = open('127.0.0.1', 0, 0, 1);
    const tx = await sender();
    sockets.push(tx);
    const before = readUdpCounters();
    const frame = new Uint8Array(1000);
    await sendAll(
      tx,
      io.localPort(fd),
      Array.from({ length: 200 }, () => frame),
    );
    await pause(20);
    const drops = io.drops(fd);
    expect(drops).toBeGreaterThan(0);
    const after = readUdpCounters();
    expect(after).not.toBeNull();
    expect((after?.rcvbufErrors ?? 0) - (before?.rcvbufErrors ?? 0)).toBeGreaterThanOrEqual(drops);
  });

  it('returns status codes for bad arguments and never throws', () => {
    const fd = open();
    const data = new Uint8Array(4 * SLOT);
    const meta = new Int32Array(4 * RecvWord.words);
    const call = (f: () => number) => errnoName(f());
    // wrong types
    expect(call(() => io.recv(fd, new Int32Array(16) as unknown as Uint8Array, SLOT, 0, 1, meta))).toBe(
      'EINVAL',
    );
    expect(call(() => io.recv(fd, data, SLOT, 0, 1, new Uint32Array(4) as unknown as Int32Array))).toBe(
      'EINVAL',
    );
    expect(call(() => io.recv('x' as unknown as number, data, SLOT, 0, 1, meta))).toBe('EINVAL');
    expect(call(() => (io.recv as unknown as (...a: unknown[]) => number)(fd, data))).toBe('EINVAL');
    // out of range
    expect(call(() => io.recv(fd, data, 0, 0, 1, meta))).toBe('EINVAL');
    expect(call(() => io.recv(fd, data, SLOT, 0, io.MAX_BATCH + 1, meta))).toBe('EINVAL');
    expect(call(() => io.recv(fd, data, SLOT, 2, 3, meta))).toBe('ERANGE'); // past the data
    expect(call(() => io.recv(fd, new Uint8Array(8 * SLOT), SLOT, 0, 8, meta))).toBe('ERANGE'); // past meta
    const list = Int32Array.of(4 * SLOT - 10, 20, ipv4ToInt('127.0.0.1'), 9);
    expect(call(() => io.send(fd, data, list, 1))).toBe('ERANGE'); // frame past the buffer
    expect(call(() => io.send(fd, data, Int32Array.of(0, 10, 0x7f000001, 0), 1))).toBe('ERANGE'); // port 0
    expect(call(() => io.send(fd, data, list, 2))).toBe('ERANGE'); // count past the list
    expect(call(() => io.wait(fd, -1))).toBe('EINVAL');
    // sockets: not ours, closed, bad addresses, a taken port
    expect(call(() => io.recv(0, data, SLOT, 0, 1, meta))).toBe('EBADF');
    expect(call(() => io.close(1))).toBe('EBADF');
    expect(call(() => io.open('::1', 0, 0, 0, 0))).toBe('EAFNOSUPPORT'); // IPv4 underlay only
    expect(call(() => io.open('127.0.0.1', 70000, 0, 0, 0))).toBe('EINVAL');
    expect(call(() => io.open('192.0.2.1', 0, 0, 0, 0))).toBe('EADDRNOTAVAIL');
    const taken = io.localPort(fd);
    expect(call(() => io.open('127.0.0.1', taken, 0, 0, 0))).toBe('EADDRINUSE');
    const closed = io.open('127.0.0.1', 0, 0, 0, 0);
    expect(io.close(closed)).toBe(0);
    expect(call(() => io.recv(closed, data, SLOT, 0, 1, meta))).toBe('EBADF');
    expect(call(() => io.close(closed))).toBe('EBADF');
  });

  it('asks for transparent huge pages under a big buffer (the 2 MiB-aligned part of it)', () => {
    const thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    const big = new SharedArrayBuffer(16 << 20);
    const advised = io.adviseHugePages(new Uint8Array(big));
    expect(advised).toBeGreaterThanOrEqual(14 << 20);
    expect(advised % (2 << 20)).toBe(0);
    expect(io.adviseHugePages(new Uint8Array(4096))).toBe(0); // nothing aligned inside
    expect(errnoName(io.adviseHugePages({} as unknown as Uint8Array))).toBe('EINVAL');
    if (!thp.includes('[never]')) {
      const huge = () =>
        Number(/AnonHugePages:\s+(\d+)/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1]);
      const before = huge();
      const words = new Int32Array(big);
      for (let i = 0; i < words.length; i += 1024) words[i] = 1;
      expect(huge() - before).toBeGreaterThanOrEqual(2 << 10); // kB: at least one huge page
    }
  });

  it('shares a port between SO_REUSEPORT sockets', () => {
    const a = open('127.0.0.1', 0, OpenFlag.reusePort);
    const port = io.localPort(a);
    const b = open('127.0.0.1', port, OpenFlag.reusePort);
    expect(io.localPort(b)).toBe(port);
  });

  it('refuses a socket of another thread, and closes a terminated thread’s sockets', async () => {
    const here = new URL('./index.ts', import.meta.url).href;
    // The worker opens a socket on a fixed port, without SO_REUSEPORT, and reports its number.
    const w = new Worker(
      `import(${JSON.stringify(here)}).then((m) => {
         const io = m.nativeIo();
         const fd = io.open('127.0.0.1', 0, 0, 0, 0);
         require('node:worker_threads').parentPort.postMessage([fd, io.localPort(fd)]);
         setInterval(() => {}, 1000);
       });`,
      { eval: true },
    );
    const [fd, port] = await new Promise<[number, number]>((r) => w.once('message', r));
    expect(fd).toBeGreaterThan(0);
    const data = new Uint8Array(SLOT);
    const meta = new Int32Array(RecvWord.words);
    expect(errnoName(io.recv(fd, data, SLOT, 0, 1, meta))).toBe('EBADF'); // not this thread's
    expect(errnoName(io.open('127.0.0.1', port, 0, 0, 0))).toBe('EADDRINUSE');
    await w.terminate();
    // The teardown hook closed it: the port is free again.
    const again = open('127.0.0.1', port, 0);
    expect(io.localPort(again)).toBe(port);
  });
});
