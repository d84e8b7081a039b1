// REST fuzzing of a real Director's control plane: requests drawn from the director's own OpenAPI
// document (every route and method; bodies and query strings from their schemas, then broken one
// way: a wrong type, an unknown field, a huge string, a bad address or CIDR, a missing member;
// raw bodies nested 200,000 deep or not JSON at all; path parameters naming what exists or not;
// the token and If-Match right, missing or wrong), sent with app.inject to a Director that serves
// a real VXLAN socket and persists to a real file. After every request:
//   - no 5xx, and an error answer is `{ error, code, message }` with a code of the error table,
//     and `field` in a 400;
//   - after any refusal the config is unchanged: `GET /v1/config` answers the same bytes and the
//     file on disk holds the same bytes;
//   - after an accepted change the file loads (loadConfigFile) and holds what GET answers;
//   - no serving worker died and the process is still here (an uncaught error ends the run).
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadConfigFile, saveConfigFile, validateConfigFile } from '@sluice/config';
import { ERROR_CODES } from '@sluice/director/src/api/error-codes.ts';
import { buildControlPlane } from '@sluice/director/src/api/server.ts';
import { Director } from '@sluice/director/src/director.ts';
import { addressBytes, freeUdpPort, TCP, TrafficFrames } from '@sluice/traffic';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import {
  type JsonSchema,
  type Mutation,
  mutate,
  mutationArb,
  rawBodies,
  validish,
} from './schema-arbitrary.ts';

const TOKEN = 'fuzz-token-7d2e4b';
const DIRECTOR_MAC = '02:5c:00:00:00:01';

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  schema: JsonSchema;
}

interface Operation {
  method: string;
  path: string;
  pathParams: string[];
  query: JsonSchema | null;
  body: JsonSchema | null;
}

type ParamPick = { kind: 'existing'; n: number } | { kind: 'raw'; text: string };
type BodyCase =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown; mutation: Mutation }
  | { kind: 'raw'; text: string; contentType: string };

export interface FuzzCase {
  op: number;
  params: Record<string, ParamPick>;
  query: Record<string, unknown> | null;
  body: BodyCase;
  auth: 'token' | 'none' | 'wrong';
  ifMatch: 'none' | 'current' | 'stale' | 'garbage';
}

/** The operations of an OpenAPI document (paths × methods), with their parameters and bodies. */
export function operationsOf(doc: { paths?: Record<string, Record<string, unknown>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [route, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, raw] of Object.entries(methods)) {
      const op = raw as {
        parameters?: Parameter[];
        requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
      };
      const params = op.parameters ?? [];
      const query = params.filter((p) => p.in === 'query');
      ops.push({
        method: method.toUpperCase(),
        path: route,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query:
          query.length === 0
            ? null
            : {
                type: 'object',
                properties: Object.fromEntries(query.map((p) => [p.name, p.schema])),
              },
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
      });
    }
  }
  return ops;
}

const RAW_PARAMS = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom(
    'web',
    'nope',
    '10.10.1.1:80',
    '[2001:db8:1::1]:53',
    '10.0.0.0%2F8',
    '..',
    '%00',
    '0-0',
    'ffff-ffffffff',
  ),
  fc.constant('x'.repeat(5000)),
);

