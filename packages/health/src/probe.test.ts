import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AGENT_REPLY_CAP,
  HTTP_BODY_CAP,
  hostHeader,
  parseAgentReply,
  parseQuietBlock,
  parseSlowBlock,
  probeAgent,
  probeHttp,
  probeTcp,
} from './probe.ts';
import { httpListener, refusedPort, tcpListener } from './test-helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
const track = <T extends { close(): Promise<void> }>(l: T): T => {
  cleanups.push(() => l.close());
  return l;
};

describe('probeTcp (keepalived TCP_CHECK)', () => {
  it('succeeds when the handshake completes, then closes its connection', async () => {
    const l = track(await tcpListener());
    const r = await probeTcp('127.0.0.1', l.port, 1000);
    expect(r).toMatchObject({ ok: true, detail: 'connected' });
    expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(l.accepted).toBe(1);
    // The probe closed its side: the server's socket sees the end of the stream and closes.
    const [server] = l.sockets;
    if (server !== undefined) await once(server, 'close');
    expect(l.sockets.size).toBe(0);
  });

  it('fails with ECONNREFUSED on a port nothing listens on', async () => {
    const r = await probeTcp('127.0.0.1', await refusedPort(), 1000);
    expect(r).toMatchObject({ ok: false, detail: 'ECONNREFUSED' });
  });

  it('works over IPv6 (::1 must be available on this machine)', async () => {
    // No skip: if ::1 cannot be bound, this throws and the test fails loudly.
    const l = track(await tcpListener('::1'));
    expect(await probeTcp('::1', l.port, 1000)).toMatchObject({ ok: true, detail: 'connected' });
    expect(l.accepted).toBe(1);
    await l.close();
    expect((await probeTcp('::1', l.port, 1000)).detail).toBe('ECONNREFUSED');
  });

  it('does not connect at all when the signal is already aborted', async () => {
    const l = track(await tcpListener());
    const ac = new AbortController();
    ac.abort();
    expect(await probeTcp('127.0.0.1', l.port, 1000, ac.signal)).toEqual({
      ok: false,
      detail: 'aborted',
      ms: 0,
    });
    // Event order, not time: a later probe's connection is the first the server ever accepted.
    expect((await probeTcp('127.0.0.1', l.port, 1000)).ok).toBe(true);
    expect(l.accepted).toBe(1);
  });

  it('refuses host names and bad arguments as failed checks, without throwing', async () => {
    expect(await probeTcp('localhost', 80, 1000)).toMatchObject({
      ok: false,
      detail: 'not an IP address: localhost',
    });
    expect(await probeTcp('127.0.0.1', 0, 1000)).toMatchObject({ ok: false, detail: 'invalid port 0' });
    expect(await probeTcp('127.0.0.1', 80, 0)).toMatchObject({ ok: false, detail: 'invalid timeout 0 ms' });
  });
});

