// Builds the sluice_io addon and the C tools (reference relay, traffic generator) with the
// system C compiler. Runs at `npm ci` (this package's `install` script, with --optional) and on
// demand (`npm run --workspace @sluice/io build`, e.g. after installing build-essential).
//
// Plain JavaScript on purpose: npm may run install scripts with the machine's own node (v20
// here), before the pinned Node 24 is usable, and Node 20 cannot strip types. No node-gyp: it
// downloads Node's headers, which an offline machine cannot; node_api.h comes from the
// `node-api-headers` package instead, and the addon links against nothing (the Node-API symbols
// are resolved from the running node at load time).
//
// --optional: a missing compiler or a failed build prints one line and exits 0, so the install
// goes on and the director falls back to the dgram port (it says so when it starts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const optional = args.includes('--optional');
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// --out DIR: build elsewhere (the build test does, leaving the package's own build alone).
const outAt = args.indexOf('--out');
const out = outAt >= 0 && args[outAt + 1] ? path.resolve(args[outAt + 1]) : path.join(root, 'build');
const cc = process.env.CC || 'cc';

function giveUp(reason) {
  if (optional) {
    console.log(`@sluice/io: native I/O addon not built (${reason}); the director will use the dgram port`);
    process.exit(0);
  }
  console.error(`@sluice/io: build failed: ${reason}`);
  process.exit(1);
}

if (process.platform !== 'linux') giveUp(`recvmmsg/sendmmsg need Linux, this is ${process.platform}`);

const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
if (probe.error) {
  giveUp(
    probe.error.code === 'ENOENT'
      ? `no C compiler: '${cc}' not found (apt-get install build-essential, then npm run --workspace @sluice/io build)`
      : `'${cc}' did not run: ${probe.error.message}`,
  );
}

let include;
try {
  include = createRequire(import.meta.url)('node-api-headers').include_dir;
} catch (err) {
  giveUp(`node-api-headers is not installed (${err.message.split('\n')[0]})`);
}

mkdirSync(out, { recursive: true });

/** Compiles to a temporary name and renames, so a running process keeps its old file intact. */
function compile(target, args) {
  const dest = path.join(out, target);
  const tmp = `${dest}.${process.pid}.tmp`;
  const r = spawnSync(cc, [...args, '-o', tmp], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const detail = (r.stderr || r.error?.message || '').trim();
    if (detail !== '') console.error(detail);
    giveUp(`${cc} failed on ${target} (exit ${r.status})`);
  }
  renameSync(tmp, dest);
}

const flags = ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter'];
compile('sluice_io.node', [
  ...flags,
  '-shared',
  '-fPIC',
  '-fvisibility=hidden',
  `-I${include}`,
  'native/sluice_io.c',
]);
compile('sluice-relay', [...flags, 'tools/relay.c', '-lpthread']);
compile('sluice-gen', [...flags, 'tools/gen.c']);
console.log(`@sluice/io: built ${out}/{sluice_io.node,sluice-relay,sluice-gen}`);
