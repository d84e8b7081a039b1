import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigValidationError } from './errors.ts';
import { SCHEDULERS } from './schema.ts';
import { liveConfigArb, liveFixture } from './testing.ts';
import { validateConfigFile, validateLiveConfig } from './validate.ts';

// biome-ignore lint/suspicious/noExplicitAny: tests poke at arbitrary places of untyped JSON.
type Json = any;

function rejects(mutate: (c: Json) => void, field: string, message?: RegExp): ConfigValidationError {
  const config: Json = liveFixture();
  mutate(config);
  let caught: unknown;
  try {
    validateLiveConfig(config);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ConfigValidationError);
  const err = caught as ConfigValidationError;
  expect(err.code).toBe('SLUICE_ERR_CONFIG_INVALID');
  expect(err.field).toBe(field);
  if (message !== undefined) expect(err.message).toMatch(message);
  return err;
}

function accepts(mutate: (c: Json) => void): Json {
  const config: Json = liveFixture();
  mutate(config);
  return validateLiveConfig(config);
}

describe('defaults', () => {
  it('fills every default and leaves the input untouched', () => {
    const input = liveFixture();
    const before = structuredClone(input);
    const out = validateLiveConfig(input);
    expect(input).toEqual(before);
    expect(out.services[0]).toEqual({
      name: 'web',
      vip: '10.0.0.100',
      port: 80,
      protocol: 'tcp',
      scheduler: 'wlc',
      persistence: null,
      reals: [
        {
          address: '10.0.1.1',
          port: 8080,
          vtep: '192.0.2.1',
          mac: null,
          weight: 1,
          upperThreshold: 0,
          lowerThreshold: 0,
          state: 'active',
          healthCheck: null,
        },
        {
          address: '10.0.1.2',
          port: 8080,
          vtep: '192.0.2.2',
          mac: null,
          weight: 1,
          upperThreshold: 0,
          lowerThreshold: 0,
          state: 'active',
          healthCheck: {
            type: 'http',
            intervalSeconds: 2,
            timeoutSeconds: 1,
            rise: 1,
            fall: 1,
            path: '/',
            expectStatus: 200,
          },
        },
      ],
    });
  });

  it('shares no object with the input, so changing the result cannot change the input', () => {
    const input = liveFixture();
    input.services[0].persistence = { timeoutSeconds: 60 };
    const out = validateLiveConfig(input);
    out.services[0].persistence!.netmask = 24;
    out.services[0].reals[0].weight = 9;
    expect(input.services[0].persistence).toEqual({ timeoutSeconds: 60 });
    expect((input.services[0].reals as Json[])[0].weight).toBeUndefined();
  });

  it('accepts a deeply frozen input', () => {
    const freeze = (v: unknown): void => {
      if (typeof v === 'object' && v !== null) {
        Object.values(v).forEach(freeze);
        Object.freeze(v);
      }
    };
    const input = liveFixture();
    freeze(input);
    expect(validateLiveConfig(input).services).toHaveLength(2);
  });

  it('gives persistence a /32 netmask and a tcp check neither path nor status', () => {
    const out = accepts((c) => {
      c.services[0].persistence = { timeoutSeconds: 300 };
      c.services[0].reals[0].healthCheck = { type: 'tcp' };
    });
    expect(out.services[0].persistence).toEqual({ timeoutSeconds: 300, netmask: 32 });
    expect(out.services[0].reals[0].healthCheck).toEqual({
      type: 'tcp',
      intervalSeconds: 2,
      timeoutSeconds: 1,
      rise: 1,
      fall: 1,
    });
  });

  it("keeps ipvsadm -b flags of the service's own scheduler, once each, in ipvsadm's order", () => {
    const out = accepts((c) => {
      c.services[0].scheduler = 'sh';
      c.services[0].schedulerFlags = ['sh-port', 'sh-fallback'];
    });
    expect(out.services[0].schedulerFlags).toEqual(['sh-fallback', 'sh-port']);
    expect(accepts(() => {}).services[0]).not.toHaveProperty('schedulerFlags');
  });

  it('refuses a flag of another scheduler, or one listed twice, by pointer', () => {
    rejects(
      (c) => {
        c.services[0].scheduler = 'wlc';
        c.services[0].schedulerFlags = ['mh-port'];
      },
      '/services/0/schedulerFlags/0',
      /flag of the mh scheduler, not of wlc/,
    );
    rejects(
      (c) => {
        c.services[0].scheduler = 'mh';
        c.services[0].schedulerFlags = ['mh-port', 'mh-port'];
      },
      '/services/0/schedulerFlags/1',
      /listed twice/,
    );
    rejects((c) => {
      c.services[0].schedulerFlags = ['flag-1'];
    }, '/services/0/schedulerFlags/0');
  });

  it("a real server's load agent: defaults filled, its address written canonically, bad fields named", () => {
    const out = accepts((c) => {
      c.services[0].reals[0].agent = { port: 5555 };
      c.services[0].reals[1].agent = { address: '2001:DB8::7', port: 5555, intervalSeconds: 2 };
    });
    expect(out.services[0].reals[0].agent).toEqual({ port: 5555, intervalSeconds: 1, timeoutSeconds: 0.5 });
    expect(out.services[0].reals[1].agent).toMatchObject({ address: '2001:db8::7', intervalSeconds: 2 });
    expect(out.services[1].reals[0].agent).toBeUndefined();
    rejects((c) => {
      c.services[0].reals[0].agent = { port: 70000 };
    }, '/services/0/reals/0/agent/port');
    rejects((c) => {
      c.services[0].reals[0].agent = { port: 5555, address: '1.2.3' };
    }, '/services/0/reals/0/agent/address');
    rejects((c) => {
      c.services[0].reals[0].agent = { port: 5555, intervalSeconds: 0 };
    }, '/services/0/reals/0/agent/intervalSeconds');
  });

  it('keeps an http check path and status that are given', () => {
    const out = accepts((c) => {
      c.services[0].reals[0].healthCheck = { type: 'http', path: '/healthz', expectStatus: 204 };
    });
    expect(out.services[0].reals[0].healthCheck).toMatchObject({ path: '/healthz', expectStatus: 204 });
  });

  it('writes addresses canonically and MACs in lower case', () => {
    const out = accepts((c) => {
      c.overlay.directorMac = '02:AB:CD:00:00:01';
      c.services[1].vip = '2001:DB8:0:0:0:0:0:53';
      c.services[1].reals[0].address = '2001:0db8:0001::0001';
      c.services[1].reals[0].mac = '0A:00:00:00:00:0B';
      c.services[0].reals[0].vtep = '::ffff:192.0.2.1';
      c.services[0].reals[1].healthCheck.address = '2001:DB8::9';
    });
    expect(out.overlay.directorMac).toBe('02:ab:cd:00:00:01');
    expect(out.services[1].vip).toBe('2001:db8::53');
    expect(out.services[1].reals[0].address).toBe('2001:db8:1::1');
    expect(out.services[1].reals[0].mac).toBe('0a:00:00:00:00:0b');
    expect(out.services[0].reals[0].vtep).toBe('192.0.2.1');
    expect(out.services[0].reals[1].healthCheck?.address).toBe('2001:db8::9');
  });
});

