import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, configEtag } from './etag.ts';
import { liveConfigArb, liveFixture, reverseKeys } from './testing.ts';
import { validateLiveConfig } from './validate.ts';

describe('configEtag', () => {
  it('is a strong, quoted tag of the version and the content hash', () => {
    const live = validateLiveConfig(liveFixture());
    expect(configEtag(live, 7)).toMatch(/^"v7-[0-9a-f]{12}"$/);
  });

  it('changes iff the content or the version changes; key order does not matter', () => {
    fc.assert(
      fc.property(liveConfigArb, fc.nat(), (raw, version) => {
        const live = validateLiveConfig(raw);
        const tag = configEtag(live, version);
        expect(configEtag(reverseKeys(live), version)).toBe(tag);
        expect(configEtag(structuredClone(live), version)).toBe(tag);
        expect(configEtag(live, version + 1)).not.toBe(tag);
        const changed = structuredClone(live);
        changed.overlay.vni = (changed.overlay.vni + 1) & 0xffffff;
        expect(configEtag(changed, version)).not.toBe(tag);
      }),
      { numRuns: 200 },
    );
  });

  it('sees a change anywhere, including array order', () => {
    const live = validateLiveConfig(liveFixture());
    const tag = configEtag(live, 1);
    const edits: ((c: typeof live) => void)[] = [
      (c) => {
        c.services[0].reals[1].weight = 2;
      },
      (c) => {
        c.services[0].reals.reverse();
      },
      (c) => {
        c.services.reverse();
      },
      (c) => {
        c.services[1].reals[0].mac = '02:00:00:00:00:09';
      },
      (c) => {
        c.services[0].reals[1].healthCheck!.path = '/x';
      },
    ];
    const tags = edits.map((edit) => {
      const c = structuredClone(live);
      edit(c);
      return configEtag(c, 1);
    });
    expect(new Set([tag, ...tags]).size).toBe(edits.length + 1);
  });

  it('refuses a version that is not a non-negative integer', () => {
    const live = validateLiveConfig(liveFixture());
    for (const v of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => configEtag(live, v)).toThrow(RangeError);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and is JSON.parse-able to the same data', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"x":0,"y":1}]},"b":1}',
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
        expect(canonicalJson(reverseKeys(v))).toBe(canonicalJson(v));
      }),
    );
  });

  it('leaves out undefined members as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined] })).toBe('{"b":[null]}');
  });
});
