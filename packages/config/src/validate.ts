// Turns untrusted JSON (a config file, a REST body) into a fully-defaulted LiveConfig or
// ConfigFile, or one ConfigValidationError naming the first offending field by JSON pointer.
// Three passes over a private copy: schema defaults, the TypeBox schema, then the rules a schema
// cannot say (addresses, uniqueness, families, thresholds). Addresses come back canonical and
// MACs lowercase, so equal configs are equal as data.

import { parseCidr, resolveWeights } from '@sluice/defense';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { type CanonicalAddress, canonicalAddress, parseRealId, realId } from './address.ts';
import { ConfigValidationError } from './errors.ts';
import { pointerChild } from './json-scan.ts';
import {
  type ConfigFile,
  ConfigFileSchema,
  type HealthCheckConfig,
  HTTP_PATH_PATTERN,
  type LiveConfig,
  LiveConfigSchema,
  NameSchema,
  QUIC_SERVER_ID_PATTERN,
  type QuicConfig,
  SCHEDULER_FLAGS,
  type SchedulerFlag,
  type ServiceConfig,
} from './schema.ts';

/** The JSON-schema view of a TypeBox schema: TypeBox 1.x schemas are plain JSON Schema. */
interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  maxItems?: number;
  anyOf?: JsonSchema[];
  const?: unknown;
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
}

export const HTTP_CHECK_DEFAULT_PATH = '/';
export const HTTP_CHECK_DEFAULT_STATUS = 200;

/**
 * The live config, checked; with `underlay` (the daemon's VXLAN address), also that every real
 * server's VTEP is of its family: the director sends to VTEPs from that one socket.
 */
export function validateLiveConfig(raw: unknown, underlay?: string): LiveConfig {
  const value = checkSchema(LiveConfigSchema as unknown as JsonSchema, raw) as LiveConfig;
  checkLive(value);
  if (underlay !== undefined) checkVtepFamily(value, underlay);
  return value;
}

export function validateConfigFile(raw: unknown): ConfigFile {
  const value = checkSchema(ConfigFileSchema as unknown as JsonSchema, raw) as ConfigFile;
  value.daemon.vxlan.address = address(value.daemon.vxlan.address, '/daemon/vxlan/address').text;
  value.daemon.api.address = address(value.daemon.api.address, '/daemon/api/address').text;
  checkLive(value);
  checkVtepFamily(value, value.daemon.vxlan.address);
  return value;
}

/**
 * Every real server's VTEP in the family of the director's VXLAN socket, which sends to it: an
 * IPv6 VTEP beside an IPv4 socket was accepted, and a reset by hand (DELETE /v1/connections/:id)
 * of a connection on that server then failed in send() (EINVAL) with a 500.
 */
function checkVtepFamily(live: LiveConfig, underlay: string): void {
  const v4 = canonicalAddress(underlay).v4;
  live.services.forEach((svc, i) => {
    svc.reals.forEach((real, j) => {
      if (canonicalAddress(real.vtep).v4 === v4) return;
      throw new ConfigValidationError(
        `/services/${i}/reals/${j}/vtep`,
        `must be ${v4 ? 'IPv4' : 'IPv6'} like the director's VXLAN address ${underlay}, which sends to it (got ${real.vtep})`,
      );
    });
  });
}

// ---- schema pass ----

function checkSchema(schema: JsonSchema, raw: unknown): unknown {
  const value = applyDefaults(schema, copy(raw));
  if (Value.Check(schema as never, value)) return value;
  const found = firstError(schema, value, '');
  if (found !== null) throw new ConfigValidationError(found.pointer, found.message);
  // The walker below covers every construct schema.ts uses; should the schema grow one it does
  // not know, TypeBox's own first error is still precise enough to report.
  const [e] = Value.Errors(schema as never, value);
  throw new ConfigValidationError(e.instancePath, e.message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A deep copy of JSON-shaped data; other values are kept as they are (the schema rejects them).
 * Object.fromEntries defines own properties, so a `__proto__` key stays a key (and is rejected). */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)]));
  return v;
}

