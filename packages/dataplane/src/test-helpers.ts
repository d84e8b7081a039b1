// Helpers for socket tests (exported through testing.ts, not index.ts): a UDP socket that
// collects what it receives (a real server's or a client's VTEP), and waiting for a condition.
import dgram from 'node:dgram';

/** A UDP socket bound to address:port (0: any) that keeps every datagram it receives. */
export async function vtepSocket(
  address: string,
  port: number,
): Promise<{ got: Buffer[]; socket: dgram.Socket }> {
  const socket = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  socket.on('message', (m) => got.push(m));
  await new Promise<void>((r) => socket.bind(port, address, () => r()));
  return { got, socket };
}

/** Resolves once `cond()` holds, polling; rejects after `ms`. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
