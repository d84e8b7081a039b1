// ipvsadm's rule format in and out: `sluice save` prints the live config as `ipvsadm-save -n`
// does, and `sluice restore` applies such lines to a copy of the live config, all of them or none.
//
// Read from ipvsadm 1.31 (ipvsadm.c: parse_options, process_options, parse_service,
// parse_sched_flags, print_service_entry with FMT_RULE; config_stream.c for the line format):
// - A line is whitespace-separated tokens; `#` starts a comment; a token `ipvsadm` is skipped, so
//   `ipvsadm -A ...` lines work as they are. Short options may be clustered (`-At`) or carry
//   their value (`-p300`, `-w1`); long ones take `--name value` or `--name=value`.
// - -A/-E: -t|-u service, -s scheduler (default wlc), -p [timeout] (default 300), -M netmask,
//   -b flags. -E replaces all of them (a missing -s means wlc again, a missing -p no persistence),
//   as the kernel's edit takes the whole service. -D: the service.
// - -a/-e: service, -r server[:port], -g, -w weight (default 1), -x upper, -y lower. Under direct
//   routing the real server's port is the service's (ipvsadm copies it over); -e replaces weight
//   and thresholds (missing ones are 1, 0, 0 again). -d: service and -r. -C: everything.
// - Errors are ipvsadm's where it has one ("Service already exists", "No such destination", ...).
//
// What Sluice refuses, each with a reason: -m and -i (Sluice forwards by direct routing over
// VXLAN), -f and -6 (no firewall marks), --sctp-service, -o (one-packet scheduling), --pe,
// --tun-*, port-0 services, host and port names (numeric only), and list/zero/daemon commands.
//
// Sluice's real servers need what ipvsadm lines do not carry: a VTEP (the underlay address VXLAN
// frames for the real server go to) and optionally a MAC. A real server that already exists in the
// running config keeps its own (and its health check and drain state), so `save` then `restore`
// changes nothing; a new one takes its VTEP from `vtepFor`, else `defaultVtep`, else its own
// address (IPv4 only: the underlay is IPv4), and its MAC from `macFor` or learns it (null).
//
// -x/-y are written when set: ipvsadm 1.31 drops them from its save output; its restore reads them.
import type { LiveConfig, RealServerConfig, ServiceConfig } from '@sluice/config';
import { InputLineError } from './errors.ts';
import { compareReals, compareServices } from './ipvsadm-list.ts';
import { canonicalIp, dottedMask, endpoint, maskPrefix } from './net.ts';

/** The 14 IPVS schedulers. The parser takes every name; the director says which it runs. */
export const IPVS_SCHEDULERS = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'fo',
  'ovf',
  'mh',
  'twos',
] as const;

/** ipvsadm's MAX_TIMEOUT for -p: 31 days. */
const MAX_TIMEOUT = 86400 * 31;
/** IPVS_SVC_PERSISTENT_TIMEOUT: -p without a value. */
const DEFAULT_PERSISTENT_TIMEOUT = 300;
const INT_MAX = 0x7fffffff;

const NOT_A_RULE = 'not a rule: a restore file holds -A, -E, -D, -a, -e, -d and -C lines';

const DR_ONLY =
  'Sluice forwards by direct routing over VXLAN (the real server holds the VIP on lo and receives the ' +
  "client's frame through its VXLAN device); use -g";

type Protocol = 'tcp' | 'udp';

interface ServiceKey {
  protocol: Protocol;
  vip: string;
  v4: boolean;
  port: number;
}

type Command =
  | {
      kind: 'add-service' | 'edit-service';
      svc: ServiceKey;
      scheduler: string;
      persistence: { timeoutSeconds: number; netmask: number } | null;
      flags: string[];
    }
  | { kind: 'delete-service'; svc: ServiceKey }
  | {
      kind: 'add-server' | 'edit-server';
      svc: ServiceKey;
      real: { address: string; port: number };
      weight: number;
      upper: number;
      lower: number;
    }
  | { kind: 'delete-server'; svc: ServiceKey; real: { address: string; port: number } }
  | { kind: 'clear' };

type CommandName = Command['kind'];

