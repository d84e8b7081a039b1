import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentServer, CACHE_MS } from './server.ts';

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

async function agent(ports: number[], root?: string): Promise<AgentServer> {
  const a = await AgentServer.listen({ host: '127.0.0.1', port: 0, ports, root });
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
    ];
    for (const o of bad) {
      await expect(AgentServer.listen(o)).rejects.toMatchObject({
        code: 'SLUICE_ERR_AGENT_INVALID_ARGUMENT',
      });
    }
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
  function run(args: string[]): ChildProcess & { out: () => string; err: () => string } {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    await new Promise<void>((resolve, reject) => {
      const check = () => child.out().includes('\n') && resolve();
      child.stdout!.on('data', check);
      child.once('close', (code) => reject(new Error(`exited ${code}: ${child.err()}`)));
      check();
    });
    const m = /^sluice-agent: listening on 127\.0\.0\.1:(\d+), counting ports (\S+)\n$/.exec(child.out());
    expect(m, child.out()).not.toBeNull();
    expect(m![2]).toBe(`1,${svc.port}`);
    const port = Number(m![1]);
    expect(port).toBeGreaterThan(0);
    expect(await query(port)).toBe('held:2\n');

    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(child.err()).toBe('');
  });

  it('exits 2 on bad arguments, with a message naming the argument', async () => {
    const cases: Array<[string[], string]> = [
      [['--listen', '127.0.0.1:0', '--port', 'http'], '--port'],
      [['--listen', '127.0.0.1:0'], '--port'],
      [['--port', '80'], '--listen'],
      [['--listen', 'localhost:5555', '--port', '80'], '--listen'],
      [['--listen', '127.0.0.1:0', '--port', '80', '--verbose'], '--verbose'],
    ];
    for (const [args, named] of cases) {
      const child = run(args);
      const [code] = await once(child, 'close');
      expect(code, args.join(' ')).toBe(2);
      expect(child.err()).toMatch(new RegExp(`^sluice-agent: .*${named}`));
      expect(child.out()).toBe('');
    }
  });

  it('prints its usage on --help and exits 0', async () => {
    const child = run(['--help']);
    const [code] = await once(child, 'close');
    expect(code).toBe(0);
    expect(child.out()).toContain('usage: sluice-agent --listen [HOST:]PORT --port N');
  });
});
