// fast-check arbitraries built from JSON schemas (the control plane's OpenAPI document), for the
// REST fuzzer. `validish` draws values that mostly satisfy the schema, so requests reach the
// director's semantic checks and not only the schema's; `mutate` then breaks one thing in them:
// a wrong type, an unknown field, a huge string, a bad address or CIDR, a missing member. Deep
// nesting and bodies that are not JSON at all are raw texts (rawBodies): building such an object
// here would overflow this process's own stack first.
import fc from 'fast-check';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  maxItems?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
}

/** Addresses an operator might type, and ones a parser must refuse without tripping. */
export const GOOD_ADDRESSES = [
  '10.10.1.1',
  '10.10.1.2',
  '10.10.0.100',
  '192.0.2.1',
  '127.0.0.2',
  '2001:db8::1',
  '2001:db8:1::53',
  '::ffff:10.1.2.3',
  'fe80::1',
] as const;
export const BAD_ADDRESSES = [
  '',
  ' ',
  '256.1.1.1',
  '1.2.3',
  '1.2.3.4.5',
  '01.2.3.4',
  '0x7f.0.0.1',
  '10.0.0.1 ',
  ' 10.0.0.1',
  '10.0.0.1/32',
  'fe80::1%eth0',
  '::::',
  '2001:db8:::1',
  'gggg::1',
  '1.2.3.4:80',
  '[::1]',
  'localhost',
  '١٢٣.١.١.١',
  '10.0.0.\u0000',
  '999999999999999999999',
] as const;
export const GOOD_CIDRS = [
  '10.0.0.0/8',
  '198.51.100.0/24',
  '203.0.113.7/32',
  '2001:db8::/32',
  '0.0.0.0/0',
] as const;
export const BAD_CIDRS = [
  '10.0.0.0/33',
  '10.0.0.1/24',
  '10.0.0.0/-1',
  '10.0.0.0/',
  '/8',
  '10.0.0.0/8/8',
  '2001:db8::/129',
  '2001:db8::1/32',
  '10.0.0.0/08',
  '10.0.0.0/ 8',
  'any',
] as const;

