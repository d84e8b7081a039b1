// `sluice run` as a child process, for integration tests and tools (the lock test, the crash
// test, the soak): the pinned Node on src/main.ts, its output collected, readiness read from the
// banner it prints, its exit awaited. Tests and tools only; the daemon itself never imports it.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const NODE = path.join(REPO, 'node_modules', '.bin', 'node');
export const MAIN = path.join(REPO, 'apps', 'director', 'src', 'main.ts');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface DaemonChild {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** The control plane's base URL, once the banner is printed; rejects if it exits first. */
  ready: Promise<string>;
  exited: Promise<Exit>;
}

/** The environment without what would point a daemon at another state directory. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['INIT_CWD', 'SLUICE_API', 'SLUICE_TOKEN', 'SLUICE_STATE_DIR']) delete env[k];
  return { ...env, ...extra };
}

/** Starts `node src/main.ts <args>` (default `run ...`); `script` runs another entry instead. */
export function spawnDaemon(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; script?: string } = {},
): DaemonChild {
  const child = spawn(NODE, [opts.script ?? MAIN, ...args], {
    cwd: opts.cwd ?? REPO,
    env: opts.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      stdout += d;
      const m = /control plane (http:\/\/\S+)\/v1\/config/.exec(stdout);
      if (m !== null) resolve(m[1]);
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    exited.then(
      (e) => reject(new Error(`daemon exited (${e.code ?? e.signal}) before it was ready:\n${e.stderr}`)),
      reject,
    );
  });
  ready.catch(() => undefined);
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    ready,
    exited,
  };
}

/**
 * The UDP sockets of this network namespace bound to local `port` (/proc/net/udp and udp6): how
 * many, and the datagrams the kernel dropped on them (their `drops` column: a full receive
 * buffer, mostly). Per socket, so other processes' drops do not count, unlike /proc/net/snmp.
 * `address` (IPv4) narrows it to sockets bound to that address: in the root namespace several
 * lab directors share port 4789 on their own bridges.
 */
export function udpSockets(port: number, address?: string): { count: number; drops: number } {
  // /proc/net/udp prints the address as the host-order integer of its network-order bytes.
  const a = address?.split('.').map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'));
  const hex = `${a === undefined ? '' : a.reverse().join('')}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (!cols[1]?.endsWith(hex)) continue;
      count++;
      drops += Number(cols[cols.length - 1]) || 0;
    }
  }
  return { count, drops };
}

/** How many UDP sockets of this network namespace are bound to local `port`. */
export function udpSocketsOnPort(port: number): number {
  return udpSockets(port).count;
}

/** A process's resident set size in bytes (VmRSS of /proc/PID/status), or null when gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}