/** Options: their long name, whether they take a value (optional for -p), what they are. */
interface OptionSpec {
  short: string | null;
  long: string;
  value: 'none' | 'required' | 'optional';
}

// ipvsadm's options written out one row each: the rows are alike by design (data, not logic), and
// a row that reads as the option it is beats rows built by a helper.
const OPTIONS: OptionSpec[] = [
  { short: 'A', long: 'add-service', value: 'none' },
  { short: 'E', long: 'edit-service', value: 'none' },
  { short: 'D', long: 'delete-service', value: 'none' },
  { short: 'C', long: 'clear', value: 'none' },
  { short: 'a', long: 'add-server', value: 'none' },
  { short: 'e', long: 'edit-server', value: 'none' },
  { short: 'd', long: 'delete-server', value: 'none' },
  { short: 'L', long: 'list', value: 'none' },
  { short: 'l', long: 'list', value: 'none' },
  { short: 'Z', long: 'zero', value: 'none' },
  { short: 'R', long: 'restore', value: 'none' },
  { short: 'S', long: 'save', value: 'none' },
  { short: 'h', long: 'help', value: 'none' },
  { short: 'v', long: 'version', value: 'none' },
  { short: null, long: 'set', value: 'none' },
  { short: null, long: 'start-daemon', value: 'required' },
  { short: null, long: 'stop-daemon', value: 'required' },
  { short: 't', long: 'tcp-service', value: 'required' },
  { short: 'u', long: 'udp-service', value: 'required' },
  { short: null, long: 'sctp-service', value: 'required' },
  { short: 'f', long: 'fwmark-service', value: 'required' },
  { short: 's', long: 'scheduler', value: 'required' },
  { short: 'p', long: 'persistent', value: 'optional' },
  { short: 'M', long: 'netmask', value: 'required' },
  { short: 'b', long: 'sched-flags', value: 'required' },
  { short: 'r', long: 'real-server', value: 'required' },
  { short: 'g', long: 'gatewaying', value: 'none' },
  { short: 'i', long: 'ipip', value: 'none' },
  { short: 'm', long: 'masquerading', value: 'none' },
  { short: 'w', long: 'weight', value: 'required' },
  { short: 'x', long: 'u-threshold', value: 'required' },
  { short: 'y', long: 'l-threshold', value: 'required' },
  { short: 'n', long: 'numeric', value: 'none' },
  { short: 'c', long: 'connection', value: 'none' },
  { short: 'o', long: 'ops', value: 'none' },
  { short: '6', long: 'ipv6', value: 'none' },
  { short: null, long: 'pe', value: 'required' },
  { short: null, long: 'tun-type', value: 'required' },
  { short: null, long: 'tun-port', value: 'required' },
  { short: null, long: 'tun-nocsum', value: 'none' },
  { short: null, long: 'tun-csum', value: 'none' },
  { short: null, long: 'tun-remcsum', value: 'none' },
];

const COMMANDS: Record<string, CommandName> = {
  'add-service': 'add-service',
  'edit-service': 'edit-service',
  'delete-service': 'delete-service',
  clear: 'clear',
  'add-server': 'add-server',
  'edit-server': 'edit-server',
  'delete-server': 'delete-server',
};

/** What each command may take (ipvsadm's commands_v_options, for the options Sluice keeps). */
const ALLOWED: Record<CommandName, ReadonlySet<string>> = {
  'add-service': new Set(['service', 'scheduler', 'persistent', 'netmask', 'sched-flags']),
  'edit-service': new Set(['service', 'scheduler', 'persistent', 'netmask', 'sched-flags']),
  'delete-service': new Set(['service']),
  clear: new Set(),
  'add-server': new Set(['service', 'real-server', 'gatewaying', 'weight', 'u-threshold', 'l-threshold']),
  'edit-server': new Set(['service', 'real-server', 'gatewaying', 'weight', 'u-threshold', 'l-threshold']),
  'delete-server': new Set(['service', 'real-server']),
};

