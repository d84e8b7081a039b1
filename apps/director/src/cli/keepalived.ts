// `sluice import-keepalived`: keepalived's `virtual_server` blocks as Sluice services. Read from
// keepalived.conf(5) (LVS CONFIGURATION): blocks nest with { }, `#` and `!` start comments,
// a virtual server's options are the defaults of its real servers and theirs of their checkers.
//
//   keepalived                                  Sluice
//   virtual_server IP PORT                      service (name tcp-IP-PORT), vip, port
//   protocol TCP|UDP                            protocol
//   lb_algo | lvs_sched                         scheduler (all 14 IPVS names are passed on)
//   sh-port sh-fallback mh-port mh-fallback     schedulerFlags (flag-1/flag-2 as for sh and mh)
//   lb_kind | lvs_method DR                     direct routing over VXLAN, the only method
//   persistence_timeout [T] (default 360)       persistence.timeoutSeconds (0: none)
//   persistence_granularity MASK                persistence.netmask (prefix length)
//   real_server IP [PORT]                       reals[]: address, port (= the service's: DR)
//     weight, uthreshold, lthreshold            weight, upperThreshold, lowerThreshold
//     TCP_CHECK                                 healthCheck { type: tcp }
//     HTTP_GET (first url: path, status_code)   healthCheck { type: http, path, expectStatus }
//     connect_ip, connect_port                  healthCheck.address, .port
//     delay_loop (default 60)                   healthCheck.intervalSeconds
//     connect_timeout (default 5)               healthCheck.timeoutSeconds
//     retry | nb_get_retry (default 1)          healthCheck.fall = retry + 1; rise = 1
//
// Refused (an error naming the line): lb_kind NAT or TUN (unless asDr: the real servers must be
// turned into DR servers, with the VIP on lo), fwmark and group virtual servers, SCTP, ops,
// persistence engines, a real server on another port than its service. Kept out with a warning:
// what Sluice has no counterpart for (sorry_server, quorum, notify scripts, digest and regex of
// HTTP_GET, SSL_GET's TLS (checked as TCP_CHECK), SMTP/MISC/DNS/UDP/PING/BFD/FILE checks,
// delay_before_retry, warmup, alpha).
import type { HealthCheckConfig, RealServerConfig, ServiceConfig } from '@sluice/config';
import { InputLineError } from './errors.ts';
import { endpointName, IPVS_SCHEDULERS, newReal, type RealDefaults } from './ipvsadm-rules.ts';
import { canonicalIp, maskPrefix } from './net.ts';

interface Statement {
  keyword: string;
  args: string[];
  line: number;
  /** The statements of its { } block, or null when it has none. */
  block: Statement[] | null;
}

interface Token {
  text: string;
  line: number;
}

const NL = '\n';

/** Tokens of a keepalived.conf, with a newline token ending each line. */
function tokenize(text: string): Token[] {
  const out: Token[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    // A comment starts at # or ! outside quotes.
    const re = /"([^"]*)"|([{}])|([#!].*$)|([^\s{}"#!]+[^\s{}"]*)/g;
    for (let m = re.exec(raw); m !== null; m = re.exec(raw)) {
      if (m[3] !== undefined) break;
      out.push({ text: m[1] ?? m[2] ?? m[4], line });
    }
    out.push({ text: NL, line });
  });
  return out;
}