describe('probeHttp (keepalived HTTP_GET)', () => {
  it('sends GET path with Host and Connection: close, and succeeds on the expected status', async () => {
    const l = track(await httpListener((_req, res) => res.end('fine')));
    const r = await probeHttp('127.0.0.1', l.port, '/healthz?deep=1', 200, 1000);
    expect(r).toMatchObject({ ok: true, detail: 'status 200' });
    expect(l.requests).toHaveLength(1);
    const req = l.requests[0];
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/healthz?deep=1');
    expect(req.headers.host).toBe(`127.0.0.1:${l.port}`);
    expect(req.headers.connection).toBe('close');
  });

  it('fails on another status, naming both', async () => {
    const l = track(
      await httpListener((_req, res) => {
        res.statusCode = 503;
        res.end('busy');
      }),
    );
    expect(await probeHttp('127.0.0.1', l.port, '/', 200, 1000)).toMatchObject({
      ok: false,
      detail: 'status 503, expected 200',
    });
    // An explicit expectation need not be 2xx: a 503 can be exactly what is expected.
    expect((await probeHttp('127.0.0.1', l.port, '/', 503, 1000)).ok).toBe(true);
  });

  it('accepts any 2xx and only 2xx when no status is expected (keepalived default)', async () => {
    let status = 204;
    const l = track(
      await httpListener((_req, res) => {
        res.statusCode = status;
        res.end();
      }),
    );
    expect(await probeHttp('127.0.0.1', l.port, '/', undefined, 1000)).toMatchObject({
      ok: true,
      detail: 'status 204',
    });
    status = 301;
    expect(await probeHttp('127.0.0.1', l.port, '/', undefined, 1000)).toMatchObject({
      ok: false,
      detail: 'status 301, expected 2xx',
    });
  });

  it('times out on a server that accepts the request and never answers', async () => {
    const l = track(await httpListener(() => {})); // holds every request open
    const r = await probeHttp('127.0.0.1', l.port, '/', 200, 200);
    expect(r).toMatchObject({ ok: false, detail: 'timeout after 200 ms' });
    expect(r.ms).toBeGreaterThanOrEqual(150); // generous: the deadline, not an exact duration
    expect(l.requests).toHaveLength(1);
  });

  it('fails when the server closes the connection without answering', async () => {
    const l = track(await tcpListener('127.0.0.1', 0, (s) => s.once('data', () => s.destroy())));
    const r = await probeHttp('127.0.0.1', l.port, '/', 200, 1000);
    expect(r.ok).toBe(false);
    expect(r.detail).toBe('ECONNRESET'); // node's "socket hang up"
  });

  it('fails when the server closes the connection on accept', async () => {
    const l = track(await tcpListener('127.0.0.1', 0, (s) => s.destroy()));
    const r = await probeHttp('127.0.0.1', l.port, '/', 200, 1000);
    expect(r.ok).toBe(false);
    expect(['ECONNRESET', 'EPIPE', 'connection closed']).toContain(r.detail);
  });

  it('fails on a reply that is not HTTP', async () => {
    const l = track(
      await tcpListener('127.0.0.1', 0, (s) => s.once('data', () => s.end('SSH-2.0-OpenSSH\r\n'))),
    );
    const r = await probeHttp('127.0.0.1', l.port, '/', 200, 1000);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/^HPE_/);
  });

  it('judges an HTTP/1.0 response read to EOF (no length) by its status', async () => {
    const l = track(
      await tcpListener('127.0.0.1', 0, (s) =>
        s.once('data', () => s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall good')),
      ),
    );
    expect(await probeHttp('127.0.0.1', l.port, '/', 200, 1000)).toMatchObject({
      ok: true,
      detail: 'status 200',
    });
  });

  it('stops reading an endless body at the cap and still judges by the status', async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    const l = track(
      await httpListener((_req, res) => {
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) {}
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      }),
    );
    // Without the cap this would run into the 5 s deadline and fail as a timeout.
    const r = await probeHttp('127.0.0.1', l.port, '/', 200, 5000);
    expect(r).toMatchObject({ ok: true, detail: `status 200 (body over ${HTTP_BODY_CAP} bytes, dropped)` });
  });

  it('works over IPv6 with a bracketed Host header', async () => {
    const l = track(await httpListener((_req, res) => res.end(), '::1'));
    expect(await probeHttp('::1', l.port, '/', 200, 1000)).toMatchObject({ ok: true, detail: 'status 200' });
    expect(l.requests[0].headers.host).toBe(`[::1]:${l.port}`);
  });

  it('gives up at once when aborted mid-request', async () => {
    const l = track(await httpListener(() => {}));
    const ac = new AbortController();
    const probe = probeHttp('127.0.0.1', l.port, '/', 200, 30_000, ac.signal);
    // Abort once the server holds the request, so the abort lands on a live exchange.
    while (l.requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
    ac.abort();
    const r = await probe;
    expect(r).toMatchObject({ ok: false, detail: 'aborted' });
    expect(r.ms).toBeLessThan(30_000);
  });
});

describe('hostHeader', () => {
  it('brackets IPv6, escapes a zone, and leaves out port 80', () => {
    expect(hostHeader('10.0.0.1', 80)).toBe('10.0.0.1');
    expect(hostHeader('10.0.0.1', 8080)).toBe('10.0.0.1:8080');
    expect(hostHeader('2001:db8::1', 443)).toBe('[2001:db8::1]:443');
    expect(hostHeader('fe80::1%eth0', 80)).toBe('[fe80::1%25eth0]');
  });
});

