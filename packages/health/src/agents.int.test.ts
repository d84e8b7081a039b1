import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentPoller, type AgentReport } from './agents.ts';
import { HealthCheckError } from './errors.ts';
import { refusedPort } from './test-helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP server answering each connection with the next of `held` as an agent line. */
async function agentAt(held: () => string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.end(held()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { server, port: (server.address() as AddressInfo).port };
}

const poller = (): AgentPoller => {
  const p = new AgentPoller();
  cleanups.push(() => p.stop());
  return p;
};

describe('AgentPoller (real sockets)', () => {
  it('announces each probe, then reports what the agent says, on its interval', async () => {
    let n = 0;
    const { port } = await agentAt(() => `held:${++n}\n`);
    const p = poller();
    const seen: string[] = [];
    p.on('probe', (key) => seen.push(`probe ${key}`));
    p.on('report', (r: AgentReport) => seen.push(`report ${r.key} ${r.held}`));
    p.set([{ key: 'web/a', spec: { address: '127.0.0.1', port, intervalSeconds: 0.05, timeoutSeconds: 1 } }]);
    await once(p, 'report');
    await once(p, 'report');
    expect(seen.slice(0, 4)).toEqual(['probe web/a', 'report web/a 1', 'probe web/a', 'report web/a 2']);
    expect(p.last('web/a')).toMatchObject({
      key: 'web/a',
      held: 2,
      quiet: null,
      detail: 'held 2, no quiet report',
    });
  });

  it('a refused agent is a report of null, not an error; removed targets stop', async () => {
    const p = poller();
    const port = await refusedPort();
    p.set([{ key: 'web/b', spec: { address: '127.0.0.1', port, intervalSeconds: 0.05, timeoutSeconds: 1 } }]);
    const [r] = (await once(p, 'report')) as [AgentReport];
    expect(r).toMatchObject({ key: 'web/b', held: null, quiet: null, detail: 'ECONNREFUSED' });
    p.set([]);
    expect(p.keys()).toEqual([]);
    expect(p.last('web/b')).toBeNull();
  });

  it("reports the agent's quiet and slow connections, and null for a missing or malformed block", async () => {
    const replies = [
      'held:7\nquiet:1\nquiet 10.0.0.5 40001 10.0.0.100 80 2500\n',
      'held:7\nquiet:1\nquiet 10.0.0.5 40001 10.0.0.100 80 soon\n',
      'held:7\n',
      'unknown\nquiet:0\n',
      'held:7\nquiet:0\nslow:1\nslow 10.0.0.6 40002 10.0.0.100 80 1609\n',
      'held:7\nslow:2\nslow 10.0.0.6 40002 10.0.0.100 80 1609\n',
    ];
    const { port } = await agentAt(() => replies.shift() ?? '');
    const p = poller();
    p.set([{ key: 'web/c', spec: { address: '127.0.0.1', port, intervalSeconds: 0.02, timeoutSeconds: 1 } }]);
    const reports: AgentReport[] = [];
    while (reports.length < 6) reports.push(((await once(p, 'report')) as [AgentReport])[0]);
    expect(reports.map(({ held, quiet, slow, detail }) => ({ held, quiet, slow, detail }))).toEqual([
      {
        held: 7,
        quiet: [
          { client: '10.0.0.5', clientPort: 40001, local: '10.0.0.100', localPort: 80, lastSendMs: 2500 },
        ],
        slow: null,
        detail: 'held 7, quiet 1',
      },
      { held: 7, quiet: null, slow: null, detail: 'held 7, bad quiet block: line 1: bad ms "soon"' },
      { held: 7, quiet: null, slow: null, detail: 'held 7, no quiet report' },
      { held: null, quiet: null, slow: null, detail: 'no held:N in "unknown"' },
      {
        held: 7,
        quiet: [],
        slow: [
          { client: '10.0.0.6', clientPort: 40002, local: '10.0.0.100', localPort: 80, bytesPerSecond: 1609 },
        ],
        detail: 'held 7, quiet 0, slow 1',
      },
      {
        held: 7,
        quiet: null,
        slow: null,
        detail: 'held 7, no quiet report, bad slow block: slow:2 but 1 lines',
      },
    ]);
  });

  it('rejects a bad spec before changing anything', async () => {
    const p = poller();
    const ok = { address: '127.0.0.1', port: 1, intervalSeconds: 10, timeoutSeconds: 1 };
    p.set([{ key: 'a', spec: ok }]);
    expect(() => p.set([{ key: 'b', spec: { ...ok, address: 'localhost' } }])).toThrow(HealthCheckError);
    expect(() => p.set([{ key: 'b', spec: { ...ok, timeoutSeconds: 0 } }])).toThrow(/timeoutSeconds/);
    expect(p.keys()).toEqual(['a']);
  });
});
