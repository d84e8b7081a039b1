#!/usr/bin/env bash
# A check of src/ghost.py on real kernels, no director: two namespaces joined by a veth.
#
#   sgc-bot  10.77.0.1/24 + 10.77.0.2-5   ghost.py
#   sgc-srv  10.77.0.100/24 (the "VIP")   a listening HTTP server on :80 (syncookies on);
#                                         on :8080 a raw-socket responder that challenges
#
# Part 1 (:80): the ghosts get open, forge progress, and the server holds nothing established; the
#   nft rule drops the bot kernel's RSTs to the server's SYN-ACKs and none leaves the namespace.
# Part 2 (:8080): the first SYN of each connection gets a SYN-ACK with ack = ISN+12345 (a
#   challenge), its retransmission a right one (ack = ISN+1, as the real server once the source is
#   verified). The bot kernel's RST must carry seq = ISN+12345, ghost.py must retransmit the SYN
#   ~15 ms after the challenge and then open.
#
# Run as root: tools/lab-eval/scripts/ghost-check.sh. Prints PASS/FAIL lines; exit 1 on any FAIL.
set -u

HERE=$(cd "$(dirname "$0")/.." && pwd)
GHOST="$HERE/src/ghost.py"
PY=$(python3 -c 'import sys; print(sys.executable)')
BOT=sgc-bot
SRV=sgc-srv
VIP=10.77.0.100
TMP=$(mktemp -d /tmp/ghost-check.XXXXXX)
PIDS=()
FAILS=0
export PYTHONDONTWRITEBYTECODE=1

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  ip netns del "$BOT" 2>/dev/null
  ip netns del "$SRV" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
