#!/usr/bin/env python3
"""Does a client behind a NAT router answer the director's challenge? Three namespaces: a client,
a Linux router that masquerades it, and a raw-socket responder standing in for the director: it
answers each SYN with a SYN-ACK whose acknowledgement number is a cookie (deliberately wrong), and
reports whether the client's RST (sequence number = the cookie) comes back through the NAT, and
when the client sends its SYN again. Run for each router firewall: none (plain masquerade), and
the common `ct state invalid drop` in the forward chain. Root; needs nft.
Usage: challenge-through-nat.py [--prefix NAME]  (namespaces NAME-c, NAME-r, NAME-s)."""
import os, random, socket, struct, subprocess, sys, time

def sh(cmd): subprocess.run(cmd, shell=True, check=True)

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xFFFF); s += s >> 16
    return (~s) & 0xFFFF

def synack(src, dst, sport, dport, seq, ack):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, 0x12, 64240, 0, 0)
    ph = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(ph + hdr)) + hdr[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + hdr

def responder(cookie, seconds):
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP); r.settimeout(0.2)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    t0 = time.time()
    while time.time() - t0 < seconds:
        try: pkt = r.recv(65535)
        except socket.timeout: continue
        ihl = (pkt[0] & 15) * 4; src = socket.inet_ntoa(pkt[12:16]); dst = socket.inet_ntoa(pkt[16:20])
        sport, dport, seq, ack, _, flags = struct.unpack("!HHIIBB", pkt[ihl:ihl + 14])
        if dport != 8080: continue
        if flags == 0x02:
            print("  %.3f s  SYN from %s:%d" % (time.time() - t0, src, sport), flush=True)
            s.sendto(synack(dst, src, dport, sport, random.randrange(2**32), cookie), (src, 0))
        elif flags & 0x04:
            print("  %.3f s  RST from %s:%d, seq equals the cookie: %s" % (time.time() - t0, src, sport, seq == cookie), flush=True)

def sniffer(seconds):
    """In the client's namespace: does the SYN-ACK reach the client, and does the client answer it?"""
    r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)); r.settimeout(0.2)
    t0 = time.time(); synacks = rsts = 0
    while time.time() - t0 < seconds:
        try: pkt = r.recv(65535)[14:]
        except socket.timeout: continue
        if pkt[9] != 6: continue
        ihl = (pkt[0] & 15) * 4; flags = pkt[ihl + 13]
        if (flags & 0x12) == 0x12: synacks += 1
        elif flags & 0x04: rsts += 1
    print("  at the client: %d SYN-ACKs arrived, %d RSTs sent" % (synacks, rsts), flush=True)

if len(sys.argv) > 1 and sys.argv[1] == "--responder":
    responder(int(sys.argv[2]), float(sys.argv[3])); sys.exit(0)
if len(sys.argv) > 1 and sys.argv[1] == "--sniffer":
    sniffer(float(sys.argv[2])); sys.exit(0)

prefix = sys.argv[sys.argv.index("--prefix") + 1] if "--prefix" in sys.argv else "cnat"
C, R, S = prefix + "-c", prefix + "-r", prefix + "-s"

def run(firewall):
    sh(f"ip netns add {C}; ip netns add {R}; ip netns add {S}")
    try:
        sh(f"ip link add {prefix}a type veth peer name {prefix}b; ip link add {prefix}c type veth peer name {prefix}d")
        sh(f"ip link set {prefix}a netns {C}; ip link set {prefix}b netns {R}; ip link set {prefix}c netns {R}; ip link set {prefix}d netns {S}")
        sh(f"ip -n {C} addr add 192.168.77.2/24 dev {prefix}a; ip -n {R} addr add 192.168.77.1/24 dev {prefix}b")
        sh(f"ip -n {R} addr add 10.97.0.1/24 dev {prefix}c; ip -n {S} addr add 10.97.0.2/24 dev {prefix}d")
        for ns, dev in ((C, "a"), (R, "b"), (R, "c"), (S, "d")): sh(f"ip -n {ns} link set {prefix}{dev} up")
        sh(f"ip -n {C} route add default via 192.168.77.1")
        sh(f"ip netns exec {R} sysctl -qw net.ipv4.ip_forward=1")
        rules = "table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname \"%sc\" masquerade\n }\n}\n" % prefix
        if firewall == "invalid-drop":
            rules += "table ip fw {\n chain fw_forward {\n  type filter hook forward priority 0; policy accept;\n  ct state invalid drop\n }\n}\n"
        subprocess.run(["ip", "netns", "exec", R, "nft", "-f", "-"], input=rules.encode(), check=True)
        # the responder's own kernel would refuse the port with an RST of its own: drop those
        sh(f"ip netns exec {S} nft add table ip f; ip netns exec {S} nft add chain ip f o '{{ type filter hook output priority 0; }}'; ip netns exec {S} nft add rule ip f o tcp flags rst drop")
        cookie = random.randrange(2**32)
        print(f"router firewall: {firewall}")
        p = subprocess.Popen(["ip", "netns", "exec", S, sys.executable, os.path.abspath(__file__), "--responder", str(cookie), "4"])
        q = subprocess.Popen(["ip", "netns", "exec", C, sys.executable, os.path.abspath(__file__), "--sniffer", "3.8"])
        time.sleep(0.5)
        subprocess.run(["ip", "netns", "exec", C, sys.executable, "-c",
            "import socket\nc=socket.socket(); c.settimeout(3)\ntry: c.connect(('10.97.0.2', 8080))\nexcept Exception as e: print('  client connect:', e)"])
        p.wait(); q.wait()
    finally:
        subprocess.run(f"ip netns del {C}; ip netns del {R}; ip netns del {S}", shell=True)

for fw in ("none", "invalid-drop"):
    run(fw)
