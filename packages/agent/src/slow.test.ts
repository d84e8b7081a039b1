import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AgentError, AgentErrorCode } from './errors.ts';
import { formatEvidence, parseSockets, QUIET_MAX, readSockets, type SsRunner, ssArgs } from './quiet.ts';
import {
  formatSlow,
  SLOW_BPS,
  SLOW_GRACE_MS,
  type SlowConnection,
  type SlowFloor,
  slowRate,
} from './slow.ts';

// `ss -tinH state established` on Linux 6.x, verbatim: a service on 18080 writing to a kernel
// reader with a tiny receive buffer that takes a segment every 0.9 s (its window shut between:
// rwnd_limited 100%). Send-Q 2317312, 2317312 not sent yet, 5120 bytes acknowledged in 2416 ms
// busy: 2119 bytes/s.
const READER_HEADER = '0      2317312 127.0.0.1:18080 127.0.0.1:33236';
const READER_INFO =
  '\t bbr wscale:0,10 rto:212 backoff:1 rtt:10.165/17.551 mss:1024 pmtu:65535 rcvmss:536 advmss:65483 cwnd:16 bytes_sent:6144 bytes_retrans:1024 bytes_acked:5120 segs_out:10 segs_in:10 data_segs_out:6 bbr:(bw:188321776bps,mrtt:0.03,pacing_gain:2.88672,cwnd_gain:2.88672) send 12894442bps lastsnd:596 lastrcv:2416 lastack:356 pacing_rate 7803839528bps delivery_rate 574176bps delivered:7 busy:2416ms rwnd_limited:2416ms(100.0%) retrans:0/1 dsack_dups:1 rcv_space:65483 rcv_ssthresh:65483 notsent:2317312 minrtt:0.03';
const READER = `${READER_HEADER}\n${READER_INFO}\n`;
const SVC = new Set([18080]);

/**
 * A socket of service 18080 whose info line carries `fields` amid a captured line's others, with
 * data its server has written and not sent yet (`notsent`) unless `fields` says otherwise.
 */
const sock = (fields: string, sendQ = '65536', peer = '127.0.0.1:40000', local = '127.0.0.1:18080') =>
  `0      ${sendQ}  ${local}  ${peer}\n\t bbr wscale:7,7 rto:204 rtt:0.02/0.01 mss:32768 cwnd:10 ${fields}${fields.includes('notsent') ? '' : ' notsent:4096'} rcv_space:65483 minrtt:0.01${' '.repeat(40)}\n`;

const floor = (bps: number, graceMs: number): SlowFloor => ({ bps, graceMs });

const slow = (
  client: string,
  clientPort: number,
  local: string,
  localPort: number,
  bytesPerSecond: number,
): SlowConnection => ({ client, clientPort, local, localPort, bytesPerSecond });

