// The director when the native I/O addon does not load (here: a file that is not an ELF object
// where the addon should be): `daemon.io: auto` serves with the dgram port and says so in exactly
// one log line with the reason, and forwards; `daemon.io: native` refuses to start with
// SLUICE_ERR_IO_UNAVAILABLE and leaves nothing bound.
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ConfigFile, validateConfigFile } from '@sluice/config';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Director } from './director.ts';

// Before anything loads the addon in this file's module graph (it is loaded lazily, once).
const scratch = mkdtempSync(path.join(tmpdir(), 'sluice-io-fallback-'));
const corrupt = path.join(scratch, 'sluice_io.node');
writeFileSync(corrupt, 'not an ELF object');
process.env.SLUICE_IO_ADDON = corrupt;

const DIRECTOR_MAC = '02:5c:00:00:00:01';

function config(listenPort: number, io: 'auto' | 'native'): ConfigFile {
  return validateConfigFile({
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers: 1,
      io,
      connectionCapacity: 4096,
    },
    overlay: { vni: 42, directorMac: DIRECTOR_MAC },
    services: [
      {
        name: 'web',
        vip: '10.42.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        reals: [
          { address: '10.42.0.11', port: 80, vtep: '127.0.0.2', mac: '02:00:00:00:01:01', healthCheck: null },
        ],
      },
    ],
  });
}

describe('Director without the native I/O addon', () => {
  let director: Director | null = null;
  const sockets: dgram.Socket[] = [];
  afterEach(async () => {
    await director?.stop();
    director = null;
    for (const s of sockets.splice(0)) s.close();
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('io auto: one log line says dgram and why, and frames are forwarded', async () => {
    const remotePort = await freeUdpPort('127.0.0.1');
    const listenPort = await freeUdpPort('127.0.0.1');
    const real = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    real.on('message', (m) => got.push(m));
    await new Promise<void>((r) => real.bind(remotePort, '127.0.0.2', () => r()));
    const client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.3', () => r()));
    sockets.push(real, client);

    const lines: string[] = [];
    const log = {
      info: (m: string) => lines.push(`info ${m}`),
      warn: (m: string) => lines.push(`warn ${m}`),
      error: (m: string) => lines.push(`error ${m}`),
    };
    director = await Director.start({ file: config(listenPort, 'auto'), configPath: null, log, remotePort });
    const ioLines = lines.filter((l) => l.includes('io:'));
    expect(ioLines).toHaveLength(1);
    expect(ioLines[0]).toMatch(
      /^warn io: native batched I\/O unavailable \(.*sluice_io\.node did not load: .*\); serving with the dgram port$/,
    );
    expect(lines.some((l) => /serving VXLAN on 127\.0\.0\.1:\d+ \(dgram\)/.test(l))).toBe(true);

    const tf = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:aa:01', directorMac: DIRECTOR_MAC });
    client.send(
      tf.tcp({
        src: addressBytes('10.42.0.101'),
        dst: addressBytes('10.42.0.100'),
        srcPort: 40000,
        dstPort: 80,
        flags: TCP.syn,
        seq: 1,
      }),
      listenPort,
      '127.0.0.1',
    );
    const end = Date.now() + 5000;
    while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(got).toHaveLength(1);
  });

  it('io native: refuses to start with SLUICE_ERR_IO_UNAVAILABLE and leaves the port free', async () => {
    const listenPort = await freeUdpPort('127.0.0.1');
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    await expect(
      Director.start({ file: config(listenPort, 'native'), configPath: null, log: quiet }),
    ).rejects.toMatchObject({ code: 'SLUICE_ERR_IO_UNAVAILABLE' });
    // Nothing was bound: the VTEP port can be taken by a plain socket.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(listenPort, '127.0.0.1', () => resolve());
    });
    s.close();
  });
});
