// QUIC services in the operator config: the two layouts, the real servers' server IDs (numbers
// or hex, given back as hex of the server ID's length), every refusal naming its field, a file
// naming the line. (The snapshot the dataplane compiles: apps/director/src/snapshot.test.ts.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigFileError, ConfigValidationError } from './errors.ts';
import { loadConfigFile } from './file.ts';
import { quicConfig } from './testing.ts';
import { validateLiveConfig } from './validate.ts';

// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary places of untyped JSON.
type Json = any;

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
});