/**
 * Fills missing properties from the schema's `default`s, descending into `X | null` unions
 * whenever the value is an object. TypeBox's Value.Default only descends into a union member the
 * value already matches, so one bad field in a health check would also leave its defaults out and
 * the report would name the wrong field.
 */
function applyDefaults(schema: JsonSchema, value: unknown): unknown {
  if (schema.anyOf !== undefined) {
    const objects = schema.anyOf.filter((s) => s.type === 'object');
    return objects.length === 1 && isPlainObject(value) ? applyDefaults(objects[0], value) : value;
  }
  if (schema.type === 'object' && isPlainObject(value) && schema.properties !== undefined) {
    for (const [key, sub] of Object.entries(schema.properties)) {
      if (!Object.hasOwn(value, key)) {
        if (sub.default !== undefined) value[key] = copy(sub.default);
        else continue;
      }
      value[key] = applyDefaults(sub, value[key]);
    }
    return value;
  }
  if (schema.type === 'array' && Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    return value.map((x) => applyDefaults(items, x));
  }
  return value;
}

export interface Found {
  pointer: string;
  message: string;
}

/** The schema of `key` under a record's patternProperties (TypeBox's Type.Record), if one matches. */
function patternMember(schema: JsonSchema, key: string): JsonSchema | undefined {
  for (const [pattern, sub] of Object.entries(schema.patternProperties ?? {})) {
    if (new RegExp(pattern).test(key)) return sub;
  }
  return undefined;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string')
    return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}...` : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'an array';
  if (isPlainObject(v)) return 'an object';
  return `a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`;
}

const TYPE_NAMES: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

/** What the schema's patterns mean, in words an operator can act on. */
const PATTERN_MEANINGS: Record<string, string> = {
  [(NameSchema as JsonSchema).pattern as string]:
    'a name of 1 to 63 characters from a-z, 0-9, "_", "." and "-", starting with a letter or digit',
  '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$': 'a MAC address such as "02:00:00:00:00:01"',
  [HTTP_PATH_PATTERN]: 'a path starting with "/", printable ASCII without spaces (percent-encode the rest)',
  [QUIC_SERVER_ID_PATTERN]: 'hex digits of up to 15 bytes, such as "0a01", "0x0a01" or "0a:01"',
};

function expected(schema: JsonSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.pattern !== undefined)
    return PATTERN_MEANINGS[schema.pattern] ?? `a string matching ${schema.pattern}`;
  const name = TYPE_NAMES[schema.type ?? ''] ?? 'a value';
  const low = schema.minimum ?? schema.exclusiveMinimum;
  if (low !== undefined && schema.maximum !== undefined) {
    return schema.exclusiveMinimum !== undefined
      ? `${name} above ${low} and at most ${schema.maximum}`
      : `${name} from ${low} to ${schema.maximum}`;
  }
  if (schema.minLength !== undefined && schema.maxLength !== undefined) {
    return `${name} of ${schema.minLength} to ${schema.maxLength} characters`;
  }
  return name;
}

/**
 * What is wrong with `value` under `schema`, in words an operator can act on: the JSON pointer of
 * the first offending field (in document order, then missing properties) and a message saying what
 * was expected: the allowed values of an enumeration, the known properties beside an unknown one,
 * the range of a number. Null when the walker finds nothing (the value passes, or the schema uses
 * a construct it does not know). The REST layer explains its 400s with it as the loader does.
 */
export function explainSchemaError(schema: TSchema, value: unknown): Found | null {
  return firstError(schema as unknown as JsonSchema, value, '');
}

/** The first error in document order (then missing properties), with what was expected. */
function firstError(schema: JsonSchema, value: unknown, pointer: string): Found | null {
  if (schema.anyOf !== undefined) {
    if (Value.Check(schema as never, value)) return null;
    const members = schema.anyOf;
    if (members.every((m) => m.const !== undefined)) {
      const list = members.map((m) => JSON.stringify(m.const)).join(', ');
      return { pointer, message: `must be one of ${list} (got ${describe(value)})` };
    }
    const t = jsonType(value);
    const fits = members.filter((m) => m.type === t || (m.type === 'number' && t === 'integer'));
    if (fits.length === 1) return firstError(fits[0], value, pointer);
    const list = members.map(expected).join(' or ');
    return { pointer, message: `must be ${list} (got ${describe(value)})` };
  }
  if (schema.type === 'object') {
    if (!isPlainObject(value)) return { pointer, message: `must be an object (got ${describe(value)})` };
    const props = schema.properties ?? {};
    for (const key of Object.keys(value)) {
      // hasOwn: a `__proto__` key must not find Object.prototype in the property table.
      const sub = Object.hasOwn(props, key) ? props[key] : patternMember(schema, key);
      if (sub === undefined) {
        const patterns = Object.keys(schema.patternProperties ?? {});
        if (patterns.length > 0) {
          return {
            pointer: pointerChild(pointer, key),
            message: `is not a valid key (keys must match ${patterns.join(' or ')})`,
          };
        }
        if (schema.additionalProperties === false) {
          const known = Object.keys(props).join(', ');
          return {
            pointer: pointerChild(pointer, key),
            message: `is an unknown property (expected one of: ${known})`,
          };
        }
        continue;
      }
      const found = firstError(sub, value[key], pointerChild(pointer, key));
      if (found !== null) return found;
    }
    for (const key of schema.required ?? []) {
      if (!Object.hasOwn(value, key)) {
        return { pointer: pointerChild(pointer, key), message: `is required: ${expected(props[key])}` };
      }
    }
    return null;
  }
  if (schema.type === 'array') {
    if (!Array.isArray(value)) return { pointer, message: `must be an array (got ${describe(value)})` };
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      return { pointer, message: `must have at most ${schema.maxItems} items (got ${value.length})` };
    }
    const items = schema.items;
    if (items === undefined) return null;
    for (let i = 0; i < value.length; i++) {
      const found = firstError(items, value[i], pointerChild(pointer, i));
      if (found !== null) return found;
    }
    return null;
  }
  if (Value.Check(schema as never, value)) return null;
  return { pointer, message: `must be ${expected(schema)} (got ${describe(value)})` };
}

// ---- semantic pass ----

function address(text: string, pointer: string): CanonicalAddress {
  try {
    return canonicalAddress(text);
  } catch (e) {
    throw new ConfigValidationError(pointer, `must be an IPv4 or IPv6 address (${(e as Error).message})`);
  }
}

function unicastMac(mac: string, pointer: string): string {
  const lower = mac.toLowerCase();
  // The director sends frames to these MACs and answers ARP with its own: a group address would
  // flood the overlay, and all-zero is how a snapshot marks a MAC not yet learned.
  if ((Number.parseInt(lower.slice(0, 2), 16) & 1) !== 0) {
    throw new ConfigValidationError(pointer, `must be a unicast MAC address (${lower} is a group address)`);
  }
  if (lower === '00:00:00:00:00:00') throw new ConfigValidationError(pointer, 'must not be all zeros');
  return lower;
}

/** Checks and canonicalises `overlay` and `services` in place (on the private copy). */
function checkLive(live: LiveConfig): void {
  live.overlay.directorMac = unicastMac(live.overlay.directorMac, '/overlay/directorMac');
  if (live.overlay.address !== undefined) {
    const own = address(live.overlay.address, '/overlay/address');
    if (!own.v4)
      throw new ConfigValidationError('/overlay/address', `must be an IPv4 address (got ${own.text})`);
    live.overlay.address = own.text;
  }
  const names = new Map<string, number>();
  const endpoints = new Map<string, number>();
  live.services.forEach((svc, i) => {
    const at = `/services/${i}`;
    const other = names.get(svc.name);
    if (other !== undefined) {
      throw new ConfigValidationError(
        `${at}/name`,
        `service name "${svc.name}" is already used by /services/${other}`,
      );
    }
    names.set(svc.name, i);
    const vip = address(svc.vip, `${at}/vip`);
    svc.vip = vip.text;
    if (vip.text === live.overlay.address) {
      // Frames to the director's own address are its own (health-check answers), never a service's.
      throw new ConfigValidationError(`${at}/vip`, `${vip.text} is the director's own /overlay/address`);
    }
    const endpoint = `${svc.protocol} ${vip.text} ${svc.port}`;
    const clash = endpoints.get(endpoint);
    if (clash !== undefined) {
      throw new ConfigValidationError(
        at,
        `${svc.protocol} ${vip.text} port ${svc.port} is already served by /services/${clash}`,
      );
    }
    endpoints.set(endpoint, i);
    if (svc.persistence !== null) {
      const { netmask } = svc.persistence;
      if (vip.v4 && netmask > 32) {
        throw new ConfigValidationError(
          `${at}/persistence/netmask`,
          `must be 0 to 32 for an IPv4 VIP (got ${netmask})`,
        );
      }
      // ipvsadm takes 1..128 for IPv6, and the dataplane needs a prefix of at least 1.
      if (!vip.v4 && netmask < 1) {
        throw new ConfigValidationError(
          `${at}/persistence/netmask`,
          'must be 1 to 128 for an IPv6 VIP (got 0)',
        );
      }
    }
    if (svc.schedulerFlags !== undefined) svc.schedulerFlags = schedulerFlags(svc, at);
    checkReals(svc, vip.v4, at, live.overlay.address);
    checkQuicService(svc, at);
  });
  if (live.defense !== undefined) checkDefense(live);
}

