// A real Prometheus (the Debian `prometheus` package's server) on loopback, for as long as a test
// needs it, run on the configuration it is given (scrape targets, rule files) and answering the
// HTTP query API. Its configuration and data live in a temp dir removed on stop.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  warnings?: string[];
}

export interface RuleState {
  name: string;
  type: 'alerting' | 'recording';
  health: string;
  lastError?: string;
  lastEvaluation: string;
}

export interface AlertState {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
}

export class PrometheusServer {
  readonly base: string;
  private readonly child: ChildProcess;
  private readonly dir: string;
  private output = '';

  private constructor(child: ChildProcess, dir: string, base: string) {
    this.child = child;
    this.dir = dir;
    this.base = base;
    const keep = (d: string) => {
      this.output = (this.output + d).slice(-8000);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
  }

  /**
   * Starts it on `config` (prometheus.yml as an object; rule file paths absolute) and resolves
   * once /-/ready answers 200; throws with its output otherwise.
   */
  static async start(opts: { port: number; config: unknown }): Promise<PrometheusServer> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-prometheus-'));
    writeFileSync(join(dir, 'prometheus.yml'), stringify(opts.config));
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${opts.port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new PrometheusServer(child, dir, `http://127.0.0.1:${opts.port}`);
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', resolve);
    });
    if (spawned !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `cannot run prometheus (${spawned.message}): it comes with the Debian package "prometheus" (apt-get install -y prometheus)`,
      );
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) {
        await server.stop();
        throw new Error(`prometheus exited (${child.exitCode}) before it was ready:\n${server.output}`);
      }
      const ready = await fetch(`${server.base}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) return server;
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`prometheus not ready after 30 s:\n${server.output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async api<T>(path: string, params: Record<string, string | string[]> = {}): Promise<ApiAnswer<T>> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) query.append(k, one);
    const res = await fetch(`${this.base}/api/v1/${path}?${query}`);
    return (await res.json()) as ApiAnswer<T>;
  }

  /** An instant query now: the answer as Prometheus gives it (status, error, warnings). */
  async query(expr: string): Promise<ApiAnswer<{ resultType: string; result: PromSeries[] }>> {
    return this.api('query', { query: expr });
  }

  /** The values of `label` among the series `match` selects. */
  async labelValues(label: string, match: string): Promise<ApiAnswer<string[]>> {
    return this.api(`label/${encodeURIComponent(label)}/values`, { 'match[]': match });
  }

  async rules(): Promise<RuleState[]> {
    const a = await this.api<{ groups: Array<{ rules: RuleState[] }> }>('rules');
    return a.data.groups.flatMap((g) => g.rules);
  }

  async alerts(): Promise<AlertState[]> {
    return (await this.api<{ alerts: AlertState[] }>('alerts')).data.alerts;
  }

  /** Its last output, for failure messages. */
  log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('close', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
