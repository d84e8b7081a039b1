// The boundaries the build enforces, each seen to bite: Biome (biome.json's noRestrictedImports
// overrides and noImportCycles) run over a scratch tree with the repository's biome.json and one
// planted violation per rule, then over the real tree; and the package-graph check over planted
// package.json files, then over the real workspace.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundaryBreaks, findCycle, lockBreaks, workspaceGraph } from './boundaries.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const biome = join(root, 'node_modules', '.bin', 'biome');

interface Diagnostic {
  category: string;
  location: { path: string };
}

/** Biome's lint diagnostics over `dir`, the directory's biome.json in force. */
function lint(dir: string, paths: string[] = ['.']): Diagnostic[] {
  const r = spawnSync(
    biome,
    ['lint', '--vcs-enabled=false', '--reporter=json', '--max-diagnostics=none', ...paths],
    {
      cwd: dir,
      encoding: 'utf8',
    },
  );
  const json = r.stdout.slice(r.stdout.indexOf('{'));
  return (JSON.parse(json) as { diagnostics: Diagnostic[] }).diagnostics;
}

function write(dir: string, path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

const IMPORTS = 'lint/style/noRestrictedImports';
const CYCLES = 'lint/suspicious/noImportCycles';

/** One planted file per rule, and what Biome must say about it (null: nothing). */
const PLANTS: [path: string, text: string, expected: string | null][] = [
  ['packages/wire/src/planted.ts', "import { main } from '@sluice/director';\nexport { main };\n", IMPORTS],
  ['packages/metrics/src/planted.ts', "import { TCP } from '@sluice/traffic';\nexport { TCP };\n", IMPORTS],
  [
    'packages/health/src/planted.ts',
    "import { x } from '../../../tools/sim/src/x.ts';\nexport { x };\n",
    IMPORTS,
  ],
  [
    'packages/config/src/planted.ts',
    "import { Pipeline } from '@sluice/dataplane';\nexport { Pipeline };\n",
    IMPORTS,
  ],
  [
    'packages/config/src/planted-testing.ts',
    "import { exampleSnapshot } from '@sluice/dataplane/testing';\nexport { exampleSnapshot };\n",
    IMPORTS,
  ],
  ['packages/dataplane/src/planted.ts', "import Fastify from 'fastify';\nexport { Fastify };\n", IMPORTS],
  [
    'packages/defense/src/planted.ts',
    "import { Registry } from 'prom-client';\nexport { Registry };\n",
    IMPORTS,
  ],
  ['apps/director/src/planted.ts', "import Piscina from 'piscina';\nexport { Piscina };\n", IMPORTS],
  ['apps/director/src/planted-tool.ts', "import { TCP } from '@sluice/traffic';\nexport { TCP };\n", IMPORTS],
  [
    'packages/schedulers/src/planted-a.ts',
    "import { b } from './planted-b.ts';\nexport const a = () => b();\n",
    CYCLES,
  ],
  [
    'packages/schedulers/src/planted-b.ts',
    "import { a } from './planted-a.ts';\nexport const b = () => a();\n",
    CYCLES,
  ],
  // Allowed, so the rules are not simply "everything": a package's test may use the traffic
  // generator, and so may an app's test fixture; an app may use fastify and the dataplane; a tool
  // may use an app.
  [
    'packages/dataplane/src/planted.test.ts',
    "import { TCP } from '@sluice/traffic';\nexport { TCP };\n",
    null,
  ],
  ['apps/director/src/planted.fixture.ts', "import { TCP } from '@sluice/traffic';\nexport { TCP };\n", null],
  [
    'apps/director/src/planted-ok.ts',
    "import Fastify from 'fastify';\nimport { Pipeline } from '@sluice/dataplane';\nexport { Fastify, Pipeline };\n",
    null,
  ],
  ['tools/reliability/src/planted.ts', "import { main } from '@sluice/director';\nexport { main };\n", null],
];

describe('Biome enforces the import boundaries', () => {
  let scratch = '';
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'sluice-boundaries-'));
    copyFileSync(join(root, 'biome.json'), join(scratch, 'biome.json'));
    for (const [path, text] of PLANTS) write(scratch, path, text);
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('fails on each planted violation, and only on those', () => {
    const found = lint(scratch);
    for (const [path, , expected] of PLANTS) {
      const categories = found.filter((d) => d.location.path === path).map((d) => d.category);
      if (expected === null) expect(categories, path).toEqual([]);
      else expect(categories, path).toContain(expected);
    }
  });

  it('passes on the real tree', () => {
    const found = lint(root, ['packages', 'apps', 'tools', 'test']).filter(
      (d) => d.category === IMPORTS || d.category === CYCLES,
    );
    expect(found.map((d) => `${d.location.path}: ${d.category}`)).toEqual([]);
  });
});

