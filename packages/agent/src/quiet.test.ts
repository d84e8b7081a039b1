import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentError, AgentErrorCode } from './errors.ts';
import {
  formatQuiet,
  parseQuiet,
  QUIET_MAX,
  type QuietConnection,
  readQuiet,
  type SsRunner,
  ssArgs,
} from './quiet.ts';

// `ss -tinH state established` (iproute2 6.1) on this kind of host, captured verbatim, keeping only
// the sockets of the test's services: 8080 on 127.0.0.1 (answered a request) and on ::1 (wrote one
// byte), 8443 on :: (dual-stack, an IPv4 and an IPv6 client, never wrote), 9090 another service.
// Both ends of each loopback connection are listed; a client end has the service port as its peer.
// The info lines are padded with spaces as ss pads them.
const SOCKETS = [
  [
    '0      0               127.0.0.1:9090           127.0.0.1:49746',
    'lastsnd:1604 lastrcv:1604 lastack:1604',
  ],
  [
    '0      0               127.0.0.1:54878          127.0.0.1:8443 ',
    'lastsnd:1604 lastrcv:1604 lastack:1604',
  ],
  [
    '0      0               127.0.0.1:49746          127.0.0.1:9090 ',
    'lastsnd:1604 lastrcv:1604 lastack:1604',
  ],
  [
    '0      0               127.0.0.1:41158          127.0.0.1:8080 ',
    'lastsnd:1604 lastrcv:1604 lastack:1604',
  ],
  [
    '0      0               127.0.0.1:8080           127.0.0.1:41158',
    'lastsnd:1608 lastrcv:1608 lastack:1608',
  ],
  [
    '0      0      [::ffff:127.0.0.1]:8443  [::ffff:127.0.0.1]:54878',
    'lastsnd:1608 lastrcv:1608 lastack:1608',
  ],
  ['0      0                   [::1]:60158              [::1]:8443 ', 'lastsnd:108 lastrcv:108 lastack:108'],
  [
    '0      0                   [::1]:35070              [::1]:8080 ',
    'lastsnd:1608 lastrcv:1608 lastack:1608',
  ],
  ['0      0                   [::1]:8443               [::1]:60158', 'lastsnd:108 lastrcv:108 lastack:108'],
  [
    '0      0                   [::1]:8080               [::1]:35070',
    'lastsnd:1608 lastrcv:1608 lastack:1608',
  ],
] as const;

// The rest of a captured info line, around its lastsnd/lastrcv/lastack fields.
const INFO_HEAD =
  '\t bbr wscale:10,10 rto:204 rtt:0.013/0.007 ato:40 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:11 bytes_sent:19 bytes_acked:19 bytes_received:18 segs_out:2 segs_in:4 data_segs_out:1 data_segs_in:1 bbr:(bw:52428796872bps,mrtt:0.005,pacing_gain:2.88672,cwnd_gain:2.88672) send 221814153846bps ';
const INFO_TAIL =
  ' pacing_rate 499445730224bps delivery_rate 52428800000bps delivered:2 app_limited rcv_space:65483 rcv_ssthresh:65483 minrtt:0.005 snd_wnd:65536';
const PAD = ' '.repeat(150);

const socket = (header: string, times: string) => `${header}\n${INFO_HEAD}${times}${INFO_TAIL}${PAD}\n`;
const SS = SOCKETS.map(([h, t]) => socket(h, t)).join('');

const WEB = new Set([8080, 8443]);

const conn = (client: string, clientPort: number, local: string, localPort: number, lastSendMs: number) => ({
  client,
  clientPort,
  local,
  localPort,
  lastSendMs,
});

