// Free UDP ports for tests and benchmarks that bind several sockets to one port on purpose
// (SO_REUSEPORT serving workers): the port is picked by binding port 0 once and released.
import dgram from 'node:dgram';

export async function freeUdpPort(address: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
