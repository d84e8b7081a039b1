// The control plane of a director started by @sluice/lab's DirectorProcess, over real HTTP: a
// REST client that reports a dead daemon as such (with what it printed) rather than as a bare
// ECONNREFUSED.
import type { DirectorProcess } from '@sluice/lab';

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json: T;
}

/** The control plane over real HTTP. Mutations carry the bearer token unless told otherwise. */
export class Api {
  readonly base: string;
  readonly #token: string;
  readonly #daemon: DirectorProcess;

  constructor(base: string, token: string, daemon: DirectorProcess) {
    this.base = base;
    this.#token = token;
    this.#daemon = daemon;
  }

  async request<T = unknown>(
    method: string,
    path: string,
    opts: { body?: unknown; headers?: Record<string, string>; auth?: string | null } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const auth = opts.auth === undefined ? this.#token : opts.auth;
    if (method !== 'GET' && auth !== null) headers.authorization = `Bearer ${auth}`;
    let bodyText: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      bodyText = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, body: bodyText });
    } catch (err) {
      throw new Error(`${method} ${path} failed: ${(err as Error).message}\n${this.#daemon.output()}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json: json as T };
  }

  /** GET that must answer 200; returns the parsed body. */
  async get<T>(path: string): Promise<T> {
    const r = await this.request<T>('GET', path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
    return r.json;
  }

  async text(path: string): Promise<string> {
    const r = await this.request('GET', path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
    return r.text;
  }
}
