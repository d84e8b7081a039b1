import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeAgent } from '@sluice/health';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentError, AgentErrorCode } from './errors.ts';
import { ssArgs } from './quiet.ts';
import { AgentServer, type AgentServerOptions, CACHE_MS } from './server.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real service on 127.0.0.1:0 that keeps every connection it accepts. */
async function service(): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    s.on('error', () => {});
    accepted.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as { port: number }).port, accepted };
}

async function client(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  cleanups.push(() => void s.destroy());
  await once(s, 'connect');
  return s;
}

/**
 * An agent on 127.0.0.1:0. The held tests leave the quiet and slow blocks out (quietMs and slowBps
 * 0), so their answers do not hang on how long this host took to get to the query; the quiet and
 * slow tests ask for them.
 */
async function agent(
  ports: number[],
  root?: string,
  options: Partial<AgentServerOptions> = { quietMs: 0, slowBps: 0 },
): Promise<AgentServer> {
  const a = await AgentServer.listen({ host: '127.0.0.1', port: 0, ports, root, ...options });
  cleanups.push(() => a.close());
  return a;
}

/** What the agent writes to one connection, up to its FIN. */
async function query(port: number, host = '127.0.0.1'): Promise<string> {
  const s = connect(port, host);
  let text = '';
  s.setEncoding('latin1');
  s.on('data', (d: string) => {
    text += d;
  });
  await once(s, 'end');
  s.destroy();
  return text;
}

