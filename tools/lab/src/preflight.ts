// Can this machine run the lab? Every check names exactly what is missing, because the e2e suite
// turns a LabUnavailableError into a failure (never a silent skip): whoever reads the CI log must
// learn from one line what to install or how to run it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAB_TESTS, missingPackages, preflight, SYSTEM_TOOLS } from '@sluice/preflight';
import { LabUnavailableError } from './errors.ts';
import { exec } from './sh.ts';

/** The system tools the lab and its suites run (the one list lives in @sluice/preflight). */
export const LAB_TOOLS = SYSTEM_TOOLS.filter((t) => t.neededBy.includes(LAB_TESTS));

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
 * the binaries on PATH (installed from Debian when missing), and `ip netns` + veth + vxlan actually working (tried in a throwaway
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
  // As root on Debian this installs what is missing; the found ones are not worth a log line here.
  const plan = preflight(LAB_TOOLS, (line) => {
    if (!line.startsWith('preflight: found')) process.stderr.write(`${line}\n`);
  });
  const missing = plan.decisions.filter((d) => d.status === 'missing').map((d) => d.tool.binary);
  if (missing.length > 0) {
    throw new LabUnavailableError(
      `binary not found on PATH: ${missing.join(', ')} (apt-get install -y ${missingPackages(plan).join(' ')})`,
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