describe('parseQuiet', () => {
  it("keeps the service ports' server ends quiet long enough, IPv4-mapped as IPv4, in ss's order", () => {
    expect(parseQuiet(SS, WEB, 1000)).toEqual([
      conn('127.0.0.1', 41158, '127.0.0.1', 8080, 1608),
      conn('127.0.0.1', 54878, '127.0.0.1', 8443, 1608), // [::ffff:127.0.0.1] of the dual-stack listener
      conn('::1', 35070, '::1', 8080, 1608),
    ]);
  });

  it('takes the floor as inclusive, and 0 as every socket', () => {
    expect(parseQuiet(SS, new Set([8443]), 108)).toEqual([
      conn('127.0.0.1', 54878, '127.0.0.1', 8443, 1608),
      conn('::1', 60158, '::1', 8443, 108),
    ]);
    expect(parseQuiet(SS, new Set([8443]), 109)).toHaveLength(1);
    expect(parseQuiet(SS, WEB, 0)).toHaveLength(4);
  });

  it("leaves out other services and this host's own client ends (a service port as the peer)", () => {
    expect(parseQuiet(SS, new Set([9090]), 0)).toEqual([conn('127.0.0.1', 49746, '127.0.0.1', 9090, 1604)]);
    expect(parseQuiet(SS, new Set([8081]), 0)).toEqual([]);
    expect(parseQuiet(SS, new Set(), 0)).toEqual([]);
  });

  it('reads global IPv6 and a device-bound socket (%ifname dropped), lower-cased', () => {
    const text =
      socket('0      0        [2001:DB8::11]:443       [2001:db8::22]:40001', 'lastsnd:5000') +
      socket('0      0      [fe80::1]%eth0:443     [fe80::2]%eth0:40002', 'lastsnd:6000') +
      socket('0      0      10.0.0.11%eth1:443      10.0.0.5%eth1:40003', 'lastsnd:7000');
    expect(parseQuiet(text, new Set([443]), 1000)).toEqual([
      conn('2001:db8::22', 40001, '2001:db8::11', 443, 5000),
      conn('fe80::2', 40002, 'fe80::1', 443, 6000),
      conn('10.0.0.5', 40003, '10.0.0.11', 443, 7000),
    ]);
  });

  it('skips a socket without lastsnd (no tcp_info: no evidence), and its neighbours stay', () => {
    const text = [
      SOCKETS[4][0],
      `${INFO_HEAD}lastrcv:1608 lastack:1608${INFO_TAIL}`, // no lastsnd
      SOCKETS[5][0], // no info line at all: ss without -i, or a socket gone mid-dump
      SOCKETS[9][0],
      `${INFO_HEAD}${SOCKETS[9][1]}${INFO_TAIL}`,
      '',
    ].join('\n');
    expect(parseQuiet(text, WEB, 0)).toEqual([conn('::1', 35070, '::1', 8080, 1608)]);
  });

  it('lets a malformed line cost only itself (or the socket it belongs to)', () => {
    const good = socket(SOCKETS[4][0], SOCKETS[4][1]);
    const bad = [
      socket('0      0               127.0.0.1:8080           127.0.0.1:0', 'lastsnd:5000'), // peer port 0
      socket('0      0               127.0.0.1:8080           127.0.0.1:70000', 'lastsnd:5000'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:123456', 'lastsnd:5000'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:*', 'lastsnd:5000'),
      socket('0      0               127.0.0.300:8080         127.0.0.1:40000', 'lastsnd:5000'),
      socket('0      0               127.0.0.1:8080           localhost:40000', 'lastsnd:5000'),
      socket('0      0               ::1:8080                 ::1:40000', 'lastsnd:5000'), // IPv6 unbracketed
      socket('0      0      [::ffff:999.0.0.1]:8080  [::1]:40000', 'lastsnd:5000'),
      socket('0      0      [10.0.0.1]:8080          [::1]:40000', 'lastsnd:5000'),
      socket('0      0      [::1:8080                [::1]:40000', 'lastsnd:5000'),
      socket('0      0               127.0.0.1:8080', 'lastsnd:5000'), // no peer
      socket('ESTAB  0      0        127.0.0.1:8080           127.0.0.1:40000', 'lastsnd:5000'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:40000', 'lastsnd:abc'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:40000', 'lastsnd:-5'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:40000', 'lastsnd:5000ms'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:40000', 'xlastsnd:5000'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:40000', 'lastsnd:4294967296'),
      socket('0      0               127.0.0.1:8080           127.0.0.1:40000', 'lastsnd:99999999999'),
      `\t${INFO_HEAD}lastsnd:5000\n`, // an info line without its header
      '\u0000\uffff garbage\n',
      'lastsnd:5000\n',
      '\n',
    ];
    for (const b of bad) {
      expect(parseQuiet(b, WEB, 0), JSON.stringify(b)).toEqual([]);
      expect(parseQuiet(good + b + good, WEB, 0), JSON.stringify(b)).toHaveLength(2);
    }
    // A line between a header and its info line breaks that socket: its info may be another's.
    expect(parseQuiet(`${SOCKETS[4][0]}\ngarbage\n${INFO_HEAD}lastsnd:5000\n${good}`, WEB, 0)).toHaveLength(
      1,
    );
  });

  it('takes the highest lastsnd ss can print, CRLF line ends, and text without a final newline', () => {
    const max = socket(SOCKETS[4][0], 'lastsnd:4294967295');
    expect(parseQuiet(max, WEB, 0)[0].lastSendMs).toBe(4294967295);
    expect(parseQuiet(SS.replaceAll('\n', '\r\n'), WEB, 1000)).toEqual(parseQuiet(SS, WEB, 1000));
    expect(parseQuiet(SS.trimEnd(), WEB, 1000)).toHaveLength(3);
  });

  it('never throws, on any input', () => {
    for (const junk of [undefined, null, 42, {}] as unknown as string[])
      expect(parseQuiet(junk, WEB, 0)).toEqual([]);
    expect(parseQuiet('', WEB, 0)).toEqual([]);
    expect(parseQuiet(SS, WEB, Number.NaN)).toEqual([]);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 0, max: 2000 }), (text, min) => {
        expect(Array.isArray(parseQuiet(text, WEB, min))).toBe(true);
      }),
    );
  });

  it('reads the same sockets whatever line is slipped in between two of them', () => {
    const blocks = SOCKETS.map(([h, t]) => socket(h, t));
    const want = parseQuiet(SS, WEB, 0);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: blocks.length }),
        fc.string({ unit: 'binary' }).filter((s) => !s.includes('\n')),
        (at, line) => {
          const text = [...blocks.slice(0, at), `${line}\n`, ...blocks.slice(at)].join('');
          expect(parseQuiet(text, WEB, 0)).toEqual(want);
        },
      ),
    );
  });
});

