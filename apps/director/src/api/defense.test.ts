import { DEFAULT_DEFENSE, type DefenseConfig } from '@sluice/config';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH, type Harness, harness, sampleConfig } from './test-support.ts';

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.app.close();
});

const { rules: _defaultRules, ...DEFAULT_SETTINGS } = DEFAULT_DEFENSE;

/** The harness's config with a defense section, applied (so checked) by the director. */
async function withDefense(defense: Partial<DefenseConfig>): Promise<void> {
  const config = sampleConfig();
  config.defense = { ...structuredClone(DEFAULT_DEFENSE), ...defense };
  await h.control.applyConfig(config);
  h.control.applyCalls = 0;
}

const rulePath = (cidr: string) => `/v1/defense/rules/${encodeURIComponent(cidr)}`;

async function send(
  method: 'PUT' | 'PATCH' | 'POST' | 'DELETE',
  url: string,
  payload?: object,
  headers = {},
) {
  return h.app.inject({ method, url, headers: { ...AUTH, ...headers }, ...(payload ? { payload } : {}) });
}

describe('GET /v1/defense', () => {
  it('answers the defaults, without rules, when the config has no defense section', async () => {
    const res = await h.app.inject({ url: '/v1/defense' });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toEqual(DEFAULT_SETTINGS);
  });

  it("answers the config's section without its rules", async () => {
    await withDefense({ strategy: 'secure_tcp', rules: [{ cidr: '10.1.0.0/16', priority: 0 }] });
    const res = await h.app.inject({ url: '/v1/defense' });
    expect(res.json()).toEqual({ ...DEFAULT_SETTINGS, strategy: 'secure_tcp' });
  });
});

