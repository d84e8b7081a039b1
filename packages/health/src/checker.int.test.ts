import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthChecker, type HealthState } from './checker.ts';
import { HealthCheckError, HealthErrorCode } from './errors.ts';
import type { HealthCheckSpec } from './spec.ts';
import { httpListener, nextEvent, refusedPort, sleep, tcpListener } from './test-helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const track = <T extends { close(): Promise<void> }>(l: T): T => {
  cleanups.push(() => l.close());
  return l;
};
const checker = (jitter = false): HealthChecker => {
  const c = new HealthChecker({ jitter });
  cleanups.push(() => c.stop());
  return c;
};

/** A 50 ms TCP check of 127.0.0.1:port that a single result decides, unless overridden. */
const tcp = (port: number, over: Partial<HealthCheckSpec> = {}): HealthCheckSpec => ({
  type: 'tcp',
  address: '127.0.0.1',
  port,
  intervalSeconds: 0.05,
  timeoutSeconds: 1,
  rise: 1,
  fall: 1,
  ...over,
});

const http = (port: number, over: Partial<HealthCheckSpec> = {}): HealthCheckSpec => ({
  ...tcp(port),
  type: 'http',
  path: '/health',
  expectStatus: 200,
  ...over,
});

type Entry =
  | { kind: 'check'; key: string; ok: boolean; state: HealthState; detail: string }
  | { kind: 'change'; key: string; state: HealthState; detail: string; checks: number };

/** Every event in order, with the target's check count as seen by a `change` listener. */
function record(c: HealthChecker): Entry[] {
  const log: Entry[] = [];
  c.on('check', (e) => log.push({ kind: 'check', key: e.key, ok: e.ok, state: e.state, detail: e.detail }));
  c.on('change', (e) =>
    log.push({
      kind: 'change',
      key: e.key,
      state: e.state,
      detail: e.detail,
      checks: c.status(e.key)!.checks,
    }),
  );
  return log;
}
const checksOf = (log: Entry[], key: string) =>
  log.flatMap((e) => (e.kind === 'check' && e.key === key ? [`${e.ok ? 'ok' : 'fail'}:${e.state}`] : []));

/** Resolve when the server receives its `n`th request (1-based): event order, no polling of time. */
function nthRequest(requests: IncomingMessage[], n: number): Promise<IncomingMessage> {
  return new Promise((resolve) => {
    const poll = () => (requests.length >= n ? resolve(requests[n - 1]) : setImmediate(poll));
    poll();
  });
}

/** Resolve once the peer (the probe) has closed the connection under a server-side request. */
async function peerClosed(req: IncomingMessage): Promise<void> {
  if (!req.socket.readableEnded && !req.socket.destroyed) await once(req.socket, 'end');
}