describe('slowRate', () => {
  it('judges a backlogged socket by what its client acknowledged per second busy, rounded down', () => {
    expect(slowRate('2317312', READER_INFO, floor(4096, 1000))).toBe(2119);
    expect(slowRate('2317312', READER_INFO, floor(2120, 2416))).toBe(2119); // grace inclusive
    expect(slowRate('2317312', READER_INFO, floor(2119, 0))).toBeNull(); // at the floor is not under it
    expect(slowRate('2317312', READER_INFO, floor(4096, 2417))).toBeNull(); // busy under the grace
    expect(slowRate('0', READER_INFO, floor(4096, 0))).toBeNull(); // nothing unacknowledged
    expect(slowRate('000', READER_INFO, floor(4096, 0))).toBeNull();
  });

  it('takes a missing bytes_acked as 0 and a missing or zero busy as no evidence', () => {
    expect(slowRate('1', 'busy:5000ms lastsnd:10 notsent:1', floor(1, 0))).toBe(0);
    expect(slowRate('1', 'bytes_acked:0 busy:5000ms notsent:1', floor(1, 0))).toBe(0);
    expect(slowRate('1', 'bytes_acked:0 lastsnd:10 notsent:1', floor(SLOW_BPS, 0))).toBeNull();
    expect(slowRate('1', 'bytes_acked:0 busy:0ms notsent:1', floor(SLOW_BPS, 0))).toBeNull();
    expect(slowRate('1', ' notsent:1', floor(SLOW_BPS, 0))).toBeNull();
  });

  it('is exact at the floor, also where a double would round the rate up to it', () => {
    expect(slowRate('1', 'bytes_acked:10239 busy:5000ms notsent:1', floor(2048, 5000))).toBe(2047);
    expect(slowRate('1', 'bytes_acked:10240 busy:5000ms notsent:1', floor(2048, 5000))).toBeNull();
    expect(slowRate('1', 'bytes_acked:6143 busy:3000ms notsent:1', floor(2048, 0))).toBe(2047);
    // 2048000000000002 * 1000 / 1000000000000001 is 2047.99999999999999795...; as doubles, 2048.
    expect(
      slowRate('1', 'bytes_acked:2048000000000002 busy:1000000000000001ms notsent:1', floor(2048, 0)),
    ).toBe(2047);
    expect(
      slowRate('1', 'bytes_acked:2048000000000003 busy:1000000000000001ms notsent:1', floor(2048, 0)),
    ).toBeNull();
    expect(
      slowRate('1', 'bytes_acked:18446744073709551615 busy:1ms notsent:1', floor(0xffff_ffff, 0)),
    ).toBeNull();
    expect(slowRate('1', 'bytes_acked:1 busy:99999999999999999ms notsent:1', floor(1, 0))).toBe(0);
  });

  it('gives no rate for a garbled busy or bytes_acked (not a 0 rate)', () => {
    for (const info of [
      'busy:5000',
      'busy:5000s',
      'busy:-5000ms',
      'busy:ms',
      'busy:5e3ms',
      'busy:999999999999999999ms', // over the 17 digits a u64 of µs makes in ms
      'bytes_acked:abc busy:5000ms',
      'bytes_acked:-1 busy:5000ms',
      'bytes_acked:1e5 busy:5000ms',
      'bytes_acked: busy:5000ms',
      'bytes_acked:184467440737095516150 busy:5000ms',
    ]) {
      expect(slowRate('1', `${info} notsent:1`, floor(SLOW_BPS, 0)), info).toBeNull();
    }
    // A field's name must stand on its own, as ss prints it.
    expect(slowRate('1', 'xbusy:5000ms notsent:1', floor(SLOW_BPS, 0))).toBeNull();
    expect(slowRate('1', 'xbytes_acked:99999999 busy:5000ms notsent:1', floor(SLOW_BPS, 0))).toBe(0);
  });

  it('judges only a socket whose server has written more than its client lets out (notsent)', () => {
    // A push stream's small events, each acknowledged a round trip later: busy only while in
    // flight, so a message per round trip a second, under the floor; nothing waits to be sent.
    expect(slowRate('120', 'bytes_acked:2400 busy:3000ms', floor(SLOW_BPS, 0))).toBeNull();
    expect(slowRate('120', 'bytes_acked:2400 busy:3000ms notsent:0', floor(SLOW_BPS, 0))).toBeNull();
    expect(slowRate('120', 'bytes_acked:2400 busy:3000ms notsent:x', floor(SLOW_BPS, 0))).toBeNull();
    expect(slowRate('9000', 'bytes_acked:2400 busy:3000ms notsent:8880', floor(SLOW_BPS, 0))).toBe(800);
    expect(slowRate('2317312', READER_INFO, floor(4096, 0))).toBe(2119);
  });

  it('defaults to 2048 bytes/s after 2 s busy', () => {
    expect([SLOW_BPS, SLOW_GRACE_MS]).toEqual([2048, 2000]);
  });
});