describe('parseAgentReply (a load agent line, HAProxy agent-check form)', () => {
  it('reads held:N among other tokens, and says why a line is no report', () => {
    expect(parseAgentReply('held:12\n')).toBe(12);
    expect(parseAgentReply('up 75%, held:0\r\n')).toBe(0);
    expect(parseAgentReply('held:7\nheld:9\n')).toBe(7);
    expect(parseAgentReply('')).toBe('empty reply');
    expect(parseAgentReply('unknown\n')).toBe('no held:N in "unknown"');
    expect(parseAgentReply('held:-1')).toBe('bad held value: "-1"');
    expect(parseAgentReply('held:1234567890')).toMatch(/^bad held value/);
  });

  it('reads only the first line of a reply with a quiet block', () => {
    expect(parseAgentReply('held:3\nquiet:1\nquiet 10.0.0.5 40001 10.0.0.100 80 2500\n')).toBe(3);
    expect(parseAgentReply('unknown\nquiet:0\n')).toBe('no held:N in "unknown"');
  });
});

describe('parseQuietBlock (the quiet block after the held line)', () => {
  const Q = (client: string, clientPort: number, local: string, localPort: number, lastSendMs: number) => ({
    client,
    clientPort,
    local,
    localPort,
    lastSendMs,
  });

  it('reads quiet:K and its K lines, IPv4 and IPv6', () => {
    const reply =
      'held:12\nquiet:3\n' +
      'quiet 2001:db8::5 40002 2001:db8::100 443 90000\n' +
      'quiet 10.0.0.5 40001 10.0.0.100 80 1500\n' +
      'quiet 10.0.0.6 65535 10.0.0.100 80 4294967295\n';
    expect(parseQuietBlock(reply)).toEqual([
      Q('2001:db8::5', 40002, '2001:db8::100', 443, 90000),
      Q('10.0.0.5', 40001, '10.0.0.100', 80, 1500),
      Q('10.0.0.6', 65535, '10.0.0.100', 80, 4294967295),
    ]);
    expect(parseQuietBlock('held:0\nquiet:0\n')).toEqual([]);
    expect(parseQuietBlock(reply.replaceAll('\n', '\r\n'))).toHaveLength(3);
    // Lines before the block that are no quiet block are left to fields still to come.
    expect(parseQuietBlock('held:1\nload:7\nquiet:1\nquiet 10.0.0.5 1 10.0.0.100 80 5\nmore:1\n')).toEqual([
      Q('10.0.0.5', 1, '10.0.0.100', 80, 5),
    ]);
  });

  it('is null without a quiet: line: an agent without ss, or one that predates the block', () => {
    expect(parseQuietBlock('held:12\n')).toBeNull();
    expect(parseQuietBlock('held:12')).toBeNull();
    expect(parseQuietBlock('')).toBeNull();
    expect(parseQuietBlock('unknown\n')).toBeNull();
    expect(parseQuietBlock('quiet:0\n')).toBeNull(); // line 1 is the held line, whatever it says
    expect(parseQuietBlock('held:1\nquiet:0')).toBeNull(); // a count line cut short is no line
  });

  it('says why a block is malformed: count, K mismatch, fields, addresses, ports, numbers', () => {
    const one = (line: string) => parseQuietBlock(`held:1\nquiet:1\n${line}\n`);
    expect(parseQuietBlock('held:1\nquiet:x\n')).toBe('bad count line "quiet:x"');
    expect(parseQuietBlock('held:1\nquiet:-1\n')).toBe('bad count line "quiet:-1"');
    expect(parseQuietBlock('held:1\nquiet: 1\n')).toMatch(/^bad count line/);
    expect(parseQuietBlock('held:1\nquiet:2\nquiet 10.0.0.5 1 10.0.0.100 80 5\n')).toBe(
      'quiet:2 but 1 lines',
    );
    expect(parseQuietBlock('held:1\nquiet:2\nquiet 10.0.0.5 1 10.0.0.100 80 5\nother\n')).toBe(
      'quiet:2 but 1 lines',
    );
    expect(
      parseQuietBlock(
        'held:1\nquiet:1\nquiet 10.0.0.5 1 10.0.0.100 80 5\nquiet 10.0.0.6 1 10.0.0.100 80 5\n',
      ),
    ).toBe('quiet:1 but more lines');
    // The last line without its newline: cut short, its number may be too.
    expect(parseQuietBlock('held:1\nquiet:1\nquiet 10.0.0.5 1 10.0.0.100 80 5')).toBe('quiet:1 but 0 lines');
    expect(one('quiet 10.0.0.5 1 10.0.0.100 80')).toBe('line 1: 4 fields, expected 5');
    expect(one('quiet 10.0.0.5 1 10.0.0.100 80 5 6')).toBe('line 1: 6 fields, expected 5');
    expect(one('quiet  10.0.0.5 1 10.0.0.100 80 5')).toBe('line 1: 6 fields, expected 5');
    expect(one('quiet [::1] 1 ::1 80 5')).toBe('line 1: bad client address "[::1]"');
    expect(one('quiet host 1 ::1 80 5')).toBe('line 1: bad client address "host"');
    expect(one('quiet ::1 1 10.0.0.256 80 5')).toBe('line 1: bad local address "10.0.0.256"');
    expect(one('quiet ::1 0 ::1 80 5')).toBe('line 1: bad client port "0"');
    expect(one('quiet ::1 65536 ::1 80 5')).toBe('line 1: bad client port "65536"');
    expect(one('quiet ::1 1 ::1 +80 5')).toBe('line 1: bad local port "+80"');
    expect(one('quiet ::1 1 ::1 80 -5')).toBe('line 1: bad ms "-5"');
    expect(one('quiet ::1 1 ::1 80 1e3')).toBe('line 1: bad ms "1e3"');
    expect(one('quiet ::1 1 ::1 80 4294967296')).toBe('line 1: bad ms "4294967296"');
    expect(one('quiet ::1 1 ::1 80 ')).toBe('line 1: bad ms ""');
  });
});