/**
 * The flags of `svc`, each once and in ipvsadm's order (print_sched_flags: fallback, then port),
 * so a config and its ipvsadm-save round trip compare equal. A flag belongs to its scheduler: the
 * kernel reads sh-* bits only in ip_vs_sh.c and mh-* bits only in ip_vs_mh.c, and ipvsadm refuses
 * them elsewhere ("incompatible scheduler flag").
 */
function schedulerFlags(svc: ServiceConfig, at: string): SchedulerFlag[] {
  const given = svc.schedulerFlags ?? [];
  given.forEach((flag, k) => {
    if (!flag.startsWith(`${svc.scheduler}-`)) {
      throw new ConfigValidationError(
        `${at}/schedulerFlags/${k}`,
        `${flag} is a flag of the ${flag.slice(0, 2)} scheduler, not of ${svc.scheduler}`,
      );
    }
    if (given.indexOf(flag) !== k) {
      throw new ConfigValidationError(`${at}/schedulerFlags/${k}`, `${flag} is listed twice`);
    }
  });
  return SCHEDULER_FLAGS.filter((f) => given.includes(f));
}

function checkReals(svc: ServiceConfig, vip4: boolean, at: string, ownAddress: string | undefined): void {
  const seen = new Map<string, number>();
  svc.reals.forEach((real, j) => {
    const rat = `${at}/reals/${j}`;
    const addr = address(real.address, `${rat}/address`);
    real.address = addr.text;
    if (addr.v4 !== vip4) {
      // Direct routing hands the real server the client's packet unchanged, VIP and all: the
      // real server must hold the VIP, so it must speak the VIP's family.
      throw new ConfigValidationError(
        `${rat}/address`,
        `must be ${vip4 ? 'IPv4' : 'IPv6'} like the service's VIP ${svc.vip} (got ${addr.text})`,
      );
    }
    const id = `${addr.text} ${real.port}`;
    const twice = seen.get(id);
    if (twice !== undefined) {
      throw new ConfigValidationError(
        rat,
        `real server ${addr.text} port ${real.port} is already in this service at ${at}/reals/${twice}`,
      );
    }
    seen.set(id, j);
    real.vtep = address(real.vtep, `${rat}/vtep`).text;
    if (real.mac !== null) real.mac = unicastMac(real.mac, `${rat}/mac`);
    if (real.upperThreshold > 0 && real.lowerThreshold > real.upperThreshold) {
      throw new ConfigValidationError(
        `${rat}/lowerThreshold`,
        `must be at most upperThreshold (${real.upperThreshold}) (got ${real.lowerThreshold})`,
      );
    }
    if (real.healthCheck !== null) checkHealth(real.healthCheck, `${rat}/healthCheck`, ownAddress, addr.v4);
    if (real.agent != null && real.agent.address !== undefined)
      real.agent.address = address(real.agent.address, `${rat}/agent/address`).text;
  });
}

