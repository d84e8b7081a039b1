// ipvsadm's rule format: restore → save → restore is a fixed point on the fixtures, a bad line is
// named and changes nothing, and what the parser takes matches ipvsadm 1.31's parse_options,
// process_options and parse_sched_flags. The configs restore makes are checked by the director's
// own validator (@sluice/config), so what passes here is what the director accepts.
import { readFileSync } from 'node:fs';
import { type LiveConfig, validateLiveConfig } from '@sluice/config';
import { describe, expect, it } from 'vitest';
import { InputLineError } from './errors.ts';
import { applyRules, IPVS_SCHEDULERS, lineOfPointer, type RealDefaults, saveRules } from './ipvsadm-rules.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const EMPTY: LiveConfig = { overlay: { vni: 42, directorMac: '02:5c:00:00:00:01' }, services: [] };
const NONE: RealDefaults = { defaultVtep: null, vtepFor: new Map(), macFor: new Map() };
const V6: RealDefaults = { ...NONE, vtepFor: new Map([['2001:db8::a0a0', '192.0.2.10']]) };

function restore(
  text: string,
  from: LiveConfig = EMPTY,
  defaults: RealDefaults = NONE,
  clear = false,
): LiveConfig {
  return applyRules(from, text, defaults, clear).config;
}

function refusal(text: string, from: LiveConfig = EMPTY, defaults: RealDefaults = NONE): InputLineError {
  try {
    applyRules(from, text, defaults);
  } catch (e) {
    expect(e).toBeInstanceOf(InputLineError);
    expect((e as InputLineError).code).toBe('SLUICE_ERR_CLI_INPUT');
    return e as InputLineError;
  }
  throw new Error(`accepted: ${text}`);
}

/** A config with its services and real servers in one order, to compare as sets. */
function sorted(config: LiveConfig): LiveConfig {
  const key = (x: { vip?: string; address?: string; port: number }) => `${x.vip ?? x.address}:${x.port}`;
  return {
    ...config,
    services: [...config.services]
      .map((s) => ({ ...s, reals: [...s.reals].sort((a, b) => key(a).localeCompare(key(b))) }))
      .sort((a, b) => `${a.protocol}${key(a)}`.localeCompare(`${b.protocol}${key(b)}`)),
  };
}

/** The rule lines of a fixture, comments and blank lines dropped. */
const ruleLines = (text: string) =>
  text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '');

