// Traffic from the lab's client namespace, made by real programs through the client's kernel:
// curl (one new TCP connection per call), wrk (load), and a held keep-alive connection. Each real
// server answers with its name (`rs1\n`), so the body says where the director sent a connection.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type LabNode, labNodeBinary } from '@sluice/lab';
import type { HeldAnswer } from './held-connection.ts';

export interface CurlResult {
  code: number;
  /** The body without its newline: the real server's name. */
  body: string;
  stderr: string;
}

/** One curl, one new connection. `-g` so `http://[v6]/` is not taken as a glob. */
export async function curl(client: LabNode, url: string): Promise<CurlResult> {
  const r = await client.exec(['curl', '-sS', '-g', '--max-time', '5', url], { timeoutMs: 15_000 });
  return { code: r.code, body: r.stdout.trim(), stderr: r.stderr.trim() };
}

/**
 * `n` curls one after another (a new connection each); throws naming the first that failed, so
 * "the director dropped a connection" reads as such and not as a wrong body.
 */
export async function curlMany(client: LabNode, url: string, n: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await curl(client, url);
    if (r.code !== 0) throw new Error(`curl ${i + 1}/${n} to ${url} failed (exit ${r.code}): ${r.stderr}`);
    bodies.push(r.body);
  }
  return bodies;
}

/** How many times each body came back, e.g. { rs1: 10, rs2: 10 }. */
export function tally(bodies: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of bodies) out[b] = (out[b] ?? 0) + 1;
  return out;
}

export interface WrkResult {
  code: number;
  output: string;
  requests: number;
  /** connect, read, write, timeout; all 0 when wrk printed no `Socket errors` line. */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** wrk's `Non-2xx or 3xx responses` (status >= 400 in fact); 0 when absent. */
  non2xx: number;
}

/** Parses wrk's human output (it has no machine format without a Lua script). */
export function parseWrk(output: string): Omit<WrkResult, 'code' | 'output'> {
  const requests = /^\s*(\d+) requests in /m.exec(output);
  if (requests === null) throw new Error(`wrk output has no "N requests in" line:\n${output}`);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(requests[1]),
    socketErrors: {
      connect: Number(se?.[1] ?? 0),
      read: Number(se?.[2] ?? 0),
      write: Number(se?.[3] ?? 0),
      timeout: Number(se?.[4] ?? 0),
    },
    non2xx: Number(non?.[1] ?? 0),
  };
}

export async function wrk(client: LabNode, url: string, args: string[]): Promise<WrkResult> {
  const r = await client.exec(['wrk', ...args, url], { timeoutMs: 60_000 });
  const output = `${r.stdout}${r.stderr}`;
  if (r.code !== 0) return { code: r.code, output, ...parseWrkOrZero(output) };
  return { code: r.code, output, ...parseWrk(output) };
}

function parseWrkOrZero(output: string): Omit<WrkResult, 'code' | 'output'> {
  try {
    return parseWrk(output);
  } catch {
    return { requests: 0, socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 }, non2xx: 0 };
  }
}

const HELD_SCRIPT = fileURLToPath(new URL('./held-connection.ts', import.meta.url));

/** A keep-alive connection from the client through the VIP, held open between requests. */
export class HeldConnection {
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #waiters: ((line: string | null) => void)[] = [];
  #stderr = '';
  #closed = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        this.#push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.#stderr += d;
    });
    child.once('close', () => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
  }

  #push(line: string): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w(line);
    else this.#lines.push(line);
  }

  #next(): Promise<HeldAnswer> {
    const parse = (line: string | null): HeldAnswer => {
      if (line === null) throw new Error(`held-connection script ended: ${this.#stderr.trim()}`);
      return JSON.parse(line) as HeldAnswer;
    };
    const ready = this.#lines.shift();
    if (ready !== undefined) return Promise.resolve(parse(ready));
    if (this.#closed) return Promise.resolve().then(() => parse(null));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('held connection: no answer in 20 s')), 20_000);
      this.#waiters.push((line) => {
        clearTimeout(timer);
        try {
          resolve(parse(line));
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Opens the connection and makes the first request; resolves with its answer. */
  static async open(client: LabNode, url: string): Promise<{ held: HeldConnection; first: HeldAnswer }> {
    const child = client.spawn([labNodeBinary(), HELD_SCRIPT, url], { stdio: ['pipe', 'pipe', 'pipe'] });
    const held = new HeldConnection(child);
    return { held, first: await held.#next() };
  }

  /** Another request on the same connection. */
  async request(): Promise<HeldAnswer> {
    this.#child.stdin!.write('again\n');
    return this.#next();
  }

  /** Ends the script (it closes its socket) and waits for it to exit. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const closed = new Promise<void>((r) => this.#child.once('close', () => r()));
    this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await closed;
    clearTimeout(timer);
  }
}