describe('parseSockets', () => {
  it('lists the slow reader with its rate, from real ss output', () => {
    expect(parseSockets(READER, SVC, null, floor(4096, 1000))).toEqual({
      quiet: [],
      slow: [slow('127.0.0.1', 33236, '127.0.0.1', 18080, 2119)],
    });
    // At the defaults it is neither: 2119 bytes/s is over 2048.
    expect(parseSockets(READER, SVC, 1000, floor(SLOW_BPS, SLOW_GRACE_MS))).toEqual({ quiet: [], slow: [] });
    expect(parseSockets(READER, SVC, null, null)).toEqual({ quiet: [], slow: [] });
    expect(parseSockets(READER, new Set([8080]), null, floor(4096, 0))).toEqual({ quiet: [], slow: [] });
  });

  it('leaves out a socket with nothing unacknowledged, inside the grace, at or over the floor', () => {
    const f = floor(2048, 5000);
    expect(parseSockets(sock('bytes_acked:100 busy:9000ms', '0'), SVC, null, f).slow).toEqual([]);
    expect(parseSockets(sock('bytes_acked:100 busy:4999ms'), SVC, null, f).slow).toEqual([]);
    expect(parseSockets(sock('bytes_acked:10240 busy:5000ms'), SVC, null, f).slow).toEqual([]);
    expect(parseSockets(sock('bytes_acked:99999999 busy:5000ms'), SVC, null, f).slow).toEqual([]);
    expect(parseSockets(sock('bytes_acked:10239 busy:5000ms'), SVC, null, f).slow).toEqual([
      slow('127.0.0.1', 40000, '127.0.0.1', 18080, 2047),
    ]);
  });

  it('takes an absent bytes_acked as 0 and skips a socket without busy (no evidence)', () => {
    const f = floor(2048, 0);
    expect(parseSockets(sock('bytes_sent:1024 busy:6000ms'), SVC, null, f).slow).toEqual([
      slow('127.0.0.1', 40000, '127.0.0.1', 18080, 0),
    ]);
    expect(parseSockets(sock('bytes_sent:1024 bytes_acked:0 lastsnd:100'), SVC, null, f).slow).toEqual([]);
  });

  it('does not list a quiet socket as slow too; with the quiet list off, it is slow', () => {
    const text =
      sock('bytes_acked:100 busy:9000ms lastsnd:3000', '65536', '10.0.0.5:40001', '10.0.0.100:18080') +
      sock('bytes_acked:100 busy:9000ms lastsnd:200', '65536', '10.0.0.5:40002', '10.0.0.100:18080') +
      sock('bytes_acked:200 busy:9000ms', '65536', '10.0.0.5:40003', '10.0.0.100:18080'); // no lastsnd
    expect(parseSockets(text, SVC, 1000, floor(2048, 5000))).toEqual({
      quiet: [
        { client: '10.0.0.5', clientPort: 40001, local: '10.0.0.100', localPort: 18080, lastSendMs: 3000 },
      ],
      slow: [
        slow('10.0.0.5', 40002, '10.0.0.100', 18080, 11),
        slow('10.0.0.5', 40003, '10.0.0.100', 18080, 22),
      ],
    });
    expect(parseSockets(text, SVC, null, floor(2048, 5000)).slow.map((s) => s.clientPort)).toEqual([
      40001, 40002, 40003,
    ]);
    // A quiet floor of 0 (every socket with a lastsnd quiet, as parseQuiet takes it) leaves only
    // the one without lastsnd to be slow.
    expect(parseSockets(text, SVC, 0, floor(2048, 5000)).slow.map((s) => s.clientPort)).toEqual([40003]);
  });

  it('writes addresses as the quiet lines do: IPv4-mapped as IPv4, no brackets, no %dev', () => {
    const f = floor(2048, 0);
    const info = 'bytes_acked:1000 busy:10000ms';
    const text =
      sock(info, '1', '[::ffff:10.0.0.5]:40001', '[::ffff:10.0.0.100]:18080') +
      sock(info, '1', '[2001:DB8::5]:40002', '[2001:db8::100]:18080') +
      sock(info, '1', '[fe80::2]%eth0:40003', '[fe80::1]%eth0:18080') +
      sock(info, '1', '10.0.0.6%eth1:40004', '10.0.0.100%eth1:18080');
    expect(parseSockets(text, SVC, 1000, f).slow).toEqual([
      slow('10.0.0.5', 40001, '10.0.0.100', 18080, 100),
      slow('2001:db8::5', 40002, '2001:db8::100', 18080, 100),
      slow('fe80::2', 40003, 'fe80::1', 18080, 100),
      slow('10.0.0.6', 40004, '10.0.0.100', 18080, 100),
    ]);
  });

  it('lets a malformed socket cost only itself', () => {
    const f = floor(2048, 0);
    const good = sock('bytes_acked:100 busy:9000ms lastsnd:10');
    const bad = [
      sock('bytes_acked:abc busy:9000ms lastsnd:10'),
      sock('bytes_acked:100 busy:9000 lastsnd:10'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10ms'), // its lastsnd garbled: quiet or not unknown
      sock('bytes_acked:100 busy:9000ms lastsnd:4294967296'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', '-1'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', 'x'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', '1', '127.0.0.1:0'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', '1', '127.0.0.1:70000'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', '1', 'localhost:40000'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', '1', '[10.0.0.1]:40000'),
      sock('bytes_acked:100 busy:9000ms lastsnd:10', '1', '127.0.0.1:40000', '127.0.0.300:18080'),
      `\t bytes_acked:100 busy:9000ms\n`, // an info line without its header
      `${READER_HEADER}\n`, // a header without its info line
      '\u0000\uffff garbage\n',
      '\n',
    ];
    for (const b of bad) {
      expect(parseSockets(b, SVC, 1000, f), JSON.stringify(b)).toEqual({ quiet: [], slow: [] });
      expect(parseSockets(good + b + good, SVC, 1000, f).slow, JSON.stringify(b)).toHaveLength(2);
    }
    // With the quiet list off, a garbled lastsnd is not looked at.
    expect(parseSockets(bad[2], SVC, null, f).slow).toHaveLength(1);
  });

  it('never throws, and a line slipped between two sockets changes neither list', () => {
    const f = floor(2048, 0);
    for (const junk of [undefined, null, 42, {}] as unknown as string[])
      expect(parseSockets(junk, SVC, 1000, f)).toEqual({ quiet: [], slow: [] });
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const r = parseSockets(text, SVC, 0, f);
        expect(Array.isArray(r.quiet) && Array.isArray(r.slow)).toBe(true);
      }),
    );
    const blocks = [
      READER,
      sock('bytes_acked:100 busy:9000ms lastsnd:3000', '1', '10.0.0.5:1'),
      sock('bytes_acked:100 busy:9000ms lastsnd:30', '1', '10.0.0.5:2'),
      sock('bytes_acked:999999 busy:9000ms lastsnd:30', '1', '10.0.0.5:3'),
    ];
    const want = parseSockets(blocks.join(''), SVC, 1000, f);
    expect([want.quiet.length, want.slow.length]).toEqual([1, 1]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: blocks.length }),
        fc.string({ unit: 'binary' }).filter((s) => !s.includes('\n')),
        (at, line) => {
          const text = [...blocks.slice(0, at), `${line}\n`, ...blocks.slice(at)].join('');
          expect(parseSockets(text, SVC, 1000, f)).toEqual(want);
        },
      ),
    );
  });
});

