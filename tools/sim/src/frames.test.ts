// The patched frames are byte for byte what @sluice/traffic builds for the same segment, so the
// director sees exactly the test suite's SYN shapes, with valid checksums.
import { internetChecksum, pseudoHeaderSum, TCP, TrafficFrames } from '@sluice/traffic';
import { describe, expect, it } from 'vitest';
import { FrameFactory, FrameKind, REQUEST_BYTES } from './frames.ts';

const VIP = (20 << 24) | 10;
const t = new TrafficFrames({ vni: 7, clientMac: '02:00:00:00:09:09', directorMac: '02:00:00:00:00:01' });
const f = new FrameFactory(7, '02:00:00:00:00:01', VIP, 80);
const src = Uint8Array.of(93, 184, 216, 34);
const addr = ((93 << 24) | (184 << 16) | (216 << 8) | 34) >>> 0;
const dst = Uint8Array.of(20, 0, 0, 10);

describe('FrameFactory', () => {
  it.each([
    [FrameKind.synLinux, TCP.syn, 'linux', 0],
    [FrameKind.synBare, TCP.syn, 'bare', 0],
    [FrameKind.ack, TCP.ack, 'linux', 0],
    [FrameKind.data, TCP.psh | TCP.ack, 'linux', REQUEST_BYTES],
    [FrameKind.fin, TCP.fin | TCP.ack, 'linux', 0],
    [FrameKind.ackZeroWindow, TCP.ack, 'linux', 0],
  ] as const)('kind %i matches TrafficFrames.tcp', (kind, flags, shape, payloadLen) => {
    const seq = 0xdeadbeef;
    const window = kind === FrameKind.ackZeroWindow ? 0 : undefined;
    const want = t.tcp({
      src,
      dst,
      srcPort: 40000,
      dstPort: 80,
      flags,
      seq,
      ack: 0,
      payloadLen,
      shape,
      window,
    });
    // TrafficFrames puts seq ^ const into the SYN timestamp option; the template was built with seq 0.
    const got = f.frame(kind, addr, 40000, seq, 0);
    if (kind === FrameKind.synLinux) {
      const ref = t.tcp({ src, dst, srcPort: 40000, dstPort: 80, flags, seq: 0, ack: 0, shape });
      // Headers equal but for the TCP checksum (bytes 58-59), options as the template's, and the
      // checksum still verifies over the patched segment.
      expect(got.subarray(0, 58)).toEqual(want.subarray(0, 58));
      expect(got.subarray(60, 62)).toEqual(want.subarray(60, 62));
      expect(got.subarray(62)).toEqual(ref.subarray(62));
      const l4 = got.subarray(42);
      expect(internetChecksum(l4, 0, l4.length, pseudoHeaderSum(src, dst, 6, l4.length))).toBe(0);
    } else {
      expect(got).toEqual(want);
    }
  });
});