/** The statement tree of a keepalived.conf; throws InputLineError on unbalanced braces. */
export function parseKeepalived(text: string): Statement[] {
  const tokens = tokenize(text);
  const lines = text.split('\n');
  let i = 0;
  const fail = (line: number, why: string): never => {
    throw new InputLineError(line, (lines[line - 1] ?? '').trim(), why);
  };
  const peekPastNewlines = (): Token | undefined => {
    let k = i;
    while (k < tokens.length && tokens[k].text === NL) k++;
    return tokens[k];
  };
  const statements = (open: Token | null): Statement[] => {
    const out: Statement[] = [];
    for (;;) {
      while (i < tokens.length && tokens[i].text === NL) i++;
      if (i >= tokens.length) {
        if (open !== null) fail(open.line, 'this { is never closed');
        return out;
      }
      const t = tokens[i];
      if (t.text === '}') {
        if (open === null) fail(t.line, 'a } closes no block');
        i++;
        return out;
      }
      if (t.text === '{') fail(t.line, 'a block needs a keyword before its {');
      i++;
      const args: string[] = [];
      while (i < tokens.length && ![NL, '{', '}'].includes(tokens[i].text)) args.push(tokens[i++].text);
      let block: Statement[] | null = null;
      const next = peekPastNewlines();
      if (next?.text === '{') {
        while (tokens[i].text === NL) i++;
        i++;
        block = statements(next);
      }
      out.push({ keyword: t.text, args, line: t.line, block });
    }
  };
  return statements(null);
}

/** Timer and check options, inherited virtual server → real server → checker. */
interface CheckOptions {
  delayLoop: number;
  connectTimeout: number;
  retry: number | null;
}

export interface ConvertOptions extends RealDefaults {
  /** Convert NAT and TUN virtual servers as direct routing ones (with a warning each). */
  asDr: boolean;
}

export interface Conversion {
  services: ServiceConfig[];
  /** `line N: ...` for each option kept out. */
  warnings: string[];
}

/** keepalived's defaults (keepalived.conf(5)): delay_loop 60 s, connect_timeout 5 s, retry 1. */
const DEFAULT_CHECK: CheckOptions = { delayLoop: 60, connectTimeout: 5, retry: null };
const DEFAULT_RETRY = 1;
/** persistence_timeout without a value: 6 minutes. */
const DEFAULT_PERSISTENCE = 360;

const IGNORED_VS = new Set([
  'sorry_server',
  'sorry_server_inhibit',
  'sorry_server_lvs_method',
  'quorum',
  'hysteresis',
  'quorum_up',
  'quorum_down',
  'smtp_alert',
  'virtualhost',
  'snmp_name',
  'ha_suspend',
  'omega',
  'ip_family',
  'delay_before_retry',
  'warmup',
  'alpha',
  'net_mask',
  'nat_mask',
]);
const IGNORED_RS = new Set([
  'notify_up',
  'notify_down',
  'smtp_alert',
  'virtualhost',
  'snmp_name',
  'delay_before_retry',
  'warmup',
  'alpha',
]);
/** Options with no effect on forwarding that Sluice has anyway: a down server takes no new flows. */
const SILENT = new Set(['inhibit_on_failure', 'log_all_failures', 'http_protocol', 'fast_recovery']);
const CHECKERS = new Set([
  'HTTP_GET',
  'SSL_GET',
  'TCP_CHECK',
  'SMTP_CHECK',
  'DNS_CHECK',
  'MISC_CHECK',
  'BFD_CHECK',
  'UDP_CHECK',
  'PING_CHECK',
  'FILE_CHECK',
]);

const DR_ONLY =
  'Sluice forwards by direct routing over VXLAN: the real servers must hold the VIP on lo (arp_ignore=1, arp_announce=2) and reply to clients directly';

/** Why an option is left out. */
function leftOut(keyword: string): string {
  if (keyword === 'delay_before_retry') return 'Sluice spaces retries by delay_loop; left out';
  if (keyword === 'warmup') return 'Sluice delays each first check by up to delay_loop anyway; left out';
  if (keyword === 'alpha') return 'Sluice starts real servers up, as keepalived without alpha; left out';
  return 'Sluice has no counterpart; left out';
}

function number(s: Statement, arg: string | undefined, fail: (why: string) => never, min = 0): number {
  const n = arg === undefined ? Number.NaN : Number(arg);
  if (!Number.isFinite(n) || n < min)
    fail(`${s.keyword} needs a number${min > 0 ? ` of at least ${min}` : ''}`);
  return n;
}

/** A netmask (dotted, IPv4) or a prefix length, as a prefix length. */
function prefixOf(text: string, v4: boolean): number | null {
  if (/^[0-9]{1,3}$/.test(text)) {
    const n = Number(text);
    return n <= (v4 ? 32 : 128) ? n : null;
  }
  return v4 ? maskPrefix(text) : null;
}