/** Queries until the answer is `want` or `ms` have passed; returns the last answer. */
async function pollFor(port: number, want: string, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  let got = await query(port);
  while (got !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    got = await query(port);
  }
  return got;
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

const LINE = (local: string, st: string) =>
  `   0: 0100007F:${local} 0100007F:C350 ${st} 00000000:00000000 00:00000000 00000000 0 0 1\n`;

describe('AgentServer on real sockets (/proc/net of this host)', () => {
  it("counts the service's accepted connections, not its listener nor its clients' side", async () => {
    const svc = await service();
    const clients = await Promise.all(Array.from({ length: 5 }, () => client(svc.port)));
    await until(() => svc.accepted.length === 5);
    const a = await agent([svc.port]);
    expect(a.address).toEqual({ host: '127.0.0.1', port: expect.any(Number) });
    expect(a.address.port).toBeGreaterThan(0);
    expect(await query(a.address.port)).toBe('held:5\n');

    // The service answers each FIN with its own (net's allowHalfOpen: false), so the two leave
    // CLOSE_WAIT at once and go through LAST_ACK, which is not held.
    for (const c of clients.slice(0, 2)) c.end();
    expect(await pollFor(a.address.port, 'held:3\n', CACHE_MS + 2000)).toBe('held:3\n');
  });

  it('counts a connection the peer finished but the service still holds (CLOSE_WAIT)', async () => {
    const accepted: Socket[] = [];
    const server = createServer({ allowHalfOpen: true }, (s) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const port = (server.address() as { port: number }).port;
    const c = await client(port);
    await until(() => accepted.length === 1);
    const ended = once(accepted[0], 'end');
    accepted[0].resume();
    c.end();
    await ended;
    const a = await agent([port]);
    expect(await query(a.address.port)).toBe('held:1\n');
    accepted[0].end();
    expect(await pollFor(a.address.port, 'held:0\n', CACHE_MS + 2000)).toBe('held:0\n');
  });

  it('survives clients that reset before their answer, and answers the next one', async () => {
    const svc = await service();
    const a = await agent([svc.port]);
    for (let i = 0; i < 20; i++) {
      const s = connect(a.address.port, '127.0.0.1');
      s.on('error', () => {});
      s.once('connect', () => s.resetAndDestroy());
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(await query(a.address.port)).toBe('held:0\n');
  });

  it('discards what a client sends (agent-send) and still answers with a FIN', async () => {
    const svc = await service();
    await client(svc.port);
    await until(() => svc.accepted.length === 1);
    const a = await agent([svc.port]);
    const s = connect(a.address.port, '127.0.0.1');
    s.write('ready\n');
    let text = '';
    s.setEncoding('latin1').on('data', (d: string) => {
      text += d;
    });
    await once(s, 'end');
    s.destroy();
    expect(text).toBe('held:1\n');
  });

  it('drops the clients still connected on close()', async () => {
    const svc = await service();
    const a = await agent([svc.port]);
    // allowHalfOpen keeps the client's side open after the agent's FIN, so only close() ends it.
    const s = connect({ port: a.address.port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => {});
    s.resume();
    await once(s, 'end');
    const t0 = Date.now();
    await a.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    s.destroy();
    await a.close(); // twice is fine
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AgentServer listing quiet connections (real sockets, real ss)', () => {
  /**
   * A dual-stack service on [::]:0 (so an IPv4 client is ::ffff:127.0.0.1 to it): a client that
   * sends `stream` gets a byte every 50 ms; any other request gets one answer, then silence.
   */
  async function webService(): Promise<number> {
    const accepted: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    const server = createServer((s) => {
      s.on('error', () => {});
      accepted.push(s);
      s.once('data', (d: Buffer) => {
        if (d.toString('latin1') === 'stream') timers.push(setInterval(() => s.write('.'), 50));
        else s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      });
    });
    server.listen(0, '::');
    await once(server, 'listening');
    cleanups.push(async () => {
      for (const t of timers) clearInterval(t);
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return (server.address() as { port: number }).port;
  }

  /** A client of `port` on `host` that sends `request` and waits for the first bytes back. */
  async function ask(port: number, host: string, request: string): Promise<Socket> {
    const s = connect(port, host);
    s.on('error', () => {});
    cleanups.push(() => void s.destroy());
    await once(s, 'connect');
    s.write(request);
    await once(s, 'data');
    s.resume();
    return s;
  }

  it('lists the connections its server answered and then left silent, not the one it keeps writing to', async () => {
    const port = await webService();
    const quiet4 = await ask(port, '127.0.0.1', 'GET / HTTP/1.1\r\n\r\n');
    const quiet6 = await ask(port, '::1', 'GET / HTTP/1.1\r\n\r\n');
    const busy = await ask(port, '127.0.0.1', 'stream');
    const a = await agent([port], undefined, { quietMs: 300, slowBps: 0 });
    // Both sides idle on the quiet ones; the busy one's server writes every 50 ms meanwhile.
    await sleep(600);

    const r = await probeAgent('127.0.0.1', a.address.port, 2000);
    expect(r).toMatchObject({ ok: true, held: 3, detail: 'held 3, quiet 2' });
    const quiet = r.quiet!;
    expect(quiet).toHaveLength(2);
    expect(quiet.find((q) => q.clientPort === quiet4.localPort)).toEqual({
      client: '127.0.0.1',
      clientPort: quiet4.localPort,
      local: '127.0.0.1',
      localPort: port,
      lastSendMs: expect.any(Number),
    });
    expect(quiet.find((q) => q.clientPort === quiet6.localPort)).toMatchObject({
      client: '::1',
      local: '::1',
      localPort: port,
    });
    for (const q of quiet) expect(q.lastSendMs).toBeGreaterThanOrEqual(300);
    expect(quiet[0].lastSendMs).toBeGreaterThanOrEqual(quiet[1].lastSendMs);
    expect(quiet.some((q) => q.clientPort === busy.localPort)).toBe(false);
  });

  it('answers quiet:0 when no connection has been silent for the floor', async () => {
    const port = await webService();
    await ask(port, '127.0.0.1', 'GET / HTTP/1.1\r\n\r\n');
    const a = await agent([port], undefined, { quietMs: 60_000, slowBps: 0 });
    expect(await query(a.address.port)).toBe('held:1\nquiet:0\n');
    expect(await probeAgent('127.0.0.1', a.address.port, 2000)).toMatchObject({
      ok: true,
      held: 1,
      quiet: [],
      detail: 'held 1, quiet 0',
    });
  });

  it('answers held:N alone (no quiet, no slow block) while ss fails, says so once per run of failures, and recovers', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const svc = await service();
    await client(svc.port);
    await until(() => svc.accepted.length === 1);
    let broken = true;
    let runs = 0;
    const errors: Error[] = [];
    const a = await agent([svc.port], undefined, {
      quietMs: 60_000,
      runSs: async (args) => {
        runs++;
        if (broken) throw new Error('spawn ss ENOENT');
        expect(args).toEqual(ssArgs([svc.port]));
        return '';
      },
      onError: (err) => errors.push(err),
    });
    expect(await query(a.address.port)).toBe('held:1\n');
    vi.advanceTimersByTime(CACHE_MS);
    expect(await probeAgent('127.0.0.1', a.address.port, 2000)).toMatchObject({
      ok: true,
      held: 1,
      quiet: null,
      detail: 'held 1, no quiet report',
    });
    vi.advanceTimersByTime(CACHE_MS);
    expect(await query(a.address.port)).toBe('held:1\n');
    expect(runs).toBe(3);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(AgentError);
    expect(errors[0]).toMatchObject({
      code: AgentErrorCode.ssFailed,
      message: 'cannot list sockets with ss: spawn ss ENOENT',
    });

    broken = false;
    vi.advanceTimersByTime(CACHE_MS);
    expect(await query(a.address.port)).toBe('held:1\nquiet:0\nslow:0\n');
    broken = true;
    vi.advanceTimersByTime(CACHE_MS);
    expect(await query(a.address.port)).toBe('held:1\n');
    expect(errors).toHaveLength(2);
  });

  it('without ss on PATH answers held:N alone and names what is missing', async () => {
    const svc = await service();
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    cleanups.push(() => {
      process.env.PATH = path;
    });
    const errors: Error[] = [];
    const a = await agent([svc.port], undefined, { quietMs: 1000, onError: (err) => errors.push(err) });
    expect(await query(a.address.port)).toBe('held:0\n');
    expect(errors).toEqual([
      expect.objectContaining({
        code: AgentErrorCode.ssFailed,
        message: 'cannot list sockets with ss: ss not found (install iproute2)',
      }),
    ]);
  });
});

describe('AgentServer listing slow connections (real sockets, real ss)', () => {
  /** The answer each client of the service gets: more than any loopback send buffer holds. */
  const ANSWER_BYTES = 4 * 1024 * 1024;

  /** A service on 127.0.0.1:0 that writes ANSWER_BYTES to each client and keeps the connection. */
  async function bigAnswerService(): Promise<number> {
    const accepted: Socket[] = [];
    const server = createServer((s) => {
      s.on('error', () => {});
      accepted.push(s);
      s.write(Buffer.alloc(ANSWER_BYTES, 'x'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return (server.address() as { port: number }).port;
  }

  // A slow reader: the smallest receive buffer the kernel allows (set before connect, so the
  // window it offers stays that small), then 1 KB every 0.5 s. Node cannot set SO_RCVBUF on a
  // TCP socket, and with a default buffer every read would take whatever the window let in.
  const SLOW_READER = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.connect(('127.0.0.1', int(sys.argv[1])))
print(s.getsockname()[1], flush=True)
while s.recv(1024):
    time.sleep(0.5)
`;

  /** Starts the slow reader on `port`; resolves its local port once it is connected. */
  async function slowReader(port: number): Promise<number> {
    const child = spawn('python3', ['-c', SLOW_READER, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout!.setEncoding('latin1');
    return new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      child.once('error', reject);
      child.once('close', (code) => reject(new Error(`slow reader exited ${code}`)));
    });
  }

  /** A client that reads the whole answer at once; resolves once it has, keeping the connection. */
  async function fastReader(port: number): Promise<number> {
    const s = await client(port);
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    await until(() => got >= ANSWER_BYTES);
    return s.localPort!;
  }

  it('lists a client reading the answer at 1 KB every 0.5 s with its rate, not one that read it all', async () => {
    const port = await bigAnswerService();
    const [slowPort, fastPort] = await Promise.all([slowReader(port), fastReader(port)]);
    // The same floors from the command line; quiet off, so a fast reader's silent server does not
    // keep it off the slow list for being quiet instead.
    const floors = ['--quiet-ms', '0', '--slow-bps', '65536', '--slow-grace-ms', '1000'];
    const cli = spawn(
      process.execPath,
      [MAIN, '--listen', '127.0.0.1:0', '--port', String(port), ...floors],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    cleanups.push(() => {
      if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
    });
    let banner = '';
    cli.stdout!.setEncoding('utf8').on('data', (d: string) => {
      banner += d;
    });
    const a = await agent([port], undefined, { quietMs: 0, slowBps: 65536, slowGraceMs: 1000 });
    // Past the grace: the slow reader's server has been backlogged since it connected.
    await sleep(1300);

    const line = `slow 127\\.0\\.0\\.1 ${slowPort} 127\\.0\\.0\\.1 ${port} (\\d+)\\n`;
    const answer = await query(a.address.port);
    const m = new RegExp(`^held:2\\nslow:1\\n${line}$`).exec(answer);
    expect(m, answer).not.toBeNull();
    // At most 2 KB/s read, plus what its tiny buffer held at first; it has taken some.
    const rate = Number(m![1]);
    expect(rate).toBeGreaterThan(0);
    expect(rate).toBeLessThan(8192);
    expect(answer).not.toContain(` ${fastPort} `);

    await until(() => banner.includes('\n'));
    expect(banner).toMatch(/, no quiet report, slow under 65536 B\/s after 1000 ms busy\n$/);
    const fromCli = await query(Number(/:(\d+),/.exec(banner)![1]));
    expect(fromCli).toMatch(new RegExp(`^held:2\\nslow:1\\n${line}$`));
  });
});

describe('AgentServer counting from a fixture root', () => {
  let dir: string;
  const root = async (tcp: string | null): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-agent-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    if (tcp !== null) await writeFile(join(dir, 'tcp'), tcp);
    return dir;
  };

  it('shares one read among concurrent queries and keeps its answer for CACHE_MS', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const r = await root(LINE('0050', '01'));
    const a = await agent([80], r);
    const first = a.answer();
    expect(a.answer()).toBe(first);
    const answers = await Promise.all(Array.from({ length: 50 }, () => query(a.address.port)));
    expect(await first).toBe('held:1\n');
    expect(new Set(answers)).toEqual(new Set(['held:1\n']));

    await writeFile(join(r, 'tcp'), LINE('0050', '01') + LINE('0050', '08'));
    vi.advanceTimersByTime(CACHE_MS - 1);
    expect(await a.answer()).toBe('held:1\n');
    expect(await query(a.address.port)).toBe('held:1\n');
    vi.advanceTimersByTime(1);
    expect(await a.answer()).toBe('held:2\n');
  });

  it('keeps the whole answer, quiet and slow blocks included, for CACHE_MS: one ss run per read', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const r = await root(LINE('0050', '01'));
    const runs: (readonly string[])[] = [];
    let ss = [
      '0      0               10.0.0.100:80           10.0.0.5:40001',
      '\t bbr wscale:7,7 rto:204 lastsnd:2500 lastrcv:2500 lastack:2500',
      // Backlogged and never acked, but quiet: listed once, as quiet.
      '0      4096   [::ffff:10.0.0.100]:80  [::ffff:10.0.0.6]:40002',
      '\t bbr wscale:7,7 rto:204 lastsnd:90000 lastrcv:12 lastack:12 busy:90000ms notsent:4096',
      '0      0               10.0.0.100:80           10.0.0.7:40003',
      '\t bbr wscale:7,7 rto:204 lastsnd:20 lastrcv:20 lastack:20',
      // 3000 bytes taken in 6 s busy: 500 bytes/s.
      '0      65536           10.0.0.100:80           10.0.0.8:40004',
      '\t bbr wscale:7,7 rto:204 bytes_acked:3000 lastsnd:200 lastrcv:20 lastack:200 busy:6000ms notsent:1',
      '',
    ].join('\n');
    const a = await agent([80], r, {
      quietMs: 1000,
      runSs: async (args) => {
        runs.push(args);
        return ss;
      },
    });
    const want =
      'held:1\nquiet:2\nquiet 10.0.0.6 40002 10.0.0.100 80 90000\nquiet 10.0.0.5 40001 10.0.0.100 80 2500\n' +
      'slow:1\nslow 10.0.0.8 40004 10.0.0.100 80 500\n';
    const answers = await Promise.all(Array.from({ length: 50 }, () => query(a.address.port)));
    expect(new Set(answers)).toEqual(new Set([want]));
    expect(runs).toEqual([ssArgs([80])]);

    ss = '';
    vi.advanceTimersByTime(CACHE_MS - 1);
    expect(await a.answer()).toBe(want);
    vi.advanceTimersByTime(1);
    expect(await a.answer()).toBe('held:1\nquiet:0\nslow:0\n');
    expect(runs).toHaveLength(2);
  });

  const SLOW_SS = [
    '0      65536           10.0.0.100:80           10.0.0.5:40001',
    '\t bbr wscale:7,7 rto:204 bytes_acked:3000 lastsnd:200 busy:6000ms notsent:1', // 500 bytes/s
    '0      65536      [::ffff:10.0.0.100]:80  [::ffff:10.0.0.6]:40002',
    '\t bbr wscale:7,7 rto:204 lastsnd:900 busy:7000ms notsent:65536', // nothing acked: 0 bytes/s
    '0      65536      [2001:db8::100]:80      [2001:db8::7]:40003',
    '\t bbr wscale:7,7 rto:204 bytes_acked:1000000 lastsnd:900 busy:7000ms notsent:1', // 142857 bytes/s
    '0      65536           10.0.0.100:80           10.0.0.8:40004',
    '\t bbr wscale:7,7 rto:204 bytes_acked:10 lastsnd:900 busy:1500ms notsent:1', // inside the grace
    '0      0               10.0.0.100:80           10.0.0.9:40005',
    '\t bbr wscale:7,7 rto:204 bytes_acked:10 lastsnd:900 busy:9000ms', // nothing waiting
    '0      120             10.0.0.100:80           10.0.0.10:40006',
    '\t bbr wscale:7,7 rto:204 bytes_acked:2400 lastsnd:50 busy:3000ms', // small messages: none unsent
    '',
  ].join('\n');

  it('answers the slow block, slowest first, after the held line when the quiet block is off', async () => {
    const r = await root(LINE('0050', '01'));
    const runs: (readonly string[])[] = [];
    const a = await agent([80], r, {
      quietMs: 0,
      runSs: async (args) => {
        runs.push(args);
        return SLOW_SS;
      },
    });
    expect(await query(a.address.port)).toBe(
      'held:1\nslow:2\nslow 10.0.0.6 40002 10.0.0.100 80 0\nslow 10.0.0.5 40001 10.0.0.100 80 500\n',
    );
    expect(runs).toEqual([ssArgs([80])]);
    // A floor over the fast one's rate, and a grace the young one has passed.
    const b = await agent([80], r, {
      quietMs: 1000,
      slowBps: 200_000,
      slowGraceMs: 1500,
      runSs: async () => SLOW_SS,
    });
    expect(await query(b.address.port)).toBe(
      'held:1\nquiet:0\nslow:4\n' +
        'slow 10.0.0.6 40002 10.0.0.100 80 0\n' +
        'slow 10.0.0.8 40004 10.0.0.100 80 6\n' +
        'slow 10.0.0.5 40001 10.0.0.100 80 500\n' +
        'slow 2001:db8::7 40003 2001:db8::100 80 142857\n',
    );
  });

  it('answers no slow block with slowBps 0, and runs no ss at all with quietMs 0 too', async () => {
    const r = await root(LINE('0050', '01'));
    const a = await agent([80], r, { quietMs: 1000, slowBps: 0, runSs: async () => SLOW_SS });
    expect(await query(a.address.port)).toBe('held:1\nquiet:0\n');
    const b = await agent([80], r, {
      quietMs: 0,
      slowBps: 0,
      runSs: () => Promise.reject(new Error('must not run')),
    });
    expect(await query(b.address.port)).toBe('held:1\n');
  });

  it('answers unknown when /proc/net/tcp cannot be read, and recovers', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const r = await root(null);
    const a = await agent([80], r);
    expect(await query(a.address.port)).toBe('unknown\n');
    await writeFile(join(r, 'tcp'), LINE('0050', '08'));
    expect(await a.answer()).toBe('unknown\n'); // a failure is cached too
    vi.advanceTimersByTime(CACHE_MS);
    expect(await query(a.address.port)).toBe('held:1\n');
  });

  it('refuses bad options with typed errors', async () => {
    const bad = [
      { host: 'localhost', port: 0, ports: [80] },
      { host: '127.0.0.1', port: 70000, ports: [80] },
      { host: '127.0.0.1', port: 0, ports: [] },
      { host: '127.0.0.1', port: 0, ports: [0] },
      { host: '127.0.0.1', port: 5555, ports: [5555] },
      { host: '127.0.0.1', port: 0, ports: [80], quietMs: -1 },
      { host: '127.0.0.1', port: 0, ports: [80], quietMs: 1.5 },
      { host: '127.0.0.1', port: 0, ports: [80], quietMs: Number.NaN },
      { host: '127.0.0.1', port: 0, ports: [80], quietMs: 2 ** 32 },
      { host: '127.0.0.1', port: 0, ports: [80], slowBps: -1 },
      { host: '127.0.0.1', port: 0, ports: [80], slowBps: 1.5 },
      { host: '127.0.0.1', port: 0, ports: [80], slowBps: Number.NaN },
      { host: '127.0.0.1', port: 0, ports: [80], slowBps: 2 ** 32 },
      { host: '127.0.0.1', port: 0, ports: [80], slowGraceMs: -1 },
      { host: '127.0.0.1', port: 0, ports: [80], slowGraceMs: 0.5 },
      { host: '127.0.0.1', port: 0, ports: [80], slowGraceMs: Number.POSITIVE_INFINITY },
      { host: '127.0.0.1', port: 0, ports: [80], slowGraceMs: 2 ** 32 },
    ];
    for (const o of bad) {
      await expect(AgentServer.listen(o)).rejects.toMatchObject({
        code: 'SLUICE_ERR_AGENT_INVALID_ARGUMENT',
      });
    }
    await expect(
      AgentServer.listen({ host: '127.0.0.1', port: 0, ports: [80], slowBps: -1 }),
    ).rejects.toThrow('slowBps -1 is not in 0..4294967295');
    await expect(
      AgentServer.listen({ host: '127.0.0.1', port: 0, ports: [80], slowGraceMs: 1.5 }),
    ).rejects.toThrow('slowGraceMs 1.5 is not in 0..4294967295');
    const svc = await service();
    await expect(
      AgentServer.listen({ host: '127.0.0.1', port: svc.port, ports: [80] }),
    ).rejects.toMatchObject({
      code: 'SLUICE_ERR_AGENT_LISTEN_FAILED',
      message: expect.stringContaining('EADDRINUSE'),
    });
  });
});

describe('sluice-agent CLI (main.ts)', () => {
  function run(
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
  ): ChildProcess & { out: () => string; err: () => string } {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return Object.assign(child, { out: () => out, err: () => err });
  }

  it('listens on an ephemeral port, prints it, answers, and exits 0 on SIGTERM', async () => {
    const svc = await service();
    await client(svc.port);
    await client(svc.port);
    await until(() => svc.accepted.length === 2);
    const child = run(['--listen', '127.0.0.1:0', '--port', String(svc.port), '--port', '1']);
    const exited = once(child, 'close');
    await banner(child);
    const m =
      /^sluice-agent: listening on 127\.0\.0\.1:(\d+), counting ports (\S+), quiet after 1000 ms, slow under 2048 B\/s after 2000 ms busy\n$/.exec(
        child.out(),
      );
    expect(m, child.out()).not.toBeNull();
    expect(m![2]).toBe(`1,${svc.port}`);
    const port = Number(m![1]);
    expect(port).toBeGreaterThan(0);
    // The two connections are quiet (their server never wrote) once they are a second old, and
    // never slow (nothing waits to be acknowledged on them).
    const conn = `quiet 127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${svc.port} \\d+\\n`;
    expect(await query(port)).toMatch(
      new RegExp(`^held:2\\nquiet:(?:0\\n|1\\n${conn}|2\\n${conn}${conn})slow:0\\n$`),
    );
    await sleep(1000);
    expect(await query(port)).toMatch(new RegExp(`^held:2\\nquiet:2\\n${conn}${conn}slow:0\\n$`));

    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(child.err()).toBe('');
  });

  it('with --quiet-ms 0 --slow-bps 0 answers held:N alone; without ss, says so on stderr once', async () => {
    const svc = await service();
    await client(svc.port);
    await until(() => svc.accepted.length === 1);
    const off = run([
      '--listen',
      '127.0.0.1:0',
      '--port',
      String(svc.port),
      '--quiet-ms',
      '0',
      '--slow-bps',
      '0',
    ]);
    await banner(off);
    expect(off.out()).toMatch(/, counting ports \d+, no quiet report, no slow report\n$/);
    expect(await query(Number(/:(\d+),/.exec(off.out())![1]))).toBe('held:1\n');
    const slowOnly = run(['--listen', '127.0.0.1:0', '--port', String(svc.port), '--quiet-ms', '0']);
    await banner(slowOnly);
    expect(slowOnly.out()).toMatch(/, no quiet report, slow under 2048 B\/s after 2000 ms busy\n$/);
    expect(await query(Number(/:(\d+),/.exec(slowOnly.out())![1]))).toBe('held:1\nslow:0\n');

    const noSs = run(['--listen', '127.0.0.1:0', '--port', String(svc.port), '--quiet-ms', '500'], {
      ...process.env,
      PATH: '/nonexistent',
    });
    await banner(noSs);
    const port = Number(/:(\d+),/.exec(noSs.out())![1]);
    for (let i = 0; i < 3; i++) {
      expect(await query(port)).toBe('held:1\n');
      await sleep(CACHE_MS + 20);
    }
    expect(noSs.err()).toBe('sluice-agent: cannot list sockets with ss: ss not found (install iproute2)\n');
  });

  it('exits 2 on bad arguments, with a message naming the argument', async () => {
    const cases: Array<[string[], string]> = [
      [['--listen', '127.0.0.1:0', '--port', 'http'], '--port'],
      [['--listen', '127.0.0.1:0'], '--port'],
      [['--port', '80'], '--listen'],
      [['--listen', 'localhost:5555', '--port', '80'], '--listen'],
      [['--listen', '127.0.0.1:0', '--port', '80', '--verbose'], '--verbose'],
      [['--listen', '127.0.0.1:0', '--port', '80', '--quiet-ms', 'soon'], '--quiet-ms'],
      [['--listen', '127.0.0.1:0', '--port', '80', '--quiet-ms=-1'], '--quiet-ms'],
      [['--listen', '127.0.0.1:0', '--port', '80', '--slow-bps', '2k'], '--slow-bps'],
      [['--listen', '127.0.0.1:0', '--port', '80', '--slow-grace-ms=4294967296'], '--slow-grace-ms'],
    ];
    for (const [args, named] of cases) {
      const child = run(args);
      const [code] = await once(child, 'close');
      expect(code, args.join(' ')).toBe(2);
      expect(child.err()).toMatch(new RegExp(`^sluice-agent: .*${named}`));
      expect(child.out()).toBe('');
    }
  });

  /** Resolves once the child printed its banner line; rejects if it exits first. */
  function banner(child: ReturnType<typeof run>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => child.out().includes('\n') && resolve();
      child.stdout!.on('data', check);
      child.once('close', (code) => reject(new Error(`exited ${code}: ${child.err()}`)));
      check();
    });
  }

  it('prints its usage on --help and exits 0', async () => {
    const child = run(['--help']);
    const [code] = await once(child, 'close');
    expect(code).toBe(0);
    expect(child.out()).toContain('usage: sluice-agent --listen [HOST:]PORT --port N');
  });
});