const MAC = fc.oneof(
  fc.constantFrom('02:00:00:00:01:01', '02:53:4c:00:00:01', '02:AB:cd:00:00:09'),
  fc.constantFrom(
    '01:00:5e:00:00:01',
    '00:00:00:00:00:00',
    'ff:ff:ff:ff:ff:ff',
    '02:00:00:00:01',
    'zz:00:00:00:00:00',
  ),
);
const NAME = fc.oneof(
  fc.constantFrom('web', 'dns6', 'api', 'svc-1', 'a.b_c'),
  fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,20}$/),
);
const ADDRESS = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...GOOD_ADDRESSES) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_ADDRESSES) },
  { weight: 1, arbitrary: fc.ipV4() },
  { weight: 1, arbitrary: fc.ipV6() },
);
const CIDR = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...GOOD_CIDRS) },
  { weight: 2, arbitrary: fc.constantFrom(...BAD_CIDRS) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 40 })).map(([a, n]) => `${a}/${n}`),
  },
);
const REAL_ID = fc.oneof(
  fc.constantFrom(
    '10.10.1.1:80',
    '10.10.1.2:80',
    '[2001:db8:1::1]:53',
    '10.10.1.1',
    '[::1]',
    ':80',
    '10.10.1.1:99999',
  ),
  fc
    .tuple(fc.constantFrom(...GOOD_ADDRESSES, ...BAD_ADDRESSES), fc.integer({ min: 0, max: 70000 }))
    .map(([a, p]) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`)),
);
const WEIGHT_NAMES = fc.constantFrom(
  'synNoOptions',
  'silent',
  'stall',
  'overShare',
  'served',
  'bogus',
  'idle',
);

/** A string arbitrary for a property by what its name says it holds (`edge`: wrong ones too). */
function stringFor(key: string, schema: JsonSchema, edge: boolean): fc.Arbitrary<unknown> {
  const k = key.toLowerCase();
  if (k === 'cidr' || k === 'prefixes' || k === 'allow') return edge ? CIDR : fc.constantFrom(...GOOD_CIDRS);
  if (k.includes('mac')) return edge ? MAC : fc.constantFrom('02:00:00:00:01:01', '02:00:00:00:01:07');
  if (k === 'address' || k === 'vip' || k === 'vtep' || k === 'client')
    return edge ? ADDRESS : fc.constantFrom('10.10.1.1', '10.10.1.7', '10.10.0.100', '127.0.0.2');
  if (k === 'name' || k === 'service') return NAME;
  if (k === 'pool' || k === 'real') return edge ? REAL_ID : fc.constantFrom('10.10.1.1:80', '10.10.1.2:80');
  if (k === 'path')
    return edge
      ? fc.constantFrom('/', '/healthz', '/a b', '/\u00e9', 'nope', `/${'x'.repeat(1100)}`)
      : fc.constant('/');
  if (schema.pattern !== undefined) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern));
    } catch {
      return fc.string();
    }
  }
  return fc.string({ maxLength: schema.maxLength ?? 40 });
}

function types(schema: JsonSchema): string[] {
  if (schema.type === undefined) return [];
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}

/**
 * Values that satisfy `schema` (property names steer strings toward addresses, CIDRs, ...); with
 * `edge`, each field also draws boundary and wrong values now and then (one past a range, a
 * group MAC, a CIDR with host bits), so most documents are refused somewhere deep.
 */
export function validish(schema: JsonSchema, key = '', depth = 0, edge = true): fc.Arbitrary<unknown> {
  const members = schema.anyOf ?? schema.oneOf;
  if (members !== undefined) return fc.oneof(...members.map((m) => validish(m, key, depth, edge)));
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const t = types(schema);
  if (t.length > 1) return fc.oneof(...t.map((one) => validish({ ...schema, type: one }, key, depth, edge)));
  switch (t[0]) {
    case 'object': {
      if (depth > 6) return fc.constant({});
      const props = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const record = fc.record(
        Object.fromEntries(Object.entries(props).map(([k, s]) => [k, validish(s, k, depth + 1, edge)])),
        { requiredKeys: Object.keys(props).filter((k) => required.has(k)) },
      );
      if (schema.patternProperties === undefined) return record;
      const [value] = Object.values(schema.patternProperties);
      return fc.dictionary(
        edge ? WEIGHT_NAMES : fc.constantFrom('silent', 'stall'),
        validish(value, key, depth + 1, edge),
        {
          maxKeys: 3,
        },
      );
    }
    case 'array': {
      const item = schema.items ?? {};
      return fc.array(validish(item, key, depth + 1, edge), { maxLength: Math.min(schema.maxItems ?? 4, 4) });
    }
    case 'integer': {
      const min = schema.minimum ?? (schema.exclusiveMinimum ?? -1) + 1;
      const max = schema.maximum ?? 100_000;
      const inRange = fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31) });
      if (!edge) return inRange;
      return fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31) }) },
        { weight: 1, arbitrary: fc.constantFrom(min - 1, max + 1, 0, -1, 2 ** 53) },
      );
    }
    case 'number': {
      const min = schema.minimum ?? schema.exclusiveMinimum ?? 0;
      const max = schema.maximum ?? 1000;
      if (!edge)
        return fc.double({ min, max, noNaN: true, minExcluded: schema.exclusiveMinimum !== undefined });
      return fc.oneof(
        { weight: 4, arbitrary: fc.double({ min, max, noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(min, max, -0, 1e308, -1e308, max + 1e-9) },
      );
    }
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'string':
      return stringFor(key, schema, edge);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every node of a JSON value with the path to it (at most `limit`, breadth first). */
function nodes(root: Json, limit = 200): Array<{ path: Array<string | number>; value: Json }> {
  const out: Array<{ path: Array<string | number>; value: Json }> = [];
  const queue: Array<{ path: Array<string | number>; value: Json }> = [{ path: [], value: root }];
  while (queue.length > 0 && out.length < limit) {
    const n = queue.shift() as { path: Array<string | number>; value: Json };
    out.push(n);
    if (Array.isArray(n.value)) {
      for (let i = 0; i < n.value.length; i++) queue.push({ path: [...n.path, i], value: n.value[i] });
    } else if (n.value !== null && typeof n.value === 'object')
      for (const [k, v] of Object.entries(n.value)) queue.push({ path: [...n.path, k], value: v });
  }
  return out;
}

function setAt(root: Json, path: Array<string | number>, value: Json | undefined): Json {
  if (path.length === 0) return value === undefined ? null : value;
  const copy = structuredClone(root) as Record<string | number, Json>;
  let at = copy as Record<string | number, Json>;
  for (const step of path.slice(0, -1)) at = at[step] as Record<string | number, Json>;
  const last = path[path.length - 1];
  if (value === undefined) {
    if (Array.isArray(at)) at.splice(last as number, 1);
    else delete at[last];
  } else {
    // defineProperty: a key like `__proto__` must become an own property, as JSON.parse makes it.
    Object.defineProperty(at, last, { value, enumerable: true, writable: true, configurable: true });
  }
  return copy as Json;
}

export type Mutation =
  | { kind: 'none' }
  | { kind: 'wrongType'; at: number; value: Json }
  | { kind: 'unknownField'; at: number; name: string; value: Json }
  | { kind: 'hugeString'; at: number; length: number; char: string }
  | { kind: 'badAddress'; at: number; value: string }
  | { kind: 'badCidr'; at: number; value: string }
  | { kind: 'drop'; at: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('wrongType' as const),
      at: fc.nat(),
      value: fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.constant([]),
        fc.constant({}),
        fc.constant(-0),
        fc.constant(1e308),
      ) as fc.Arbitrary<Json>,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('unknownField' as const),
      at: fc.nat(),
      name: fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.constantFrom('__proto__', 'constructor', 'toString', 'a/b~c'),
      ),
      value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('hugeString' as const),
      at: fc.nat(),
      length: fc.oneof(fc.integer({ min: 1000, max: 100_000 }), fc.constant(2_000_000)),
      char: fc.constantFrom('x', '\u00e9', '/', '\u0000', '🦀', '"'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('badAddress' as const),
      at: fc.nat(),
      value: fc.constantFrom(...BAD_ADDRESSES),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('badCidr' as const),
      at: fc.nat(),
      value: fc.constantFrom(...BAD_CIDRS),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }) },
);

/** `value` with `m` applied at the node `m.at` picks (modulo the nodes there are). */
export function mutate(value: unknown, m: Mutation): unknown {
  if (m.kind === 'none') return value;
  const root = value as Json;
  const all = nodes(root);
  const pick = <T>(list: T[]): T | undefined => (list.length === 0 ? undefined : list[m.at % list.length]);
  switch (m.kind) {
    case 'wrongType': {
      const n = pick(all);
      return n === undefined ? root : setAt(root, n.path, m.value);
    }
    case 'unknownField': {
      const n = pick(
        all.filter((x) => x.value !== null && typeof x.value === 'object' && !Array.isArray(x.value)),
      );
      return n === undefined ? root : setAt(root, [...n.path, m.name], m.value);
    }
    case 'hugeString': {
      const n = pick(all.filter((x) => typeof x.value === 'string')) ?? pick(all);
      return n === undefined ? root : setAt(root, n.path, m.char.repeat(m.length));
    }
    case 'badAddress':
    case 'badCidr': {
      const n = pick(all.filter((x) => typeof x.value === 'string')) ?? pick(all);
      return n === undefined ? root : setAt(root, n.path, m.value);
    }
    case 'drop': {
      const n = pick(all.filter((x) => x.path.length > 0));
      return n === undefined ? root : setAt(root, n.path, undefined);
    }
  }
}

/** Bodies no generator of values could build: not JSON, or JSON nested far deeper than any config. */
export const rawBodies: fc.Arbitrary<{ text: string; contentType: string }> = fc.oneof(
  fc.tuple(fc.integer({ min: 10, max: 200_000 }), fc.constantFrom('[', '{"a":')).map(([depth, open]) => ({
    text:
      open === '['
        ? `${'['.repeat(depth)}${']'.repeat(depth)}`
        : `${open.repeat(depth)}1${'}'.repeat(depth)}`,
    contentType: 'application/json',
  })),
  fc.tuple(fc.integer({ min: 10, max: 50_000 })).map(([depth]) => ({
    text: `{"overlay":${'['.repeat(depth)}${']'.repeat(depth)},"services":[]}`,
    contentType: 'application/json',
  })),
  fc.string({ maxLength: 200 }).map((text) => ({ text, contentType: 'application/json' })),
  fc
    .constantFrom(
      '',
      '{',
      '{"a":1,}',
      'null',
      '"x"',
      '1e999',
      'NaN',
      '{"__proto__":{"x":1}}',
      '\u00ef\u00bb\u00bf{}',
    )
    .map((text) => ({ text, contentType: 'application/json' })),
  fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v), contentType: 'text/plain' })),
  fc.constant({ text: '{}', contentType: 'application/x-www-form-urlencoded' }),
);