/** Options Sluice does not take at all, and why. */
const REFUSED: Record<string, string> = {
  masquerading: `-m (masquerading, NAT) is not supported: ${DR_ONLY}`,
  ipip: `-i (IP-in-IP tunneling) is not supported: ${DR_ONLY}`,
  'tun-type': `tunnel options are not supported: ${DR_ONLY}`,
  'tun-port': `tunnel options are not supported: ${DR_ONLY}`,
  'tun-nocsum': `tunnel options are not supported: ${DR_ONLY}`,
  'tun-csum': `tunnel options are not supported: ${DR_ONLY}`,
  'tun-remcsum': `tunnel options are not supported: ${DR_ONLY}`,
  'fwmark-service':
    'firewall-mark services (-f) are not supported: Sluice matches services by VIP, port and protocol',
  ipv6: '-6 goes with -f, and firewall-mark services are not supported',
  'sctp-service': 'SCTP services are not supported: Sluice balances TCP and UDP',
  ops: 'one-packet scheduling (-o) is not supported',
  pe: 'persistence engines (--pe) are not supported',
  list: NOT_A_RULE,
  zero: NOT_A_RULE,
  restore: NOT_A_RULE,
  save: NOT_A_RULE,
  help: NOT_A_RULE,
  version: NOT_A_RULE,
  set: 'not a rule: connection timeouts are not set with ipvsadm lines in Sluice',
  'start-daemon': 'not a rule: Sluice has no connection sync daemon',
  'stop-daemon': 'not a rule: Sluice has no connection sync daemon',
  numeric: '-n is an option of -L and -S, not of a rule',
  connection: '-c is an option of -L, not of a rule',
};

const byShort = new Map(OPTIONS.filter((o) => o.short !== null).map((o) => [o.short as string, o]));
const byLong = new Map(OPTIONS.map((o) => [o.long, o]));

/** One line of a rules file: its tokens (comment and `ipvsadm` dropped), or null when empty. */
export function lineTokens(line: string): string[] | null {
  const hash = line.indexOf('#');
  const text = hash < 0 ? line : line.slice(0, hash);
  const tokens = text.split(/[ \t\r]+/).filter((t) => t !== '' && t !== 'ipvsadm');
  return tokens.length === 0 ? null : tokens;
}

/** The options of one line as (long name, value) pairs, in order. */
function scanOptions(
  tokens: string[],
  fail: (why: string) => never,
): { name: string; value: string | null }[] {
  const out: { name: string; value: string | null }[] = [];
  const takeValue = (spec: OptionSpec, attached: string, i: number): [string | null, number] => {
    if (attached !== '') return [attached, i];
    const next = tokens[i + 1];
    if (spec.value === 'optional') {
      return next !== undefined && !next.startsWith('-') ? [next, i + 1] : [null, i];
    }
    if (next === undefined) fail(`option --${spec.long} needs a value`);
    return [next, i + 1];
  };
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.startsWith('--')) {
      const eq = t.indexOf('=');
      const name = eq < 0 ? t.slice(2) : t.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) fail(`unknown option ${t}`);
      if (spec.value === 'none') {
        if (eq >= 0) fail(`option --${name} takes no value`);
        out.push({ name, value: null });
        continue;
      }
      let value: string | null;
      [value, i] = eq >= 0 ? [t.slice(eq + 1), i] : takeValue(spec, '', i);
      out.push({ name, value });
      continue;
    }
    if (!t.startsWith('-') || t.length < 2) fail(`unexpected argument ${t}`);
    // A cluster of short options: flags, then at most one that takes the rest or the next token.
    for (let k = 1; k < t.length; k++) {
      const spec = byShort.get(t[k]);
      if (spec === undefined) fail(`unknown option -${t[k]}`);
      if (spec.value === 'none') {
        out.push({ name: spec.long, value: null });
        continue;
      }
      let value: string | null;
      [value, i] = takeValue(spec, t.slice(k + 1), i);
      out.push({ name: spec.long, value });
      break;
    }
  }
  return out;
}

