// The director as an operator runs it: `node apps/director/src/main.ts run --config <file>` in
// its own process, started from the repository root with the repo's pinned Node (the system
// node may be too old to strip types). Everything it prints is kept, so a failing assertion can
// show what the daemon said; and a REST client that reports a dead daemon as such rather than
// as a bare ECONNREFUSED.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigFile } from '@sluice/config';
import { sleep } from './wait.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'apps/director/src/main.ts';

/** The repo's pinned node (package.json devDependency `node`), the one `npm ci` installs. */
export function pinnedNode(): string {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`npm ci\` at the repository root`);
  return bin;
}

/** A TCP port nobody listens on right now (the kernel's pick), for the control plane. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A temp dir holding the config file and the token, removed by `cleanup`. */
export class DaemonFiles {
  readonly dir: string;
  readonly configPath: string;
  readonly tokenPath: string;
  readonly token: string;

  private constructor(dir: string, token: string) {
    this.dir = dir;
    this.configPath = join(dir, 'sluice.json');
    this.tokenPath = join(dir, 'token');
    this.token = token;
  }

  /** Makes the dir and the token file (mode 0600: the daemon refuses a token others can read). */
  static async create(prefix: string): Promise<DaemonFiles> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const token = `e2e-${process.pid}-${Date.now().toString(36)}-token`;
    const files = new DaemonFiles(dir, token);
    await writeFile(files.tokenPath, `${token}\n`, { mode: 0o600 });
    return files;
  }

  async writeConfig(config: ConfigFile): Promise<void> {
    await writeFile(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export class Daemon {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  #exit: Exit | null = null;
  readonly #exited: Promise<Exit>;

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
    });
    this.#exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.stderr += `\n[spawn error: ${err.message}]`;
        this.#exit ??= { code: -1, signal: null };
        resolve(this.#exit);
      });
      // 'close', not 'exit': by then stdout and stderr are read to their end.
      child.once('close', (code, signal) => {
        this.#exit ??= { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /** Spawns `sluice run --config <configPath>` from the repository root. */
  static spawn(configPath: string): Daemon {
    const child = spawn(pinnedNode(), [MAIN, 'run', '--config', configPath], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Daemon(child);
  }

  /** Null while it runs. */
  get exit(): Exit | null {
    return this.#exit;
  }

  /** Resolves when the process has exited (and its output is read), or null after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<Exit | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => {
      timer = setTimeout(() => r(null), timeoutMs);
    });
    try {
      return await Promise.race([this.#exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.#exit !== null)
      throw new Error(`daemon already exited (${this.describeExit()})\n${this.output()}`);
    this.child.kill(sig);
  }

  describeExit(): string {
    const e = this.#exit;
    if (e === null) return 'running';
    return e.signal !== null ? `killed by ${e.signal}` : `exit code ${e.code}`;
  }

  /** The last `max` characters of each stream, for failure messages. */
  output(max = 4000): string {
    const tail = (s: string) => (s.length > max ? `…${s.slice(-max)}` : s);
    return `--- daemon (${this.describeExit()}) stdout ---\n${tail(this.stdout)}--- daemon stderr ---\n${tail(this.stderr)}`;
  }

  /** Polls GET /readyz until 200; throws with the daemon's output if it exits or never gets ready. */
  async waitReady(baseUrl: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.#exit !== null) throw new Error(`daemon exited before it was ready\n${this.output()}`);
      try {
        const res = await fetch(`${baseUrl}/readyz`);
        const body = await res.text();
        if (res.status === 200) return;
        last = `${res.status} ${body}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`daemon not ready after ${timeoutMs} ms (/readyz: ${last})\n${this.output()}`);
  }

  /**
   * SIGTERM, then waits for the graceful stop; SIGKILL if it does not come (so no daemon outlives
   * the suite). Returns how it ended and whether the SIGKILL was needed.
   */
  async stop(timeoutMs = 20_000): Promise<{ exit: Exit; forced: boolean }> {
    if (this.#exit !== null) return { exit: this.#exit, forced: false };
    this.child.kill('SIGTERM');
    const exit = await this.waitExit(timeoutMs);
    if (exit !== null) return { exit, forced: false };
    this.child.kill('SIGKILL');
    return { exit: (await this.waitExit(10_000)) ?? { code: null, signal: 'SIGKILL' }, forced: true };
  }
}

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
  readonly #daemon: Daemon;

  constructor(base: string, token: string, daemon: Daemon) {
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