describe('readSockets', () => {
  it('runs ss once for both lists', async () => {
    const calls: (readonly string[])[] = [];
    const run: SsRunner = async (args) => {
      calls.push(args);
      return READER + sock('bytes_acked:100 busy:9000ms lastsnd:3000', '1', '10.0.0.5:1');
    };
    const got = await readSockets(new Set([18080, 80]), 1000, floor(4096, 1000), run);
    expect([got.quiet.length, got.slow.length]).toEqual([1, 1]);
    expect(calls).toEqual([ssArgs([80, 18080])]);
    expect(await readSockets(new Set(), 1000, floor(4096, 0), () => Promise.reject(new Error('no')))).toEqual(
      {
        quiet: [],
        slow: [],
      },
    );
  });

  it('throws a typed error when ss fails', async () => {
    await expect(
      readSockets(SVC, null, floor(1, 0), () => Promise.reject(new Error('boom'))),
    ).rejects.toSatisfy((e: unknown) => e instanceof AgentError && e.code === AgentErrorCode.ssFailed);
  });
});

describe('formatSlow and formatEvidence', () => {
  const s = [
    slow('10.0.0.5', 40001, '10.0.0.100', 80, 1500),
    slow('2001:db8::5', 40002, '2001:db8::100', 443, 12),
    slow('10.0.0.6', 40003, '10.0.0.100', 80, 1500),
    slow('10.0.0.7', 40004, '10.0.0.100', 80, 0),
  ];
  const q = { client: '10.0.0.9', clientPort: 40009, local: '10.0.0.100', localPort: 80, lastSendMs: 9000 };

  it('writes slow:J and J lines, the slowest first (ties in ss order), at most `room`', () => {
    expect(formatSlow(s, QUIET_MAX)).toBe(
      'slow:4\n' +
        'slow 10.0.0.7 40004 10.0.0.100 80 0\n' +
        'slow 2001:db8::5 40002 2001:db8::100 443 12\n' +
        'slow 10.0.0.5 40001 10.0.0.100 80 1500\n' +
        'slow 10.0.0.6 40003 10.0.0.100 80 1500\n',
    );
    expect(s[0].bytesPerSecond).toBe(1500); // the caller's array is left as it was
    expect(formatSlow(s, 2)).toBe(
      'slow:2\nslow 10.0.0.7 40004 10.0.0.100 80 0\nslow 2001:db8::5 40002 2001:db8::100 443 12\n',
    );
    expect(formatSlow(s, 0)).toBe('slow:0\n');
    expect(formatSlow([], QUIET_MAX)).toBe('slow:0\n');
  });

  it('writes the quiet block then the slow block, each only when on', () => {
    expect(formatEvidence(null, null)).toBe('');
    expect(formatEvidence([q], null)).toBe('quiet:1\nquiet 10.0.0.9 40009 10.0.0.100 80 9000\n');
    expect(formatEvidence(null, [s[1]])).toBe('slow:1\nslow 2001:db8::5 40002 2001:db8::100 443 12\n');
    expect(formatEvidence([], [])).toBe('quiet:0\nslow:0\n');
    expect(formatEvidence([q], [s[1]])).toBe(
      'quiet:1\nquiet 10.0.0.9 40009 10.0.0.100 80 9000\nslow:1\nslow 2001:db8::5 40002 2001:db8::100 443 12\n',
    );
  });

  it('shares QUIET_MAX between the blocks, quiet first: slow gets the room left', () => {
    const quiet = (n: number) => Array.from({ length: n }, (_, i) => ({ ...q, clientPort: (i % 60000) + 1 }));
    const lines = formatEvidence(quiet(QUIET_MAX - 2), s).split('\n');
    // Two count lines, QUIET_MAX - 2 quiet lines and 2 slow ones, '' after the last newline.
    expect(lines).toHaveLength(QUIET_MAX + 3);
    expect(lines[0]).toBe(`quiet:${QUIET_MAX - 2}`);
    expect(lines.slice(QUIET_MAX - 1)).toEqual([
      'slow:2',
      'slow 10.0.0.7 40004 10.0.0.100 80 0',
      'slow 2001:db8::5 40002 2001:db8::100 443 12',
      '',
    ]);
    expect(formatEvidence(quiet(QUIET_MAX + 5), s).endsWith('\nslow:0\n')).toBe(true);
    expect(
      formatEvidence(
        null,
        Array.from({ length: QUIET_MAX + 1 }, () => s[0]),
      ).split('\n')[0],
    ).toBe(`slow:${QUIET_MAX}`);
  });
});