function integer(text: string, min: number, max: number): number | null {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** parse_service: `a.b.c.d[:port]`, `[v6]:port` or a bare IPv6 address. Numeric only. */
function parseAddressPort(
  text: string,
  fail: (why: string) => never,
  what: string,
): { address: string; v4: boolean; port: number | null } {
  let host = text;
  let port: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') fail(`illegal ${what} ${text}: write [IPv6]:port`);
    host = text.slice(1, close);
    port = text.slice(close + 2);
  } else if (canonicalIp(text) === null) {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      port = text.slice(colon + 1);
    }
  }
  const ip = canonicalIp(host);
  if (ip === null) fail(`illegal ${what} ${text}: the address must be a numeric IPv4 or IPv6 address`);
  if (port === null) return { address: ip.text, v4: ip.v4, port: null };
  const n = integer(port, 0, 65535);
  if (n === null) fail(`illegal ${what} ${text}: the port must be a number 0..65535`);
  return { address: ip.text, v4: ip.v4, port: n };
}

/** One rule line as a command; throws InputLineError naming the line. */
export function parseRule(tokens: string[], lineNo: number, text: string): Command {
  const fail = (why: string): never => {
    throw new InputLineError(lineNo, text, why);
  };
  let command: CommandName | null = null;
  const given = new Map<string, string | null>();
  let protocol: Protocol | null = null;
  for (const { name, value } of scanOptions(tokens, fail)) {
    const refused = REFUSED[name];
    if (refused !== undefined) fail(refused);
    const cmd = COMMANDS[name];
    if (cmd !== undefined) {
      if (command !== null) fail('multiple commands specified');
      command = cmd;
      continue;
    }
    const key = name === 'tcp-service' || name === 'udp-service' ? 'service' : name;
    if (given.has(key)) fail(`multiple '${key}' options specified`);
    if (key === 'service') protocol = name === 'tcp-service' ? 'tcp' : 'udp';
    given.set(key, value);
  }
  if (command === null) fail('no command: a rule starts with -A, -E, -D, -a, -e, -d or -C');
  const cmd = command as CommandName;
  for (const key of given.keys()) {
    if (!ALLOWED[cmd].has(key)) fail(`illegal '${key}' option with the '${cmd}' command`);
  }
  if (cmd === 'clear') return { kind: 'clear' };
  const svcText = given.get('service');
  if (svcText === undefined || svcText === null) {
    return fail(`you need to supply the 'service-address' option (-t or -u) for the '${cmd}' command`);
  }
  const at = parseAddressPort(svcText, fail, 'virtual server address');
  const svc: ServiceKey = { protocol: protocol as Protocol, vip: at.address, v4: at.v4, port: at.port ?? 0 };

  if (cmd === 'add-service' || cmd === 'edit-service') {
    const scheduler = given.get('scheduler') ?? 'wlc';
    if (!(IPVS_SCHEDULERS as readonly string[]).includes(scheduler)) {
      fail(`unknown scheduler ${scheduler}: one of ${IPVS_SCHEDULERS.join(', ')}`);
    }
    let persistence: { timeoutSeconds: number; netmask: number } | null = null;
    if (given.has('persistent')) {
      const t = given.get('persistent');
      const timeout = t === null || t === undefined ? DEFAULT_PERSISTENT_TIMEOUT : integer(t, 1, MAX_TIMEOUT);
      if (timeout === null) fail(`invalid timeout value \`${t}' specified (1..${MAX_TIMEOUT} seconds)`);
      persistence = { timeoutSeconds: timeout as number, netmask: svc.v4 ? 32 : 128 };
    }
    const mask = given.get('netmask');
    if (mask !== undefined && mask !== null && persistence !== null) {
      const prefix = svc.v4 ? maskPrefix(mask) : integer(mask, 1, 128);
      if (prefix === null) {
        fail(
          svc.v4
            ? `illegal persistent mask ${mask}: an IPv4 netmask such as 255.255.255.0`
            : `illegal ipv6 netmask ${mask}: a prefix length 1..128`,
        );
      }
      persistence.netmask = prefix as number;
    }
    if (svc.port === 0) {
      fail(
        persistence === null
          ? 'Zero port specified for non-persistent service'
          : 'port 0 (every port) services are not supported: give the service a port',
      );
    }
    const flags = schedulerFlags(given.get('sched-flags') ?? null, scheduler, fail);
    return { kind: cmd, svc, scheduler, persistence, flags };
  }
  if (cmd === 'delete-service') return { kind: cmd, svc };

  const realText = given.get('real-server');
  if (realText === undefined || realText === null) {
    return fail(`you need to supply the 'real-server' option (-r) for the '${cmd}' command`);
  }
  const r = parseAddressPort(realText, fail, 'real server address');
  if (r.v4 !== svc.v4) fail('Different address family is allowed only for tunneling servers');
  // Direct routing: the real server receives the packet as the client sent it, port and all.
  const real = { address: r.address, port: svc.port };
  if (cmd === 'delete-server') return { kind: cmd, svc, real };
  const num = (key: string, dflt: number, max: number, name: string): number => {
    const t = given.get(key);
    if (t === undefined || t === null) return dflt;
    const n = integer(t, 0, max);
    if (n === null) fail(`illegal ${name} specified: ${t} (0..${max})`);
    return n as number;
  };
  return {
    kind: cmd,
    svc,
    real,
    weight: num('weight', 1, 65535, 'weight'),
    upper: num('u-threshold', 0, INT_MAX, 'u_threshold'),
    lower: num('l-threshold', 0, INT_MAX, 'l_threshold'),
  };
}