describe('schema errors: the first one, by JSON pointer, saying what was expected', () => {
  it('a number out of range', () => {
    rejects(
      (c) => {
        c.services[0].reals[1].weight = 70000;
      },
      '/services/0/reals/1/weight',
      /integer from 0 to 65535 \(got 70000\)/,
    );
  });

  it('a string where an integer belongs', () => {
    rejects(
      (c) => {
        c.services[0].port = '80';
      },
      '/services/0/port',
      /integer from 1 to 65535 \(got "80"\)/,
    );
  });

  it('an unknown property, listing the known ones', () => {
    rejects(
      (c) => {
        c.services[0].reals[0].wieght = 2;
      },
      '/services/0/reals/0/wieght',
      /unknown property .*weight/,
    );
  });

  it('an unknown `__proto__` key is a property like any other', () => {
    const raw = JSON.parse(
      '{"overlay":{"vni":1,"directorMac":"02:00:00:00:00:01"},"services":[],"__proto__":{}}',
    );
    expect(() => validateLiveConfig(raw)).toThrow(/\/__proto__: is an unknown property/);
  });

  it('a value outside a set of literals, listing them', () => {
    rejects(
      (c) => {
        c.services[0].scheduler = 'wrrr';
      },
      '/services/0/scheduler',
      /one of "rr", "wrr", .*"mh", "lblc", "lblcr", "fo", "ovf", "twos" \(got "wrrr"\)/,
    );
  });

  it('accepts every scheduler the dataplane can build', () => {
    for (const name of SCHEDULERS) {
      const config = accepts((c) => {
        c.services[0].scheduler = name;
      });
      expect(config.services[0].scheduler).toBe(name);
    }
  });

  it('a missing required property, by its own pointer', () => {
    rejects(
      (c) => {
        delete c.services[0].reals[1].vtep;
      },
      '/services/0/reals/1/vtep',
      /is required/,
    );
  });

  it('a bad field inside a nullable object, not "must be null"', () => {
    rejects(
      (c) => {
        c.services[0].reals[0].healthCheck = { type: 'tcp', timeoutSeconds: 0 };
      },
      '/services/0/reals/0/healthCheck/timeoutSeconds',
      /above 0/,
    );
    rejects(
      (c) => {
        c.services[0].persistence = { netmask: 24 };
      },
      '/services/0/persistence/timeoutSeconds',
      /is required/,
    );
  });

  it('a nullable value of the wrong type names both choices', () => {
    rejects(
      (c) => {
        c.services[0].reals[0].mac = 5;
      },
      '/services/0/reals/0/mac',
      /MAC address .* or null \(got 5\)/,
    );
  });

  it('a malformed MAC and a malformed name, in words', () => {
    rejects(
      (c) => {
        c.services[0].reals[0].mac = '02:00:00:00:00';
      },
      '/services/0/reals/0/mac',
      /MAC address such as/,
    );
    rejects(
      (c) => {
        c.services[0].name = 'Web';
      },
      '/services/0/name',
      /lowercase|a-z/,
    );
  });

  it('the first error in document order when there are several', () => {
    rejects((c) => {
      c.services[0].reals[1].weight = -1;
      c.services[1].port = 0;
    }, '/services/0/reals/1/weight');
  });

  it('a document that is not an object', () => {
    for (const raw of [null, 3, 'x', [], undefined]) {
      expect(() => validateLiveConfig(raw)).toThrow(ConfigValidationError);
    }
    try {
      validateLiveConfig([]);
    } catch (e) {
      expect((e as ConfigValidationError).field).toBe('');
      expect((e as Error).message).toBe('must be an object (got an array)');
    }
  });

  it('too many services', () => {
    rejects(
      (c) => {
        c.services = Array.from({ length: 257 }, (_, i) => ({ name: `s${i}`, vip: '10.0.0.1', port: i + 1 }));
      },
      '/services',
      /at most 256/,
    );
  });
});

