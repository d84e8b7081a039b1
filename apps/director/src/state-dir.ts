// Where `sluice run` keeps its state (config.json, token) and so where the other `sluice`
// commands find the daemon: one rule for both, here.
//
// The state directory is --state-dir, else $SLUICE_STATE_DIR, else `.sluice`, and a relative one
// (like a relative --config) is taken from the directory the operator typed the command in. npm
// runs a workspace's script with the workspace as its working directory (`npm start` at the
// repository root runs apps/director's `node src/main.ts run` in apps/director) and keeps the
// directory it was invoked from in INIT_CWD; resolving against process.cwd() put the daemon's
// state in apps/director/.sluice while `npx sluice list`, run at the root, looked in ./.sluice.
import path from 'node:path';

/** `p` resolved from the directory the operator ran npm (INIT_CWD) or the command in. */
export function operatorPath(p: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return path.resolve(env.INIT_CWD ?? cwd, p);
}

export function stateDir(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): string {
  return operatorPath(flag ?? env.SLUICE_STATE_DIR ?? '.sluice', env, cwd);
}

/**
 * The daemon's token file: `daemon.tokenFile`, a relative one taken from the config file's
 * directory (as the CLI reads it), else `token` beside the config file. Always absolute when
 * `configPath` is.
 */
export function tokenPathFor(configPath: string, tokenFile: string | null | undefined): string {
  return path.resolve(path.dirname(configPath), tokenFile ?? 'token');
}