check() { # check COND-EXIT-STATUS message
  if [ "$1" -eq 0 ]; then pass "$2"; else fail "$2"; fi
}
inbot() { ip netns exec "$BOT" "$@"; }
insrv() { ip netns exec "$SRV" "$@"; }
# The JSON field $2 of the last status line in file $1.
field() { tail -n 1 "$1" | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$2"; }
# The largest value of field $2 over the status lines in file $1.
maxfield() { "$PY" -c 'import json,sys
m=0
for l in open(sys.argv[1]):
    try: m=max(m, json.loads(l)[sys.argv[2]])
    except Exception: pass
print(m)' "$1" "$2"; }
established() { insrv ss -Htn state established '( sport = :80 )' | wc -l; }
synrecv() { insrv ss -Htn state syn-recv '( sport = :80 )' | wc -l; }
# The counter of the ghost's nft rule in the bot namespace (packets), or -1.
nft_counter() {
  inbot nft list table ip "sluice_ghost_$1" 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -n 1 | grep . || echo -1
}

[ "$(id -u)" -eq 0 ] || { echo "FAIL must run as root"; exit 1; }
for t in ip nft ss; do command -v "$t" >/dev/null || { echo "FAIL $t is missing"; exit 1; }; done
HAVE_TCPDUMP=1
command -v tcpdump >/dev/null || HAVE_TCPDUMP=0

# ---- the lab ----------------------------------------------------------------------------------
ip netns del "$BOT" 2>/dev/null
ip netns del "$SRV" 2>/dev/null
set -e
ip netns add "$BOT"
ip netns add "$SRV"
ip link add sgc-b netns "$BOT" type veth peer name sgc-s netns "$SRV"
inbot ip link set lo up
inbot ip link set sgc-b up
inbot ip addr add 10.77.0.1/24 dev sgc-b
for i in 2 3 4 5; do inbot ip addr add 10.77.0.$i/24 dev sgc-b; done
insrv ip link set lo up
insrv ip link set sgc-s up
insrv ip addr add $VIP/24 dev sgc-s
insrv sysctl -qw net.ipv4.tcp_syncookies=1
set +e

# A tiny HTTP server on :80 (backlog 511, as the lab's worker_server.py).
cat >"$TMP/server.py" <<'EOF'
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.100", 80)); s.listen(511)
def serve(c):
    try:
        c.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(4096)
            if not d: return
            buf += d
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    except OSError: pass
    finally: c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
ip netns exec "$SRV" "$PY" "$TMP/server.py" &
PIDS+=($!)
sleep 0.5

# Control: the server answers a real client (so "nothing established" below is not vacuous).
reply=$(inbot "$PY" -c '
import socket
s = socket.create_connection(("10.77.0.100", 80), 3, source_address=("10.77.0.1", 0))
s.sendall(b"GET / HTTP/1.1\r\nHost: www\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())' 2>&1)
[ "$reply" = "HTTP/1.1 200 OK" ]; check $? "control: a real client from 10.77.0.1 gets '$reply'"
sleep 0.5

# Control: without nft, ghost.py refuses to run (exit 1, a clear message).
inbot env PATH=/nonexistent "$PY" "$GHOST" --host $VIP --addrs 10.77.0.4 --per 1 >/dev/null 2>"$TMP/nonft.err"
rc=$?
[ $rc -eq 1 ] && grep -q "nft" "$TMP/nonft.err"; check $? "no nft: ghost.py exits $rc: $(head -c 200 "$TMP/nonft.err")"

# ---- part 1: ghosts on :80 --------------------------------------------------------------------
echo "--- part 1: 2 addresses x 20 ghosts against $VIP:80 for 8 s (interval 2 s)"
if [ $HAVE_TCPDUMP -eq 1 ]; then
  ip netns exec "$SRV" tcpdump -i sgc-s -nn -U -s 96 -w "$TMP/p1.pcap" tcp 2>/dev/null &
  TCPDUMP=$!
  PIDS+=($TCPDUMP)
  sleep 1
fi
ip netns exec "$BOT" "$PY" "$GHOST" --host $VIP --port 80 --addrs 10.77.0.2,10.77.0.3 --per 20 --interval-s 2 >"$TMP/g1.out" 2>"$TMP/g1.err" &
G1=$!
PIDS+=($G1)
est_samples=()
recv_samples=()
nft_pkts=-1
for t in 1 2 3 4 5 6 7 8; do
  sleep 1
  est_samples+=("$(established)")
  recv_samples+=("$(synrecv)")
  [ $t -eq 7 ] && nft_pkts=$(nft_counter $G1)
done
kill -TERM $G1
wait $G1
g1_rc=$?
cat "$TMP/g1.out" | sed 's/^/  ghost.py: /'
[ -s "$TMP/g1.err" ] && sed 's/^/  ghost.py stderr: /' "$TMP/g1.err"
[ $g1_rc -eq 0 ]; check $? "ghost.py exited $g1_rc on SIGTERM"
open=$(field "$TMP/g1.out" open); forged=$(field "$TMP/g1.out" forged)
ssa=$(field "$TMP/g1.out" serverSynAcks); chal=$(field "$TMP/g1.out" challenges)
[ "$open" -ge 38 ] && [ "$open" -le 40 ]; check $? "open = $open (of 40)"
[ "$forged" -gt 0 ]; check $? "forged = $forged progress ACKs"
[ "$ssa" -ge 40 ]; check $? "serverSynAcks = $ssa (>= 40: the server answered every SYN)"
[ "$chal" -eq 0 ]; check $? "challenges = $chal (no director here)"
nonzero=0; for e in "${est_samples[@]}"; do [ "$e" -eq 0 ] || nonzero=1; done
[ $nonzero -eq 0 ]; check $? "server established on :80, sampled each second: ${est_samples[*]}"
echo "  (info) server syn-recv on :80, each second: ${recv_samples[*]}"
[ "$nft_pkts" -gt 0 ]; check $? "nft rule counter in $BOT at ~7 s: $nft_pkts RSTs dropped"
left=$(inbot nft list tables | grep -c sluice_ghost)
[ "$left" -eq 0 ]; check $? "ghost.py removed its nft table on exit ($left left)"
if [ $HAVE_TCPDUMP -eq 1 ]; then
  sleep 0.5
  kill -INT $TCPDUMP; wait $TCPDUMP 2>/dev/null
  from_bots='src net 10.77.0.0/24 and not src host 10.77.0.100'
  leaked=$(tcpdump -nn -r "$TMP/p1.pcap" "$from_bots and tcp[tcpflags] & tcp-rst != 0 and tcp[6:2] = 0xbef0" 2>/dev/null | wc -l)
  rsts=$(tcpdump -nn -r "$TMP/p1.pcap" "$from_bots and tcp[tcpflags] & tcp-rst != 0" 2>/dev/null | wc -l)
  synacks=$(tcpdump -nn -r "$TMP/p1.pcap" "src host $VIP and src port 80 and tcp[tcpflags] & (tcp-syn|tcp-ack) = (tcp-syn|tcp-ack)" 2>/dev/null | wc -l)
  acks=$(tcpdump -nn -r "$TMP/p1.pcap" "$from_bots and dst port 80 and tcp[tcpflags] = tcp-ack and tcp[4:4] & 0xffff != 0xbef0" 2>/dev/null | wc -l)
  echo "  (info) on the wire (server side): $synacks SYN-ACKs from the server; $acks pure ACKs from the ghosts past their request (forged progress); $rsts RSTs from the bot side"
  [ "$synacks" -ge 40 ] && [ "$leaked" -eq 0 ]; check $? "no RST with seq low bits 0xbef0 left $BOT ($leaked seen; capture saw $synacks server SYN-ACKs)"
  echo "  sample of the ghosts' segments on the wire:"
  tcpdump -nn -r "$TMP/p1.pcap" "host 10.77.0.2 and port $(tcpdump -nn -r "$TMP/p1.pcap" 'src host 10.77.0.2 and tcp[tcpflags] = tcp-syn' 2>/dev/null | head -n 1 | sed -n 's/.*10\.77\.0\.2\.\([0-9]*\) >.*/\1/p')" 2>/dev/null | head -n 8 | cut -c 1-200 | sed 's/^/    /'
else
  echo "SKIP no tcpdump: the wire check of part 1 (the nft counter above stands in)"
fi

# ---- part 1b: 1200 ghosts ---------------------------------------------------------------------
echo "--- part 1b: 2 addresses x 600 ghosts against $VIP:80 for 7 s"
ip netns exec "$BOT" "$PY" "$GHOST" --host $VIP --port 80 --addrs 10.77.0.4,10.77.0.5 --per 600 --interval-s 2 --ramp-per-s 400 >"$TMP/g2.out" 2>"$TMP/g2.err" &
G2=$!
PIDS+=($G2)
sleep 6
est=$(established)
sleep 1
kill -TERM $G2
wait $G2
tail -n 2 "$TMP/g2.out" | sed 's/^/  ghost.py: /'
[ -s "$TMP/g2.err" ] && head -n 5 "$TMP/g2.err" | sed 's/^/  ghost.py stderr: /'
open=$(field "$TMP/g2.out" open); forged=$(field "$TMP/g2.out" forged)
[ "$open" -ge 1180 ]; check $? "1200 ghosts: open = $open, forged = $forged"
[ "$est" -eq 0 ]; check $? "1200 ghosts: server established on :80 = $est"

# ---- part 2: the director's challenge, simulated on :8080 -------------------------------------
echo "--- part 2: challenges on $VIP:8080 (first SYN: ack = ISN+12345; retransmission: ack = ISN+1)"
# The server kernel's own RSTs from :8080 (nothing listens there) must not reach the bots.
insrv nft -f - <<'EOF'
table ip sgc_chal {
  chain output {
    type filter hook output priority 0; policy accept;
    tcp sport 8080 tcp flags & rst == rst drop
  }
}
EOF
check $? "server ns: nft rule dropping the kernel's RSTs from :8080"
cat >"$TMP/responder.py" <<EOF
import json, random, signal, socket, struct, sys, time
sys.path.insert(0, "$HERE/src")
from rawtcp import raw_sender, segment
VIP = socket.inet_aton("$VIP")
rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
rx.settimeout(0.2)
tx = raw_sender()
st = {"syns": 0, "challenged": 0, "synRetx": 0, "rightSynAcks": 0, "rstOk": 0, "rstMarker": 0, "rstOther": 0, "acksAfter": 0, "retxDelayMsMedian": None}
isn_of = {}      # (src, sport) -> ISN of the connection
challenged_at = {}  # (src, sport, isn) -> when
delays = []
run = [True]
signal.signal(signal.SIGTERM, lambda *a: run.__setitem__(0, False))
while run[0]:
    try:
        p = rx.recv(65535)
    except socket.timeout:
        continue
    except OSError:
        continue
    ihl = (p[0] & 15) * 4
    if p[16:20] != VIP or len(p) < ihl + 20:
        continue
    sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", p[ihl:ihl + 14])
    if dport != 8080:
        continue
    src = p[12:16]
    key = (src, sport)
    if flags & 0x04:
        isn = isn_of.get(key)
        if isn is not None and seq == (isn + 12345) & 0xFFFFFFFF:
            st["rstOk"] += 1
        elif seq & 0xFFFF == 0xBEF0:
            st["rstMarker"] += 1
        else:
            st["rstOther"] += 1
        continue
    if flags & 0x12 == 0x02:
        st["syns"] += 1
        isn_of[key] = seq
        now = time.monotonic()
        ck = (src, sport, seq)
        if ck not in challenged_at:
            challenged_at[ck] = now
            st["challenged"] += 1
            a = (seq + 12345) & 0xFFFFFFFF
        else:
            st["synRetx"] += 1
            if challenged_at[ck] is not None:
                delays.append((now - challenged_at[ck]) * 1000)
                challenged_at[ck] = None
            st["rightSynAcks"] += 1
            a = (seq + 1) & 0xFFFFFFFF
        opts = struct.pack("!BBH", 2, 4, 1460)
        tx.sendto(segment(VIP, src, 8080, sport, random.getrandbits(32), a, 0x12, 64240, opts), (socket.inet_ntoa(src), 0))
        continue
    if flags & 0x10:
        st["acksAfter"] += 1
if delays:
    delays.sort()
    st["retxDelayMsMedian"] = round(delays[len(delays) // 2], 1)
print(json.dumps(st))
EOF
ip netns exec "$SRV" "$PY" "$TMP/responder.py" >"$TMP/resp.out" 2>"$TMP/resp.err" &
RESP=$!
PIDS+=($RESP)
sleep 0.5
ip netns exec "$BOT" "$PY" "$GHOST" --host $VIP --port 8080 --addrs 10.77.0.2,10.77.0.3 --per 5 --interval-s 1 >"$TMP/g3.out" 2>"$TMP/g3.err" &
G3=$!
PIDS+=($G3)
sleep 4
kill -TERM $G3
wait $G3
sleep 0.3
kill -TERM $RESP
wait $RESP
tail -n 1 "$TMP/g3.out" | sed 's/^/  ghost.py: /'
[ -s "$TMP/g3.err" ] && sed 's/^/  ghost.py stderr: /' "$TMP/g3.err"
echo "  responder: $(cat "$TMP/resp.out") $(head -c 300 "$TMP/resp.err")"
chal=$(field "$TMP/g3.out" challenges); syns=$(field "$TMP/g3.out" synsSent)
open=$(field "$TMP/g3.out" open); ssa=$(field "$TMP/g3.out" serverSynAcks)
r() { "$PY" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(-1 if v is None else v)' "$TMP/resp.out" "$1" 2>/dev/null || echo -1; }
[ "$chal" -ge 10 ]; check $? "ghost.py counted challenges = $chal (10 connections)"
[ "$(r rstOk)" -ge 10 ] && [ "$(r rstMarker)" -eq 0 ] && [ "$(r rstOther)" -eq 0 ]
check $? "the bot kernel's RSTs carry seq = ISN+12345: $(r rstOk) right, $(r rstMarker) with seq ISN+1 (0xbef0), $(r rstOther) other"
[ "$(r synRetx)" -ge 10 ] && [ "$syns" -ge 20 ]
check $? "ghost.py retransmitted the SYN after the challenge: $(r synRetx) retransmissions seen (synsSent = $syns), median $(r retxDelayMsMedian) ms after the challenge"
[ "$open" -eq 10 ] && [ "$ssa" -ge 10 ] && [ "$(r acksAfter)" -gt 0 ]
check $? "then opened on the right SYN-ACK: open = $open, serverSynAcks = $ssa, $(r acksAfter) ACK/data segments reached :8080"

# ---- part 3: lifetimes and give-ups (two ghost.py at once in one namespace) -------------------
echo "--- part 3: lifetime 1.5 s on :80 (10 ghosts) and, at once, no SYN-ACK ever on :9 (5 ghosts)"
insrv nft add chain ip sgc_chal input '{ type filter hook input priority 0; policy accept; }' &&
  insrv nft add rule ip sgc_chal input 'tcp dport 9 drop'
check $? "server ns: nft rule dropping everything to :9"
if [ $HAVE_TCPDUMP -eq 1 ]; then
  ip netns exec "$SRV" tcpdump -i sgc-s -nn -U -s 96 -w "$TMP/p3.pcap" 'tcp dst port 9' 2>/dev/null &
  TCPDUMP=$!
  PIDS+=($TCPDUMP)
  sleep 1
fi
ip netns exec "$BOT" "$PY" "$GHOST" --host $VIP --port 80 --addrs 10.77.0.4 --per 10 --interval-s 0.5 --lifetime-s 1.5 >"$TMP/g4.out" 2>"$TMP/g4.err" &
G4=$!
PIDS+=($G4)
ip netns exec "$BOT" "$PY" "$GHOST" --host $VIP --port 9 --addrs 10.77.0.5 --per 5 >"$TMP/g5.out" 2>"$TMP/g5.err" &
G5=$!
PIDS+=($G5)
sleep 2
tables=$(inbot nft list tables | grep -c sluice_ghost_)
[ "$tables" -eq 2 ]; check $? "two ghost.py in one namespace: $tables nft tables (one each)"
sleep 3
kill -TERM $G4
wait $G4
sleep 3.5
kill -INT $G5
wait $G5
g5_rc=$?
tail -n 1 "$TMP/g4.out" | sed 's/^/  ghost.py :80: /'
tail -n 1 "$TMP/g5.out" | sed 's/^/  ghost.py :9:  /'
cat "$TMP/g4.err" "$TMP/g5.err" | sed 's/^/  ghost.py stderr: /'
open=$(field "$TMP/g4.out" open); conn=$(field "$TMP/g4.out" connecting)
opened=$(field "$TMP/g4.out" opened); closed=$(field "$TMP/g4.out" closed)
[ $((open + conn)) -eq 10 ] && [ "$closed" -ge 10 ] && [ "$opened" -eq $((open + closed)) ]
check $? "lifetime: ghosts replaced (opened = $opened, closed = $closed, open = $open, connecting = $conn)"
conn=$(field "$TMP/g5.out" connecting); syns=$(field "$TMP/g5.out" synsSent); opened=$(field "$TMP/g5.out" opened)
[ "$g5_rc" -eq 0 ] && [ "$conn" -eq 5 ] && [ "$opened" -eq 0 ] && [ "$syns" -ge 20 ] && [ "$syns" -le 25 ]
check $? "no SYN-ACK: 5 connecting, $syns SYNs in ~8.5 s (3 per connection, then a new one at 7 s), exit $g5_rc on SIGINT"
left=$(inbot nft list tables | grep -c sluice_ghost)
[ "$left" -eq 0 ]; check $? "both removed their nft tables ($left left)"
if [ $HAVE_TCPDUMP -eq 1 ]; then
  kill -INT $TCPDUMP; wait $TCPDUMP 2>/dev/null
  # SYN times per source port, relative to each port's first SYN.
  tcpdump -tt -nn -r "$TMP/p3.pcap" 'tcp[tcpflags] = tcp-syn' 2>/dev/null >"$TMP/p3.txt"
  summary=$("$PY" -c '
import re, sys
t = {}
for l in open(sys.argv[1]):
    m = re.match(r"(\d+\.\d+) IP 10\.77\.0\.5\.(\d+) >", l)
    if m: t.setdefault(m.group(2), []).append(float(m.group(1)))
first = sorted(v for v in t.values() if len(v) == 3)
print(len(t), len(first), " ".join("+".join("%.2f" % (x - v[0]) for x in v[1:]) for v in first[:5]))' "$TMP/p3.txt")
  set -- $summary
  echo "  (info) on the wire to :9: $1 source ports; SYN retransmission offsets of the first ones: ${*:3}"
  [ "$1" -ge 10 ] && [ "$2" -ge 5 ]; check $? "no SYN-ACK: $2 ports with exactly 3 SYNs (0, ~1 s, ~3 s), then new ports ($1 in all)"
fi

echo "--- $FAILS failure(s)"
[ $FAILS -eq 0 ] && echo "PASS ghost-check" || echo "FAIL ghost-check"
[ $FAILS -eq 0 ]
