// The workspace's package graph, checked: what Biome cannot see from one file. Biome's
// noRestrictedImports (biome.json overrides) refuses the imports that cross a boundary and its
// noImportCycles refuses a cycle of modules; this reads the package.json files and refuses the
// same boundaries one level up, where a dependency is declared: a cycle between packages, a
// package depending on an app or a tool, @sluice/config depending on @sluice/dataplane. And one
// rule no import shows: conntrack's record locks belong to conntrack (other code edits a live
// record through ConnectionTable.editIfStill / removeIfStill / removeIfUnchanged).
// `node tools/preflight/src/boundaries.ts [root]` prints each break and exits 1 when there is one.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type WorkspaceKind = 'package' | 'app' | 'tool';

export interface WorkspaceNode {
  name: string;
  /** The directory, relative to the root. */
  dir: string;
  kind: WorkspaceKind;
  /** Workspace packages it depends on: `dependencies`. */
  deps: string[];
  /** Workspace packages its tests and benchmarks use: `devDependencies`. */
  devDeps: string[];
}

const KIND_OF_DIR: Record<string, WorkspaceKind> = { packages: 'package', apps: 'app', tools: 'tool' };

/** Every workspace under packages/*, apps/* and tools/* of `root`, with its workspace deps. */
export function workspaceGraph(root: string): WorkspaceNode[] {
  const nodes: WorkspaceNode[] = [];
  for (const [top, kind] of Object.entries(KIND_OF_DIR)) {
    const base = join(root, top);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      const manifest = join(base, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        name: string;
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      nodes.push({
        name: pkg.name,
        dir: relative(root, join(base, entry.name)),
        kind,
        deps: Object.keys(pkg.dependencies ?? {}),
        devDeps: Object.keys(pkg.devDependencies ?? {}),
      });
    }
  }
  const names = new Set(nodes.map((n) => n.name));
  for (const n of nodes) {
    n.deps = n.deps.filter((d) => names.has(d)).sort();
    n.devDeps = n.devDeps.filter((d) => names.has(d)).sort();
  }
  return nodes.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A cycle among the workspaces (dependencies and devDependencies both: either way one must be
 * built and tested before the other), as the names along it with the first repeated at the end;
 * null when there is none.
 */
export function findCycle(nodes: readonly WorkspaceNode[]): string[] | null {
  const edges = new Map(nodes.map((n) => [n.name, [...n.deps, ...n.devDeps]]));
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (name: string): string[] | null => {
    const s = state.get(name);
    if (s === 'done') return null;
    if (s === 'open') return [...path.slice(path.indexOf(name)), name];
    state.set(name, 'open');
    path.push(name);
    for (const next of edges.get(name) ?? []) {
      const found = visit(next);
      if (found !== null) return found;
    }
    path.pop();
    state.set(name, 'done');
    return null;
  };
  for (const n of nodes) {
    const found = visit(n.name);
    if (found !== null) return found;
  }
  return null;
}

/** Every boundary the declared dependencies break, one sentence each; empty when none. */
export function boundaryBreaks(nodes: readonly WorkspaceNode[]): string[] {
  const kind = new Map(nodes.map((n) => [n.name, n.kind]));
  const breaks: string[] = [];
  for (const n of nodes) {
    // An app's code uses packages only; its tests may use tools (devDependencies).
    if (n.kind === 'app') {
      for (const d of n.deps) {
        if (kind.get(d) === 'tool') breaks.push(`${n.name} (an app) depends on ${d}, a tool`);
      }
      continue;
    }
    if (n.kind !== 'package') continue;
    // A package's tests may use a tool (the traffic generator) as a devDependency; its code may not.
    for (const d of n.deps) {
      const k = kind.get(d);
      if (k === 'app' || k === 'tool')
        breaks.push(`${n.name} (a package) depends on ${d}, ${k === 'app' ? 'an app' : 'a tool'}`);
    }
    if (n.name === '@sluice/config' && [...n.deps, ...n.devDeps].includes('@sluice/dataplane')) {
      breaks.push('@sluice/config depends on @sluice/dataplane (the snapshot glue belongs to apps/director)');
    }
  }
  const cycle = findCycle(nodes);
  if (cycle !== null) breaks.push(`the workspaces depend on each other in a cycle: ${cycle.join(' -> ')}`);
  return breaks;
}

/** What takes or reads a conntrack record lock: lockRecord, unlockRecord, lockIfKey, the version word. */
const LOCK_USE = /\.(?:lockRecord|unlockRecord|lockIfKey)\(|\b(?:Conn|Rec)\.version\b/;

function sourceFiles(dir: string, out: string[]): string[] {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(p, out);
    else if (/\.ts$/.test(entry.name) && !/\.(?:test|fixture)\.ts$/.test(entry.name)) out.push(p);
  }
  return out;
}

/**
 * Every non-test source line outside packages/conntrack that takes or reads a record lock, as
 * `path:line`; empty when none. Tests may (they check the locks themselves).
 */
export function lockBreaks(root: string): string[] {
  const breaks: string[] = [];
  for (const top of Object.keys(KIND_OF_DIR)) {
    for (const file of sourceFiles(join(root, top), [])) {
      const rel = relative(root, file);
      if (rel.startsWith(join('packages', 'conntrack'))) continue;
      const lines = readFileSync(file, 'utf8').split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (LOCK_USE.test(lines[i])) breaks.push(`${rel}:${i + 1} takes or reads a conntrack record lock`);
      }
    }
  }
  return breaks;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '../../../..'));
  const breaks = [...boundaryBreaks(workspaceGraph(root)), ...lockBreaks(root)];
  for (const b of breaks) process.stderr.write(`boundaries: ${b}\n`);
  if (breaks.length === 0) process.stdout.write('boundaries: the workspace graph keeps every boundary\n');
  process.exitCode = breaks.length === 0 ? 0 : 1;
}
