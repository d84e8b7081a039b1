// The director as an operator runs it, one process per measured run: `node apps/director/src/main.ts
// run --config <file>` from the repository root with the repo's pinned Node (the system node may
// be too old to strip types). A fresh process per run means fresh counters, an empty connection
// table and no source history carried from one strategy's run into the next one's.
// (The e2e suite has a similar helper; tools do not import test files, hence this small copy.)
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigFile } from '@sluice/config';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = 'apps/director/src/main.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

export class DaemonProcess {
  readonly child: ChildProcess;
  readonly base: string;
  readonly #token: string;
  readonly #dir: string;
  output = '';
  #exited = false;
  readonly #exit: Promise<void>;

  private constructor(child: ChildProcess, base: string, token: string, dir: string) {
    this.child = child;
    this.base = base;
    this.#token = token;
    this.#dir = dir;
    const keep = (d: string): void => {
      this.output = (this.output + d).slice(-20_000);
    };
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    this.#exit = new Promise((resolve) => {
      child.once('close', () => {
        this.#exited = true;
        resolve();
      });
      child.once('error', (err) => {
        keep(`[spawn error: ${err.message}]`);
        this.#exited = true;
        resolve();
      });
    });
  }

  /** Writes the config and token into a temp dir and starts the daemon; resolves once /readyz says 200. */
  static async start(config: (apiPort: number, tokenFile: string) => ConfigFile): Promise<DaemonProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-lab-eval-'));
    const token = `lab-eval-${process.pid}-${Date.now().toString(36)}`;
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const apiPort = await freeTcpPort();
    const configPath = join(dir, 'sluice.json');
    await writeFile(configPath, `${JSON.stringify(config(apiPort, tokenFile), null, 2)}\n`);
    const child = spawn(pinnedNode(), [MAIN, 'run', '--config', configPath], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const d = new DaemonProcess(child, `http://127.0.0.1:${apiPort}`, token, dir);
    try {
      await d.#waitReady(30_000);
    } catch (err) {
      await d.stop();
      throw err;
    }
    return d;
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.#exited) throw new Error(`director exited before it was ready:\n${this.output}`);
      try {
        const res = await fetch(`${this.base}/readyz`);
        last = `${res.status} ${await res.text()}`;
        if (res.status === 200) return;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(100);
    }
    throw new Error(`director not ready after ${timeoutMs} ms (/readyz: ${last}):\n${this.output}`);
  }

  async get<T>(path: string): Promise<T> {
    const res = await fetch(`${this.base}${path}`, { headers: { authorization: `Bearer ${this.#token}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text}`);
    return (path === '/metrics' ? text : JSON.parse(text)) as T;
  }

  /** SIGTERM, SIGKILL after 10 s; removes the temp dir. Never throws. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.#exit;
      clearTimeout(timer);
    }
    await rm(this.#dir, { recursive: true, force: true }).catch(() => {});
  }

  /** For a signal handler: no waiting. */
  killNow(): void {
    if (!this.#exited) this.child.kill('SIGKILL');
  }
}
