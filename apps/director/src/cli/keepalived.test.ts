// The keepalived converter on keepalived's own documentation examples (fixtures/README.md) and on
// the README's direct-routing example; what it makes passes the director's validator.
import { readFileSync } from 'node:fs';
import { validateLiveConfig } from '@sluice/config';
import { describe, expect, it } from 'vitest';
import { InputLineError } from './errors.ts';
import { type ConvertOptions, convertKeepalived, parseKeepalived } from './keepalived.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const OPTS: ConvertOptions = { defaultVtep: null, vtepFor: new Map(), macFor: new Map(), asDr: false };
const AS_DR: ConvertOptions = { ...OPTS, asDr: true };

/** The 1-based line of `text` holding `needle`. */
const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

function refusal(text: string, opts: ConvertOptions): InputLineError {
  try {
    convertKeepalived(text, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(InputLineError);
    return e as InputLineError;
  }
  throw new Error('accepted');
}

function valid(services: unknown[]) {
  return validateLiveConfig({ overlay: { vni: 1, directorMac: '02:00:00:00:00:01' }, services });
}

describe('keepalived documentation examples', () => {
  it('Case Study: Healthcheck is NAT: refused at its lb_kind, with what DR needs', () => {
    const text = fixture('keepalived-case-study-healthcheck.conf');
    const err = refusal(text, OPTS);
    expect(err.line).toBe(lineOf(text, 'lb_kind NAT'));
    expect(err.message).toMatch(
      /NAT is not supported\. Sluice forwards by direct routing over VXLAN.*--as-dr/,
    );
  });

  it('Case Study: Healthcheck with --as-dr: three services, checks mapped, the rest reported', () => {
    const text = fixture('keepalived-case-study-healthcheck.conf');
    const { services, warnings } = convertKeepalived(text, AS_DR);
    expect(services.map((s) => [s.name, s.scheduler, s.persistence?.timeoutSeconds])).toEqual([
      ['tcp-192.168.200.15-80', 'wrr', 50],
      ['tcp-192.168.200.15-443', 'rr', 360],
      ['tcp-192.168.200.15-25', 'wlc', 50],
    ]);
    const [http, tls, smtp] = services;
    expect(http.reals.map((r) => [r.address, r.port, r.weight, r.vtep])).toEqual([
      ['192.168.100.2', 80, 2, '192.168.100.2'],
      ['192.168.100.3', 80, 1, '192.168.100.3'],
    ]);
    // delay_loop 30, connect_timeout 3, retry 3: down after the failure and 3 retries.
    expect(http.reals[0].healthCheck).toEqual({
      type: 'http',
      path: '/testurl/test.jsp',
      intervalSeconds: 30,
      timeoutSeconds: 3,
      rise: 1,
      fall: 4,
    });
    // TCP_CHECK with only connect_timeout: keepalived's retry default (1) and the block's delay_loop.
    expect(tls.reals[1].healthCheck).toEqual({
      type: 'tcp',
      intervalSeconds: 20,
      timeoutSeconds: 3,
      rise: 1,
      fall: 2,
    });
    expect(smtp.reals.map((r) => r.weight)).toEqual([1, 2]);
    const said = warnings.join('\n');
    expect(said).toMatch(
      new RegExp(`line ${lineOf(text, 'sorry_server')}: sorry_server: Sluice has no counterpart`),
    );
    expect(said).toMatch(/digest: Sluice does not hash the body/);
    expect(said).toMatch(
      new RegExp(`line ${lineOf(text, 'path /testurl2/test.jsp') - 1}: url: Sluice checks one URL`),
    );
    expect(said).toMatch(/delay_before_retry: Sluice spaces retries by delay_loop/);
    expect(said).toMatch(/NAT converted as DR/);
    expect(valid(services).services).toHaveLength(3);
  });

  it('keepalived.conf.sample: VRRP and global_defs are not services; one service', () => {
    const { services } = convertKeepalived(fixture('keepalived-sample.conf'), AS_DR);
    expect(services).toHaveLength(1);
    expect(services[0]).toMatchObject({ vip: '10.10.10.2', port: 1358, protocol: 'tcp', scheduler: 'rr' });
    expect(services[0].reals[0].healthCheck).toMatchObject({
      type: 'http',
      path: '/testurl3/test.jsp',
      intervalSeconds: 6,
      timeoutSeconds: 3,
      fall: 4,
    });
    valid(services);
  });

  it('keepalived.conf.status_code: SSL_GET checked by TCP connect, said so', () => {
    const { services, warnings } = convertKeepalived(fixture('keepalived-status-code.conf'), AS_DR);
    expect(services[0].reals[0].healthCheck).toEqual({
      type: 'tcp',
      intervalSeconds: 6,
      timeoutSeconds: 3,
      rise: 1,
      fall: 4,
    });
    expect(warnings.join('\n')).toMatch(/SSL_GET: Sluice speaks no TLS in checks: checked by TCP connect/);
    valid(services);
  });

  it('keepalived.conf.IPv6: a real server on another port than its service is refused under DR', () => {
    const text = fixture('keepalived-ipv6.conf');
    const err = refusal(text, { ...AS_DR, vtepFor: new Map([['ae00::10', '192.0.2.10']]) });
    expect(err.line).toBe(lineOf(text, 'real_server ae00::10 25'));
    expect(err.message).toMatch(/its port must be the service's, 80/);
  });
});

describe("the README's direct-routing example", () => {
  it('converts to exactly these services', () => {
    const { services, warnings } = convertKeepalived(fixture('keepalived-dr.conf'), OPTS);
    expect(services).toEqual([
      {
        name: 'tcp-192.0.2.100-80',
        vip: '192.0.2.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'wlc',
        persistence: { timeoutSeconds: 300, netmask: 24 },
        reals: [
          {
            address: '198.51.100.11',
            port: 80,
            vtep: '198.51.100.11',
            mac: null,
            weight: 3,
            upperThreshold: 2000,
            lowerThreshold: 1500,
            state: 'active',
            healthCheck: {
              type: 'http',
              path: '/healthz',
              expectStatus: 200,
              intervalSeconds: 5,
              timeoutSeconds: 2,
              rise: 1,
              fall: 3,
            },
          },
          {
            address: '198.51.100.12',
            port: 80,
            vtep: '198.51.100.12',
            mac: null,
            weight: 1,
            upperThreshold: 0,
            lowerThreshold: 0,
            state: 'active',
            healthCheck: { type: 'tcp', port: 8080, intervalSeconds: 5, timeoutSeconds: 3, rise: 1, fall: 2 },
          },
        ],
      },
      {
        name: 'udp-192.0.2.100-53',
        vip: '192.0.2.100',
        port: 53,
        protocol: 'udp',
        scheduler: 'sh',
        persistence: null,
        schedulerFlags: ['sh-fallback', 'sh-port'],
        reals: ['198.51.100.21', '198.51.100.22'].map((address) => ({
          address,
          port: 53,
          vtep: address,
          mac: null,
          weight: 1,
          upperThreshold: 0,
          lowerThreshold: 0,
          state: 'active',
          healthCheck: null,
        })),
      },
    ]);
    expect(warnings).toEqual([
      `line ${lineOf(fixture('keepalived-dr.conf'), 'delay_before_retry')}: delay_before_retry: Sluice spaces retries by delay_loop; left out`,
    ]);
    expect(valid(services).services).toEqual(services);
  });

  it('--vtep and --vtep-for give the real servers their VTEPs', () => {
    const { services } = convertKeepalived(fixture('keepalived-dr.conf'), {
      ...OPTS,
      defaultVtep: '192.0.2.1',
      vtepFor: new Map([['198.51.100.12', '192.0.2.12']]),
    });
    expect(services[0].reals.map((r) => r.vtep)).toEqual(['192.0.2.1', '192.0.2.12']);
  });
});

describe('refusals and defaults', () => {
  const vs = (body: string) => `virtual_server 10.0.0.1 80 {\n    lb_kind DR\n${body}\n}\n`;
  const cases: [string, RegExp][] = [
    ['virtual_server fwmark 1 {\n}', /fwmark virtual servers are not supported/],
    ['virtual_server group web {\n}', /virtual_server group is not supported/],
    ['virtual_server 10.0.0.1 {\n}', /needs a port/],
    [vs('    protocol SCTP'), /protocol TCP or UDP/],
    [vs('    lb_algo fastest'), /unknown scheduler fastest/],
    [vs('    lb_kind TUN'), /TUN is not supported/],
    [vs('    ops'), /one-packet scheduling/],
    [vs('    lvs_sched wlc\n    sh-port'), /sh-port is a flag of sh, and the scheduler is wlc/],
    [vs('    real_server 10.0.1.1 80 {\n        lb_kind NAT\n    }'), /NAT is not supported/],
    [
      vs('    real_server 10.0.1.1 80 {\n        HTTP_GET {\n        }\n    }'),
      /HTTP_GET needs a url with a path/,
    ],
    ['virtual_server 10.0.0.1 80 {\n    lb_kind DR\n', /this \{ is never closed/],
    ['}\n', /a \} closes no block/],
  ];
  for (const [text, why] of cases) {
    it(why.source, () => {
      expect(refusal(text, OPTS).message).toMatch(why);
    });
  }

  it('keepalived defaults: lb_kind NAT (refused), delay_loop 60, connect_timeout 5, retry 1, persistence 6 minutes', () => {
    expect(refusal('virtual_server 10.0.0.1 80 {\n}', OPTS).message).toMatch(/NAT is not supported/);
    const { services } = convertKeepalived(
      vs('    persistence_timeout\n    real_server 10.0.1.1 80 {\n        TCP_CHECK {\n        }\n    }'),
      OPTS,
    );
    expect(services[0].persistence).toEqual({ timeoutSeconds: 360, netmask: 32 });
    expect(services[0].reals[0].healthCheck).toEqual({
      type: 'tcp',
      intervalSeconds: 60,
      timeoutSeconds: 5,
      rise: 1,
      fall: 2,
    });
    expect(convertKeepalived(vs('    persistence_timeout 0'), OPTS).services[0].persistence).toBeNull();
  });

  it('options inherit virtual server → real server → checker, the nearest winning', () => {
    const { services } = convertKeepalived(
      vs(
        '    delay_loop 10\n    connect_timeout 4\n    retry 5\n' +
          '    real_server 10.0.1.1 80 {\n        retry 2\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }',
      ),
      OPTS,
    );
    expect(services[0].reals[0].healthCheck).toMatchObject({
      intervalSeconds: 10,
      timeoutSeconds: 1,
      fall: 3,
    });
  });

  it('parses blocks opened on the next line, quoted strings and both comment signs', () => {
    const tree = parseKeepalived('a 1 "two words" # c\nb\n{\n  c ! d\n}\n');
    expect(tree).toEqual([
      { keyword: 'a', args: ['1', 'two words'], line: 1, block: null },
      { keyword: 'b', args: [], line: 2, block: [{ keyword: 'c', args: [], line: 4, block: null }] },
    ]);
  });
});

describe("the README's keepalived section", () => {
  it('shows what the converter makes of its example, exactly', () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Coming from keepalived'));
    const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)];
    const conf = blocks.find((b) => b[1] === '')?.[2] ?? '';
    const shown = JSON.parse(blocks.find((b) => b[1] === 'json')?.[2] ?? 'null');
    const { services } = convertKeepalived(conf, OPTS);
    expect(services).toEqual([shown]);
  });
});
