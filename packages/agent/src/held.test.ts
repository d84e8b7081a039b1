import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentError, AgentErrorCode } from './errors.ts';
import { countHeld, readHeld } from './held.ts';

// Service port 80 (0050) and 443 (01BB); 8080 (1F90) is another service on the same host.
// Lines as the kernel prints them (trailing columns shortened where they do not matter).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0B00000A:0050 0100000A:C350 01 00000000:00000000 00:00000000 00000000    33        0 2001 1 0000000000000000 20 4 30 10 -1
   3: 0B00000A:0050 0200000A:C351 01 00000000:00000000 00:00000000 00000000    33        0 2002 1 0000000000000000 20 4 30 10 -1
   4: 0B00000A:0050 0300000A:C352 03 00000000:00000000 02:00000064 00000000     0        0 0 1 0000000000000000
   5: 0B00000A:0050 0400000A:C353 08 00000000:00000000 00:00000000 00000000    33        0 2003 1 0000000000000000 20 4 30 10 -1
   6: 0B00000A:0050 0500000A:C354 06 00000000:00000000 03:00000FA0 00000000     0        0 0 3 0000000000000000
   7: 0B00000A:0050 0600000A:C355 04 00000000:00000000 01:00000014 00000000     0        0 0 3 0000000000000000
   8: 0B00000A:0050 0700000A:C356 05 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
   9: 0B00000A:0050 0800000A:C357 09 00000000:00000000 01:00000014 00000000     0        0 0 3 0000000000000000
  10: 0B00000A:0050 0900000A:C358 0B 00000000:00000000 01:00000014 00000000     0        0 0 3 0000000000000000
  11: 0B00000A:0050 0A00000A:C359 07 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
  12: 0B00000A:01BB 0100000A:D000 01 00000000:00000000 00:00000000 00000000    33        0 2004 1 0000000000000000 20 4 30 10 -1
  13: 0B00000A:1F90 0100000A:D001 01 00000000:00000000 00:00000000 00000000    33        0 2005 1 0000000000000000 20 4 30 10 -1
  14: 0B00000A:C35A 0100000A:0050 01 00000000:00000000 00:00000000 00000000  1000        0 2006 1 0000000000000000 20 4 30 10 -1
  15: 0B00000A:C35B 0100000A:01BB 08 00000000:00000000 00:00000000 00000000  1000        0 2007 1 0000000000000000 20 4 30 10 -1
`;

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000B00000A:0050 0000000000000000FFFF00000C00000A:E000 01 00000000:00000000 00:00000000 00000000    33        0 3002 1 0000000000000000 20 4 30 10 -1
   2: B80D0120000000000000000000000011:01BB B80D0120000000000000000000000022:E001 01 00000000:00000000 00:00000000 00000000    33        0 3003 1 0000000000000000 20 4 30 10 -1
   3: B80D0120000000000000000000000011:01BB B80D0120000000000000000000000023:E002 06 00000000:00000000 03:00000FA0 00000000     0        0 0 3 0000000000000000
   4: B80D0120000000000000000000000023:E003 B80D0120000000000000000000000011:0050 01 00000000:00000000 00:00000000 00000000  1000        0 3004 1 0000000000000000 20 4 30 10 -1
`;

const WEB = new Set([80, 443]);

describe('countHeld', () => {
  it('counts ESTABLISHED and CLOSE_WAIT on the local service ports (IPv4), not SYN_RECV', () => {
    // Lines 2, 3 (ESTABLISHED :80), 5 (CLOSE_WAIT), 12 (ESTABLISHED :443); 4 is SYN_RECV.
    expect(countHeld(TCP, WEB)).toBe(4);
    expect(countHeld(TCP, new Set([80]))).toBe(3);
    expect(countHeld(TCP, new Set([443]))).toBe(1);
  });

  it('leaves out SYN_RECV, LISTEN, TIME_WAIT, FIN_WAIT1/2, LAST_ACK, CLOSING and CLOSE', () => {
    const only = (st: string) =>
      countHeld(
        `   0: 0B00000A:0050 0100000A:C350 ${st} 00000000:00000000 00:00000000 00000000 0 0 1\n`,
        WEB,
      );
    expect(['01', '08'].map(only)).toEqual([1, 1]);
    expect(['03', '0A', '06', '04', '05', '09', '0B', '07', '02', '0C'].map(only)).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it("does not count this host's own client sockets whose remote port is a service port", () => {
    // Lines 14 and 15 of TCP: outgoing connections to :80 and :443 elsewhere.
    expect(countHeld(TCP, new Set([0xc35a, 0xc35b]))).toBe(2);
    expect(countHeld(TCP, new Set([8080]))).toBe(1);
  });

  it('counts IPv6 lines, including IPv4-mapped connections of a dual-stack listener', () => {
    // Line 1 (::ffff:10.0.0.11:80, ESTABLISHED) and line 2 (2001:db8::11:443, ESTABLISHED).
    expect(countHeld(TCP6, WEB)).toBe(2);
    expect(countHeld(TCP6, new Set([80]))).toBe(1);
  });

  it('skips the header and malformed lines and throws on nothing', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue',
      '   0: 0B00000A:0050 0100000A:C350 01 00000000:00000000 00:00000000 00000000 0 0 1', // counted
      '   1: 0B00000A:0050 0100000A:C350', // no state
      '   2: 0B00000A0050 0100000A:C350 01 0', // no colon in the local address
      '   3: 0B0000A:0050 0100000A:C350 01 0', // 7 hex digits
      '   4: 0B00000A:050 0100000A:C350 01 0', // 3-digit port
      '   5: 0B00000A:0050 0100000A:C350 1 0', // 1-digit state
      '   6: 0B00000A:0050 0100000A:C350 001 0', // 3-digit state
      '   7: 0B00000A:0050 0100000A:C350 0G 0', // not hex
      '   8 0B00000A:0050 0100000A:C350 01 0', // sl without its colon
      '0B00000A:0050 0100000A:C350 01 0', // no sl at all
      '   9: 0B00000A:0050 nonsense 01 0',
      '  10: 0B00000A:0050 0100000A:C350 01', // counted: nothing after the state is needed
      '',
      '\u0000\uffff garbage',
      '  11: 0B00000A:0050',
      '0100000A:C350 01 0', // the tail of line 11 wrapped: not joined to it
    ].join('\n');
    expect(countHeld(text, WEB)).toBe(2);
    expect(countHeld('', WEB)).toBe(0);
    expect(countHeld(TCP.replaceAll('\n', '\r\n'), WEB)).toBe(4);
  });

  it('counts nothing for an empty port set', () => {
    expect(countHeld(TCP, new Set())).toBe(0);
  });
});

describe('readHeld', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    dir = null;
  });
  const root = async (files: Record<string, string>): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-agent-'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return dir;
  };

  it('sums tcp and tcp6', async () => {
    expect(await readHeld(WEB, await root({ tcp: TCP, tcp6: TCP6 }))).toBe(6);
  });

  it('takes a missing tcp6 as a kernel without IPv6', async () => {
    expect(await readHeld(WEB, await root({ tcp: TCP }))).toBe(4);
  });

  it('throws a typed error when tcp is missing', async () => {
    const r = await root({ tcp6: TCP6 });
    const err = await readHeld(WEB, r).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe(AgentErrorCode.procUnreadable);
    expect((err as AgentError).message).toContain(`${r}/tcp`);
  });
});
