// Reading the director's /metrics as Prometheus would: samples by name and labels from the text
// exposition, and `promtool check metrics` (the Debian `prometheus` package) as the judge of the
// format, since a scrape that Prometheus rejects loses every metric at once.
import { spawn } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of a text exposition (comments and blank lines skipped). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (m === null) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The samples of `name` whose labels include every pair of `match`. */
export function select(samples: readonly Sample[], name: string, match: Record<string, string>): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The one sample of `name` with exactly these labels; throws if there is none. */
export function value(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  const found = select(samples, name, labels).filter(
    (s) => Object.keys(s.labels).length === Object.keys(labels).length,
  );
  if (found.length !== 1) {
    throw new Error(`expected one sample ${name}${JSON.stringify(labels)}, found ${found.length}`);
  }
  return found[0].value;
}

/** Runs `promtool check metrics` on the text; code 0 means valid and lint-clean. */
export function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      output += d;
    });
    child.on('error', (err) => {
      resolve({
        code: -1,
        output: `cannot run promtool (${err.message}): apt-get install -y prometheus provides it`,
      });
    });
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.on('error', () => {});
    child.stdin.end(text);
  });
}