describe('parseSlowBlock', () => {
  it('reads slow:K and its K lines after the quiet block, or alone', () => {
    const slow = {
      client: '10.0.0.6',
      clientPort: 40002,
      local: '10.0.0.100',
      localPort: 80,
      bytesPerSecond: 1609,
    };
    const reply =
      'held:3\nquiet:1\nquiet 10.0.0.5 1 10.0.0.100 80 5\nslow:1\nslow 10.0.0.6 40002 10.0.0.100 80 1609\n';
    expect(parseSlowBlock(reply)).toEqual([slow]);
    // The quiet block is unaffected by the slow one after it.
    expect(parseQuietBlock(reply)).toHaveLength(1);
    expect(parseSlowBlock('held:3\nslow:1\nslow 10.0.0.6 40002 10.0.0.100 80 1609\n')).toEqual([slow]);
    expect(parseSlowBlock('held:3\nquiet:0\nslow:0\n')).toEqual([]);
    expect(parseSlowBlock('held:3\nquiet:0\n')).toBeNull();
  });

  it('says why a block is malformed, by the same rules as the quiet block', () => {
    expect(parseSlowBlock('held:1\nslow:2\nslow 10.0.0.6 1 10.0.0.100 80 5\n')).toBe('slow:2 but 1 lines');
    expect(parseSlowBlock('held:1\nslow:1\nslow 10.0.0.6 1 10.0.0.100 80 fast\n')).toBe(
      'line 1: bad rate "fast"',
    );
    // A quiet line where a slow one belongs is not one.
    expect(parseSlowBlock('held:1\nslow:1\nquiet 10.0.0.6 1 10.0.0.100 80 5\n')).toBe('slow:1 but 0 lines');
  });
});

