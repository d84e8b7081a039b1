// Can this machine run the lab? Every check names exactly what is missing, because the e2e suite
// turns a LabUnavailableError into a failure (never a silent skip): whoever reads the CI log must
// learn from one line what to install or how to run it.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabUnavailableError } from './errors.ts';
import { exec } from './sh.ts';

/** Binaries the lab itself runs. `ping` and friends are the tests' business, checked by them. */
export const REQUIRED_BINARIES = ['ip', 'bridge', 'ethtool', 'curl'] as const;

/** The absolute path of `name` on PATH, or null. */
export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

let nodeBinaryCache: string | null = null;

/**
 * A node that runs `.ts` files by type stripping, for processes started inside namespaces. The
 * current one when it can (Node >= 22.18 / 23.6 strip types unflagged); otherwise the repo's pinned
 * node (`node_modules/.bin/node`), because a machine's system node may be older (Debian ships 20).
 */
export function labNodeBinary(): string {
  if (nodeBinaryCache !== null) return nodeBinaryCache;
  const features = process.features as { typescript?: unknown };
  if (features.typescript === 'strip' || features.typescript === 'transform') {
    nodeBinaryCache = process.execPath;
    return nodeBinaryCache;
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules', '.bin', 'node');
    if (existsSync(candidate)) {
      nodeBinaryCache = candidate;
      return candidate;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new LabUnavailableError(
    `node ${process.version} cannot run TypeScript and no pinned node_modules/.bin/node was found (run npm ci)`,
  );
}

let passed = false;

/**
 * Throws LabUnavailableError with a precise reason unless the lab can be built here: Linux, root,
 * the binaries on PATH, and `ip netns` + veth + vxlan actually working (tried in a throwaway
 * namespace, because a container may have the binaries but not the capabilities or the module).
 */
export async function checkLabPrerequisites(): Promise<void> {
  if (passed) return;
  if (process.platform !== 'linux')
    throw new LabUnavailableError(`platform is ${process.platform}, not linux`);
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    throw new LabUnavailableError(
      `not root (uid ${uid}): network namespaces, veth and vxlan devices need root; run the e2e suite as root`,
    );
  }
  const missing = REQUIRED_BINARIES.filter((b) => which(b) === null);
  if (missing.length > 0) {
    throw new LabUnavailableError(
      `binary not found on PATH: ${missing.join(', ')} (apt-get install -y iproute2 ethtool curl)`,
    );
  }
  labNodeBinary();
  const probe = `slpf${process.pid}`;
  const step = async (what: string, argv: string[]): Promise<void> => {
    const r = await exec(argv, { timeoutMs: 10_000 });
    if (r.code !== 0) {
      throw new LabUnavailableError(`${what} failed: \`${argv.join(' ')}\`: ${r.stderr.trim() || r.signal}`);
    }
  };
  await exec(['ip', 'netns', 'del', probe]);
  try {
    await step('ip netns', ['ip', 'netns', 'add', probe]);
    await step('creating a veth pair', [
      'ip',
      '-n',
      probe,
      'link',
      'add',
      'pf0',
      'type',
      'veth',
      'peer',
      'pf1',
    ]);
    await step('creating a vxlan device', [
      'ip',
      '-n',
      probe,
      'link',
      'add',
      'vxpf',
      'type',
      'vxlan',
      'id',
      '1',
      'dstport',
      '4789',
      'local',
      '127.0.0.1',
      'nolearning',
    ]);
    await step('bridge fdb', [
      'bridge',
      '-n',
      probe,
      'fdb',
      'append',
      '00:00:00:00:00:00',
      'dev',
      'vxpf',
      'dst',
      '127.0.0.2',
    ]);
    await step('ethtool', ['ip', 'netns', 'exec', probe, 'ethtool', '-K', 'vxpf', 'tx', 'off']);
  } finally {
    await exec(['ip', 'netns', 'del', probe]);
  }
  passed = true;
}