describe('the package graph keeps the boundaries', () => {
  function workspace(
    manifests: Record<
      string,
      { name: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
    >,
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-graph-'));
    for (const [path, pkg] of Object.entries(manifests))
      write(dir, `${path}/package.json`, JSON.stringify(pkg));
    return dir;
  }

  it('fails on a cycle, a package depending on an app or a tool, an app on a tool, and config depending on dataplane', () => {
    const dir = workspace({
      'packages/config': { name: '@sluice/config', dependencies: { '@sluice/dataplane': '*' } },
      'packages/dataplane': { name: '@sluice/dataplane', dependencies: { '@sluice/wire': '*' } },
      'packages/wire': { name: '@sluice/wire', dependencies: { '@sluice/traffic': '*' } },
      'packages/metrics': { name: '@sluice/metrics', dependencies: { '@sluice/director': '*' } },
      'apps/director': {
        name: '@sluice/director',
        dependencies: { '@sluice/metrics': '*', '@sluice/demo': '*' },
        devDependencies: { '@sluice/traffic': '*' },
      },
      'tools/traffic': { name: '@sluice/traffic' },
      'tools/demo': { name: '@sluice/demo' },
    });
    try {
      const breaks = boundaryBreaks(workspaceGraph(dir));
      expect(breaks).toContain('@sluice/wire (a package) depends on @sluice/traffic, a tool');
      expect(breaks).toContain('@sluice/metrics (a package) depends on @sluice/director, an app');
      expect(breaks).toContain('@sluice/director (an app) depends on @sluice/demo, a tool');
      expect(
        breaks.some((b) => b.includes('@sluice/traffic, a tool') && b.startsWith('@sluice/director')),
      ).toBe(false);
      expect(breaks.some((b) => b.startsWith('@sluice/config depends on @sluice/dataplane'))).toBe(true);
      expect(findCycle(workspaceGraph(dir))).toEqual([
        '@sluice/director',
        '@sluice/metrics',
        '@sluice/director',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes on the real workspace', () => {
    expect(boundaryBreaks(workspaceGraph(root))).toEqual([]);
  });
});

describe('conntrack keeps its record locks', () => {
  it('fails on a lock taken or a version read outside conntrack; tests and conntrack itself may', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-locks-'));
    try {
      write(dir, 'packages/defense/src/planted.ts', 'const v = table.core.lockRecord(slot);\n');
      write(dir, 'apps/director/src/planted.ts', 'if (i32[base + Conn.version] !== v) return;\n');
      write(dir, 'tools/sim/src/planted.ts', '\n\ncore.unlockRecord(slot, v);\n');
      write(dir, 'packages/conntrack/src/planted.ts', 'const v = core.lockRecord(slot);\n');
      write(dir, 'packages/defense/src/planted.test.ts', 'const v = core.lockRecord(slot);\n');
      expect(lockBreaks(dir).sort()).toEqual([
        'apps/director/src/planted.ts:1 takes or reads a conntrack record lock',
        'packages/defense/src/planted.ts:1 takes or reads a conntrack record lock',
        'tools/sim/src/planted.ts:3 takes or reads a conntrack record lock',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes on the real tree', () => {
    expect(lockBreaks(root)).toEqual([]);
  });
});
