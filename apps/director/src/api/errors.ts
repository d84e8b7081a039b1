// Errors are data: the one table of codes (error-codes.ts) gives each its HTTP status and the
// `error` word clients see, and one function that turns anything thrown in a request into a status and a body. It branches
// on `err.code`, never `instanceof`: the director's errors may have crossed a worker boundary
// (structured clone keeps own properties, not prototypes).
//
// Every error body is `{ error, code, message }`; a 400 about the request's content adds
// `field`, a JSON pointer into the body (`/services/0/reals/1/port`) or, for a query string,
// path or header, the parameter's name (`limit`).
import type { FastifyError } from 'fastify';
import { ERROR_CODES, type ErrorCodeInfo } from './error-codes.ts';

type HttpCodes = {
  [K in keyof typeof ERROR_CODES]: (typeof ERROR_CODES)[K]['status'] extends number ? K : never;
}[keyof typeof ERROR_CODES];

/** The codes a REST answer may carry, with their status and `error` word (from error-codes.ts). */
export const ERROR_TABLE = Object.fromEntries(
  Object.entries(ERROR_CODES)
    .filter(([, info]) => info.status !== null)
    .map(([code, info]) => [
      code,
      { status: info.status as number, error: (info as ErrorCodeInfo).error ?? '' },
    ]),
) as Record<HttpCodes, { status: number; error: string }>;

/** The `error` word of fastify's client errors other than 400. */
const CLIENT_ERROR_WORDS: Record<number, string> = {
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
};

export type ErrorCode = keyof typeof ERROR_TABLE;

/** An error raised by the HTTP layer itself; `headers` go out with its response (401's
 * `WWW-Authenticate`), `field` names what was wrong in a 400. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly headers: Record<string, string>;
  readonly field: string | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    extra: { headers?: Record<string, string>; field?: string } = {},
  ) {
    super(message);
    this.code = code;
    this.headers = extra.headers ?? {};
    this.field = extra.field;
  }
}

export interface ErrorBody {
  error: string;
  code: string;
  message: string;
  field?: string;
}

export interface ErrorReply {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** One entry of ajv's or TypeBox's error list (fastify passes either through as `validation`). */
interface SchemaIssue {
  keyword?: string;
  instancePath?: string;
  schemaPath?: string;
  params?: Record<string, unknown>;
  message?: string;
}

function escapePointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapePointer(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}

function firstName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** The field (as a JSON pointer) and message of one schema issue. ajv names a missing or unknown
 * property in `params.missingProperty` / `params.additionalProperty`; TypeBox in
 * `params.requiredProperties` / `params.additionalProperties` (arrays). Both are pointed at. */
function locate(issue: SchemaIssue): { pointer: string; message: string } {
  const at = issue.instancePath ?? '';
  const params = issue.params ?? {};
  if (issue.keyword === 'required') {
    const name = firstName(params.missingProperty) ?? firstName(params.requiredProperties);
    if (name !== undefined) return { pointer: `${at}/${escapePointer(name)}`, message: 'is required' };
  }
  if (issue.keyword === 'additionalProperties') {
    const name = firstName(params.additionalProperty) ?? firstName(params.additionalProperties);
    if (name !== undefined)
      return { pointer: `${at}/${escapePointer(name)}`, message: 'is not a known property' };
  }
  // TypeBox also reports each unknown property as the `false` schema it met.
  if (issue.keyword === 'boolean' && issue.schemaPath?.endsWith('/additionalProperties')) {
    return { pointer: at, message: 'is not a known property' };
  }
  return { pointer: at, message: issue.message ?? 'is invalid' };
}

function depth(pointer: string): number {
  return pointer === '' ? 0 : pointer.split('/').length - 1;
}

/**
 * The one field a 400 names. A union (`healthCheck: object | null`) fails on every branch, and
 * the deepest pointer is the branch the client meant (`/healthCheck/rise must be integer`, not
 * `/healthCheck must be null`). At equal depth a wrong value beats a missing property: TypeBox
 * fills a union member's defaults only when the member then validates, so a health check with
 * one bad field also reports its defaulted fields as missing, and those are not the mistake.
 * Otherwise the validator's first.
 */
export function validationField(
  issues: readonly SchemaIssue[],
  context: string | undefined,
): { field: string; message: string } {
  let best: { pointer: string; message: string } | null = null;
  let bestRank = -1;
  for (const issue of issues) {
    const found = locate(issue);
    const rank = depth(found.pointer) * 2 + (issue.keyword === 'required' ? 0 : 1);
    if (rank > bestRank) {
      best = found;
      bestRank = rank;
    }
  }
  const { pointer, message } = best ?? { pointer: '', message: 'is invalid' };
  if (context === undefined || context === 'body') return { field: pointer, message };
  // Query strings, paths and headers are flat: their field is the parameter's name.
  const name = unescapePointer(pointer.split('/')[1] ?? '');
  return { field: name, message };
}

function reply(code: ErrorCode, message: string, extra: Partial<ErrorReply> = {}): ErrorReply {
  const entry = ERROR_TABLE[code];
  return { status: entry.status, body: { error: entry.error, code, message }, headers: {}, ...extra };
}

/** What a request that threw `err` answers. Unknown errors become a bare 500: their messages may
 * hold paths, addresses or stack details that are none of the client's business (they are
 * logged instead, by the caller). */
export function toErrorReply(err: unknown): ErrorReply {
  const e = (err ?? {}) as Partial<FastifyError> & {
    field?: unknown;
    headers?: unknown;
    validationContext?: string;
  };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';

  if (Array.isArray(e.validation)) {
    const { field, message: why } = validationField(e.validation as SchemaIssue[], e.validationContext);
    const r = reply('SLUICE_ERR_API_INVALID', `${field === '' ? '(document)' : field} ${why}`);
    r.body.field = field;
    return r;
  }
  if (Object.hasOwn(ERROR_TABLE, code) && code !== 'SLUICE_ERR_API_INTERNAL') {
    const headers =
      e.headers !== null && typeof e.headers === 'object' ? (e.headers as Record<string, string>) : {};
    const r = reply(code as ErrorCode, message, { headers });
    if (r.body.error === 'invalid') r.body.field = typeof e.field === 'string' ? e.field : '';
    return r;
  }
  // fastify's own client errors (unparseable JSON, unsupported content type, body too large)
  // carry a 4xx status and a message written for clients.
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (code.startsWith('FST_') && status >= 400 && status < 500) {
    const r = reply('SLUICE_ERR_API_BAD_REQUEST', message, { status });
    r.body.error = CLIENT_ERROR_WORDS[status] ?? 'bad_request';
    // A 400 names its field: here the body as a whole (it is not JSON at all).
    if (status === 400) r.body.field = '';
    return r;
  }
  return reply('SLUICE_ERR_API_INTERNAL', 'internal error');
}
