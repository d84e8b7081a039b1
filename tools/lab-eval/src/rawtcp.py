"""IPv4 TCP segments for raw sockets (IP_HDRINCL), shared by the lab's attackers: spoof_ack.py (blind
spoofers) and bots.py (forged ACKs on the bots' own connections)."""
import array
import socket
import struct


def checksum(data: bytes) -> int:
    # The ones'-complement sum is the same in either byte order (RFC 1071): sum native 16-bit words
    # in C (array), fold, and hand back a value to pack in native order ("=H").
    if len(data) % 2:
        data += b"\0"
    s = sum(array.array("H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def segment(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int, window: int, opts: bytes = b"", payload: bytes = b"", ident: int = 0) -> bytes:
    """An IPv4 datagram (TTL 64, DF) carrying one TCP segment; addresses as 4 packed bytes."""
    tcp_len = 20 + len(opts) + len(payload)
    offset = ((20 + len(opts)) // 4) << 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset, flags, window, 0, 0) + opts + payload
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, tcp_len)
    tcp = tcp[:16] + struct.pack("=H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + tcp_len, ident, 0x4000, 64, socket.IPPROTO_TCP, 0) + src + dst
    ip = ip[:10] + struct.pack("=H", checksum(ip)) + ip[12:]
    return ip + tcp


def raw_sender() -> socket.socket:
    """A raw socket that sends whole IPv4 datagrams (root)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return sock
