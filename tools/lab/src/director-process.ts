// The director as an operator runs it: `sluice run --config <file>` (apps/director/src/main.ts) in
// its own process, started from the repository root with the repo's pinned Node (the system node
// may be too old to strip types), talked to only through its REST API. One launcher for everything
// that runs the real daemon: the e2e suite, the demo and the lab evaluation.
//
// What it keeps: everything the daemon prints (capped), so a failure can show what it said; its
// exit (code and signal, after its pipes are drained); optionally a log file. A graceful stop is
// SIGTERM, then SIGKILL after a grace period, so no daemon outlives its caller.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigFile } from '@sluice/config';

/** The repository root (tools/lab/src → ../../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join('apps', 'director', 'src', 'main.ts');
/** Each of stdout and stderr is kept up to this many characters (the newest). */
const KEEP_CHARS = 1 << 20;

/** The repo's pinned node (package.json devDependency `node`), the one `npm ci` installs. */
export function pinnedNode(): string {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`npm ci\` at the repository root`);
  return bin;
}

/** A TCP port nobody listens on right now on `host` (the kernel's pick). */
export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on host:port now (a bind succeeds). */
export function tcpPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export interface DirectorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A temp dir holding a config file and a bearer token, removed by `cleanup`. */
export class DirectorFiles {
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
  static async create(prefix: string): Promise<DirectorFiles> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const token = `${prefix}${process.pid}-${Date.now().toString(36)}-token`;
    const files = new DirectorFiles(dir, token);
    await writeFile(files.tokenPath, `${token}\n`, { mode: 0o600 });
    return files;
  }

  async writeConfig(config: ConfigFile): Promise<void> {
    await writeFile(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
}

export interface DirectorSpawnOptions {
  /** Also write everything it prints to this file. */
  logPath?: string;
  /** Its own process group (a terminal's Ctrl-C then reaches the caller only); stop() kills the group. */
  detached?: boolean;
  /**
   * Run it in this network namespace (a lab's `directorNs`), through `nsenter --net`, which
   * execs the daemon in place: the child is the daemon, so signals reach it directly.
   */
  netns?: string;
}

export class DirectorProcess {
  readonly child: ChildProcess;
  /** What it printed (the newest KEEP_CHARS of each stream). */
  stdout = '';
  stderr = '';
  readonly #detached: boolean;
  readonly #log: WriteStream | null;
  #exit: DirectorExit | null = null;
  readonly #exited: Promise<DirectorExit>;

  private constructor(child: ChildProcess, opts: DirectorSpawnOptions) {
    this.child = child;
    this.#detached = opts.detached ?? false;
    this.#log = opts.logPath === undefined ? null : createWriteStream(opts.logPath);
    const keep = (which: 'stdout' | 'stderr') => (d: string) => {
      this.#log?.write(d);
      const s = this[which] + d;
      this[which] = s.length > KEEP_CHARS ? s.slice(-KEEP_CHARS) : s;
    };
    child.stdout!.setEncoding('utf8').on('data', keep('stdout'));
    child.stderr!.setEncoding('utf8').on('data', keep('stderr'));
    this.#exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.stderr += `\n[spawn error: ${err.message}]`;
        this.#exit ??= { code: -1, signal: null };
        this.#log?.end();
        resolve(this.#exit);
      });
      // 'close', not 'exit': by then stdout and stderr are read to their end.
      child.once('close', (code, signal) => {
        this.#exit ??= { code, signal };
        this.#log?.end();
        resolve(this.#exit);
      });
    });
  }

  /** Spawns `sluice run --config <configPath>` from the repository root. */
  static spawn(configPath: string, opts: DirectorSpawnOptions = {}): DirectorProcess {
    const argv = [pinnedNode(), MAIN, 'run', '--config', configPath];
    if (opts.netns !== undefined) argv.unshift('nsenter', `--net=/run/netns/${opts.netns}`);
    const child = spawn(argv[0], argv.slice(1), {
      cwd: REPO_ROOT,
      detached: opts.detached ?? false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new DirectorProcess(child, opts);
  }

  /** Resolves when the process has exited and its output is read. */
  get exited(): Promise<DirectorExit> {
    return this.#exited;
  }

  /** Null while it runs. */
  get exit(): DirectorExit | null {
    return this.#exit;
  }

  get running(): boolean {
    return this.#exit === null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the process has exited (and its output is read), or null after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<DirectorExit | null> {
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
      throw new Error(`director already exited (${this.describeExit()})\n${this.output()}`);
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
    return `--- director (${this.describeExit()}) stdout ---\n${tail(this.stdout)}--- director stderr ---\n${tail(this.stderr)}`;
  }

  /** The last `lines` lines it printed, both streams. */
  tail(lines = 40): string {
    const all = `${this.stdout}${this.stderr}`.split('\n').filter((l) => l !== '');
    return all.slice(-lines).join('\n');
  }

  /**
   * Polls GET /readyz until 200. Throws, with what /readyz last said and the director's output,
   * when the process exits first, when `cancelled()` turns true, or after `timeoutMs`.
   */
  async waitReady(
    baseUrl: string,
    timeoutMs = 30_000,
    cancelled: () => boolean = () => false,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`director exited before it was ready\n${this.output()}`);
      if (cancelled()) throw new Error('interrupted while waiting for the director');
      try {
        const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
        const body = await res.text();
        if (res.status === 200) return;
        last = `${res.status} ${body}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`director not ready after ${timeoutMs} ms (/readyz: ${last})\n${this.output()}`);
  }

  /**
   * SIGTERM (the daemon's graceful stop), then SIGKILL after `graceMs` (to its whole group when
   * detached). `forced`: the graceful stop did not finish; `already`: it had exited before.
   */
  async stop(graceMs = 20_000): Promise<{ exit: DirectorExit; forced: boolean; already: boolean }> {
    if (!this.running) return { exit: await this.#exited, forced: false, already: true };
    this.child.kill('SIGTERM');
    const exit = await this.waitExit(graceMs);
    if (exit !== null) return { exit, forced: false, already: false };
    this.killNow();
    return {
      exit: (await this.waitExit(10_000)) ?? { code: null, signal: 'SIGKILL' },
      forced: true,
      already: false,
    };
  }

  /** SIGKILL at once (a signal handler's last resort; the group when detached). Never throws. */
  killNow(): void {
    if (!this.running) return;
    try {
      if (this.#detached && this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGKILL');
      else this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * A director started on a config built for a free control-plane port and a fresh token, ready
 * (/readyz 200) when `start` resolves; `get` reads its API with the token; `stop` also removes its
 * files. The common case of the lab evaluation and similar tools.
 */
export class RunningDirector {
  readonly process: DirectorProcess;
  readonly files: DirectorFiles;
  readonly base: string;

  private constructor(process: DirectorProcess, files: DirectorFiles, base: string) {
    this.process = process;
    this.files = files;
    this.base = base;
  }

  /**
   * `where.netns`: start it in that namespace, its REST API reached at `where.apiHost` (an
   * address of that namespace the caller can route to; the config must listen there).
   */
  static async start(
    config: (apiPort: number, tokenFile: string) => ConfigFile,
    prefix = 'sluice-director-',
    where: { netns?: string; apiHost?: string } = {},
  ): Promise<RunningDirector> {
    const files = await DirectorFiles.create(prefix);
    const apiPort = await freeTcpPort();
    await files.writeConfig(config(apiPort, files.tokenPath));
    const proc = DirectorProcess.spawn(files.configPath, { netns: where.netns });
    const d = new RunningDirector(proc, files, `http://${where.apiHost ?? '127.0.0.1'}:${apiPort}`);
    try {
      await proc.waitReady(d.base);
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  /** GET that must answer 200: the text for /metrics, else the parsed JSON. */
  async get<T>(path: string): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      headers: { authorization: `Bearer ${this.files.token}` },
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text}`);
    return (path === '/metrics' ? text : JSON.parse(text)) as T;
  }

  /** Stops the process (SIGTERM, SIGKILL after 10 s) and removes its files. Never throws. */
  async stop(): Promise<void> {
    await this.process.stop(10_000).catch(() => {});
    await this.files.cleanup();
  }
}