describe('probeAgent', () => {
  it("reads the agent's line, fails on a line without a report, a refused port or a silent agent", async () => {
    const lines = ['held:5\n', 'drain\n'];
    const server = createServer((s) => {
      const line = lines.shift();
      if (line === undefined) return; // silent: the probe times out
      s.end(line);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;
    expect(await probeAgent('127.0.0.1', port, 1000)).toMatchObject({
      ok: true,
      detail: 'held 5, no quiet report',
      held: 5,
      quiet: null,
    });
    const bad = await probeAgent('127.0.0.1', port, 1000);
    expect(bad).toMatchObject({ ok: false, detail: 'no held:N in "drain"' });
    expect(bad.held).toBeUndefined();
    expect(bad.quiet).toBeUndefined();
    expect(await probeAgent('127.0.0.1', port, 100)).toMatchObject({
      ok: false,
      detail: 'timeout after 100 ms',
    });
    expect(await probeAgent('127.0.0.1', await refusedPort(), 1000)).toMatchObject({
      ok: false,
      detail: 'ECONNREFUSED',
    });
  });

  /** An agent on loopback that answers each connection through `answer`. */
  async function agentAt(answer: (s: Socket) => void): Promise<number> {
    const server = createServer((s) => {
      s.on('error', () => {});
      answer(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return (server.address() as AddressInfo).port;
  }

  it('reads the reply to EOF, however it is split, and takes its quiet block', async () => {
    const reply =
      'held:2\nquiet:2\nquiet 2001:db8::5 40002 2001:db8::100 443 90000\nquiet 10.0.0.5 40001 10.0.0.100 80 1500\n';
    const port = await agentAt((s) => {
      // A byte at a time, with pauses: the held line is complete long before the block is.
      let i = 0;
      const next = () => {
        if (s.destroyed) return;
        if (i === reply.length) return void s.end();
        s.write(reply[i++]);
        setTimeout(next, i % 16 === 0 ? 5 : 0);
      };
      next();
    });
    expect(await probeAgent('127.0.0.1', port, 5000)).toMatchObject({
      ok: true,
      held: 2,
      detail: 'held 2, quiet 2',
      quiet: [
        {
          client: '2001:db8::5',
          clientPort: 40002,
          local: '2001:db8::100',
          localPort: 443,
          lastSendMs: 90000,
        },
        { client: '10.0.0.5', clientPort: 40001, local: '10.0.0.100', localPort: 80, lastSendMs: 1500 },
      ],
    });
  });

  it('keeps the held count of a reply whose quiet block is malformed, with no quiet list', async () => {
    const port = await agentAt((s) => s.end('held:4\nquiet:2\nquiet 10.0.0.5 40001 10.0.0.100 80 1500\n'));
    expect(await probeAgent('127.0.0.1', port, 1000)).toMatchObject({
      ok: true,
      held: 4,
      quiet: null,
      detail: 'held 4, bad quiet block: quiet:2 but 1 lines',
    });
  });

  it('reads the largest block an agent sends (65536 lines of the longest addresses) whole', async () => {
    const v6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const line = `quiet ${v6} 65535 ${v6} 65535 4294967295\n`;
    expect(line).toHaveLength(109);
    const reply = `held:999999999\nquiet:65536\n${line.repeat(65536)}`;
    expect(reply.length).toBeLessThanOrEqual(AGENT_REPLY_CAP);
    const port = await agentAt((s) => s.end(reply));
    const r = await probeAgent('127.0.0.1', port, 10_000);
    expect(r).toMatchObject({ ok: true, held: 999999999, detail: 'held 999999999, quiet 65536' });
    expect(r.quiet).toHaveLength(65536);
  });

  it('stops reading past AGENT_REPLY_CAP: the held line counts, the block is no evidence', async () => {
    const line = 'quiet 10.0.0.5 40001 10.0.0.100 80 1500\n';
    const k = Math.ceil(AGENT_REPLY_CAP / line.length) + 1;
    let sent = 0;
    const port = await agentAt((s) => {
      s.write(`held:3\nquiet:${k}\n`);
      // Endless, as a broken or hostile agent could be: only the cap ends the read.
      const pump = () => {
        while (!s.destroyed && s.write(line.repeat(1024))) sent += line.length * 1024;
        if (!s.destroyed) s.once('drain', pump);
      };
      pump();
    });
    const r = await probeAgent('127.0.0.1', port, 10_000);
    expect(r).toMatchObject({
      ok: true,
      held: 3,
      quiet: null,
      detail: `held 3, bad quiet block: reply over ${AGENT_REPLY_CAP} bytes`,
    });
    expect(sent).toBeGreaterThan(AGENT_REPLY_CAP / 2);
  });
});
