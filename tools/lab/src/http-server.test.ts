// The real servers' HTTP application on loopback (no root): identity, keep-alive, uploads,
// delayed answers and the connection capacity.

import { Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenRealHttp, MAX_BODY_BYTES } from './http-server.ts';

let server: Server | null = null;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

function portOf(s: Server): number {
  return (s.address() as AddressInfo).port;
}

describe('real HTTP server', () => {
  it('answers every request with its name in the body and x-real, over IPv4 and IPv6', async () => {
    server = await listenRealHttp({ name: 'rs7', port: 0 });
    for (const host of ['127.0.0.1', '[::1]']) {
      const res = await fetch(`http://${host}:${portOf(server)}/any/path?x=1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-real')).toBe('rs7');
      expect(await res.text()).toBe('rs7\n');
    }
  });

  it('reads an upload to its end and reports its size', async () => {
    server = await listenRealHttp({ name: 'rs1', port: 0 });
    const res = await fetch(`http://127.0.0.1:${portOf(server)}/`, {
      method: 'POST',
      body: 'y'.repeat(100_000),
    });
    expect(res.headers.get('x-received-bytes')).toBe('100000');
    expect(await res.text()).toBe('rs1\n');
  });

  it('keeps connections alive and delays the answer on ?sleepMs=', async () => {
    server = await listenRealHttp({ name: 'rs1', port: 0 });
    let connections = 0;
    server.on('connection', () => connections++);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string): Promise<string> =>
      new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port: portOf(server!), path, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => {
            body += d;
          });
          res.on('end', () => resolve(body));
        })
          .on('error', reject)
          .end();
      });
    expect(await get('/')).toBe('rs1\n');
    const t0 = Date.now();
    expect(await get('/?sleepMs=150')).toBe('rs1\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(connections).toBe(1);
    agent.destroy();
  });

  it('answers ?bytes=N with N bytes, written as the reader takes them, capped at MAX_BODY_BYTES', async () => {
    server = await listenRealHttp({ name: 'rs1', port: 0 });
    const size = (path: string): Promise<{ length: number; header: string | undefined }> =>
      new Promise((resolve, reject) => {
        request(
          { host: '127.0.0.1', port: portOf(server!), path, method: path.includes('head') ? 'HEAD' : 'GET' },
          (res) => {
            let length = 0;
            res.on('data', (d: Buffer) => {
              length += d.length;
            });
            res.on('end', () => resolve({ length, header: res.headers['content-length'] }));
          },
        )
          .on('error', reject)
          .end();
      });
    expect(await size('/?bytes=1000000')).toEqual({ length: 1_000_000, header: '1000000' });
    expect(await size('/?bytes=65536')).toEqual({ length: 65_536, header: '65536' });
    expect(await size('/?bytes=-5')).toEqual({ length: 4, header: '4' }); // the name
    expect(await size('/head?bytes=99')).toEqual({ length: 0, header: '99' });
    expect(MAX_BODY_BYTES).toBe(64 * 1024 * 1024);
  });

  it('closes connections beyond maxConns at once (its capacity)', async () => {
    server = await listenRealHttp({ name: 'rs1', port: 0, maxConns: 1 });
    const port = portOf(server);
    const first = connect({ host: '127.0.0.1', port });
    await new Promise((r) => first.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    const second = connect({ host: '127.0.0.1', port });
    const closed = await new Promise<boolean>((resolve) => {
      second.once('close', () => resolve(true));
      second.once('error', () => {});
      setTimeout(() => resolve(false), 2000);
    });
    expect(closed).toBe(true);
    expect(first.destroyed).toBe(false);
    first.destroy();
  });
});