/**
 * parse_sched_flags: a comma list. flag-1 and flag-2 are the first two scheduler bits, which the
 * sh and mh schedulers read as their fallback and port flags; flag-3 and the bits of schedulers
 * that read none mean nothing to Sluice and are refused rather than kept silently.
 */
function schedulerFlags(text: string | null, scheduler: string, fail: (why: string) => never): string[] {
  if (text === null) return [];
  const out: string[] = [];
  for (const flag of text.split(',')) {
    let name = flag;
    if (flag === 'flag-1' || flag === 'flag-2') {
      if (scheduler !== 'sh' && scheduler !== 'mh')
        fail(`scheduler flag ${flag} means nothing to ${scheduler}`);
      name = `${scheduler}-${flag === 'flag-1' ? 'fallback' : 'port'}`;
    } else if (!['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'].includes(flag)) {
      fail(`invalid scheduler flag \`${flag}'`);
    } else if (!flag.startsWith(`${scheduler}-`)) {
      fail(`incompatible scheduler flag \`${flag}' (for ${flag.slice(0, 2)}, the service uses ${scheduler})`);
    }
    if (!out.includes(name)) out.push(name);
  }
  return ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'].filter((f) => out.includes(f));
}

/** Where a real server added by restore gets what ipvsadm lines do not carry. */
export interface RealDefaults {
  /** VTEP for new real servers; null: each real server's own address (IPv4 only). */
  defaultVtep: string | null;
  /** Real-server address (canonical) → VTEP. */
  vtepFor: ReadonlyMap<string, string>;
  /** Real-server address (canonical) → MAC; others learn theirs. */
  macFor: ReadonlyMap<string, string>;
}

/** Where each service and real server of a restored config came from: the line, or none. */
export interface Provenance {
  /** Per service of the result: the line that last added or edited it (0: untouched). */
  services: { line: number; text: string; reals: { line: number; text: string }[] }[];
}

export interface RestoreResult {
  config: LiveConfig;
  provenance: Provenance;
  /** Rule lines applied. */
  rules: number;
}

function keyOf(svc: { protocol: string; vip: string; port: number }): string {
  return `${svc.protocol} ${endpoint(svc.vip, svc.port)}`;
}

/** A service name from its endpoint, in the config's name alphabet: `tcp-10.0.0.1-80`. */
export function endpointName(
  svc: { protocol: string; vip: string; port: number },
  taken: (name: string) => boolean,
): string {
  const base = `${svc.protocol}-${svc.vip.replaceAll(':', '_')}-${svc.port}`.slice(0, 60);
  let name = base;
  for (let k = 2; taken(name); k++) name = `${base}-${k}`;
  return name;
}

interface Entry {
  service: ServiceConfig;
  line: number;
  text: string;
  realLines: Map<string, { line: number; text: string }>;
}

/**
 * Applies every rule of `text` to a copy of `current` (after clearing it when `clear`). Throws
 * InputLineError at the first bad line, having changed nothing.
 */