export function fuzzCaseArb(ops: Operation[]): fc.Arbitrary<FuzzCase> {
  return fc.integer({ min: 0, max: ops.length - 1 }).chain((i) => {
    const op = ops[i];
    const params = fc.record(
      Object.fromEntries(
        op.pathParams.map((name) => [
          name,
          fc.oneof(
            { weight: 3, arbitrary: fc.nat().map((n): ParamPick => ({ kind: 'existing', n })) },
            { weight: 1, arbitrary: RAW_PARAMS.map((text): ParamPick => ({ kind: 'raw', text })) },
          ),
        ]),
      ),
    ) as fc.Arbitrary<Record<string, ParamPick>>;
    const query =
      op.query === null
        ? fc.constant(null)
        : fc
            .tuple(validish(op.query), mutationArb)
            .map(([v, m]) => mutate(v, m) as Record<string, unknown> | null);
    const body: fc.Arbitrary<BodyCase> =
      op.body === null
        ? fc.oneof(
            { weight: 5, arbitrary: fc.constant({ kind: 'none' as const }) },
            { weight: 1, arbitrary: rawBodies.map((r) => ({ kind: 'raw' as const, ...r })) },
          )
        : fc.oneof(
            {
              // Valid by the schema: these reach the director's semantic checks and its file.
              weight: 4,
              arbitrary: validish(op.body, '', 0, false).map((value) => ({
                kind: 'json' as const,
                value,
                mutation: { kind: 'none' as const },
              })),
            },
            {
              weight: 8,
              arbitrary: fc
                .tuple(validish(op.body), mutationArb)
                .map(([value, mutation]) => ({ kind: 'json' as const, value, mutation })),
            },
            { weight: 1, arbitrary: rawBodies.map((r) => ({ kind: 'raw' as const, ...r })) },
          );
    return fc.record({
      op: fc.constant(i),
      params,
      query,
      body,
      auth: fc.oneof(
        { weight: 18, arbitrary: fc.constant('token' as const) },
        { weight: 1, arbitrary: fc.constantFrom('none' as const, 'wrong' as const) },
      ),
      ifMatch: fc.oneof(
        { weight: 6, arbitrary: fc.constant('none' as const) },
        { weight: 3, arbitrary: fc.constant('current' as const) },
        { weight: 1, arbitrary: fc.constantFrom('stale' as const, 'garbage' as const) },
      ),
    });
  });
}

/** The daemon config the fuzzed director runs: two services (IPv4, IPv6), a rule, a health check. */
function baseConfig(listenPort: number) {
  return validateConfigFile({
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers: 1,
      connectionCapacity: 4096,
    },
    overlay: { vni: 42, directorMac: DIRECTOR_MAC },
    services: [
      {
        name: 'web',
        vip: '10.10.0.100',
        port: 80,
        scheduler: 'wlc',
        reals: [
          { address: '10.10.1.1', port: 80, vtep: '127.0.0.2', mac: '02:00:00:00:01:01' },
          {
            address: '10.10.1.2',
            port: 80,
            vtep: '127.0.0.2',
            mac: '02:00:00:00:01:02',
            healthCheck: { type: 'tcp', port: 9, intervalSeconds: 5, timeoutSeconds: 1 },
          },
        ],
      },
      {
        name: 'dns6',
        vip: '2001:db8::53',
        port: 53,
        protocol: 'udp',
        scheduler: 'rr',
        reals: [{ address: '2001:db8:1::1', port: 53, vtep: '127.0.0.2', mac: '02:00:00:00:02:01' }],
      },
    ],
    defense: { rules: [{ cidr: '198.51.100.0/24', priority: 0, pool: ['10.10.1.1:80'] }] },
  });
}

export interface RestFuzzResult {
  fuzz: 'rest';
  requests: number;
  seed: number;
  seconds: number;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
  accepted: number;
  refused: number;
  serverErrors: number;
  /** Refusals after which GET /v1/config or the file differed. */
  configChangedOnRefusal: number;
  /** Accepted changes after which the file did not load or differed from GET /v1/config. */
  fileMismatches: number;
  workerDeaths: number;
  failures: string[];
}

