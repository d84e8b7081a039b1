// The director's REST API as the CLI uses it: JSON in and out, the bearer token on changes,
// ETags and If-Match, and every failure turned into a CliError whose exit code says what kind
// of failure it was (errors.ts). The director's error bodies are `{ error, code, message, field }`
// (api/errors.ts); they are kept on DirectorError for callers that map a field back to input.
import { CliError, CliErrorCode, type CliErrorCodeName } from './errors.ts';
import type { Target } from './target.ts';

export class DirectorError extends CliError {
  readonly status: number;
  /** The director's code (SLUICE_ERR_...), '' when the body had none. */
  readonly apiCode: string;
  /** The JSON pointer a 400 names, or null. */
  readonly field: string | null;
  readonly detail: string;
  constructor(
    code: CliErrorCodeName,
    message: string,
    status: number,
    apiCode: string,
    field: string | null,
    detail: string,
  ) {
    super(code, message);
    this.status = status;
    this.apiCode = apiCode;
    this.field = field;
    this.detail = detail;
  }
}

/** The director's code of a refusal (SLUICE_ERR_...), '' for anything that is not one. */
export function directorCode(e: unknown): string {
  const code = (e as { apiCode?: unknown } | null)?.apiCode;
  return typeof code === 'string' ? code : '';
}

/** The director's codes for a request it read and found wrong (400 naming a field). */
export function isInvalidCode(code: string): boolean {
  return code === 'SLUICE_ERR_CONFIG_INVALID' || code === 'SLUICE_ERR_API_INVALID';
}

export interface Reply<T> {
  status: number;
  etag: string | null;
  body: T;
}

const TIMEOUT_MS = 30_000;

function errorCodeFor(status: number): CliErrorCodeName {
  if (status === 401 || status === 403) return CliErrorCode.unauthorized;
  if (status === 409 || status === 412) return CliErrorCode.conflict;
  return CliErrorCode.refused;
}

export class DirectorClient {
  readonly target: Target;

  constructor(target: Target) {
    this.target = target;
  }

  async request<T>(
    method: string,
    path: string,
    opts: { body?: unknown; ifMatch?: string; query?: Record<string, string | number | undefined> } = {},
  ): Promise<Reply<T>> {
    const url = new URL(`${this.target.api}${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (method !== 'GET') headers.authorization = `Bearer ${await this.target.token()}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.ifMatch !== undefined) headers['if-match'] = opts.ifMatch;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new CliError(
        CliErrorCode.unreachable,
        `cannot reach the director at ${this.target.api} (from ${this.target.apiFrom}): ${why}. ` +
          'Is `sluice run` up? Give its address with --api or SLUICE_API, or its state with --state-dir',
      );
    }
    const text = await res.text();
    let body: unknown = null;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (res.status >= 400) {
      const b = (body ?? {}) as { code?: unknown; message?: unknown; field?: unknown };
      const detail = typeof b.message === 'string' ? b.message : text || res.statusText;
      const field = typeof b.field === 'string' ? b.field : null;
      const where = field !== null && field !== '' && !detail.startsWith(field) ? `${field}: ` : '';
      const hint =
        res.status === 412
          ? ' (the config changed since it was read; nothing was applied, run the command again)'
          : res.status === 401 || res.status === 403
            ? ' (check --token, SLUICE_TOKEN or the token file)'
            : '';
      throw new DirectorError(
        errorCodeFor(res.status),
        `${method} ${path}: ${res.status} ${where}${detail}${hint}`,
        res.status,
        typeof b.code === 'string' ? b.code : '',
        field,
        detail,
      );
    }
    return { status: res.status, etag: res.headers.get('etag'), body: body as T };
  }

  async get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<Reply<T>> {
    return this.request<T>('GET', path, { query });
  }
}