export function applyRules(
  current: LiveConfig,
  text: string,
  defaults: RealDefaults,
  clear = false,
): RestoreResult {
  const original = new Map(current.services.map((s) => [keyOf(s), s]));
  const entries: Entry[] = clear
    ? []
    : current.services.map((s) => ({ service: structuredClone(s), line: 0, text: '', realLines: new Map() }));
  const find = (svc: ServiceKey) => entries.findIndex((e) => keyOf(e.service) === keyOf(svc));
  let rules = 0;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const tokens = lineTokens(raw);
    if (tokens === null) return;
    const lineNo = i + 1;
    const shown = tokens.join(' ');
    const fail = (why: string): never => {
      throw new InputLineError(lineNo, shown, why);
    };
    const cmd = parseRule(tokens, lineNo, shown);
    rules++;
    if (cmd.kind === 'clear') {
      entries.length = 0;
      return;
    }
    const at = find(cmd.svc);
    switch (cmd.kind) {
      case 'add-service':
      case 'edit-service': {
        if (cmd.kind === 'add-service' && at >= 0) fail('Service already exists');
        if (cmd.kind === 'edit-service' && at < 0) fail('No such service');
        const before = at >= 0 ? entries[at].service : original.get(keyOf(cmd.svc));
        const taken = (n: string) =>
          entries.some((e) => e.service.name === n) ||
          current.services.some((s) => s.name === n && keyOf(s) !== keyOf(cmd.svc));
        const name = before?.name ?? endpointName(cmd.svc, taken);
        const service: ServiceConfig = {
          name,
          vip: cmd.svc.vip,
          port: cmd.svc.port,
          protocol: cmd.svc.protocol,
          scheduler: cmd.scheduler as ServiceConfig['scheduler'],
          persistence: cmd.persistence,
          ...(cmd.flags.length > 0 ? { schedulerFlags: cmd.flags as ServiceConfig['schedulerFlags'] } : {}),
          // ipvsadm has no word for QUIC routing: a service keeps it, as its real servers keep their VTEPs.
          ...(before?.quic !== undefined ? { quic: before.quic } : {}),
          reals: at >= 0 ? entries[at].service.reals : [],
        };
        if (at >= 0) {
          entries[at] = { ...entries[at], service, line: lineNo, text: shown };
        } else {
          entries.push({ service, line: lineNo, text: shown, realLines: new Map() });
        }
        return;
      }
      case 'delete-service':
        if (at < 0) fail('No such service');
        entries.splice(at, 1);
        return;
      default:
        break;
    }
    if (at < 0) fail('Service not defined');
    const entry = entries[at];
    const realAt = entry.service.reals.findIndex(
      (r) => r.address === cmd.real.address && r.port === cmd.real.port,
    );
    const id = endpoint(cmd.real.address, cmd.real.port);
    if (cmd.kind === 'delete-server') {
      if (realAt < 0) fail('No such destination');
      entry.service.reals.splice(realAt, 1);
      entry.realLines.delete(id);
      return;
    }
    if (cmd.kind === 'add-server' && realAt >= 0) fail('Destination already exists');
    if (cmd.kind === 'edit-server' && realAt < 0) fail('No such destination');
    const base =
      realAt >= 0
        ? entry.service.reals[realAt]
        : (original
            .get(keyOf(cmd.svc))
            ?.reals.find((r) => r.address === cmd.real.address && r.port === cmd.real.port) ??
          newReal(cmd.real, defaults, fail));
    const real: RealServerConfig = {
      ...base,
      weight: cmd.weight,
      upperThreshold: cmd.upper,
      lowerThreshold: cmd.lower,
    };
    if (realAt >= 0) entry.service.reals[realAt] = real;
    else entry.service.reals.push(real);
    entry.realLines.set(id, { line: lineNo, text: shown });
  });
  keepOriginalOrder(entries, current);
  const config: LiveConfig = { ...structuredClone(current), services: entries.map((e) => e.service) };
  const provenance: Provenance = {
    services: entries.map((e) => ({
      line: e.line,
      text: e.text,
      reals: e.service.reals.map(
        (r) => e.realLines.get(endpoint(r.address, r.port)) ?? { line: 0, text: '' },
      ),
    })),
  };
  return { config, provenance, rules };
}