/** Converts every `virtual_server` of a keepalived.conf; throws InputLineError at the first refusal. */
export function convertKeepalived(text: string, opts: ConvertOptions): Conversion {
  const lines = text.split('\n');
  const warnings: string[] = [];
  const at = (s: Statement) => (lines[s.line - 1] ?? '').trim();
  const failAt =
    (s: Statement) =>
    (why: string): never => {
      throw new InputLineError(s.line, at(s), why);
    };
  const warn = (s: Statement, why: string) => warnings.push(`line ${s.line}: ${s.keyword}: ${why}`);
  const services: ServiceConfig[] = [];
  for (const top of parseKeepalived(text)) {
    if (top.keyword !== 'virtual_server') continue;
    services.push(convertService(top, opts, failAt, warn, (n) => services.some((s) => s.name === n)));
  }
  return { services, warnings };
}

function lvsMethod(
  s: Statement,
  opts: ConvertOptions,
  fail: (why: string) => never,
  warn: (s: Statement, why: string) => void,
): void {
  const method = (s.args[0] ?? '').toUpperCase();
  if (method === 'DR') return;
  if (method !== 'NAT' && method !== 'TUN') fail('lvs_method is one of NAT, DR, TUN');
  if (!opts.asDr) fail(`${method} is not supported. ${DR_ONLY}. Convert them, then use --as-dr`);
  warn(s, `${method} converted as DR: ${DR_ONLY}`);
}

function checkOption(s: Statement, o: CheckOptions, fail: (why: string) => never): boolean {
  switch (s.keyword) {
    case 'delay_loop':
      o.delayLoop = number(s, s.args[0], fail, 0.001);
      return true;
    case 'connect_timeout':
      o.connectTimeout = number(s, s.args[0], fail, 0.001);
      return true;
    case 'retry':
    case 'nb_get_retry':
    case 'nb_sock_retry':
      o.retry = number(s, s.args[0], fail);
      return true;
    default:
      return false;
  }
}

