#!/usr/bin/env python3
"""A real server the way the issue's were: a fixed number of workers, each serving one connection
at a time (Apache's prefork, or any thread-per-connection server with a pool). Every worker blocks
in accept() on one listening socket; while all are busy, completed handshakes wait in the kernel's
accept queue (backlog 511, Apache's ListenBacklog) and new SYNs meet the kernel's SYN queue and
syncookies, exactly as on a Linux host with its defaults.

What holds a worker, as on such a server:
  - a request head that is still arriving: each read waits up to --timeout-s (60 s, Apache's
    `Timeout`), so a line every few seconds holds it forever (slowloris);
  - a keep-alive connection between requests: each read waits up to --keepalive-s (5 s, Apache's
    `KeepAliveTimeout`); blank lines before a request are skipped (RFC 9112 section 2.2), so a byte
    every 4.5 s holds it forever too.
  - a request body that is still arriving (Content-Length): each read waits up to --timeout-s, so
    a body trickled a few bytes at a time holds it too (slow body, R-U-Dead-Yet);
  - a large response to a client that reads slowly: each write waits up to --timeout-s for room in
    the socket's buffer (Apache's `Timeout` applies to each write), so a client that takes a little
    of it every few seconds holds the worker until the whole body is through (slow read).
A complete request gets `200` with the server's name as its body (`/big...`: --big-bytes of it, a
download); `Connection: close` ends the connection after the response.

  python3 worker_server.py --port 80 --workers 200 --name rs1

Prints `listening <name> <port> <workers>` when ready, then once a second a JSON line
{"busy": workers serving a connection, "served": responses so far, "accepted": connections so far}.
SIGTERM exits at once.
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

MAX_HEAD = 65536


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--backlog", type=int, default=511)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    ap.add_argument("--keepalive-s", type=float, default=5.0)
    ap.add_argument("--big-bytes", type=int, default=16 << 20)
    args = ap.parse_args()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", args.port))
    lsock.listen(args.backlog)

    body = (args.name + "\n").encode()
    lock = threading.Lock()
    stats = {"busy": 0, "served": 0, "accepted": 0}

    big = (body * (args.big_bytes // len(body) + 1))[: args.big_bytes]

    def respond(conn: socket.socket, close: bool, payload: bytes) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Real: %s\r\nConnection: %s\r\n\r\n"
            % (len(payload), args.name.encode(), b"close" if close else b"keep-alive")
        )
        if len(payload) < 65536:
            conn.sendall(head + payload)
            return
        conn.sendall(head)
        # send(), not sendall(): Python's sendall timeout bounds the whole body, Apache's each
        # write; and a view, so a download copies nothing.
        out = memoryview(payload)
        while len(out) > 0:
            out = out[conn.send(out) :]

    def serve(conn: socket.socket) -> None:
        buf = b""
        first = True
        while True:
            # Waiting for a request: the first one under Timeout, a later one under KeepAliveTimeout
            # until its first byte that is not a blank line.
            started = first
            conn.settimeout(args.timeout_s if first else args.keepalive_s)
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                if not started:
                    stripped = buf.lstrip(b"\r\n")
                    if stripped == b"":
                        buf = b""
                        continue
                    buf = stripped
                    started = True
                    conn.settimeout(args.timeout_s)
                if len(buf) > MAX_HEAD:
                    conn.sendall(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                    return
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            close = lines[0].endswith(b"HTTP/1.0")
            parts = lines[0].split(b" ")
            payload = big if len(parts) > 1 and parts[1].startswith(b"/big") else body
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                name = k.strip().lower()
                if name == b"connection":
                    close = v.strip().lower() == b"close"
                elif name == b"content-length":
                    try:
                        length = int(v.strip())
                    except ValueError:
                        length = -1
                    if length < 0:
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                        return
            # The body is read before the response, each read under Timeout, as a handler that
            # reads a form post does: a body that trickles in (slowhttptest -B, R-U-Dead-Yet)
            # holds the worker as a head that never ends does.
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[length:]
            respond(conn, close, payload)
            with lock:
                stats["served"] += 1
            if close:
                return
            first = False

    def worker() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with lock:
                stats["busy"] += 1
                stats["accepted"] += 1
            try:
                serve(conn)
            except OSError:
                pass
            finally:
                try:
                    conn.close()
                except OSError:
                    pass
                with lock:
                    stats["busy"] -= 1

    for _ in range(args.workers):
        threading.Thread(target=worker, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    sys.stdout.write("listening %s %d %d\n" % (args.name, args.port, args.workers))
    sys.stdout.flush()
    while True:
        time.sleep(1)
        with lock:
            line = json.dumps(stats)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