function realIdText(r: { address: string; port: number }): string {
  return r.address.includes(':') ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

/** Runs `requests` fuzzed requests against a fresh Director; resolves with what it saw. */
export async function runRestFuzz(opts: { requests: number; seed?: number }): Promise<RestFuzzResult> {
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-rest-fuzz-'));
  const configPath = path.join(dir, 'config.json');
  const listenPort = await freeUdpPort('127.0.0.1');
  const file = baseConfig(listenPort);
  await saveConfigFile(configPath, file);
  const { daemon: _d, ...baseline } = file;
  let workerDeaths = 0;
  const log = {
    info: () => {},
    warn: () => {},
    error: (m: string) => {
      if (m.includes('died')) workerDeaths++;
    },
  };
  const director = await Director.start({ file, configPath, log });
  const app: FastifyInstance = buildControlPlane(director, { token: TOKEN, logger: false });
  await app.ready();
  const ops = operationsOf(app.swagger() as { paths?: Record<string, Record<string, unknown>> });
  await seedConnections(listenPort);

  const result: RestFuzzResult = {
    fuzz: 'rest',
    requests: 0,
    seed,
    seconds: 0,
    byStatus: {},
    byCode: {},
    accepted: 0,
    refused: 0,
    serverErrors: 0,
    configChangedOnRefusal: 0,
    fileMismatches: 0,
    workerDeaths: 0,
    failures: [],
  };
  const fail = (why: string) => {
    if (result.failures.length < 20) result.failures.push(why);
  };
  const started = performance.now();
  const get = async () => {
    const r = await app.inject({ method: 'GET', url: '/v1/config' });
    return { body: r.body, etag: String(r.headers.etag ?? '') };
  };
  let staleEtag = (await get()).etag;

  const property = fc.asyncProperty(fuzzCaseArb(ops), async (c) => {
    const op = ops[c.op];
    const before = await get();
    const fileBefore = await readFile(configPath, 'utf8');
    const url = await urlFor(op, c, JSON.parse(before.body), director);
    const headers: Record<string, string> = {};
    if (c.auth === 'token') headers.authorization = `Bearer ${TOKEN}`;
    if (c.auth === 'wrong') headers.authorization = 'Bearer not-the-token';
    if (c.ifMatch === 'current') headers['if-match'] = before.etag;
    if (c.ifMatch === 'stale') headers['if-match'] = staleEtag;
    if (c.ifMatch === 'garbage') headers['if-match'] = 'W/"v0-0"';
    const req: InjectOptions = { method: op.method as InjectOptions['method'], url, headers };
    if (c.body.kind === 'json') {
      req.payload = JSON.stringify(mutate(c.body.value, c.body.mutation) ?? null);
      headers['content-type'] = 'application/json';
    } else if (c.body.kind === 'raw') {
      req.payload = c.body.text;
      headers['content-type'] = c.body.contentType;
    }
    const res = await app.inject(req);
    result.requests++;
    result.byStatus[res.statusCode] = (result.byStatus[res.statusCode] ?? 0) + 1;
    const what = `${op.method} ${url.slice(0, 120)} → ${res.statusCode}`;
    if (res.statusCode >= 500) {
      result.serverErrors++;
      fail(`${what}: ${res.body.slice(0, 300)} (body ${String(req.payload ?? '').slice(0, 300)})`);
      return;
    }
    if (res.statusCode >= 400) {
      result.refused++;
      let body: { error?: unknown; code?: unknown; message?: unknown; field?: unknown } = {};
      try {
        body = res.json();
      } catch {
        fail(`${what}: the error body is not JSON`);
      }
      const code = String(body.code);
      result.byCode[code] = (result.byCode[code] ?? 0) + 1;
      if (
        !Object.hasOwn(ERROR_CODES, code) ||
        typeof body.error !== 'string' ||
        typeof body.message !== 'string'
      )
        fail(`${what}: not an error of the table: ${res.body.slice(0, 200)}`);
      if (res.statusCode === 400 && typeof body.field !== 'string')
        fail(`${what}: a 400 that names no field`);
      const after = await get();
      const fileAfter = await readFile(configPath, 'utf8');
      if (after.body !== before.body || fileAfter !== fileBefore) {
        result.configChangedOnRefusal++;
        fail(`${what}: the config changed on a refusal`);
      }
      return;
    }
    if (op.method === 'GET') return;
    result.accepted++;
    staleEtag = before.etag;
    const now = await get();
    try {
      const loaded = await loadConfigFile(configPath);
      const { daemon: _daemon, ...live } = loaded;
      if (!isDeepStrictEqual(live, JSON.parse(now.body))) {
        result.fileMismatches++;
        fail(`${what}: the file differs from the running config`);
      }
    } catch (err) {
      result.fileMismatches++;
      fail(`${what}: the file does not load: ${(err as Error).message.slice(0, 200)}`);
    }
    // Keep the director in a config with something to find: back to the baseline now and then.
    const live = JSON.parse(now.body) as { services: unknown[] };
    if (result.accepted % 50 === 0 || live.services.length === 0 || live.services.length > 16) {
      await director.applyConfig(structuredClone(baseline));
    }
  });
  try {
    await fc.assert(property, { numRuns: opts.requests, seed, endOnFailure: true, verbose: 0 });
  } catch (err) {
    // The property never throws on its own findings (they are counted); this is a crash of the
    // harness or of the director's code running in this process.
    fail(`the run stopped: ${(err as Error).message.slice(0, 500)}`);
  }
  result.workerDeaths = workerDeaths;
  if (!director.readiness().ready)
    fail(`the director is not ready: ${director.readiness().reasons.join(', ')}`);
  if (workerDeaths > 0) fail(`${workerDeaths} serving worker(s) died`);
  result.seconds = Math.round((performance.now() - started) / 10) / 100;
  await app.close();
  await director.stop();
  await rm(dir, { recursive: true, force: true });
  return result;
}

/** The URL of a case: path parameters naming what the running config has (or raw text), a query. */
async function urlFor(
  op: Operation,
  c: FuzzCase,
  config: {
    services: Array<{ name: string; reals: Array<{ address: string; port: number }> }>;
    defense?: { rules: Array<{ cidr: string }> };
  },
  director: Director,
): Promise<string> {
  const services = config.services;
  const service = (n: number) => services[n % Math.max(1, services.length)];
  let chosen: (typeof services)[number] | undefined;
  let url = op.path;
  for (const name of op.pathParams) {
    const pick = c.params[name];
    let text: string;
    if (pick === undefined || pick.kind === 'raw') text = pick?.text ?? '';
    else if (name === 'name') {
      chosen = service(pick.n);
      text = chosen?.name ?? 'web';
    } else if (name === 'real') {
      const reals = (chosen ?? service(pick.n))?.reals ?? [];
      text = reals.length === 0 ? '10.10.1.1:80' : realIdText(reals[pick.n % reals.length]);
    } else if (name === 'cidr') {
      const rules = config.defense?.rules ?? [];
      text = rules.length === 0 ? '10.0.0.0/8' : rules[pick.n % rules.length].cidr;
    } else if (name === 'id') {
      const page = director.listConnections({ limit: 20 });
      text = page.items.length === 0 ? '0-0' : page.items[pick.n % page.items.length].id;
    } else text = String(pick.n);
    url = url.replace(`{${name}}`, encodeURIComponent(text));
  }
  if (c.query !== null && typeof c.query === 'object' && !Array.isArray(c.query)) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(c.query)) q.append(k, typeof v === 'string' ? v : JSON.stringify(v));
    const s = q.toString();
    if (s !== '') url += `?${s}`;
  }
  return url;
}

/** A few connections in the table, so the connection routes find something to read and reset. */
async function seedConnections(listenPort: number): Promise<void> {
  const frames = new TrafficFrames({ vni: 42, clientMac: '02:00:00:00:09:01', directorMac: DIRECTOR_MAC });
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.3', () => r()));
  const vip = addressBytes('10.10.0.100');
  for (let i = 0; i < 30; i++) {
    const src = addressBytes(`203.0.113.${i + 1}`);
    const f = frames.tcp({ src, dst: vip, srcPort: 40000 + i, dstPort: 80, flags: TCP.syn, seq: 1000 });
    await new Promise<void>((r) => s.send(f, listenPort, '127.0.0.1', () => r()));
  }
  await new Promise((r) => setTimeout(r, 200));
  await new Promise<void>((r) => s.close(() => r()));
}