function convertService(
  vs: Statement,
  opts: ConvertOptions,
  failAt: (s: Statement) => (why: string) => never,
  warn: (s: Statement, why: string) => void,
  taken: (name: string) => boolean,
): ServiceConfig {
  const fail = failAt(vs);
  if (vs.args[0] === 'fwmark')
    fail('fwmark virtual servers are not supported: Sluice matches services by VIP, port and protocol');
  if (vs.args[0] === 'group')
    fail('virtual_server group is not supported: write one virtual_server per VIP and port');
  const ip = canonicalIp(vs.args[0] ?? '');
  if (ip === null) fail('virtual_server needs a numeric IP address');
  const vip = ip as NonNullable<typeof ip>;
  const port = vs.args[1] === undefined ? 0 : Number(vs.args[1]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    fail('virtual_server needs a port 1..65535 (port 0, every port, is not supported)');
  }
  const check: CheckOptions = { ...DEFAULT_CHECK };
  let protocol: 'tcp' | 'udp' = 'tcp';
  let scheduler = 'wlc';
  let persistence: { timeoutSeconds: number; netmask: number } | null = null;
  let granularity: { s: Statement; text: string } | null = null;
  const flags: string[] = [];
  const realStatements: Statement[] = [];
  let methodSeen = false;
  for (const s of vs.block ?? []) {
    const f = failAt(s);
    if (checkOption(s, check, f)) continue;
    switch (s.keyword) {
      case 'lb_algo':
      case 'lvs_sched':
        scheduler = s.args[0] ?? '';
        if (!(IPVS_SCHEDULERS as readonly string[]).includes(scheduler)) {
          f(`unknown scheduler ${scheduler}: one of ${IPVS_SCHEDULERS.join(', ')}`);
        }
        break;
      case 'lb_kind':
      case 'lvs_method':
        lvsMethod(s, opts, f, warn);
        methodSeen = true;
        break;
      case 'protocol': {
        const p = (s.args[0] ?? '').toUpperCase();
        if (p !== 'TCP' && p !== 'UDP') f('protocol TCP or UDP (Sluice balances no SCTP)');
        protocol = p === 'TCP' ? 'tcp' : 'udp';
        break;
      }
      case 'persistence_timeout': {
        const t = s.args[0] === undefined ? DEFAULT_PERSISTENCE : number(s, s.args[0], f);
        persistence = t === 0 ? null : { timeoutSeconds: t, netmask: vip.v4 ? 32 : 128 };
        break;
      }
      case 'persistence_granularity':
        granularity = { s, text: s.args[0] ?? '' };
        break;
      case 'sh-port':
      case 'sh-fallback':
      case 'mh-port':
      case 'mh-fallback':
        flags.push(s.keyword);
        break;
      case 'flag-1':
      case 'flag-2':
        flags.push(s.keyword);
        break;
      case 'flag-3':
        f('flag-3 means nothing to the sh and mh schedulers, the only ones that read flags');
        break;
      case 'ops':
        f('one-packet scheduling (ops) is not supported');
        break;
      case 'persistence_engine':
        f('persistence engines are not supported');
        break;
      case 'real_server':
        realStatements.push(s);
        break;
      default:
        if (SILENT.has(s.keyword)) break;
        warn(s, IGNORED_VS.has(s.keyword) ? leftOut(s.keyword) : 'not known to the converter; left out');
    }
  }
  if (!methodSeen) {
    // keepalived's default method is NAT.
    lvsMethod({ keyword: 'lvs_method', args: ['NAT'], line: vs.line, block: null }, opts, fail, warn);
  }
  if (persistence !== null && granularity !== null) {
    const prefix = prefixOf(granularity.text, vip.v4);
    if (prefix === null)
      failAt(granularity.s)('persistence_granularity needs a netmask (IPv4) or prefix length');
    persistence.netmask = prefix as number;
  }
  const schedulerFlags = flags.map((flag) => {
    if (flag === 'flag-1' || flag === 'flag-2') {
      if (scheduler !== 'sh' && scheduler !== 'mh') fail(`${flag} means nothing to ${scheduler}`);
      return `${scheduler}-${flag === 'flag-1' ? 'fallback' : 'port'}`;
    }
    if (!flag.startsWith(`${scheduler}-`))
      fail(`${flag} is a flag of ${flag.slice(0, 2)}, and the scheduler is ${scheduler}`);
    return flag;
  });
  const name = endpointName({ protocol, vip: vip.text, port }, taken);
  const reals = realStatements.map((rs) => convertReal(rs, vip.v4, port, check, opts, failAt, warn));
  const ordered = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'].filter((x) =>
    schedulerFlags.includes(x),
  );
  return {
    name,
    vip: vip.text,
    port,
    protocol,
    scheduler: scheduler as ServiceConfig['scheduler'],
    persistence,
    ...(ordered.length > 0 ? { schedulerFlags: ordered as ServiceConfig['schedulerFlags'] } : {}),
    reals,
  };
}

