// `sluice run`: loads the config (or, with no --config, the state directory's, seeded from the
// embedded demo on first start), takes the VTEP's lock, starts the director and its control
// plane, and handles the signals an operator sends: SIGTERM/SIGINT stop gracefully (exit 0),
// SIGHUP re-reads the file with the same validation as the API and keeps the running config if
// the file is bad. `startDaemon` is the same start without the signals, for harnesses (the soak)
// that drive a daemon exactly as `sluice run` builds it.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  type ConfigFile,
  DEMO_CONFIG,
  loadConfigFile,
  loadOrCreateToken,
  removeStaleTempFiles,
  saveConfigFile,
} from '@sluice/config';
import type { FastifyInstance } from 'fastify';
import { buildControlPlane } from './api/server.ts';
import { Director, type DirectorOptions, type Logger } from './director.ts';
import { tokenPathFor } from './state-dir.ts';
import { DaemonStartError, probeTcp, VtepLock } from './vtep-lock.ts';

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

async function loadOrSeed(
  opts: RunOptions,
  logger: Logger,
): Promise<{ file: ConfigFile; configPath: string }> {
  if (opts.configPath !== null)
    return { file: await loadConfigFile(opts.configPath), configPath: opts.configPath };
  const configPath = path.join(opts.stateDir, 'config.json');
  try {
    return { file: await loadConfigFile(configPath), configPath };
  } catch (err) {
    // Only a missing file is seeded; a corrupt one stops startup and is left as it is.
    if ((err as { code?: unknown }).code !== 'SLUICE_ERR_CONFIG_FILE_MISSING') throw err;
  }
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  await saveConfigFile(configPath, DEMO_CONFIG);
  logger.info(`no config yet: wrote the embedded demo config to ${configPath}`);
  return { file: DEMO_CONFIG, configPath };
}

export interface RunningDaemon {
  director: Director;
  app: FastifyInstance;
  file: ConfigFile;
  configPath: string;
  tokenPath: string;
  token: string;
  /** Whether the token was made by this start (it is shown once). */
  tokenCreated: boolean;
  apiUrl: string;
  /** Closes the control plane, stops the director, releases the VTEP lock. */
  stop(): Promise<void>;
}

/** Why a start failed, in one line for the operator; `sluice run` exits 1 with it. */
export class StartFailure extends Error {
  readonly code = 'SLUICE_ERR_DAEMON_START';
}

/**
 * Starts a daemon as `sluice run` does: config, the VTEP lock and port probe, the control
 * plane's port probe, the token, the director (binds the VTEP), the control plane (listens).
 * Nothing is bound before the lock is held and both ports were found free; a failure at any
 * step undoes the steps before it and throws StartFailure.
 */
export async function startDaemon(
  opts: RunOptions,
  logger: Logger = log,
  extra: Pick<DirectorOptions, 'remotePort' | 'neighbors'> = {},
): Promise<RunningDaemon> {
  let loaded: { file: ConfigFile; configPath: string };
  try {
    loaded = await loadOrSeed(opts, logger);
  } catch (err) {
    throw new StartFailure((err as Error).message);
  }
  const { file, configPath } = loaded;
  const vx = file.daemon.vxlan;
  const api = file.daemon.api;
  let lock: VtepLock;
  try {
    lock = await VtepLock.acquire(vx.address, vx.port, configPath);
  } catch (err) {
    throw new StartFailure((err as Error).message);
  }
  const undo: Array<() => Promise<void>> = [() => lock.release()];
  // Temp files of saves whose process is gone (a kill -9 between write and rename) are garbage.
  const stale = await removeStaleTempFiles(configPath);
  if (stale > 0) logger.info(`removed ${stale} temp file(s) a killed save of ${configPath} left behind`);
  const fail = async (message: string): Promise<never> => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
    throw new StartFailure(message);
  };
  try {
    await probeTcp(api.address, api.port);
  } catch (err) {
    const e = new DaemonStartError(
      'SLUICE_ERR_DAEMON_API_BUSY',
      `control plane cannot listen on ${api.address}:${api.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
    return fail(e.message);
  }
  const tokenPath = tokenPathFor(configPath, file.daemon.tokenFile);
  let token: string;
  let tokenCreated: boolean;
  try {
    const t = await loadOrCreateToken(tokenPath);
    token = t.token;
    tokenCreated = t.created;
  } catch (err) {
    return fail((err as Error).message);
  }
  let director: Director;
  try {
    director = await Director.start({ file, configPath, log: logger, ...extra });
  } catch (err) {
    return fail(`cannot start: ${(err as Error).message}`);
  }
  undo.push(() => director.stop());
  const app = buildControlPlane(director, { token, logger: false });
  try {
    await app.listen({ host: api.address, port: api.port });
  } catch (err) {
    return fail(`control plane cannot listen on ${api.address}:${api.port}: ${(err as Error).message}`);
  }
  const addr = app.server.address();
  const apiUrl =
    typeof addr === 'object' && addr !== null ? `http://${api.address}:${addr.port}` : api.address;
  let stopped: Promise<void> | null = null;
  return {
    director,
    app,
    file,
    configPath,
    tokenPath,
    token,
    tokenCreated,
    apiUrl,
    stop() {
      stopped ??= (async () => {
        await app.close();
        await director.stop();
        await lock.release();
      })();
      return stopped;
    },
  };
}

/** Runs until a stop signal; returns the process exit code. */
export async function runDirector(opts: RunOptions): Promise<number> {
  let d: RunningDaemon;
  try {
    d = await startDaemon(opts);
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    return 1;
  }
  const { file, configPath, tokenPath, apiUrl } = d;
  if (d.tokenCreated) {
    process.stdout.write(`API token (shown once; stored in ${tokenPath}, mode 0600):\n  ${d.token}\n`);
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal}: stopping (no new requests, workers flush, sockets close)`);
      await d.stop();
      resolve(0);
    };
    process.on('SIGINT', () => void stop('SIGINT'));
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGHUP', () => {
      loadConfigFile(configPath)
        .then((f) => d.director.reload(f))
        .catch((err: Error) => log.error(`SIGHUP: ${err.message}; the running config is unchanged`));
    });
    // The banner is what tools wait for before they signal: the handlers go in first, or a
    // SIGTERM sent the moment it appears meets the default action and kills the process.
    const vx = file.daemon.vxlan;
    process.stdout.write(
      `Sluice director running: VXLAN on ${vx.address}:${vx.port} (VNI ${file.overlay.vni}), ` +
        `${file.daemon.workers} worker(s), ${file.services.length} service(s)\n` +
        `  control plane ${apiUrl}/v1/config   metrics ${apiUrl}/metrics   OpenAPI ${apiUrl}/openapi.json\n` +
        `  config ${configPath} (SIGHUP re-reads it)\n` +
        `  token  ${tokenPath}\n` +
        '  Ctrl-C stops\n',
    );
  });
}