describe('semantic rules', () => {
  it('addresses must parse: VIP, real server, VTEP, health-check address', () => {
    rejects(
      (c) => {
        c.services[0].vip = '10.0.0.256';
      },
      '/services/0/vip',
      /IPv4 or IPv6/,
    );
    rejects((c) => {
      c.services[0].reals[1].address = 'example.com';
    }, '/services/0/reals/1/address');
    rejects((c) => {
      c.services[1].reals[0].vtep = '192.0.2';
    }, '/services/1/reals/0/vtep');
    rejects((c) => {
      c.services[0].reals[1].healthCheck.address = '1.2.3.4.5';
    }, '/services/0/reals/1/healthCheck/address');
  });

  it('an IPv6 zone index is refused, not silently dropped', () => {
    rejects(
      (c) => {
        c.services[1].reals[0].address = 'fe80::1%eth0';
      },
      '/services/1/reals/0/address',
      /zone/,
    );
  });

  it('service names are unique', () => {
    rejects(
      (c) => {
        c.services[1].name = 'web';
      },
      '/services/1/name',
      /already used by \/services\/0/,
    );
  });

  it('(VIP, port, protocol) is unique, whatever the spelling; another protocol is another service', () => {
    rejects(
      (c) => {
        c.services[1] = { name: 'web2', vip: '10.0.0.100', port: 80 };
      },
      '/services/1',
      /already served by \/services\/0/,
    );
    rejects((c) => {
      c.services.push({ name: 'dns2', vip: '2001:DB8:0::53', port: 53, protocol: 'udp' });
    }, '/services/2');
    const out = accepts((c) => {
      c.services.push({ name: 'dns-tcp', vip: '2001:db8::53', port: 53, protocol: 'tcp' });
    });
    expect(out.services).toHaveLength(3);
  });

  it('a real server (address, port) appears once per service, whatever the spelling', () => {
    rejects(
      (c) => {
        c.services[0].reals[1].address = '10.0.1.1';
      },
      '/services/0/reals/1',
      /already in this service at \/services\/0\/reals\/0/,
    );
    rejects((c) => {
      c.services[1].reals.push({ address: '2001:DB8:1:0::1', port: 53, vtep: '192.0.2.4' });
    }, '/services/1/reals/1');
    // The same server on another port, or in another service, is fine.
    accepts((c) => {
      c.services[0].reals[1].address = '10.0.1.1';
      c.services[0].reals[1].port = 8081;
      c.services.push({
        name: 'web-alt',
        vip: '10.0.0.100',
        port: 81,
        reals: [{ address: '10.0.1.1', port: 8080, vtep: '192.0.2.1' }],
      });
    });
  });

  it("a real server is the same family as its service's VIP", () => {
    rejects(
      (c) => {
        c.services[0].reals[0].address = '2001:db8::1';
      },
      '/services/0/reals/0/address',
      /must be IPv4 like the service's VIP 10\.0\.0\.100/,
    );
    rejects(
      (c) => {
        c.services[1].reals[0].address = '10.0.0.1';
      },
      '/services/1/reals/0/address',
      /must be IPv6/,
    );
    // A VTEP is on the underlay: any family.
    accepts((c) => {
      c.services[0].reals[0].vtep = '2001:db8::99';
    });
  });

  it('lowerThreshold <= upperThreshold when upper is set', () => {
    rejects(
      (c) => {
        Object.assign(c.services[0].reals[0], { upperThreshold: 100, lowerThreshold: 101 });
      },
      '/services/0/reals/0/lowerThreshold',
      /at most upperThreshold \(100\)/,
    );
    accepts((c) => {
      Object.assign(c.services[0].reals[0], { upperThreshold: 100, lowerThreshold: 100 });
    });
    accepts((c) => {
      Object.assign(c.services[0].reals[0], { upperThreshold: 0, lowerThreshold: 50 });
    });
  });

  it('persistence netmask: 0..32 for an IPv4 VIP, 1..128 for IPv6', () => {
    rejects(
      (c) => {
        c.services[0].persistence = { timeoutSeconds: 60, netmask: 33 };
      },
      '/services/0/persistence/netmask',
      /0 to 32 for an IPv4 VIP/,
    );
    rejects(
      (c) => {
        c.services[1].persistence = { timeoutSeconds: 60, netmask: 0 };
      },
      '/services/1/persistence/netmask',
      /1 to 128 for an IPv6 VIP/,
    );
    accepts((c) => {
      c.services[0].persistence = { timeoutSeconds: 60, netmask: 0 };
      c.services[1].persistence = { timeoutSeconds: 60, netmask: 128 };
    });
  });

  it('health checks: timeout above 0 (not necessarily below the interval); tcp has no path', () => {
    rejects((c) => {
      c.services[0].reals[1].healthCheck.timeoutSeconds = 0;
    }, '/services/0/reals/1/healthCheck/timeoutSeconds');
    accepts((c) => {
      Object.assign(c.services[0].reals[1].healthCheck, { intervalSeconds: 1, timeoutSeconds: 5 });
    });
    rejects(
      (c) => {
        c.services[0].reals[0].healthCheck = { type: 'tcp', path: '/x' };
      },
      '/services/0/reals/0/healthCheck/path',
      /only an http check/,
    );
    rejects((c) => {
      c.services[0].reals[0].healthCheck = { type: 'tcp', expectStatus: 200 };
    }, '/services/0/reals/0/healthCheck/expectStatus');
  });

  it('MACs are unicast and not all zeros (all zeros marks "not learned yet" in a snapshot)', () => {
    rejects(
      (c) => {
        c.overlay.directorMac = '01:00:5e:00:00:01';
      },
      '/overlay/directorMac',
      /unicast/,
    );
    rejects(
      (c) => {
        c.services[0].reals[0].mac = '00:00:00:00:00:00';
      },
      '/services/0/reals/0/mac',
      /all zeros/,
    );
  });

  it('priority rules: each prefix once (in any spelling), pools non-empty and without repeats', () => {
    rejects(
      (c) => {
        c.defense = {
          rules: [
            { cidr: '10.0.0.0/8', priority: 0 },
            { cidr: '::ffff:10.0.0.0/104', priority: 1 },
          ],
        };
      },
      '/defense/rules/1/cidr',
      /\/defense\/rules\/0/,
    );
    rejects(
      (c) => {
        c.defense = { rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: [] }] };
      },
      '/defense/rules/0/pool',
      /empty/,
    );
    rejects(
      (c) => {
        c.defense = {
          rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: ['10.0.1.1:8080', '10.0.1.1:8080'] }],
        };
      },
      '/defense/rules/0/pool/1',
      /twice/,
    );
    const out = accepts((c) => {
      c.defense = { rules: [{ cidr: '10.0.0.0/8', priority: 0, pool: ['10.0.1.1:8080', '10.0.1.2:8080'] }] };
    });
    expect(out.defense.rules[0].pool).toEqual(['10.0.1.1:8080', '10.0.1.2:8080']);
  });
});