describe('restore → save → restore', () => {
  for (const [name, defaults] of [
    ['mixed.rules', V6],
    ['lvs-facts.rules', NONE],
    ['dr-tutorial.rules', NONE],
    ['man-example1-dr.rules', NONE],
  ] as const) {
    it(`is a fixed point on ${name}`, () => {
      const first = restore(fixture(name), EMPTY, defaults);
      expect(validateLiveConfig(first)).toEqual(first);
      const saved = saveRules(first);
      // Onto an empty director: the same services (in the save's order), the same save.
      const second = restore(saved, EMPTY, defaults);
      expect(sorted(second)).toEqual(sorted(first));
      expect(saveRules(second)).toBe(saved);
      // Onto the director it came from, after -C: the very same config, order and all.
      expect(restore(saved, first, NONE, true)).toEqual(first);
      // Every line of the fixture is in the save, up to the order and the prefix.
      const lines = ruleLines(fixture(name)).map((l) => l.replace(/^ipvsadm /, ''));
      expect(ruleLines(saved).sort()).toEqual(
        lines.map((l) => (l.startsWith('-a') && !l.includes(' -w ') ? `${l} -w 1` : l)).sort(),
      );
    });
  }

  it('restoring a save onto the director it came from changes nothing (real servers keep their VTEP, MAC, check and drain)', () => {
    const first = restore(fixture('mixed.rules'), EMPTY, V6);
    first.services[0].reals[0] = {
      ...first.services[0].reals[0],
      vtep: '198.18.0.1',
      mac: '02:00:00:00:10:02',
      state: 'draining',
      healthCheck: { type: 'tcp', intervalSeconds: 2, timeoutSeconds: 1, rise: 1, fall: 2 },
    };
    first.services[0].name = 'web';
    const again = restore(saveRules(first), first, NONE, true);
    expect(again).toEqual(first);
  });

  it('a QUIC service keeps its connection-ID routing and server IDs through save, restore and -E', () => {
    const first = restore(fixture('mixed.rules'), EMPTY, V6);
    const dns = first.services.findIndex((s) => s.protocol === 'udp');
    first.services[dns] = {
      ...first.services[dns],
      quic: { quicLb: { configId: 1, serverIdLength: 2, nonceLength: 6, lengthSelfEncoded: true } },
      reals: first.services[dns].reals.map((r, i) => ({ ...r, quicServerId: `0a0${i + 1}` })),
    };
    expect(validateLiveConfig(first)).toEqual(first);
    expect(restore(saveRules(first), first, NONE, true)).toEqual(first);
    const edited = restore('-E -u 10.0.0.53:53 -s rr\n', first);
    expect(edited.services[dns].quic).toEqual(first.services[dns].quic);
    expect(edited.services[dns].scheduler).toBe('rr');
    expect(validateLiveConfig(edited)).toEqual(edited);
  });

  it('writes what ipvsadm-save writes: -A, then -a with -g and -w, sorted; -x/-y only when set', () => {
    expect(saveRules(restore(fixture('mixed.rules'), EMPTY, V6))).toBe(
      [
        '-A -t 192.168.200.15:8080 -s mh -b mh-port',
        '-a -t 192.168.200.15:8080 -r 192.168.100.2:8080 -g -w 1',
        '-A -t 10.0.0.1:80 -s wlc',
        '-a -t 10.0.0.1:80 -r 192.168.10.2:80 -g -w 1',
        '-a -t 10.0.0.1:80 -r 192.168.10.3:80 -g -w 3 -x 1000 -y 800',
        '-A -t 10.0.0.1:443 -s rr -p 300 -M 255.255.255.0',
        '-a -t 10.0.0.1:443 -r 192.168.10.2:443 -g -w 1',
        '-A -u 10.0.0.53:53 -s sh -b sh-fallback,sh-port',
        '-a -u 10.0.0.53:53 -r 192.168.10.4:53 -g -w 0',
        '-a -u 10.0.0.53:53 -r 192.168.10.5:53 -g -w 2',
        '-A -t [2001:db8::80]:80 -s rr -p 600 -M 64',
        '-a -t [2001:db8::80]:80 -r [2001:db8::a0a0]:80 -g -w 1',
        '',
      ].join('\n'),
    );
  });
});

