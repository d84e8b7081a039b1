// QUIC services in the operator config: the two layouts, the real servers' server IDs (numbers
// or hex, given back as hex of the server ID's length), every refusal naming its field, a file
// naming the line, and the snapshot the dataplane compiles.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompiledConfig } from '@sluice/dataplane';
import { RealServerCounters } from '@sluice/schedulers';
import { describe, expect, it } from 'vitest';
import { ConfigFileError, ConfigValidationError } from './errors.ts';
import { loadConfigFile } from './file.ts';
import { RealIndexAllocator, toSnapshot } from './snapshot.ts';
import { validateLiveConfig } from './validate.ts';

// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary places of untyped JSON.
type Json = any;

function quicConfig(quic: Json = { cidServerIdOffset: 1, cidServerIdLength: 2, cidLength: 8 }): Json {
  return {
    overlay: { vni: 7, directorMac: '02:00:00:00:00:01' },
    services: [
      {
        name: 'h3',
        vip: '10.0.0.100',
        port: 443,
        protocol: 'udp',
        scheduler: 'rr',
        quic,
        reals: [
          {
            address: '10.0.1.1',
            port: 443,
            vtep: '192.0.2.1',
            mac: '02:00:00:00:01:01',
            quicServerId: '0a01',
          },
          { address: '10.0.1.2', port: 443, vtep: '192.0.2.2', mac: '02:00:00:00:01:02', quicServerId: 2562 },
          {
            address: '10.0.1.3',
            port: 443,
            vtep: '192.0.2.3',
            mac: '02:00:00:00:01:03',
            quicServerId: '0x0A:03',
          },
        ],
      },
    ],
  };
}

function rejects(config: Json, field: string, message: RegExp): void {
  let caught: unknown;
  try {
    validateLiveConfig(config);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigValidationError);
  expect((caught as ConfigValidationError).code).toBe('SLUICE_ERR_CONFIG_INVALID');
  expect((caught as ConfigValidationError).field).toBe(field);
  expect((caught as Error).message).toMatch(message);
}