describe('validateConfigFile', () => {
  const file = (daemon: unknown): Json => ({ daemon, ...liveFixture() });

  it('defaults the daemon section and checks the live part alike', () => {
    const out = validateConfigFile(file({}));
    expect(out.daemon).toEqual({
      vxlan: { address: '0.0.0.0', port: 4789 },
      api: { address: '127.0.0.1', port: 9180 },
      workers: 1,
      io: 'auto',
      connectionCapacity: 1 << 20,
    });
    expect(out.services).toEqual(validateLiveConfig(liveFixture()).services);
    const bad = file({});
    bad.services[1].name = 'web';
    expect(() => validateConfigFile(bad)).toThrow(/\/services\/1\/name/);
  });

  it('checks and canonicalises the daemon addresses', () => {
    expect(() => validateConfigFile(file({ api: { address: 'localhost', port: 1 } }))).toThrow(
      expect.objectContaining({ field: '/daemon/api/address' }),
    );
    expect(() => validateConfigFile(file({ vxlan: { address: '1.2.3', port: 4789 } }))).toThrow(
      expect.objectContaining({ field: '/daemon/vxlan/address' }),
    );
    expect(validateConfigFile(file({ api: { address: '0:0::1', port: 0 } })).daemon.api.address).toBe('::1');
  });

  it("refuses a real server's VTEP of another family than the VXLAN address, which sends to it, naming the field", () => {
    const live: Json = liveFixture();
    live.services[0].reals[1].vtep = '2001:db8::7';
    expect(() =>
      validateConfigFile({ daemon: { vxlan: { address: '10.0.0.1', port: 4789 } }, ...live }),
    ).toThrow(
      expect.objectContaining({ field: '/services/0/reals/1/vtep', message: expect.stringMatching(/IPv4/) }),
    );
    // the live config alone cannot know; given the underlay (the director passes its own), it can
    expect(() => validateLiveConfig(live)).not.toThrow();
    expect(() => validateLiveConfig(live, '10.0.0.1')).toThrow(
      expect.objectContaining({ field: '/services/0/reals/1/vtep' }),
    );
    expect(() => validateLiveConfig(liveFixture(), '10.0.0.1')).not.toThrow();
  });

  it('a live config without `daemon` is not a config file', () => {
    expect(() => validateConfigFile(liveFixture())).toThrow(expect.objectContaining({ field: '/daemon' }));
  });
});

