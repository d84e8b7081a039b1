// What every CLI command is made of: its options (node:util parseArgs), its help, and a run()
// that gets the parsed command line, the process's streams and a lazily made client.
import type { ParseArgsConfig } from 'node:util';
import { DirectorClient } from './client.ts';
import { CliError, CliErrorCode } from './errors.ts';
import { resolveTarget } from './target.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
}

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Context {
  values: Values;
  positionals: string[];
  io: Io;
  /** The client for the director the global options (or the environment, or the state) name. */
  client(): Promise<DirectorClient>;
}

export interface Command {
  name: string;
  /** One line for the overview. */
  summary: string;
  /** `sluice <name> --help`. */
  help: string;
  options: Options;
  /** Whether it only reads (then --json applies). */
  read: boolean;
  minArgs: number;
  maxArgs: number;
  run(ctx: Context): Promise<number>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Options = {
  api: { type: 'string' },
  token: { type: 'string' },
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const GLOBAL_HELP = `Global options:
  --api URL          the director's control plane (default: $SLUICE_API, else daemon.api of the
                     daemon's config, else http://127.0.0.1:9180)
  --token TOKEN      the API token for changes (default: $SLUICE_TOKEN, else the daemon's token file)
  --state-dir DIR    the daemon's state directory (default: $SLUICE_STATE_DIR, else ./.sluice,
                     taken from the directory npm or the command was run in, as \`sluice run\` does)
  --config FILE      the daemon's config file, instead of <state-dir>/config.json
  --json             machine-readable output (every command that reads)
  -h, --help         this help`;

export function contextClient(values: Values, env: NodeJS.ProcessEnv): () => Promise<DirectorClient> {
  let client: Promise<DirectorClient> | null = null;
  return () => {
    client ??= resolveTarget(
      {
        api: values.api as string | undefined,
        token: values.token as string | undefined,
        stateDir: values['state-dir'] as string | undefined,
        config: values.config as string | undefined,
      },
      env,
    ).then((t) => new DirectorClient(t));
    return client;
  };
}

export function usage(message: string): CliError {
  return new CliError(CliErrorCode.usage, message);
}

/** `key=value` pairs of a repeatable option as a map, keys canonicalised by `key`. */
export function pairs(
  list: string[] | undefined,
  option: string,
  key: (k: string) => string | null,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    const k = eq < 0 ? null : key(item.slice(0, eq));
    if (eq < 0 || k === null || item.slice(eq + 1) === '') {
      throw usage(`--${option} takes ADDRESS=VALUE (got ${item})`);
    }
    out.set(k, item.slice(eq + 1));
  }
  return out;
}

/** A plain table: columns left-aligned to their widest cell, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