describe('ssArgs and readQuiet', () => {
  it("asks ss for established sockets with tcp_info, numeric, headless, on the service ports' side", () => {
    expect(ssArgs([80, 443])).toEqual([
      '-tinH',
      'state',
      'established',
      '(',
      'sport',
      '=',
      ':80',
      'or',
      'sport',
      '=',
      ':443',
      ')',
    ]);
    expect(ssArgs([8080])).toEqual(['-tinH', 'state', 'established', '(', 'sport', '=', ':8080', ')']);
  });

  it('runs ss once with the ports ascending and parses what it prints', async () => {
    const calls: (readonly string[])[] = [];
    const run: SsRunner = async (args) => {
      calls.push(args);
      return SS;
    };
    expect(await readQuiet(new Set([8443, 8080]), 1000, run)).toHaveLength(3);
    expect(calls).toEqual([ssArgs([8080, 8443])]);
  });

  it('runs nothing for no port', async () => {
    const run: SsRunner = () => Promise.reject(new Error('must not run'));
    expect(await readQuiet(new Set(), 0, run)).toEqual([]);
  });

  it('throws a typed error when ss fails', async () => {
    const err = await readQuiet(WEB, 0, () => Promise.reject(new Error('spawn ss EACCES'))).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe(AgentErrorCode.ssFailed);
    expect((err as AgentError).message).toBe('cannot list sockets with ss: spawn ss EACCES');
    const own = new AgentError(AgentErrorCode.ssFailed, 'cannot list sockets with ss: exit 1');
    await expect(readQuiet(WEB, 0, () => Promise.reject(own))).rejects.toBe(own);
  });
});

describe('formatQuiet', () => {
  it('writes quiet:K and K lines, the quietest first, addresses without brackets', () => {
    const q = [
      conn('10.0.0.5', 40001, '10.0.0.100', 80, 1500),
      conn('2001:db8::5', 40002, '2001:db8::100', 443, 90000),
      conn('10.0.0.6', 40003, '10.0.0.100', 80, 1000),
    ];
    expect(formatQuiet(q)).toBe(
      'quiet:3\n' +
        'quiet 2001:db8::5 40002 2001:db8::100 443 90000\n' +
        'quiet 10.0.0.5 40001 10.0.0.100 80 1500\n' +
        'quiet 10.0.0.6 40003 10.0.0.100 80 1000\n',
    );
    expect(q[0].lastSendMs).toBe(1500); // the caller's array is left as it was
    expect(formatQuiet([])).toBe('quiet:0\n');
  });

  it('lists at most QUIET_MAX, leaving out the least quiet', () => {
    const q: QuietConnection[] = Array.from({ length: QUIET_MAX + 2 }, (_, i) =>
      conn('10.0.0.5', (i % 60000) + 1, '10.0.0.100', 80, 1000 + i),
    );
    const lines = formatQuiet(q).split('\n');
    expect(lines[0]).toBe(`quiet:${QUIET_MAX}`);
    expect(lines).toHaveLength(QUIET_MAX + 2); // count line, K lines, '' after the last newline
    expect(lines[1]).toMatch(/ 66537$/);
    expect(lines[QUIET_MAX]).toMatch(/ 1002$/);
  });
});