/** Where a QUIC service's server ID is, as the dataplane reads it (its QuicSnapshot). */
export interface QuicLayout {
  serverIdOffset: number;
  serverIdLength: number;
  /** The servers' CID length; the shortest accepted when lengthSelfEncoded. */
  cidLength: number;
  /** QUIC-LB config rotation codepoint, or -1 for the plain layout. */
  configId: number;
  lengthSelfEncoded: boolean;
}

/** QUIC v1 connection IDs are at most 20 bytes (RFC 9000 §17.2). */
const QUIC_MAX_CID = 20;

/**
 * The layout `q` describes: a plain one (the server ID at cidServerIdOffset, cidServerIdLength
 * bytes), or draft-ietf-quic-load-balancers-20's (§4.1: first octet, server ID, nonce).
 * Throws ConfigValidationError under `at` (the service's `/quic`).
 */
export function quicLayout(q: QuicConfig, at: string): QuicLayout {
  const plain = q.cidServerIdOffset !== undefined || q.cidServerIdLength !== undefined;
  if (plain && q.quicLb !== undefined) {
    throw new ConfigValidationError(
      `${at}/quicLb`,
      'give either cidServerIdOffset and cidServerIdLength (a plain layout) or quicLb, not both',
    );
  }
  let layout: QuicLayout;
  if (q.quicLb !== undefined) {
    const lb = q.quicLb;
    if (lb.serverIdLength + lb.nonceLength > QUIC_MAX_CID - 1) {
      throw new ConfigValidationError(
        `${at}/quicLb/nonceLength`,
        `serverIdLength + nonceLength must be at most 19: with the first octet a connection ID holds at most 20 bytes (got ${lb.serverIdLength} + ${lb.nonceLength})`,
      );
    }
    layout = {
      serverIdOffset: 1,
      serverIdLength: lb.serverIdLength,
      cidLength: 1 + lb.serverIdLength + lb.nonceLength,
      configId: lb.configId,
      lengthSelfEncoded: lb.lengthSelfEncoded,
    };
  } else if (plain) {
    if (q.cidServerIdOffset === undefined)
      throw new ConfigValidationError(`${at}/cidServerIdOffset`, 'is required with cidServerIdLength');
    if (q.cidServerIdLength === undefined)
      throw new ConfigValidationError(`${at}/cidServerIdLength`, 'is required with cidServerIdOffset');
    const end = q.cidServerIdOffset + q.cidServerIdLength;
    if (end > QUIC_MAX_CID) {
      throw new ConfigValidationError(
        `${at}/cidServerIdLength`,
        `the server ID must end within the 20 bytes of a connection ID (offset ${q.cidServerIdOffset} + length ${q.cidServerIdLength} = ${end})`,
      );
    }
    layout = {
      serverIdOffset: q.cidServerIdOffset,
      serverIdLength: q.cidServerIdLength,
      cidLength: end,
      configId: -1,
      lengthSelfEncoded: false,
    };
  } else {
    throw new ConfigValidationError(
      at,
      'needs cidServerIdOffset and cidServerIdLength (a plain layout) or quicLb (draft-ietf-quic-load-balancers-20)',
    );
  }
  if (q.cidLength !== undefined) {
    if (layout.lengthSelfEncoded) {
      throw new ConfigValidationError(
        `${at}/cidLength`,
        'quicLb.lengthSelfEncoded: each connection ID gives its own length; leave cidLength out',
      );
    }
    if (q.cidLength < layout.cidLength) {
      throw new ConfigValidationError(
        `${at}/cidLength`,
        `must be at least ${layout.cidLength}, the bytes up to the end of the ${q.quicLb === undefined ? 'server ID' : 'nonce'} (got ${q.cidLength})`,
      );
    }
    layout.cidLength = q.cidLength;
  }
  return layout;
}

