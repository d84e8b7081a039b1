// The director as the operator runs it: `sluice run --config <file>` in its own process, started
// with the repo's pinned node (the system node may be too old to strip types), talked to only
// through its REST API. Its output goes to a log file in the demo's temp dir, so the listing
// owns the terminal; the last lines are kept in memory to explain a failed start or a crash.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tools/demo/src → ../../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PINNED_NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const DIRECTOR_MAIN = join('apps', 'director', 'src', 'main.ts');
const TAIL_LINES = 40;

/** True when nothing listens on host:port now (a bind succeeds). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port the kernel says is free on host now (it may be taken again before the daemon binds). */
export function freePort(host: string): Promise<number> {
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

/** `preferred` if free, else any free port: a second director on the machine must not stop the demo. */
export async function pickApiPort(host: string, preferred: number): Promise<number> {
  return (await portFree(host, preferred)) ? preferred : freePort(host);
}

export class DirectorProcess {
  readonly child: ChildProcess;
  readonly logPath: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  readonly #log: WriteStream;
  #tail: string[] = [];
  #partial = '';

  private constructor(child: ChildProcess, logPath: string) {
    this.child = child;
    this.logPath = logPath;
    this.#log = createWriteStream(logPath);
    const take = (d: Buffer): void => {
      this.#log.write(d);
      const text = this.#partial + d.toString('utf8');
      const lines = text.split('\n');
      this.#partial = lines.pop() ?? '';
      this.#tail.push(...lines);
      if (this.#tail.length > TAIL_LINES) this.#tail = this.#tail.slice(-TAIL_LINES);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.#tail.push(`spawn failed: ${err.message}`);
        resolve(-1);
      });
      // `close`, not `exit`: the pipes are drained by then, so the tail holds the last words.
      child.once('close', (code, signal) => {
        this.#log.end();
        resolve(code ?? signal ?? -1);
      });
    });
  }

  /** Starts `sluice run --config <configPath>`, logging to `logPath`. */
  static start(configPath: string, logPath: string): DirectorProcess {
    if (!existsSync(PINNED_NODE)) {
      throw new Error(`${PINNED_NODE} is missing: run npm ci at the repository root`);
    }
    // Its own process group: Ctrl-C reaches the demo only, which stops the director after the
    // traffic (see traffic.ts).
    const child = spawn(PINNED_NODE, [DIRECTOR_MAIN, 'run', '--config', configPath], {
      cwd: REPO_ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new DirectorProcess(child, logPath);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines it printed. */
  tail(): string {
    return [...this.#tail, this.#partial].filter((l) => l !== '').join('\n');
  }

  /**
   * Polls GET /readyz until 200. Rejects when the process exits first, when `cancelled()` turns
   * true, or after `timeoutMs`, with the reasons /readyz last gave.
   */
  async waitReady(apiUrl: string, timeoutMs: number, cancelled: () => boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`the director exited (${await this.exited}) before it was ready`);
      if (cancelled()) throw new Error('interrupted while waiting for the director');
      try {
        const res = await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { ready: boolean; reasons: string[] };
        if (res.ok && body.ready) return;
        last = body.reasons.join('; ') || `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the director was not ready after ${timeoutMs / 1000} s: ${last}`);
  }

  /**
   * SIGTERM (the daemon's graceful stop), SIGKILL after `graceMs`. `status` is the exit code or
   * signal; `killed` says the graceful stop did not finish and this had to kill it; `already`
   * that it had exited before (a crash, or killed by someone else).
   */
  async stop(graceMs = 10_000): Promise<{ status: number | string; killed: boolean; already: boolean }> {
    if (!this.running) return { status: await this.exited, killed: false, already: true };
    let killed = false;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      // Its whole group: worker threads are in-process, but nothing it started may outlive it.
      if (this.child.pid !== undefined && this.running) {
        killed = true;
        try {
          process.kill(-this.child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    return { status, killed, already: false };
  }
}