describe('HealthChecker state machine (keepalived)', () => {
  it('keeps a listening target up and emits no change', async () => {
    const l = track(await tcpListener());
    const c = checker();
    const log = record(c);
    c.set([{ key: 'a', spec: tcp(l.port, { fall: 2 }) }]);
    expect(c.status('a')).toMatchObject({ state: 'up', checks: 0, lastCheckAt: null, lastDetail: '' });
    for (let i = 0; i < 5; i++) await nextEvent(c, 'check');
    expect(c.status('a')).toMatchObject({
      state: 'up',
      failures: 0,
      consecutiveFail: 0,
      lastDetail: 'connected',
    });
    expect(c.status('a')!.consecutiveOk).toBe(c.status('a')!.checks);
    expect(log.filter((e) => e.kind === 'change')).toEqual([]);
  });

  it('goes down after exactly `fall` failures and up again after exactly `rise` successes', async () => {
    let l = await tcpListener();
    cleanups.push(() => l.close());
    const port = l.port;
    const c = checker();
    const log = record(c);
    // Close the listener right after the second success: between two probes, so the next one is
    // the first to be refused.
    c.on('check', (e) => {
      if (e.ok && c.status('a')!.checks === 2 && c.status('a')!.failures === 0) void l.close();
    });
    c.set([{ key: 'a', spec: tcp(port, { fall: 3, rise: 2 }) }]);

    const down = await nextEvent(c, 'change', (e) => e.key === 'a');
    expect(down).toMatchObject({ key: 'a', state: 'down', detail: 'ECONNREFUSED' });
    expect(typeof down.at).toBe('number');
    expect(c.status('a')).toMatchObject({ checks: 5, failures: 3, consecutiveFail: 3, consecutiveOk: 0 });
    expect(checksOf(log, 'a')).toEqual(['ok:up', 'ok:up', 'fail:up', 'fail:up', 'fail:down']);
    expect(log.at(-1)).toMatchObject({ kind: 'change', state: 'down', checks: 5 });

    l = await tcpListener('127.0.0.1', port); // the same port, listening again
    const up = await nextEvent(c, 'change', (e) => e.key === 'a');
    expect(up).toMatchObject({ key: 'a', state: 'up', detail: 'connected' });
    const s = c.status('a')!;
    expect(s.consecutiveOk).toBe(2);
    // Whatever failed while the listener came back, the change came at the second success in a
    // row and not before: the log ends fail, ok (still down), ok (up), then the change.
    const tail = checksOf(log, 'a').slice(-3);
    expect(tail).toEqual(['fail:down', 'ok:down', 'ok:up']);
    expect(log.at(-1)).toMatchObject({ kind: 'change', state: 'up', checks: s.checks });
    expect(log.filter((e) => e.kind === 'change').map((e) => e.state)).toEqual(['down', 'up']);
  });

  it('starts a `startDown` (keepalived alpha) target down and brings it up after `rise` successes', async () => {
    const l = track(await tcpListener());
    const c = checker();
    c.set([{ key: 'a', spec: tcp(l.port, { rise: 3, startDown: true }) }]);
    expect(c.status('a')!.state).toBe('down');
    const up = await nextEvent(c, 'change');
    expect(up).toMatchObject({ key: 'a', state: 'up' });
    expect(c.status('a')).toMatchObject({ checks: 3, consecutiveOk: 3, failures: 0 });
  });

  it('checks HTTP: a 503 takes it down, a hang times out, a 200 brings it back', async () => {
    let mode: 'ok' | 'busy' | 'hang' = 'ok';
    const l = track(
      await httpListener((req, res) => {
        if (req.url !== '/health') res.statusCode = 404;
        else if (mode === 'busy') res.statusCode = 503;
        if (mode !== 'hang') res.end();
      }),
    );
    const c = checker();
    const log = record(c);
    c.set([{ key: 'h', spec: http(l.port, { fall: 2, timeoutSeconds: 0.1 }) }]);
    await nextEvent(c, 'check', (e) => e.ok);
    mode = 'busy';
    const down = await nextEvent(c, 'change');
    expect(down).toMatchObject({ state: 'down', detail: 'status 503, expected 200' });
    expect(c.status('h')).toMatchObject({ consecutiveFail: 2 });
    mode = 'hang';
    await nextEvent(c, 'check', (e) => e.detail === 'timeout after 100 ms');
    mode = 'ok';
    const up = await nextEvent(c, 'change');
    expect(up).toMatchObject({ state: 'up', detail: 'status 200' });
    // Failures of a down target are counted, but never emit another 'down'.
    expect(log.filter((e) => e.kind === 'change').map((e) => e.state)).toEqual(['down', 'up']);
  });

  it('never overlaps probes of one target: the next starts an interval after the last ended', async () => {
    let inFlight = 0;
    let most = 0;
    const l = track(
      await httpListener((_req, res) => {
        most = Math.max(most, ++inFlight);
        // Slower than the 50 ms interval: overlapping probes would show up as 2 in flight.
        setTimeout(() => {
          inFlight--;
          res.end();
        }, 120);
      }),
    );
    const c = checker();
    c.set([{ key: 'h', spec: http(l.port) }]);
    for (let i = 0; i < 4; i++) expect((await nextEvent(c, 'check')).ok).toBe(true);
    expect(most).toBe(1);
    expect(l.requests.length).toBeGreaterThanOrEqual(4);
  });
});

