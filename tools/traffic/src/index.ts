export { internetChecksum, onesSum, pseudoHeaderSum } from './checksum.ts';
export { FakeVtep, type FakeVtepOptions, type ForwardedFrame } from './fake-vtep.ts';
export {
  addressBytes,
  ipv4Bytes,
  type SynShape,
  TCP,
  type TcpSegment,
  TrafficFrames,
  type TrafficOptions,
} from './frames.ts';
export { freeUdpPort } from './ports.ts';
