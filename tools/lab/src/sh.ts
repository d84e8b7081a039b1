// Running commands without a shell: argv arrays only, so addresses and names never pass through
// quoting, and every failure names the exact argv that failed.
import { spawn } from 'node:child_process';
import { LabCommandError } from './errors.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; -1 when the process was killed by a signal (see `signal`) or could not start. */
  code: number;
  signal: NodeJS.Signals | null;
}

export interface ExecOptions {
  /** Killed (SIGKILL) after this long; the result then has code -1 and signal SIGKILL. Default 30 s. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs argv and resolves with its output and status; never rejects. */
export function exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: stderr + String(err.message), code: -1, signal: null });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1, signal });
    });
    // A child that exits before reading stdin makes the write fail with EPIPE; the exit status
    // already says what happened, so the write error is not interesting.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs argv and returns stdout; rejects with LabCommandError on a non-zero exit. */
export async function run(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const r = await exec(argv, opts);
  if (r.code !== 0) throw new LabCommandError(argv, r.code, r.stderr || (r.signal ?? ''));
  return r.stdout;
}
