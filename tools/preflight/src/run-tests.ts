// `npm test`: prepare the machine, then check and test in layers, each reported on its own.
//   1. preflight: find the system tools the suites need; as root install the missing ones from
//      Debian (apt-get update once); without root, the files that need them are named and skipped
//   2. type-check (turbo), lint (Biome, import boundaries included), the package graph's boundaries
//   3. vitest, one layer at a time: unit, integration, lab (the lab needs root)
// The closing line sums every layer. Anything not run makes the command fail, with one line naming
// what was not run and the command that would run it, unless layers were chosen on purpose
// (`npm test -- --layer unit`), because a green test command must mean every suite ran.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineProbe, missingPackages, preflight, unrunnableTests } from './preflight.ts';
import { type LayerName, SYSTEM_TOOLS, TEST_LAYERS } from './requirements.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

interface LayerResult {
  name: LayerName;
  ran: boolean;
  passed: number;
  failed: number;
  skipped: number;
  /** Why it did not run, or why it failed without results. */
  note: string;
}

function parseLayers(argv: readonly string[]): Set<LayerName> | null {
  const chosen = new Set<LayerName>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = a === '--layer' ? argv[++i] : a.startsWith('--layer=') ? a.slice(8) : null;
    if (value === null) {
      process.stderr.write(`npm test: unknown argument ${a} (only --layer unit|integration|lab)\n`);
      process.exit(2);
    }
    for (const v of (value ?? '').split(',')) {
      if (!TEST_LAYERS.some((l) => l.name === v)) {
        process.stderr.write(`npm test: --layer must be one of unit, integration, lab (got "${v}")\n`);
        process.exit(2);
      }
      chosen.add(v as LayerName);
    }
  }
  return chosen.size > 0 ? chosen : null;
}

function step(title: string, argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  process.stdout.write(`\n== ${title}: ${argv.join(' ')}\n`);
  const r = spawnSync(argv[0], argv.slice(1), { cwd: repoRoot, stdio: 'inherit', env });
  return r.status ?? 1;
}

const chosen = parseLayers(process.argv.slice(2));
const log = (line: string) => process.stdout.write(`${line}\n`);
const plan = preflight(SYSTEM_TOOLS, log);
const skippedGlobs = unrunnableTests(plan);
const isRoot = machineProbe().isRoot;
const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);

// The batched-I/O addon builds at `npm ci` when a compiler is there; on a machine that got one only
// now (from the preflight), build it before the suites that load it.
if (!existsSync(join(repoRoot, 'packages/io/build/sluice_io.node')) && machineProbe().which('cc') !== null) {
  if (step('build the io addon', [process.execPath, 'packages/io/scripts/build.mjs']) !== 0) {
    log('preflight: the io addon did not build: its suites will fail and say why');
  }
}

let failed = false;
if (step('type-check', [bin('turbo'), 'run', 'typecheck', '--output-logs=errors-only']) !== 0) failed = true;
if (step('lint', [bin('biome'), 'check', '.']) !== 0) failed = true;
if (step('package graph', [process.execPath, 'tools/preflight/src/boundaries.ts']) !== 0) failed = true;

const results: LayerResult[] = [];
const summaryDir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
for (const layer of TEST_LAYERS) {
  if (chosen !== null && !chosen.has(layer.name)) continue;
  const result: LayerResult = { name: layer.name, ran: false, passed: 0, failed: 0, skipped: 0, note: '' };
  results.push(result);
  if (layer.needsRoot && !isRoot) {
    result.note = 'needs root (network namespaces, veth and vxlan devices)';
    continue;
  }
  const summaryFile = join(summaryDir, `${layer.name}.json`);
  const argv = [bin('vitest'), 'run', '--project', layer.name, '--passWithNoTests'];
  for (const g of skippedGlobs) argv.push('--exclude', g);
  const status = step(`${layer.name} tests (${layer.what})`, argv, {
    ...process.env,
    SLUICE_TEST_SUMMARY: summaryFile,
  });
  result.ran = true;
  try {
    const s = JSON.parse(readFileSync(summaryFile, 'utf8')) as Record<string, number>;
    result.passed = s.passed;
    result.failed = s.failed;
    result.skipped = s.skipped;
  } catch {
    result.note = `vitest exited ${status} without a summary`;
  }
  if (status !== 0 || result.failed > 0 || result.note !== '') failed = true;
}
rmSync(summaryDir, { recursive: true, force: true });

const parts = results.map((r) =>
  r.ran
    ? `${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${r.note ? ` (${r.note})` : ''}`
    : `${r.name}: not run`,
);
process.stdout.write(`\n${parts.join(' | ')}\n`);

const notRun: string[] = [];
for (const r of results) if (!r.ran) notRun.push(`the ${r.name} layer (${r.note})`);
if (skippedGlobs.length > 0) {
  notRun.push(`${skippedGlobs.join(', ')} (missing: apt-get install -y ${missingPackages(plan).join(' ')})`);
}
if (notRun.length > 0) {
  process.stdout.write(
    `npm test: NOT RUN: ${notRun.join('; ')}. As root, \`npm test\` installs what is missing and runs everything.\n`,
  );
  // Layers chosen on purpose (--layer) leave the rest out deliberately: only failures fail then.
  if (chosen === null) failed = true;
}
process.exit(failed ? 1 : 0);
