#!/usr/bin/env python3
"""Does a client behind a Linux NAT router answer the director's challenge, and is its connection
served afterwards? Three namespaces: a client, a router that masquerades it, and a raw-socket
responder standing in for the director and the real server: it answers the client's first SYN
with the challenge (a SYN-ACK whose acknowledgement number is deliberately wrong), and its SYN
again with a real server's SYN-ACK (a random ISN). One JSON line per trial:
  reachedClient  the challenge reached the client (a sniffer in its namespace saw its cookie)
  answered       an RST carrying the cookie came back (from the client, or the router's own stack)
  retryMs        when the client sent its SYN again (about 10 ms after answering the challenge
                 itself; its 1 s retransmission timeout when it never saw it)
  served         the client's ACK of the real SYN-ACK came from the router's public address (not
                 untranslated from the private one, or not at all: the router's conntrack entry
                 kept the challenge's sequence numbers and took it for invalid)
Routers: none (plain masquerade), `ct state invalid drop` in the forward chain, and stealth
(forward and input drop all but established/related). Cookies, in sequence space relative to the
SYN's sequence number + 1: ahead (acknowledging more than the client sent), far-behind (2^17 to
2^31 behind), window (up to 2^15 behind: what the director sends, challenge.ts). Six trials each.
Root; needs nft. Usage: challenge-through-nat.py [--prefix NAME] [--trials N] [--cookies a,b]
[--routers a,b]  (namespaces NAME-c, -r, -s)."""
import json, os, random, socket, struct, subprocess, sys, time

def sh(cmd): subprocess.run(cmd, shell=True, check=True)

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return (~s) & 0xFFFF

def synack(src, dst, sport, dport, seq, ack):
    opts = bytes([2, 4, 5, 0xB4])  # MSS 1460
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 6 << 4, 0x12, 65535, 0, 0) + opts
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(ph + hdr)) + hdr[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(hdr), 0, 0x4000, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + hdr

def cookie_for(isn, placement):
    if placement == "ahead": return (isn + 1 + random.randrange(1, 2**31)) & 0xFFFFFFFF
    if placement == "far-behind": return (isn - random.randrange(2**17, 2**31)) & 0xFFFFFFFF
    return (isn - random.randrange(0, 2**15)) & 0xFFFFFFFF

def responder(placement, seconds, public):
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP); r.settimeout(0.05)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    syns = []; cookie = None; answered = False; ack_from = None
    t0 = time.time()
    while time.time() - t0 < seconds:
        try: pkt = r.recv(65535)
        except socket.timeout: continue
        ihl = (pkt[0] & 15) * 4; src = socket.inet_ntoa(pkt[12:16]); dst = socket.inet_ntoa(pkt[16:20])
        sport, dport, seq, _ack, _, flags = struct.unpack("!HHIIBB", pkt[ihl:ihl + 14])
        if dport != 8080: continue
        if flags == 0x02:
            syns.append(time.time())
            if cookie is None:
                cookie = cookie_for(seq, placement)
                s.sendto(synack(dst, src, dport, sport, random.randrange(2**32), cookie), (src, 0))
            elif answered:  # the real server: the source answered, its SYN goes through
                s.sendto(synack(dst, src, dport, sport, random.randrange(2**32), (seq + 1) & 0xFFFFFFFF), (src, 0))
        elif flags & 0x04:
            answered = answered or seq == cookie
        elif flags & 0x10 and ack_from is None:
            ack_from = src
    retry = round((syns[1] - syns[0]) * 1000) if len(syns) > 1 else None
    print(json.dumps({"cookie": cookie, "answered": answered, "retryMs": retry, "served": ack_from == public}), flush=True)

def sniffer(seconds):
    r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)); r.settimeout(0.05)
    t0 = time.time(); acks = []
    while time.time() - t0 < seconds:
        try: pkt = r.recv(65535)[14:]
        except socket.timeout: continue
        if pkt[9] != 6: continue
        ihl = (pkt[0] & 15) * 4
        if (pkt[ihl + 13] & 0x12) == 0x12: acks.append(struct.unpack("!I", pkt[ihl + 8:ihl + 12])[0])
    print(json.dumps({"synAckAcks": acks}), flush=True)

if len(sys.argv) > 1 and sys.argv[1] == "--responder":
    responder(sys.argv[2], float(sys.argv[3]), sys.argv[4]); sys.exit(0)
