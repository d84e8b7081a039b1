#!/usr/bin/env node
// The `sluice` command as npm links it (node_modules/.bin/sluice, so `npx sluice ...`). Plain
// JavaScript, so that any Node can start it: Sluice is TypeScript run by Node's type stripping,
// without a build step, and the machine's own `node` may be too old to strip types. This runs
// src/main.ts in the Node that started it when that one strips types (process.features.typescript,
// Node >= 22.18), else in the Node the repository pins (node_modules/.bin/node, the npm package
// `node` that `npm ci` installs), found by walking up from this file.
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(realpathSync(fileURLToPath(import.meta.url)));
const main = join(here, '..', 'src', 'main.ts');

function pinnedNode() {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', '.bin', 'node');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

if (process.features.typescript) {
  await import(pathToFileURL(main).href);
} else {
  const node = pinnedNode();
  if (node === null) {
    process.stderr.write(
      `sluice: this Node (${process.version}) cannot run TypeScript, and no node_modules/.bin/node ` +
        'was found above it: run `npm ci` in the repository, or use Node >= 22.18\n',
    );
    process.exit(1);
  }
  const child = spawn(node, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
  // Signals sent to this process go to the real one (a terminal's Ctrl-C reaches both; the daemon
  // treats a second stop signal as the same request).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    process.stderr.write(`sluice: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}
