// GET /v1/stats over app.inject against the in-memory director (the real one: cli/*.int.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, harness } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

describe('GET /v1/stats', () => {
  it('answers every service and real server, without a token, with IPVS connection counts', async () => {
    const res = await h.app.inject({ url: '/v1/stats' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.services.map((s: { name: string }) => s.name)).toEqual(['web', 'dns6']);
    const [first, second] = body.services[0].reals;
    // The sample table: 10.10.1.1 holds one ESTABLISHED and one SYN_RECV; 10.10.1.2 one ESTABLISHED.
    expect(first).toMatchObject({
      address: '10.10.1.1',
      port: 80,
      activeConnections: 1,
      inactiveConnections: 1,
    });
    expect(second).toMatchObject({ address: '10.10.1.2', activeConnections: 1, inactiveConnections: 0 });
    expect(first.stats).toEqual({ conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 });
    expect(first.rates).toEqual({ cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });
  });
});