if len(sys.argv) > 1 and sys.argv[1] == "--sniffer":
    sniffer(float(sys.argv[2])); sys.exit(0)

prefix = sys.argv[sys.argv.index("--prefix") + 1] if "--prefix" in sys.argv else "cnat"
TRIALS = int(sys.argv[sys.argv.index("--trials") + 1]) if "--trials" in sys.argv else 6
PLACEMENTS = sys.argv[sys.argv.index("--cookies") + 1].split(",") if "--cookies" in sys.argv else ["ahead", "far-behind", "window"]
ROUTERS = sys.argv[sys.argv.index("--routers") + 1].split(",") if "--routers" in sys.argv else ["none", "invalid-drop", "stealth"]
C, R, S = prefix + "-c", prefix + "-r", prefix + "-s"
PUBLIC = "10.97.0.1"
FIREWALLS = {
    "none": "",
    "invalid-drop": "table ip fw {\n chain fw_forward {\n  type filter hook forward priority 0; policy accept;\n"
                    "  ct state invalid drop\n }\n}\n",
    "stealth": "table ip fw {\n chain fw_forward {\n  type filter hook forward priority 0; policy drop;\n"
               "  ct state established,related accept\n  iifname \"%sb\" accept\n }\n"
               " chain fw_input {\n  type filter hook input priority 0; policy drop;\n"
               "  ct state established,related accept\n }\n}\n" % prefix,
}

def trial(placement):
    p = subprocess.Popen(["ip", "netns", "exec", S, sys.executable, os.path.abspath(__file__), "--responder", placement, "2.2", PUBLIC],
                         stdout=subprocess.PIPE)
    q = subprocess.Popen(["ip", "netns", "exec", C, sys.executable, os.path.abspath(__file__), "--sniffer", "2.0"],
                         stdout=subprocess.PIPE)
    time.sleep(0.3)
    subprocess.run(["ip", "netns", "exec", C, sys.executable, "-c",
                    "import socket\nc=socket.socket(); c.settimeout(1.5)\n"
                    "try: c.connect(('10.97.0.2', 8080)); c.send(b'GET / HTTP/1.0\\r\\n\\r\\n')\nexcept Exception: pass"])
    out = json.loads(p.communicate()[0])
    out["reachedClient"] = out.pop("cookie") in json.loads(q.communicate()[0])["synAckAcks"]
    return out

def run(firewall):
    sh(f"ip netns add {C}; ip netns add {R}; ip netns add {S}")
    try:
        sh(f"ip link add {prefix}a type veth peer name {prefix}b; ip link add {prefix}c type veth peer name {prefix}d")
        sh(f"ip link set {prefix}a netns {C}; ip link set {prefix}b netns {R}; ip link set {prefix}c netns {R}; ip link set {prefix}d netns {S}")
        sh(f"ip -n {C} addr add 192.168.77.2/24 dev {prefix}a; ip -n {R} addr add 192.168.77.1/24 dev {prefix}b")
        sh(f"ip -n {R} addr add {PUBLIC}/24 dev {prefix}c; ip -n {S} addr add 10.97.0.2/24 dev {prefix}d")
        for ns, dev in ((C, "a"), (R, "b"), (R, "c"), (S, "d")): sh(f"ip -n {ns} link set {prefix}{dev} up")
        sh(f"ip -n {C} route add default via 192.168.77.1")
        # the responder's namespace routes back to the private network too, so an untranslated
        # packet arrives and is seen for what it is
        sh(f"ip -n {S} route add 192.168.77.0/24 via {PUBLIC}")
        sh(f"ip netns exec {R} sysctl -qw net.ipv4.ip_forward=1")
        rules = "table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname \"%sc\" masquerade\n }\n}\n" % prefix
        subprocess.run(["ip", "netns", "exec", R, "nft", "-f", "-"], input=(rules + FIREWALLS[firewall]).encode(), check=True)
        # the responder's own kernel would refuse the port with an RST of its own: drop those
        sh(f"ip netns exec {S} nft add table ip f; ip netns exec {S} nft add chain ip f o '{{ type filter hook output priority 0; }}'; ip netns exec {S} nft add rule ip f o tcp flags rst drop")
        for placement in PLACEMENTS:
            for _ in range(TRIALS):
                print(json.dumps({"router": firewall, "cookie": placement, **trial(placement)}), flush=True)
    finally:
        subprocess.run(f"ip netns del {C}; ip netns del {R}; ip netns del {S}", shell=True)

for fw in ROUTERS:
    run(fw)