describe('HealthChecker.set', () => {
  it('keeps state, counters and timer of an unchanged key; stops removed keys; starts new ones', async () => {
    const live = track(await tcpListener());
    const refused = await refusedPort();
    const c = checker();
    const log = record(c);
    c.set([
      { key: 'a', spec: tcp(refused) },
      { key: 'b', spec: tcp(live.port) },
    ]);
    await nextEvent(c, 'change', (e) => e.key === 'a' && e.state === 'down');
    const before = c.status('a')!;
    const mark = log.length;
    // A fresh but equal spec object: equality is by value.
    c.set([
      { key: 'a', spec: tcp(refused) },
      { key: 'c', spec: tcp(live.port) },
    ]);
    expect(c.status('a')).toEqual(before); // state down, same counts, same nextCheckAt: timer untouched
    expect(c.status('b')).toBeUndefined();
    expect(c.status('c')).toMatchObject({ state: 'up', checks: 0 });
    expect(c.keys()).toEqual(['a', 'c']);

    await nextEvent(c, 'check', (e) => e.key === 'a');
    await nextEvent(c, 'check', (e) => e.key === 'a');
    await nextEvent(c, 'check', (e) => e.key === 'c');
    const after = log.slice(mark);
    expect(after.filter((e) => e.key === 'b')).toEqual([]);
    expect(after.filter((e) => e.kind === 'change')).toEqual([]); // 'a' stayed down, no re-announcement
    expect(c.status('a')!.checks).toBeGreaterThanOrEqual(before.checks + 2);
  });

  it('restarts the timer of a changed spec but keeps its up/down state and totals', async () => {
    const live = track(await tcpListener());
    const c = checker();
    c.set([{ key: 'a', spec: tcp(await refusedPort(), { intervalSeconds: 0.2 }) }]);
    await nextEvent(c, 'change', (e) => e.state === 'down');
    const before = c.status('a')!;
    c.set([{ key: 'a', spec: tcp(live.port, { rise: 2 }) }]);
    const now = Date.now();
    const after = c.status('a')!;
    expect(after).toMatchObject({
      state: 'down',
      checks: before.checks,
      failures: before.failures,
      consecutiveFail: 0, // the streak was of another probe
      consecutiveOk: 0,
    });
    expect(after.nextCheckAt).not.toBeNull();
    expect(after.nextCheckAt!).toBeLessThanOrEqual(now); // due at once (jitter off), not 200 ms later
    const up = await nextEvent(c, 'change');
    expect(up).toMatchObject({ key: 'a', state: 'up' });
    expect(c.status('a')!.checks).toBe(before.checks + 2);
  });

  it('drops a probe in flight when the spec changes, without counting it', async () => {
    const hang = track(await httpListener(() => {}));
    const live = track(await tcpListener());
    const c = checker();
    const log = record(c);
    c.set([{ key: 'a', spec: http(hang.port, { timeoutSeconds: 30 }) }]);
    const held = await nthRequest(hang.requests, 1);
    c.set([{ key: 'a', spec: tcp(live.port) }]);
    await peerClosed(held); // the aborted probe closed its connection
    const first = await nextEvent(c, 'check');
    expect(first).toMatchObject({ key: 'a', ok: true, detail: 'connected' });
    expect(c.status('a')!.checks).toBe(1);
    expect(log.filter((e) => e.detail === 'aborted')).toEqual([]);
  });

  it('spreads first checks over one interval with jitter, and fires them at once without', async () => {
    const live = track(await tcpListener());
    const targets = Array.from({ length: 10 }, (_, i) => ({
      key: `t${i}`,
      spec: tcp(live.port, { intervalSeconds: 1 }),
    }));
    const spread = checker(true);
    let t0 = Date.now();
    spread.set(targets);
    let t1 = Date.now();
    const due = targets.map((t) => spread.status(t.key)!.nextCheckAt!);
    for (const d of due) {
      expect(d).toBeGreaterThanOrEqual(t0);
      expect(d).toBeLessThan(t1 + 1000);
    }
    // Ten draws from 0..999 ms all equal: about 1e-27, so this cannot fail by chance.
    expect(new Set(due.map((d) => d - t0)).size).toBeGreaterThan(1);
    await spread.stop();

    const flat = checker(false);
    t0 = Date.now();
    flat.set(targets);
    t1 = Date.now();
    for (const t of targets) {
      const d = flat.status(t.key)!.nextCheckAt;
      expect(d).not.toBeNull(); // set() is synchronous: no timer can have fired yet
      expect(d!).toBeGreaterThanOrEqual(t0);
      expect(d!).toBeLessThanOrEqual(t1);
    }
  });

  it('rejects a bad set as a whole with typed errors and leaves the running set alone', async () => {
    const c = checker();
    const good = tcp(await refusedPort(), { intervalSeconds: 60 });
    c.set([{ key: 'a', spec: good }]);
    const rejects = (spec: Partial<HealthCheckSpec>, code: string, key = 'x') => {
      let caught: unknown;
      try {
        c.set([
          { key: 'a', spec: good },
          { key, spec: { ...good, ...spec } as HealthCheckSpec },
        ]);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(HealthCheckError);
      expect((caught as HealthCheckError).code).toBe(code);
      expect(c.keys()).toEqual(['a']);
    };
    const invalid = HealthErrorCode.invalidSpec;
    rejects({ intervalSeconds: 0 }, invalid);
    rejects({ timeoutSeconds: -1 }, invalid);
    rejects({ intervalSeconds: 3_000_000 }, invalid); // beyond setTimeout's range
    rejects({ fall: 0 }, invalid);
    rejects({ rise: 1.5 }, invalid);
    rejects({ port: 70_000 }, invalid);
    rejects({ address: 'localhost' }, invalid);
    rejects({ path: 'health' }, invalid);
    rejects({ path: '/a b' }, invalid);
    rejects({ expectStatus: 99 }, invalid);
    rejects({ type: 'udp' as 'tcp' }, invalid);
    rejects({}, invalid, '');
    rejects({}, HealthErrorCode.duplicateKey, 'a');

    await c.stop();
    expect(() => c.set([])).toThrow(expect.objectContaining({ code: HealthErrorCode.stopped }));
  });
});

describe('HealthChecker.stop', () => {
  it('aborts the probe in flight, resolves, and emits nothing afterwards', async () => {
    const hang = track(await httpListener(() => {}));
    const live = track(await tcpListener());
    const c = checker();
    let events = 0;
    c.on('check', () => events++);
    c.on('change', () => events++);
    c.set([
      { key: 'hang', spec: http(hang.port, { timeoutSeconds: 30 }) },
      { key: 'live', spec: tcp(live.port) },
    ]);
    const held = await nthRequest(hang.requests, 1);
    await nextEvent(c, 'check', (e) => e.key === 'live');
    const started = performance.now();
    await c.stop();
    // Generous: an unaborted probe would hold stop() for its 30 s deadline.
    expect(performance.now() - started).toBeLessThan(10_000);
    await peerClosed(held);
    expect(c.keys()).toEqual([]);
    expect(c.status('live')).toBeUndefined();
    const seen = { events, connections: live.accepted, requests: hang.requests.length };
    await sleep(300); // six intervals in which a leftover timer would have fired and probed
    expect({ events, connections: live.accepted, requests: hang.requests.length }).toEqual(seen);
    await c.stop(); // idempotent
  });

  it('leaves no handle behind: a process that stops its checker exits by itself', async () => {
    const index = new URL('./index.ts', import.meta.url).href;
    // A TCP target and an HTTP target whose server never answers (a 30 s probe in flight), so a
    // leaked interval timer, probe deadline or socket would keep the child alive.
    const script = `
      import { createServer } from 'node:net';
      import { HealthChecker } from ${JSON.stringify(index)};
      const sockets = new Set();
      const server = createServer((s) => { sockets.add(s); s.on('error', () => {}); });
      server.listen(0, '127.0.0.1', () => {
        const port = server.address().port;
        const base = { address: '127.0.0.1', port, intervalSeconds: 0.05, rise: 1, fall: 1 };
        const c = new HealthChecker();
        c.set([
          { key: 'tcp', spec: { ...base, type: 'tcp', timeoutSeconds: 1 } },
          { key: 'http', spec: { ...base, type: 'http', path: '/', timeoutSeconds: 30 } },
        ]);
        let checks = 0;
        c.on('check', async () => {
          if (++checks !== 4) return;
          await c.stop();
          server.close();
          for (const s of sockets) s.destroy();
          console.log('stopped');
        });
      });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    // Generous guard: a clean exit takes well under a second; a leak would hold it for 30 s+.
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(guard);
    expect({ code, signal, out: out.trim(), err }).toEqual({
      code: 0,
      signal: null,
      out: 'stopped',
      err: '',
    });
  });
});