/** A server ID as lowercase hex of exactly `bytes` bytes, or null when it does not fit. */
function serverIdHex(id: number | string, bytes: number): string | null {
  let digits: string;
  if (typeof id === 'number') {
    if (bytes < 7 && id >= 2 ** (8 * bytes)) return null;
    digits = id.toString(16);
  } else {
    digits = id.toLowerCase().replace(/^0x/, '').replaceAll(':', '');
  }
  if (digits.length % 2 === 1) digits = `0${digits}`;
  if (digits.length > bytes * 2) return null;
  return digits.padStart(bytes * 2, '0');
}

/**
 * A QUIC service (UDP, a valid layout) and its real servers' IDs: each real server has one, it
 * fits the server ID's length, and no two are equal. IDs come back as lowercase hex of that length.
 */
export function checkQuicService(svc: ServiceConfig, at: string): void {
  const q = svc.quic;
  if (q === undefined) {
    svc.reals.forEach((r, j) => {
      if (r.quicServerId !== undefined) {
        throw new ConfigValidationError(
          `${at}/reals/${j}/quicServerId`,
          'only the real servers of a service with `quic` have a server ID',
        );
      }
    });
    return;
  }
  if (svc.protocol !== 'udp') {
    throw new ConfigValidationError(`${at}/quic`, 'QUIC runs over UDP: set the service\'s protocol to "udp"');
  }
  const { serverIdLength } = quicLayout(q, `${at}/quic`);
  const owners = new Map<string, number>();
  svc.reals.forEach((r, j) => {
    const rat = `${at}/reals/${j}/quicServerId`;
    if (r.quicServerId === undefined) {
      throw new ConfigValidationError(
        rat,
        `is required: every real server of a QUIC service needs the server ID its connection IDs carry (${serverIdLength} bytes)`,
      );
    }
    const hex = serverIdHex(r.quicServerId, serverIdLength);
    if (hex === null) {
      throw new ConfigValidationError(
        rat,
        `${JSON.stringify(r.quicServerId)} does not fit in the server ID's ${serverIdLength} bytes`,
      );
    }
    const other = owners.get(hex);
    if (other !== undefined) {
      throw new ConfigValidationError(rat, `server ID ${hex} is already ${at}/reals/${other}'s`);
    }
    owners.set(hex, j);
    r.quicServerId = hex;
  });
}