describe('a bad line changes nothing and is named', () => {
  it('refuses -m with direct routing over VXLAN as the reason, at its line', () => {
    const err = refusal(fixture('man-example1.rules'));
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/^line 3: -a -t 207\.175\.44\.110:80 -r 192\.168\.10\.1:80 -m: /);
    expect(err.message).toMatch(/Sluice forwards by direct routing over VXLAN/);
  });

  it('refuses -i and tunnel options the same way', () => {
    const text =
      '-A -u 192.168.50.100:53 -s rr\n-a -u 192.168.50.100:53 -r 192.168.52.100:53 -i -w 1 --tun-type ipip\n';
    const err = refusal(text);
    expect(err.line).toBe(2);
    expect(err.message).toMatch(
      /-i \(IP-in-IP tunneling\) is not supported: Sluice forwards by direct routing over VXLAN/,
    );
  });

  it('names the first bad line of a long file and leaves the config as it was', () => {
    const base = restore(fixture('dr-tutorial.rules'));
    const before = structuredClone(base);
    const lines = ruleLines(fixture('mixed.rules'));
    lines.splice(7, 0, '-a -t 10.0.0.1:80 -r 192.168.10.9:80 -g -w 70000');
    const err = refusal(lines.join('\n'), base, V6);
    expect(err.line).toBe(8);
    expect(err.message).toMatch(/illegal weight specified: 70000/);
    expect(base).toEqual(before);
  });

  const cases: [string, RegExp][] = [
    ['-A -t 10.0.0.1:80 -s wlc\n-A -t 10.0.0.1:80 -s rr', /^line 2: .*Service already exists$/],
    ['-E -t 10.0.0.1:80 -s rr', /No such service/],
    ['-D -t 10.0.0.1:80', /No such service/],
    ['-a -t 10.0.0.1:80 -r 10.0.1.1', /Service not defined/],
    [
      '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n-a -t 10.0.0.1:80 -r 10.0.1.1:80',
      /^line 3: .*Destination already exists/,
    ],
    ['-A -t 10.0.0.1:80\n-e -t 10.0.0.1:80 -r 10.0.1.1', /No such destination/],
    ['-A -t 10.0.0.1:80\n-d -t 10.0.0.1:80 -r 10.0.1.1', /No such destination/],
    ['-A -t 10.0.0.1:80 -s fastest', /unknown scheduler fastest: one of rr, wrr, lc, wlc, lblc, lblcr/],
    ['-A -t 10.0.0.1:80 -s wlc -b sh-port', /incompatible scheduler flag `sh-port'/],
    ['-A -t 10.0.0.1:80 -s sh -b sh-port,quick', /invalid scheduler flag `quick'/],
    ['-A -t 10.0.0.1:80 -s rr -b flag-1', /flag-1 means nothing to rr/],
    ['-A -t 10.0.0.1 -s rr', /Zero port specified for non-persistent service/],
    ['-A -t 10.0.0.1 -s rr -p', /port 0 \(every port\) services are not supported/],
    ['-A -t www.example.com:80', /numeric IPv4 or IPv6 address/],
    ['-A -t 10.0.0.1:http', /the port must be a number/],
    ['-A -f 1 -s rr', /firewall-mark services/],
    ['-A --sctp-service 10.0.0.1:80', /SCTP/],
    ['-A -u 10.0.0.1:53 -o', /one-packet scheduling/],
    ['-A -t 10.0.0.1:80 --pe sip', /persistence engines/],
    ['-A -t 10.0.0.1:80 -p 0', /invalid timeout value `0'/],
    ['-A -t 10.0.0.1:80 -p 300 -M 255.0.255.0', /illegal persistent mask/],
    ['-A -t [2001:db8::1]:80 -p 300 -M 255.255.255.0', /illegal ipv6 netmask/],
    ['-A -t 10.0.0.1:80 -s rr -s wlc', /multiple 'scheduler' options specified/],
    ['-A -E -t 10.0.0.1:80', /multiple commands specified/],
    ['-A -t 10.0.0.1:80 -w 3', /illegal 'weight' option with the 'add-service' command/],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r [2001:db8::1]:80', /Different address family/],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1 -x -3', /illegal u_threshold/],
    ['-a -t 10.0.0.1:80', /'real-server' option/],
    ['-L -n', /not a rule/],
    ['-S -n', /not a rule/],
    ['--start-daemon master', /no connection sync daemon/],
    ['-A -t 10.0.0.1:80 -n', /-n is an option of -L and -S/],
    ['-A -t 10.0.0.1:80 --bogus', /unknown option --bogus/],
    ['-t 10.0.0.1:80', /no command/],
  ];
  for (const [text, why] of cases) {
    it(`${text.split('\n').at(-1)}: ${why.source}`, () => {
      expect(refusal(text).message).toMatch(why);
    });
  }

  it('a new IPv6 real server without a VTEP says how to give one', () => {
    const err = refusal('-A -t [2001:db8::80]:80\n-a -t [2001:db8::80]:80 -r [2001:db8::a0a0]:80');
    expect(err.message).toMatch(/needs a VTEP .* --vtep-for 2001:db8::a0a0=<address>/);
  });
});

describe('what restore takes, as ipvsadm takes it', () => {
  it('every IPVS scheduler name; the director says which it runs', () => {
    for (const s of IPVS_SCHEDULERS) {
      expect(restore(`-A -t 10.0.0.1:80 -s ${s}`).services[0].scheduler).toBe(s);
    }
    expect(IPVS_SCHEDULERS).toHaveLength(14);
  });

  it('comments, blank lines, the ipvsadm prefix, clustered and attached short options, long options', () => {
    const config = restore(
      [
        '# a comment',
        '',
        'ipvsadm -At 10.0.0.1:80 -s sh -b flag-2,flag-1   # flag-1/2 are sh-fallback/sh-port for sh',
        '--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.1.1 --weight=4 --u-threshold 10',
        '-a -t 10.0.0.1:80 -r10.0.1.2:8080 -gw2',
        '-A -u 10.0.0.1:53 -p -s rr',
        '-A -t 10.0.0.1:443 --persistent=60 --netmask 255.255.0.0',
      ].join('\r\n'),
    );
    const [web, dns, tls] = config.services;
    expect(web).toMatchObject({
      protocol: 'tcp',
      scheduler: 'sh',
      schedulerFlags: ['sh-fallback', 'sh-port'],
    });
    // -r without a port takes the service's; under -g a port of its own is overridden by it.
    expect(web.reals.map((r) => [r.address, r.port, r.weight, r.upperThreshold])).toEqual([
      ['10.0.1.1', 80, 4, 10],
      ['10.0.1.2', 80, 2, 0],
    ]);
    // -p without a value: 300 s (IPVS_SVC_PERSISTENT_TIMEOUT), /32.
    expect(dns).toMatchObject({ protocol: 'udp', persistence: { timeoutSeconds: 300, netmask: 32 } });
    expect(tls.persistence).toEqual({ timeoutSeconds: 60, netmask: 16 });
  });

  it('-E replaces the whole service (no -s: wlc; no -p: none); -e the whole weight and thresholds', () => {
    const config = restore(
      [
        '-A -t 10.0.0.1:80 -s rr -p 120',
        '-a -t 10.0.0.1:80 -r 10.0.1.1 -w 5 -x 100 -y 50',
        '-E -t 10.0.0.1:80',
        '-e -t 10.0.0.1:80 -r 10.0.1.1 -x 7',
      ].join('\n'),
    );
    expect(config.services[0]).toMatchObject({ scheduler: 'wlc', persistence: null });
    expect(config.services[0].reals[0]).toMatchObject({ weight: 1, upperThreshold: 7, lowerThreshold: 0 });
  });

  it('-d, -D and -C remove; --clear starts from nothing', () => {
    const base = restore(fixture('lvs-facts.rules'));
    expect(restore('-d -t 10.0.0.1:80 -r 192.168.10.2', base).services[0].reals).toEqual([]);
    expect(restore('-D -t 10.0.0.1:443', base).services.map((s) => s.port)).toEqual([80]);
    expect(restore('-C\n-A -t 10.0.0.9:80', base).services.map((s) => s.vip)).toEqual(['10.0.0.9']);
    expect(restore('-A -t 10.0.0.9:80', base, NONE, true).services.map((s) => s.vip)).toEqual(['10.0.0.9']);
  });

  it('gives a new real server a VTEP: --vtep-for, else --vtep, else its own address; and --mac-for', () => {
    const defaults: RealDefaults = {
      defaultVtep: '192.0.2.1',
      vtepFor: new Map([['10.0.1.2', '192.0.2.2']]),
      macFor: new Map([['10.0.1.2', '02:00:00:00:01:02']]),
    };
    const text = '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n-a -t 10.0.0.1:80 -r 10.0.1.2';
    const [a, b] = restore(text, EMPTY, defaults).services[0].reals;
    expect([a.vtep, a.mac, b.vtep, b.mac]).toEqual(['192.0.2.1', null, '192.0.2.2', '02:00:00:00:01:02']);
    expect(restore(text).services[0].reals.map((r) => r.vtep)).toEqual(['10.0.1.1', '10.0.1.2']);
  });

  it('names services by endpoint, keeps the names the config has, and spells addresses as the config does', () => {
    // A bare IPv6 real server takes the service's port ([v6] needs :port, as in ipvsadm).
    const config = restore('-A -t [2001:DB8:0::80]:80\n-a -t [2001:db8::80]:80 -r 2001:db8::A0A0', EMPTY, V6);
    expect(config.services[0]).toMatchObject({ name: 'tcp-2001_db8__80-80', vip: '2001:db8::80' });
    expect(config.services[0].reals[0].address).toBe('2001:db8::a0a0');
    const named = { ...EMPTY, services: [{ ...restore('-A -t 10.0.0.1:80').services[0], name: 'web' }] };
    expect(restore('-C\n-A -t 10.0.0.1:80 -s rr', named).services[0].name).toBe('web');
  });

  it('traces a pointer the director names back to the line that made that part', () => {
    const r = applyRules(EMPTY, '# x\n-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n', NONE);
    expect(lineOfPointer(r.provenance, '/services/0/reals/0/vtep')).toEqual({
      line: 3,
      text: '-a -t 10.0.0.1:80 -r 10.0.1.1',
    });
    expect(lineOfPointer(r.provenance, '/services/0/scheduler')?.line).toBe(2);
    expect(lineOfPointer(r.provenance, '/defense/rules/0')).toBeNull();
  });
});