describe('PUT /v1/defense', () => {
  it('replaces the settings: fields left out take their defaults, the rules stay', async () => {
    await withDefense({
      strategy: 'drop_packet',
      weights: { noOptions: 5 },
      rules: [{ cidr: '10.1.0.0/16', priority: 0 }],
    });
    const before = h.control.getConfig().etag;
    const res = await send('PUT', '/v1/defense', {
      strategy: 'priority',
      highWatermark: 0.9,
      lowWatermark: 0.8,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.headers.etag).not.toBe(before);
    const expected = { ...DEFAULT_SETTINGS, highWatermark: 0.9, lowWatermark: 0.8 };
    expect(res.json()).toEqual(expected);
    expect(h.control.getConfig().config.defense).toEqual({
      ...expected,
      rules: [{ cidr: '10.1.0.0/16', priority: 0 }],
    });
  });

  it('writes the section into a config that had none', async () => {
    const res = await send('PUT', '/v1/defense', { strategy: 'none' });
    expect(res.statusCode).toBe(200);
    expect(h.control.getConfig().config.defense).toEqual({ ...DEFAULT_DEFENSE, strategy: 'none' });
  });

  it('400 naming the field (schema and semantic checks alike), config unchanged', async () => {
    const before = h.control.getConfig();
    const cases: [object, string][] = [
      [{ strategy: 'bogus' }, '/strategy'],
      [{ highWatermark: 1.5 }, '/highWatermark'],
      [{ verification: { watermark: 0 } }, '/verification/watermark'],
      [
        { lvs: { dropEntry: 4, dropPacket: 1, secureTcp: 1, amemthresh: 0, amDroprate: 10 } },
        '/lvs/dropEntry',
      ],
      [{ rules: [] }, '/rules'],
      // Found by the director, reported in the body's terms.
      [{ highWatermark: 0.5, lowWatermark: 0.6 }, '/lowWatermark'],
      [{ weights: { noSuchWeight: 1 } }, '/weights/noSuchWeight'],
      [{ sourceChecks: { enabled: true, action: 'drop', allow: ['10.0.0.1/8'] } }, '/sourceChecks/allow/0'],
    ];
    for (const [payload, field] of cases) {
      const res = await send('PUT', '/v1/defense', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json(), JSON.stringify(payload)).toMatchObject({ error: 'invalid', field });
    }
    expect(h.control.getConfig()).toEqual(before);
  });

  it('412 for a stale If-Match; the current one applies', async () => {
    const stale = h.control.getConfig().etag;
    expect((await send('PUT', '/v1/defense', { strategy: 'none' }, { 'if-match': stale })).statusCode).toBe(
      200,
    );
    const again = await send('PUT', '/v1/defense', { strategy: 'drop_entry' }, { 'if-match': stale });
    expect(again.statusCode).toBe(412);
    expect(h.control.getConfig().config.defense?.strategy).toBe('none');
  });
});

describe('PATCH /v1/defense', () => {
  it('changes one field and keeps the others', async () => {
    await withDefense({
      highWatermark: 0.9,
      lowWatermark: 0.8,
      rules: [{ cidr: '10.1.0.0/16', priority: 2 }],
    });
    const res = await send('PATCH', '/v1/defense', { strategy: 'drop_entry' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ...DEFAULT_SETTINGS,
      highWatermark: 0.9,
      lowWatermark: 0.8,
      strategy: 'drop_entry',
    });
    expect(h.control.getConfig().config.defense?.rules).toEqual([{ cidr: '10.1.0.0/16', priority: 2 }]);
    // verification: one member, the others kept
    const always = await send('PATCH', '/v1/defense', { verification: { mode: 'always' } });
    expect(always.statusCode).toBe(200);
    expect(always.json()).toMatchObject({
      verification: { mode: 'always', watermark: 0.75, holdSeconds: 10 },
      strategy: 'drop_entry',
      highWatermark: 0.9,
    });
    const ipvs = await send('PATCH', '/v1/defense', { countInactive: true });
    expect(ipvs.json()).toMatchObject({ countInactive: true, verification: { mode: 'always' } });
  });

  it('merges lvs, sourceChecks and weights member by member; null removes an optional member', async () => {
    await withDefense({
      weights: { noOptions: 5, badTtl: 2 },
      sourceChecks: { enabled: true, action: 'drop', prefixes: ['240.0.0.0/4'], allow: ['10.0.0.0/8'] },
    });
    const res = await send('PATCH', '/v1/defense', {
      lvs: { dropEntry: 3 },
      weights: { badTtl: null, stall: 2 },
      sourceChecks: { action: 'lowest', prefixes: null },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ...DEFAULT_SETTINGS,
      lvs: { ...DEFAULT_DEFENSE.lvs, dropEntry: 3 },
      weights: { noOptions: 5, stall: 2 },
      sourceChecks: { enabled: true, action: 'lowest', allow: ['10.0.0.0/8'] },
    });
  });

  it('starts from the defaults when the config has no defense section', async () => {
    const res = await send('PATCH', '/v1/defense', { lvs: { amDroprate: 20 } });
    expect(res.statusCode).toBe(200);
    expect(h.control.getConfig().config.defense).toEqual({
      ...DEFAULT_DEFENSE,
      lvs: { ...DEFAULT_DEFENSE.lvs, amDroprate: 20 },
    });
  });

  it('400 naming the field: bad values, unknown fields, a merge the director refuses; config unchanged', async () => {
    const before = h.control.getConfig();
    const cases: [object, string][] = [
      [{ lvs: { dropEntry: 5 } }, '/lvs/dropEntry'],
      [{ lvs: { dropEverything: 1 } }, '/lvs/dropEverything'],
      [{ verification: { mode: 'sometimes' } }, '/verification/mode'],
      [{ strategy: null }, '/strategy'],
      [{ sourceChecks: { enabled: null } }, '/sourceChecks/enabled'],
      [{ rules: [] }, '/rules'],
      // Valid alone, refused once merged: 0.99 is above the running high watermark (0.98).
      [{ lowWatermark: 0.99 }, '/lowWatermark'],
    ];
    for (const [payload, field] of cases) {
      const res = await send('PATCH', '/v1/defense', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json(), JSON.stringify(payload)).toMatchObject({ error: 'invalid', field });
    }
    expect(h.control.getConfig()).toEqual(before);
  });

  it('412 for a stale If-Match', async () => {
    const res = await send('PATCH', '/v1/defense', { strategy: 'none' }, { 'if-match': '"v0-stale"' });
    expect(res.statusCode).toBe(412);
    expect(h.control.getConfig().config.defense).toBeUndefined();
  });
});

describe('priority rules', () => {
  it('lists none without a defense section, then the rules with their canonical ids', async () => {
    let res = await h.app.inject({ url: '/v1/defense/rules' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [] });
    // A rule from a config file keeps its spelling; its id is the canonical prefix.
    await withDefense({ rules: [{ cidr: '2001:DB8:0::/32', priority: 1 }] });
    res = await h.app.inject({ url: '/v1/defense/rules' });
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toEqual({ items: [{ id: '2001:db8::/32', cidr: '2001:DB8:0::/32', priority: 1 }] });
  });

  it('POST adds a rule: 201, Location, ETag, the rule with its canonical CIDR; the settings stay', async () => {
    await withDefense({ strategy: 'drop_entry' });
    const res = await send('POST', '/v1/defense/rules', {
      cidr: '2001:DB8:AB::/48',
      priority: 0,
      pool: ['10.10.1.2:80'],
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe(rulePath('2001:db8:ab::/48'));
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toEqual({
      id: '2001:db8:ab::/48',
      cidr: '2001:db8:ab::/48',
      priority: 0,
      pool: ['10.10.1.2:80'],
    });
    const defense = h.control.getConfig().config.defense;
    expect(defense?.strategy).toBe('drop_entry');
    expect(defense?.rules).toEqual([{ cidr: '2001:db8:ab::/48', priority: 0, pool: ['10.10.1.2:80'] }]);
  });

  it('POST into a config without a defense section writes the section with the defaults', async () => {
    const res = await send('POST', '/v1/defense/rules', { cidr: '10.1.0.0/16', priority: 3 });
    expect(res.statusCode).toBe(201);
    expect(h.control.getConfig().config.defense).toEqual({
      ...DEFAULT_DEFENSE,
      rules: [{ cidr: '10.1.0.0/16', priority: 3 }],
    });
  });

  it('409 for a prefix that has a rule, in any spelling; nothing applied', async () => {
    await withDefense({
      rules: [
        { cidr: '10.1.0.0/16', priority: 0 },
        { cidr: '2001:db8::/32', priority: 1 },
      ],
    });
    const before = h.control.getConfig();
    for (const cidr of ['10.1.0.0/16', '2001:DB8:0:0::/32']) {
      const res = await send('POST', '/v1/defense/rules', { cidr, priority: 5 });
      expect(res.statusCode, cidr).toBe(409);
      expect(res.json()).toMatchObject({ error: 'conflict' });
    }
    expect(h.control.getConfig()).toEqual(before);
  });

  it('400 naming the field of the body, config unchanged', async () => {
    const before = h.control.getConfig();
    const cases: [object, string][] = [
      [{ cidr: '10.1.0.0/16' }, '/priority'],
      [{ cidr: '10.1.0.0/16', priority: 16 }, '/priority'],
      [{ cidr: '10.1.2.3/16', priority: 1 }, '/cidr'],
      [{ cidr: '10.1.0.0/33', priority: 1 }, '/cidr'],
      [{ cidr: 'not-a-cidr', priority: 1 }, '/cidr'],
      [{ cidr: '10.1.0.0/16', priority: 1, pool: [] }, '/pool'],
      [{ cidr: '10.1.0.0/16', priority: 1, pool: ['10.10.1.1:80', '10.10.1.1:080'] }, '/pool/1'],
      [{ cidr: '10.1.0.0/16', priority: 1, pool: ['10.10.1.1'] }, '/pool/0'],
      // The director's check: no real server at that address:port.
      [{ cidr: '10.1.0.0/16', priority: 1, pool: ['10.10.1.1:80', '10.10.9.9:80'] }, '/pool/1'],
    ];
    for (const [payload, field] of cases) {
      const res = await send('POST', '/v1/defense/rules', payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json(), JSON.stringify(payload)).toMatchObject({ error: 'invalid', field });
    }
    expect(h.control.getConfig()).toEqual(before);
  });

  it('GET one rule by its URL-encoded CIDR in any spelling; 404 for none; 400 naming `cidr`', async () => {
    await withDefense({
      rules: [
        { cidr: '10.1.0.0/16', priority: 0 },
        { cidr: '2001:db8::/32', priority: 1 },
      ],
    });
    let res = await h.app.inject({ url: rulePath('10.1.0.0/16') });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(res.json()).toEqual({ id: '10.1.0.0/16', cidr: '10.1.0.0/16', priority: 0 });
    res = await h.app.inject({ url: rulePath('2001:DB8:0::/32') });
    expect(res.json()).toMatchObject({ id: '2001:db8::/32', priority: 1 });
    expect((await h.app.inject({ url: rulePath('10.2.0.0/16') })).statusCode).toBe(404);
    for (const bad of ['10.1.0.1/16', '10.1.0.0/40', 'x']) {
      const r = await h.app.inject({ url: rulePath(bad) });
      expect(r.statusCode, bad).toBe(400);
      expect(r.json()).toMatchObject({ error: 'invalid', field: 'cidr' });
    }
  });

  it('PUT replaces a rule (the path names it); 400 for another CIDR in the body; 404 for none', async () => {
    await withDefense({ rules: [{ cidr: '10.1.0.0/16', priority: 0, pool: ['10.10.1.1:80'] }] });
    let res = await send('PUT', rulePath('10.1.0.0/16'), { priority: 4 });
    expect(res.statusCode).toBe(200);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    // A replacement: the pool the body did not repeat is gone.
    expect(res.json()).toEqual({ id: '10.1.0.0/16', cidr: '10.1.0.0/16', priority: 4 });
    res = await send('PUT', rulePath('10.1.0.0/16'), {
      cidr: '10.1.0.0/16',
      priority: 5,
      pool: ['10.10.1.2:80'],
    });
    expect(res.statusCode).toBe(200);
    expect(h.control.getConfig().config.defense?.rules).toEqual([
      { cidr: '10.1.0.0/16', priority: 5, pool: ['10.10.1.2:80'] },
    ]);

    const before = h.control.getConfig();
    res = await send('PUT', rulePath('10.1.0.0/16'), { cidr: '10.2.0.0/16', priority: 5 });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: '/cidr' });
    res = await send('PUT', rulePath('10.1.0.0/16'), { priority: 5, pool: ['10.10.9.9:80'] });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ field: '/pool/0' });
    expect(h.control.getConfig()).toEqual(before);
    expect((await send('PUT', rulePath('10.3.0.0/16'), { priority: 5 })).statusCode).toBe(404);
  });

  it('DELETE removes a rule: 204 with the new ETag, then 404; the other rules stay', async () => {
    await withDefense({
      rules: [
        { cidr: '10.1.0.0/16', priority: 0 },
        { cidr: '10.2.0.0/16', priority: 1 },
      ],
    });
    const res = await send('DELETE', rulePath('10.1.0.0/16'));
    expect(res.statusCode).toBe(204);
    expect(res.headers.etag).toBe(h.control.getConfig().etag);
    expect(h.control.getConfig().config.defense?.rules).toEqual([{ cidr: '10.2.0.0/16', priority: 1 }]);
    expect((await send('DELETE', rulePath('10.1.0.0/16'))).statusCode).toBe(404);
  });

  it('412 for a stale If-Match on every rule mutation', async () => {
    await withDefense({ rules: [{ cidr: '10.1.0.0/16', priority: 0 }] });
    const before = h.control.getConfig();
    const stale = { 'if-match': '"v0-stale"' };
    const results = [
      await send('POST', '/v1/defense/rules', { cidr: '10.2.0.0/16', priority: 1 }, stale),
      await send('PUT', rulePath('10.1.0.0/16'), { priority: 1 }, stale),
      await send('DELETE', rulePath('10.1.0.0/16'), undefined, stale),
    ];
    expect(results.map((r) => r.statusCode)).toEqual([412, 412, 412]);
    expect(h.control.getConfig()).toEqual(before);
  });

  it('without If-Match, a change made meanwhile by someone else survives', async () => {
    h.control.beforeApply = () => {
      const config = h.control.getConfig().config;
      config.overlay.vni = 77;
      h.control.setConfigDirectly(config);
    };
    const res = await send('POST', '/v1/defense/rules', { cidr: '10.1.0.0/16', priority: 0 });
    expect(res.statusCode).toBe(201);
    const config = h.control.getConfig().config;
    expect(config.overlay.vni).toBe(77);
    expect(config.defense?.rules).toEqual([{ cidr: '10.1.0.0/16', priority: 0 }]);
  });

  it('409 for removing a real server or service a rule pools, or replacing its reals without it', async () => {
    await withDefense({ rules: [{ cidr: '10.1.0.0/16', priority: 0, pool: ['10.10.1.2:80'] }] });
    const before = h.control.getConfig();
    const service = sampleConfig().services[0];
    const results = [
      await send('DELETE', '/v1/services/web/reals/10.10.1.2:80'),
      await send('DELETE', '/v1/services/web'),
      await send('PUT', '/v1/services/web', { ...service, reals: [service.reals[0]] }),
    ];
    for (const res of results) {
      expect(res.statusCode).toBe(409);
      expect(res.json().message).toContain('10.1.0.0/16');
    }
    expect(h.control.getConfig()).toEqual(before);
    // A real server no rule names goes as before.
    expect((await send('DELETE', '/v1/services/web/reals/10.10.1.1:80')).statusCode).toBe(204);
  });
});
