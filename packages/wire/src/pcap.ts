// A reader for classic pcap files (tcpdump -w): both byte orders, microsecond and nanosecond
// timestamps, Ethernet link type. For replaying real captures in tests, the simulator and
// benchmarks; not the packet path, so it allocates freely and throws on a bad file.

export interface PcapPacket {
  /** Capture time in seconds since the epoch (with fraction). */
  ts: number;
  /** The captured bytes (possibly fewer than the original length). */
  data: Uint8Array;
  originalLength: number;
}

export class PcapError extends Error {
  readonly code = 'SLUICE_ERR_WIRE_PCAP';
}

export const LINKTYPE_ETHERNET = 1;

export function readPcap(bytes: Uint8Array): PcapPacket[] {
  if (bytes.length < 24) throw new PcapError('file too short for a pcap header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, false);
  let little: boolean;
  let nanos: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    little = false;
    nanos = magic === 0xa1b23c4d;
  } else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) {
    little = true;
    nanos = magic === 0x4d3cb2a1;
  } else {
    throw new PcapError(`not a classic pcap file (magic 0x${magic.toString(16)})`);
  }
  const linkType = dv.getUint32(20, little) & 0x0fffffff;
  if (linkType !== LINKTYPE_ETHERNET) throw new PcapError(`link type ${linkType} is not Ethernet`);
  const packets: PcapPacket[] = [];
  let o = 24;
  while (o + 16 <= bytes.length) {
    const sec = dv.getUint32(o, little);
    const frac = dv.getUint32(o + 4, little);
    const incl = dv.getUint32(o + 8, little);
    const orig = dv.getUint32(o + 12, little);
    o += 16;
    if (o + incl > bytes.length)
      throw new PcapError(`record at byte ${o - 16} runs past the end of the file`);
    packets.push({
      ts: sec + frac / (nanos ? 1e9 : 1e6),
      data: bytes.slice(o, o + incl),
      originalLength: orig,
    });
    o += incl;
  }
  return packets;
}