/**
 * Services and real servers the config had before keep their places in it; new ones follow, in
 * the file's order. So restoring a save onto the director it came from, even after -C, gives back
 * the very same config, and a restore never reorders what it did not add.
 */
function keepOriginalOrder(entries: Entry[], current: LiveConfig): void {
  const place = new Map(current.services.map((s, i) => [keyOf(s), i]));
  const rank = (key: string) => place.get(key) ?? Number.MAX_SAFE_INTEGER;
  entries.sort((a, b) => rank(keyOf(a.service)) - rank(keyOf(b.service)));
  for (const e of entries) {
    const before = current.services.find((s) => keyOf(s) === keyOf(e.service));
    if (before === undefined) continue;
    const at = new Map(before.reals.map((r, i) => [endpoint(r.address, r.port), i]));
    const realRank = (r: RealServerConfig) => at.get(endpoint(r.address, r.port)) ?? Number.MAX_SAFE_INTEGER;
    e.service.reals.sort((a, b) => realRank(a) - realRank(b));
  }
}

/**
 * A real server new to the config: its VTEP from `vtepFor`, else `defaultVtep`, else its own
 * address (IPv4 only: the underlay is IPv4), its MAC from `macFor` or learned, weight 1, active.
 */
export function newReal(
  real: { address: string; port: number },
  defaults: RealDefaults,
  fail: (why: string) => never,
): RealServerConfig {
  const vtep =
    defaults.vtepFor.get(real.address) ??
    defaults.defaultVtep ??
    (real.address.includes(':') ? null : real.address);
  if (vtep === null) {
    return fail(
      `real server ${real.address} needs a VTEP (the underlay is IPv4): give --vtep <address> or --vtep-for ${real.address}=<address>`,
    );
  }
  return {
    address: real.address,
    port: real.port,
    vtep,
    mac: defaults.macFor.get(real.address) ?? null,
    weight: 1,
    upperThreshold: 0,
    lowerThreshold: 0,
    state: 'active',
    healthCheck: null,
  };
}

/** A config pointer (`/services/2/reals/0/vtep`) as the line that made that part, when one did. */
export function lineOfPointer(
  provenance: Provenance,
  pointer: string,
): { line: number; text: string } | null {
  const m = /^\/services\/(\d+)(?:\/reals\/(\d+))?/.exec(pointer);
  if (m === null) return null;
  const svc = provenance.services[Number(m[1])];
  if (svc === undefined) return null;
  const real = m[2] === undefined ? undefined : svc.reals[Number(m[2])];
  const from = real !== undefined && real.line > 0 ? real : svc;
  return from.line > 0 ? from : null;
}

/**
 * `ipvsadm-save -n` of a live config (ipvsadm -S -n: list_all with FMT_RULE), services and real
 * servers in ipvsadm's sort order (libipvs's comparisons), plus -x/-y when set.
 */
export function saveRules(config: LiveConfig): string {
  const out: string[] = [];
  for (const svc of [...config.services].sort(compareServices)) {
    const name = `${svc.protocol === 'tcp' ? '-t' : '-u'} ${endpoint(svc.vip, svc.port)}`;
    const v6 = svc.vip.includes(':');
    let line = `-A ${name} -s ${svc.scheduler}`;
    if (svc.persistence !== null) {
      line += ` -p ${svc.persistence.timeoutSeconds}`;
      const { netmask } = svc.persistence;
      if (!v6 && netmask !== 32) line += ` -M ${dottedMask(netmask)}`;
      if (v6 && netmask !== 128) line += ` -M ${netmask}`;
    }
    if (svc.schedulerFlags !== undefined && svc.schedulerFlags.length > 0) {
      line += ` -b ${svc.schedulerFlags.join(',')}`;
    }
    out.push(line);
    for (const r of [...svc.reals].sort(compareReals)) {
      let rl = `-a ${name} -r ${endpoint(r.address, r.port)} -g -w ${r.weight}`;
      if (r.upperThreshold > 0) rl += ` -x ${r.upperThreshold}`;
      if (r.lowerThreshold > 0) rl += ` -y ${r.lowerThreshold}`;
      out.push(rl);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