describe('QUIC services', () => {
  it('accepts numbers and every hex spelling, and gives the IDs back as hex of the server ID length', () => {
    const out = validateLiveConfig(quicConfig());
    expect(out.services[0].reals.map((r) => r.quicServerId)).toEqual(['0a01', '0a02', '0a03']);
    expect(out.services[0].quic).toEqual({ cidServerIdOffset: 1, cidServerIdLength: 2, cidLength: 8 });
    // Short IDs are padded to the length; validation is idempotent.
    const c = quicConfig();
    c.services[0].reals[0].quicServerId = 7;
    c.services[0].reals[1].quicServerId = 'b';
    const twice = validateLiveConfig(validateLiveConfig(c));
    expect(twice.services[0].reals.map((r) => r.quicServerId)).toEqual(['0007', '000b', '0a03']);
  });

  it('accepts the QUIC-LB layout of draft-ietf-quic-load-balancers-20', () => {
    const c = quicConfig({ quicLb: { configId: 1, serverIdLength: 3, nonceLength: 4 } });
    c.services[0].reals[0].quicServerId = 'c4:60:5e';
    c.services[0].reals[1].quicServerId = '350d28';
    c.services[0].reals[2].quicServerId = 1;
    const out = validateLiveConfig(c);
    expect(out.services[0].quic?.quicLb).toEqual({
      configId: 1,
      serverIdLength: 3,
      nonceLength: 4,
      lengthSelfEncoded: false,
    });
    expect(out.services[0].reals.map((r) => r.quicServerId)).toEqual(['c4605e', '350d28', '000001']);
  });

  it('refuses, naming the field', () => {
    const tcp = quicConfig();
    tcp.services[0].protocol = 'tcp';
    rejects(tcp, '/services/0/quic', /QUIC runs over UDP/);
    rejects(
      quicConfig({
        cidServerIdOffset: 1,
        cidServerIdLength: 2,
        quicLb: { configId: 0, serverIdLength: 2, nonceLength: 4 },
      }),
      '/services/0/quic/quicLb',
      /either cidServerIdOffset and cidServerIdLength .* or quicLb, not both/,
    );
    rejects(quicConfig({}), '/services/0/quic', /needs cidServerIdOffset and cidServerIdLength/);
    rejects(quicConfig({ cidServerIdLength: 2 }), '/services/0/quic/cidServerIdOffset', /is required/);
    rejects(
      quicConfig({ cidServerIdOffset: 10, cidServerIdLength: 11 }),
      '/services/0/quic/cidServerIdLength',
      /= 21/,
    );
    rejects(
      quicConfig({ cidServerIdOffset: 4, cidServerIdLength: 2, cidLength: 5 }),
      '/services/0/quic/cidLength',
      /at least 6/,
    );
    rejects(
      quicConfig({ quicLb: { configId: 0, serverIdLength: 15, nonceLength: 5 } }),
      '/services/0/quic/quicLb/nonceLength',
      /at most 19/,
    );
    rejects(
      quicConfig({ quicLb: { configId: 7, serverIdLength: 2, nonceLength: 4 } }),
      '/services/0/quic/quicLb/configId',
      /from 0 to 6/,
    );
    rejects(
      quicConfig({
        quicLb: { configId: 0, serverIdLength: 2, nonceLength: 4, lengthSelfEncoded: true },
        cidLength: 9,
      }),
      '/services/0/quic/cidLength',
      /gives its own length/,
    );
    const big = quicConfig();
    big.services[0].reals[1].quicServerId = 65536;
    rejects(big, '/services/0/reals/1/quicServerId', /does not fit in the server ID's 2 bytes/);
    const longHex = quicConfig();
    longHex.services[0].reals[1].quicServerId = '0a0203';
    rejects(longHex, '/services/0/reals/1/quicServerId', /does not fit/);
    const notHex = quicConfig();
    notHex.services[0].reals[1].quicServerId = 'zz';
    rejects(notHex, '/services/0/reals/1/quicServerId', /hex digits of up to 15 bytes/);
    const twice = quicConfig();
    twice.services[0].reals[2].quicServerId = 2561;
    rejects(twice, '/services/0/reals/2/quicServerId', /server ID 0a01 is already \/services\/0\/reals\/0's/);
    const missing = quicConfig();
    delete missing.services[0].reals[1].quicServerId;
    rejects(missing, '/services/0/reals/1/quicServerId', /is required/);
    const stray = quicConfig();
    delete stray.services[0].quic;
    rejects(stray, '/services/0/reals/0/quicServerId', /only the real servers of a service with `quic`/);
  });

  it('a config file names the line of a bad server ID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-quic-'));
    try {
      const file = { daemon: { workers: 1 }, ...quicConfig() };
      file.services[0].reals[2].quicServerId = 'abcdef';
      const text = JSON.stringify(file, null, 2);
      const line = text.split('\n').findIndex((l) => l.includes('"abcdef"')) + 1;
      const path = join(dir, 'config.json');
      await writeFile(path, text);
      const err = await loadConfigFile(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigFileError);
      expect((err as ConfigFileError).line).toBe(line);
      expect((err as Error).message).toMatch(/quicServerId: "abcdef" does not fit/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('becomes a snapshot the dataplane compiles', () => {
    const c = quicConfig({
      quicLb: { configId: 2, serverIdLength: 2, nonceLength: 6, lengthSelfEncoded: true },
    });
    const live = validateLiveConfig(c);
    const allocator = new RealIndexAllocator({ maxServices: 4, maxReals: 8 });
    const snap = toSnapshot(live, 1, allocator, { learnedMacs: new Map() });
    expect(snap.services[0].quic).toEqual({
      serverIdOffset: 1,
      serverIdLength: 2,
      cidLength: 9,
      configId: 2,
      lengthSelfEncoded: true,
    });
    expect(snap.services[0].reals.map((r) => r.quicServerId)).toEqual(['0a01', '0a02', '0a03']);
    const compiled = new CompiledConfig(snap, { maxServices: 4, maxReals: 8 }, RealServerCounters.create(8));
    expect(compiled.quicTables[snap.services[0].index]?.count).toBe(3);
    // A service without `quic` has no table and its snapshot no layout.
    const plain = validateLiveConfig(quicConfig());
    delete plain.services[0].quic;
    for (const r of plain.services[0].reals) delete r.quicServerId;
    const s2 = toSnapshot(validateLiveConfig(plain), 2, allocator, { learnedMacs: new Map() });
    expect(s2.services[0].quic).toBeUndefined();
    expect(s2.services[0].reals[0].quicServerId).toBeUndefined();
  });
});