function checkHealth(
  hc: HealthCheckConfig,
  at: string,
  ownAddress: string | undefined,
  real4: boolean,
): void {
  if (hc.address !== undefined) hc.address = address(hc.address, `${at}/address`).text;
  if (hc.via === 'overlay') {
    // The director speaks TCP itself on this path, from an address it must answer ARP for.
    if (hc.type !== 'tcp') throw new ConfigValidationError(`${at}/type`, 'an overlay check is a tcp check');
    if (ownAddress === undefined) {
      throw new ConfigValidationError(
        `${at}/via`,
        'an overlay check needs /overlay/address, the director address it is sent from',
      );
    }
    const target4 = hc.address === undefined ? real4 : !hc.address.includes(':');
    if (!target4) throw new ConfigValidationError(`${at}/via`, 'overlay checks reach IPv4 addresses only');
  }
  if (hc.type === 'http') {
    hc.path ??= HTTP_CHECK_DEFAULT_PATH;
    hc.expectStatus ??= HTTP_CHECK_DEFAULT_STATUS;
    return;
  }
  // A TCP check would silently ignore these; saying so beats a check that is not what was meant.
  if (hc.path !== undefined) throw new ConfigValidationError(`${at}/path`, 'only an http check has a path');
  if (hc.expectStatus !== undefined) {
    throw new ConfigValidationError(`${at}/expectStatus`, 'only an http check has an expectStatus');
  }
}

