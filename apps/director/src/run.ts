// `sluice run`: loads the config (or, with no --config, the state directory's, seeded from the
// embedded demo on first start), starts the director and its control plane, and handles the
// signals an operator sends: SIGTERM/SIGINT stop gracefully (exit 0), SIGHUP re-reads the file
// with the same validation as the API and keeps the running config if the file is bad.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  type ConfigFile,
  ConfigFileMissingError,
  DEMO_CONFIG,
  loadConfigFile,
  loadOrCreateToken,
  saveConfigFile,
} from '@sluice/config';
import { buildControlPlane } from './api/server.ts';
import { Director, type Logger } from './director.ts';

export interface RunOptions {
  /** --config: the file to load and to persist changes to. */
  configPath: string | null;
  /** Without --config: where config.json and token live (seeded with the demo config). */
  stateDir: string;
}

export const log: Logger = {
  info: (m) => process.stderr.write(`${new Date().toISOString()} info  ${m}\n`),
  warn: (m) => process.stderr.write(`${new Date().toISOString()} warn  ${m}\n`),
  error: (m) => process.stderr.write(`${new Date().toISOString()} error ${m}\n`),
};

async function loadOrSeed(opts: RunOptions): Promise<{ file: ConfigFile; configPath: string }> {
  if (opts.configPath !== null)
    return { file: await loadConfigFile(opts.configPath), configPath: opts.configPath };
  const configPath = path.join(opts.stateDir, 'config.json');
  try {
    return { file: await loadConfigFile(configPath), configPath };
  } catch (err) {
    // Only a missing file is seeded; a corrupt one stops startup and is left as it is.
    if (!(err instanceof ConfigFileMissingError)) throw err;
  }
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  await saveConfigFile(configPath, DEMO_CONFIG);
  log.info(`no config yet: wrote the embedded demo config to ${configPath}`);
  return { file: DEMO_CONFIG, configPath };
}

/** Runs until a stop signal; returns the process exit code. */
export async function runDirector(opts: RunOptions): Promise<number> {
  let loaded: { file: ConfigFile; configPath: string };
  try {
    loaded = await loadOrSeed(opts);
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    return 1;
  }
  const { file, configPath } = loaded;
  const tokenPath = file.daemon.tokenFile ?? path.join(path.dirname(configPath), 'token');
  let token: string;
  try {
    const t = await loadOrCreateToken(tokenPath);
    token = t.token;
    if (t.created) {
      process.stdout.write(`API token (shown once; stored in ${tokenPath}, mode 0600):\n  ${token}\n`);
    }
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    return 1;
  }

  let director: Director;
  try {
    director = await Director.start({ file, configPath, log });
  } catch (err) {
    process.stderr.write(`sluice: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const app = buildControlPlane(director, { token, logger: false });
  const api = file.daemon.api;
  try {
    await app.listen({ host: api.address, port: api.port });
  } catch (err) {
    process.stderr.write(
      `sluice: control plane cannot listen on ${api.address}:${api.port}: ${(err as Error).message}\n`,
    );
    await director.stop();
    return 1;
  }
  const vx = file.daemon.vxlan;
  const addr = app.server.address();
  const apiUrl =
    typeof addr === 'object' && addr !== null ? `http://${api.address}:${addr.port}` : api.address;
  process.stdout.write(
    `Sluice director running: VXLAN on ${vx.address}:${vx.port} (VNI ${file.overlay.vni}), ` +
      `${file.daemon.workers} worker(s), ${file.services.length} service(s)\n` +
      `  control plane ${apiUrl}/v1/config   metrics ${apiUrl}/metrics   OpenAPI ${apiUrl}/openapi.json\n` +
      `  config ${configPath} (SIGHUP re-reads it)   Ctrl-C stops\n`,
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping (no new requests, workers flush, sockets close)`);
      await app.close();
      await director.stop();
      resolve(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGHUP', () => {
      loadConfigFile(configPath)
        .then((f) => director.reload(f))
        .catch((err: Error) => log.error(`SIGHUP: ${err.message}; the running config is unchanged`));
    });
  });
}
