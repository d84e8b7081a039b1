// Which director the CLI talks to, and with what token. Each comes from the first of:
//   address: --api, $SLUICE_API, the daemon's config file (daemon.api), http://127.0.0.1:9180
//   token:   --token, $SLUICE_TOKEN, the daemon's token file
// The daemon's config file is --config, else <state dir>/config.json, the state directory being
// found by the daemon's own rule (../state-dir.ts); its token file is daemon.tokenFile (a relative
// one taken from the config file's directory), else `token` beside the config file: where
// `sluice run` writes it. The token is read only when a command changes something.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { operatorPath, stateDir, tokenPathFor } from '../state-dir.ts';
import { CliError, CliErrorCode } from './errors.ts';

export interface TargetFlags {
  api?: string;
  token?: string;
  stateDir?: string;
  config?: string;
}

export interface Target {
  /** Base URL, no trailing slash: `http://127.0.0.1:9180`. */
  api: string;
  /** Where `api` came from, for messages. */
  apiFrom: string;
  /** Reads the token (or throws a CliError saying where it looked). */
  token(): Promise<string>;
}

/** The daemon's default control-plane address (packages/config DaemonSchema). */
const DEFAULT_API = 'http://127.0.0.1:9180';

function baseUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(CliErrorCode.usage, `--api ${text} is not an address (http://host:port)`);
  }
  return url.href.replace(/\/+$/, '');
}

interface DaemonFile {
  api: { address: string; port: number } | null;
  tokenFile: string | null;
}

/** daemon.api and daemon.tokenFile of a config file; null when there is no such file. */
async function readDaemonFile(file: string, required: boolean): Promise<DaemonFile | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return null;
    throw new CliError(
      CliErrorCode.usage,
      `cannot read the daemon's config ${file}: ${(e as Error).message}`,
    );
  }
  let doc: { daemon?: { api?: { address?: unknown; port?: unknown }; tokenFile?: unknown } };
  try {
    doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new CliError(
      CliErrorCode.usage,
      `the daemon's config ${file} is not JSON: ${(e as Error).message}`,
    );
  }
  const api = doc.daemon?.api;
  return {
    api:
      typeof api?.address === 'string' && typeof api.port === 'number'
        ? { address: api.address, port: api.port }
        : null,
    tokenFile: typeof doc.daemon?.tokenFile === 'string' ? doc.daemon.tokenFile : null,
  };
}

/** The URL to reach a daemon listening on `address:port` (a wildcard is reached on loopback). */
function apiOf(address: string, port: number): string {
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function resolveTarget(
  flags: TargetFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Target> {
  const configFile =
    flags.config !== undefined
      ? operatorPath(flags.config, env)
      : path.join(stateDir(flags.stateDir, env), 'config.json');
  const daemon = await readDaemonFile(configFile, flags.config !== undefined);

  let api = DEFAULT_API;
  let apiFrom = 'the default address';
  if (flags.api !== undefined) {
    api = baseUrl(flags.api);
    apiFrom = '--api';
  } else if (env.SLUICE_API !== undefined && env.SLUICE_API !== '') {
    api = baseUrl(env.SLUICE_API);
    apiFrom = 'SLUICE_API';
  } else if (daemon?.api !== null && daemon?.api !== undefined) {
    if (daemon.api.port === 0) {
      throw new CliError(
        CliErrorCode.usage,
        `${configFile} has the control plane on port 0 (any free port): give the address the daemon printed with --api`,
      );
    }
    api = apiOf(daemon.api.address, daemon.api.port);
    apiFrom = configFile;
  } else if (daemon !== null) {
    apiFrom = `the default address (${configFile} sets none)`;
  }

  const tokenFile = tokenPathFor(configFile, daemon?.tokenFile);
  const token = async (): Promise<string> => {
    if (flags.token !== undefined && flags.token !== '') return flags.token;
    if (env.SLUICE_TOKEN !== undefined && env.SLUICE_TOKEN !== '') return env.SLUICE_TOKEN;
    let text: string;
    try {
      text = await readFile(tokenFile, 'utf8');
    } catch (e) {
      throw new CliError(
        CliErrorCode.token,
        `this command changes the director and needs its API token: none in --token or SLUICE_TOKEN, ` +
          `and ${tokenFile} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ` +
          "point --state-dir or --config at the daemon's state, or give the token",
      );
    }
    const t = text.trim();
    if (t === '') throw new CliError(CliErrorCode.token, `${tokenFile} is empty`);
    return t;
  };
  return { api, apiFrom, token };
}