// ---- the defense ----

/** parseCidr's refusal (branching on the code: errors are data, see the director's error table). */
function isCidrError(err: unknown): err is Error {
  return (err as { code?: unknown } | null)?.code === 'SLUICE_ERR_DEFENSE_CIDR';
}

function checkDefense(live: LiveConfig): void {
  const d = live.defense;
  if (d === undefined) return;
  if (d.lowWatermark >= d.highWatermark) {
    throw new ConfigValidationError(
      '/defense/lowWatermark',
      `must be below highWatermark (${d.highWatermark})`,
    );
  }
  try {
    resolveWeights(d.weights);
  } catch (err) {
    const e = err as { code?: unknown; field?: unknown; message: string };
    if (e.code === 'SLUICE_ERR_DEFENSE_WEIGHTS')
      throw new ConfigValidationError(`/defense/weights/${String(e.field)}`, e.message);
    throw err;
  }
  const reals = new Set<string>();
  for (const svc of live.services) for (const r of svc.reals) reals.add(realId(r.address, r.port));
  // By parsed prefix, so `10.0.0.0/8` and `::ffff:10.0.0.0/104` are one rule (the trie's view).
  const prefixes = new Map<string, number>();
  d.rules.forEach((rule, i) => {
    let key: string;
    try {
      const c = parseCidr(rule.cidr);
      key = `${c.words.join(',')}/${c.length}`;
    } catch (err) {
      if (isCidrError(err)) throw new ConfigValidationError(`/defense/rules/${i}/cidr`, err.message);
      throw err;
    }
    const same = prefixes.get(key);
    if (same !== undefined) {
      throw new ConfigValidationError(
        `/defense/rules/${i}/cidr`,
        `${rule.cidr} is the prefix of /defense/rules/${same} already`,
      );
    }
    prefixes.set(key, i);
    const pool = rule.pool;
    if (pool === undefined) return;
    if (pool.length === 0) {
      // An empty pool would send the rule's clients nowhere; no pool means the service's own.
      throw new ConfigValidationError(
        `/defense/rules/${i}/pool`,
        "must not be empty (leave it out to use the service's real servers)",
      );
    }
    const listed = new Map<string, number>();
    pool.forEach((id, j) => {
      const parsed = parseRealId(id);
      const canonical = parsed === null ? null : realId(parsed.address, parsed.port);
      if (canonical === null || !reals.has(canonical)) {
        throw new ConfigValidationError(
          `/defense/rules/${i}/pool/${j}`,
          `${JSON.stringify(id)} is not a real server of any service (address:port, IPv6 [address]:port)`,
        );
      }
      const twice = listed.get(canonical);
      if (twice !== undefined) {
        throw new ConfigValidationError(
          `/defense/rules/${i}/pool/${j}`,
          `${canonical} is listed twice (also at /defense/rules/${i}/pool/${twice})`,
        );
      }
      listed.set(canonical, j);
      pool[j] = canonical;
    });
  });
  const lists = [
    ['prefixes', d.sourceChecks.prefixes],
    ['allow', d.sourceChecks.allow],
  ] as const;
  for (const [name, list] of lists) {
    list?.forEach((cidr, i) => {
      try {
        parseCidr(cidr);
      } catch (err) {
        if (isCidrError(err))
          throw new ConfigValidationError(`/defense/sourceChecks/${name}/${i}`, err.message);
        throw err;
      }
    });
  }
}