function convertReal(
  rs: Statement,
  vip4: boolean,
  servicePort: number,
  inherited: CheckOptions,
  opts: ConvertOptions,
  failAt: (s: Statement) => (why: string) => never,
  warn: (s: Statement, why: string) => void,
): RealServerConfig {
  const fail = failAt(rs);
  const ip = canonicalIp(rs.args[0] ?? '');
  if (ip === null) fail('real_server needs a numeric IP address');
  const address = (ip as NonNullable<typeof ip>).text;
  if ((ip as NonNullable<typeof ip>).v4 !== vip4)
    fail("a real server speaks its virtual server's address family under direct routing");
  if (rs.args[1] !== undefined && Number(rs.args[1]) !== servicePort) {
    fail(
      `under direct routing the real server receives the client's packet unchanged: its port must be the service's, ${servicePort}`,
    );
  }
  const check: CheckOptions = { ...inherited };
  let weight = 1;
  let upper = 0;
  let lower = 0;
  let healthCheck: HealthCheckConfig | null = null;
  for (const s of rs.block ?? []) {
    const f = failAt(s);
    if (checkOption(s, check, f)) continue;
    if (CHECKERS.has(s.keyword)) {
      if (healthCheck !== null) {
        warn(s, 'Sluice runs one check per real server; the first is kept');
        continue;
      }
      healthCheck = convertCheck(s, check, failAt, warn);
      continue;
    }
    switch (s.keyword) {
      case 'weight':
        weight = number(s, s.args[0], f);
        if (!Number.isInteger(weight) || weight > 65535) f('weight is an integer 0..65535');
        break;
      case 'uthreshold':
        upper = number(s, s.args[0], f);
        break;
      case 'lthreshold':
        lower = number(s, s.args[0], f);
        break;
      case 'lb_kind':
      case 'lvs_method':
        lvsMethod(s, opts, f, warn);
        break;
      default:
        if (SILENT.has(s.keyword)) break;
        warn(s, IGNORED_RS.has(s.keyword) ? leftOut(s.keyword) : 'not known to the converter; left out');
    }
  }
  return {
    ...newReal({ address, port: servicePort }, opts, fail),
    weight,
    upperThreshold: upper,
    lowerThreshold: lower,
    healthCheck,
  };
}

function convertCheck(
  c: Statement,
  inherited: CheckOptions,
  failAt: (s: Statement) => (why: string) => never,
  warn: (s: Statement, why: string) => void,
): HealthCheckConfig | null {
  if (c.keyword !== 'TCP_CHECK' && c.keyword !== 'HTTP_GET' && c.keyword !== 'SSL_GET') {
    warn(c, 'Sluice checks by TCP connect or HTTP GET only; this real server is left without a check');
    return null;
  }
  const o: CheckOptions = { ...inherited };
  let address: string | undefined;
  let port: number | undefined;
  let path: string | undefined;
  let expectStatus: number | undefined;
  let urls = 0;
  for (const s of c.block ?? []) {
    const f = failAt(s);
    if (checkOption(s, o, f)) continue;
    switch (s.keyword) {
      case 'connect_ip': {
        const ip = canonicalIp(s.args[0] ?? '');
        if (ip === null) f('connect_ip needs a numeric IP address');
        address = (ip as NonNullable<typeof ip>).text;
        break;
      }
      case 'connect_port':
        port = number(s, s.args[0], f, 1);
        break;
      case 'url':
        urls++;
        if (urls > 1) {
          warn(s, 'Sluice checks one URL; the first is kept');
          break;
        }
        for (const u of s.block ?? []) {
          if (u.keyword === 'path') path = u.args[0];
          else if (u.keyword === 'status_code') {
            // One code maps; keepalived's default and ranges (200-299 ...) leave Sluice's default.
            if (u.args.length === 1 && /^[1-5][0-9][0-9]$/.test(u.args[0])) expectStatus = Number(u.args[0]);
            else warn(u, 'Sluice expects one status code; left at its default (200)');
          } else
            warn(
              u,
              u.keyword === 'digest' ? 'Sluice does not hash the body; the status code decides' : 'left out',
            );
        }
        break;
      default:
        if (SILENT.has(s.keyword)) break;
        warn(s, leftOut(s.keyword));
    }
  }
  if (c.keyword === 'SSL_GET')
    warn(c, 'Sluice speaks no TLS in checks: checked by TCP connect to the same port');
  const http = c.keyword === 'HTTP_GET';
  if (http && path === undefined) failAt(c)('HTTP_GET needs a url with a path');
  return {
    type: http ? 'http' : 'tcp',
    ...(address === undefined ? {} : { address }),
    ...(port === undefined ? {} : { port }),
    ...(http ? { path } : {}),
    ...(http && expectStatus !== undefined ? { expectStatus } : {}),
    intervalSeconds: o.delayLoop,
    timeoutSeconds: o.connectTimeout,
    rise: 1,
    fall: (o.retry ?? DEFAULT_RETRY) + 1,
  };
}