describe('properties', () => {
  it('generated valid configs validate, and validating again changes nothing', () => {
    fc.assert(
      fc.property(liveConfigArb, (raw) => {
        const once = validateLiveConfig(raw);
        expect(validateLiveConfig(once)).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });

  it('a valid config survives a JSON round trip unchanged', () => {
    fc.assert(
      fc.property(liveConfigArb, (raw) => {
        const once = validateLiveConfig(raw);
        expect(validateLiveConfig(JSON.parse(JSON.stringify(once)))).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });

  it('any JSON at all gives a config or a ConfigValidationError, nothing else', () => {
    const anyJson = fc.oneof(
      fc.jsonValue(),
      // Mostly-valid configs with one value replaced, to reach the deeper rules.
      fc.tuple(liveConfigArb, fc.jsonValue(), fc.nat()).map(([c, v, n]) => {
        const paths: (string | number)[][] = [];
        const walk = (x: unknown, p: (string | number)[]): void => {
          paths.push(p);
          if (typeof x === 'object' && x !== null) {
            for (const [k, y] of Object.entries(x)) walk(y, [...p, Array.isArray(x) ? Number(k) : k]);
          }
        };
        walk(c, []);
        const path = paths[n % paths.length];
        if (path.length === 0) return v;
        let at: Json = c;
        for (const k of path.slice(0, -1)) at = at[k];
        at[path[path.length - 1]] = v;
        return c;
      }),
    );
    fc.assert(
      fc.property(anyJson, (raw) => {
        try {
          validateLiveConfig(raw);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigValidationError);
          expect((e as Error).message).not.toMatch(/schema is false|anyOf/);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('overlay health checks', () => {
  const overlayCheck = { type: 'tcp', via: 'overlay' };

  it('need overlay.address, an IPv4 address of the director', () => {
    rejects(
      (c) => {
        c.services[0].reals[0].healthCheck = overlayCheck;
      },
      '/services/0/reals/0/healthCheck/via',
      /needs \/overlay\/address/,
    );
    rejects(
      (c) => {
        c.overlay.address = '2001:db8::2';
      },
      '/overlay/address',
      /IPv4/,
    );
    rejects((c) => {
      c.overlay.address = 'ten.0.0.2';
    }, '/overlay/address');
    const out = accepts((c) => {
      c.overlay.address = '10.0.0.2';
      c.services[0].reals[0].healthCheck = overlayCheck;
    });
    expect(out.overlay.address).toBe('10.0.0.2');
    expect(out.services[0].reals[0].healthCheck).toMatchObject({ type: 'tcp', via: 'overlay' });
  });

  it("overlay.address is the director's, never a VIP", () => {
    rejects(
      (c) => {
        c.overlay.address = '10.0.0.100';
      },
      '/services/0/vip',
      /own \/overlay\/address/,
    );
  });

  it('are tcp checks of IPv4 addresses', () => {
    rejects(
      (c) => {
        c.overlay.address = '10.0.0.2';
        c.services[0].reals[0].healthCheck = { type: 'http', via: 'overlay' };
      },
      '/services/0/reals/0/healthCheck/type',
      /an overlay check is a tcp check/,
    );
    rejects(
      (c) => {
        c.overlay.address = '10.0.0.2';
        c.services[1].reals[0].healthCheck = overlayCheck;
      },
      '/services/1/reals/0/healthCheck/via',
      /IPv4 addresses only/,
    );
    rejects(
      (c) => {
        c.services[0].reals[0].healthCheck = { type: 'tcp', via: 'sideways' };
      },
      '/services/0/reals/0/healthCheck/via',
      /must be one of "underlay", "overlay"/,
    );
  });
});
