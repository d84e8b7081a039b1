import { matchesGlob } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyPreflight,
  missingPackages,
  type Probe,
  planPreflight,
  type RunCommand,
  unrunnableTests,
  which,
} from './preflight.ts';
import { LAB_TESTS, SYSTEM_TOOLS, type SystemTool, TEST_LAYERS } from './requirements.ts';

const TOOLS: SystemTool[] = [
  { binary: 'ip', debianPackage: 'iproute2', why: 'lab', neededBy: [LAB_TESTS] },
  { binary: 'bridge', debianPackage: 'iproute2', why: 'lab', neededBy: [LAB_TESTS] },
  {
    binary: 'promtool',
    debianPackage: 'prometheus',
    why: 'metrics',
    neededBy: ['m/*.int.test.ts', LAB_TESTS],
  },
  { binary: 'curl', debianPackage: 'curl', why: 'http', neededBy: ['a/http.int.test.ts'] },
];

/** A machine with `present` on PATH; installing a package puts its tools there (or not, if broken). */
function machine(present: string[], opts: Partial<Probe> & { brokenPackages?: string[] } = {}) {
  const onPath = new Set(present);
  const commands: string[][] = [];
  const probe: Probe = {
    which: (b) => (onPath.has(b) ? `/usr/bin/${b}` : null),
    isRoot: opts.isRoot ?? true,
    hasAptGet: opts.hasAptGet ?? true,
  };
  const run: RunCommand = (argv) => {
    commands.push([...argv]);
    const i = argv.indexOf('install');
    if (i < 0) return { status: 0, stderr: '' };
    const pkgs = argv.slice(i + 1).filter((a) => !a.startsWith('-'));
    const broken = pkgs.filter((p) => opts.brokenPackages?.includes(p));
    if (broken.length > 0) return { status: 100, stderr: `E: Unable to locate package ${broken[0]}\n` };
    for (const t of TOOLS) if (pkgs.includes(t.debianPackage)) onPath.add(t.binary);
    return { status: 0, stderr: '' };
  };
  return { probe, run, commands };
}

describe('planPreflight', () => {
  it('finds what is there and plans one install of each missing package, in table order', () => {
    const m = machine(['curl']);
    const plan = planPreflight(TOOLS, m.probe);
    expect(plan.decisions.map((d) => [d.tool.binary, d.status])).toEqual([
      ['ip', 'install'],
      ['bridge', 'install'],
      ['promtool', 'install'],
      ['curl', 'found'],
    ]);
    expect(plan.packages).toEqual(['iproute2', 'prometheus']);
    expect(plan.decisions[3].path).toBe('/usr/bin/curl');
  });

  it('without root installs nothing and says so for each missing tool', () => {
    const plan = planPreflight(TOOLS, machine(['ip', 'bridge'], { isRoot: false }).probe);
    expect(plan.packages).toEqual([]);
    const missing = plan.decisions.filter((d) => d.status === 'missing');
    expect(missing.map((d) => d.tool.binary)).toEqual(['promtool', 'curl']);
    expect(missing[0].reason).toBe('not root, so it cannot be installed');
    expect(unrunnableTests(plan)).toEqual(['m/*.int.test.ts', LAB_TESTS, 'a/http.int.test.ts']);
    expect(missingPackages(plan)).toEqual(['prometheus', 'curl']);
  });

  it('as root on a machine without apt-get marks them missing with that reason', () => {
    const plan = planPreflight(TOOLS, machine([], { hasAptGet: false }).probe);
    expect(new Set(plan.decisions.map((d) => d.reason))).toEqual(new Set(['no apt-get on this machine']));
    expect(plan.packages).toEqual([]);
  });
});

describe('applyPreflight', () => {
  it('runs apt-get update once and one install, then finds the tools it installed', () => {
    const m = machine(['curl']);
    const plan = planPreflight(TOOLS, m.probe);
    const log: string[] = [];
    applyPreflight(plan, m.probe, m.run, (l) => log.push(l));
    expect(m.commands.map((c) => c.slice(2, 4).join(' '))).toEqual(['apt-get update', 'apt-get install']);
    expect(m.commands[1].slice(-2)).toEqual(['iproute2', 'prometheus']);
    expect(m.commands[1][0]).toBe('env');
    expect(m.commands[1][1]).toBe('DEBIAN_FRONTEND=noninteractive');
    expect(plan.decisions.every((d) => d.status === 'found' || d.status === 'installed')).toBe(true);
    expect(unrunnableTests(plan)).toEqual([]);
    expect(log).toEqual([
      'preflight: found curl (/usr/bin/curl)',
      'preflight: installing iproute2 prometheus (apt-get, as root)',
      'preflight: installed ip (/usr/bin/ip) from iproute2',
      'preflight: installed bridge (/usr/bin/bridge) from iproute2',
      'preflight: installed promtool (/usr/bin/promtool) from prometheus',
    ]);
  });

  it('does nothing when everything is found (no apt-get at all)', () => {
    const m = machine(['ip', 'bridge', 'promtool', 'curl']);
    const plan = planPreflight(TOOLS, m.probe);
    applyPreflight(plan, m.probe, m.run, () => {});
    expect(m.commands).toEqual([]);
  });

  it("a failed install leaves the tools missing with apt-get's complaint, and names what is skipped", () => {
    const m = machine(['ip', 'bridge', 'curl'], { brokenPackages: ['prometheus'] });
    const plan = planPreflight(TOOLS, m.probe);
    const log: string[] = [];
    applyPreflight(plan, m.probe, m.run, (l) => log.push(l));
    const promtool = plan.decisions.find((d) => d.tool.binary === 'promtool');
    expect(promtool?.status).toBe('missing');
    expect(promtool?.reason).toBe('apt-get install failed: E: Unable to locate package prometheus');
    expect(log.at(-1)).toBe(
      `preflight: missing promtool (metrics): apt-get install failed: E: Unable to locate package prometheus; skipping m/*.int.test.ts, ${LAB_TESTS}`,
    );
  });

  it('a failed update installs nothing', () => {
    const m = machine([]);
    const run: RunCommand = (argv) =>
      argv.includes('update') ? { status: 100, stderr: 'E: offline' } : m.run(argv);
    const plan = planPreflight(TOOLS, m.probe);
    applyPreflight(plan, m.probe, run, () => {});
    expect(
      plan.decisions.every((d) => d.status === 'missing' && d.reason === 'apt-get update failed: E: offline'),
    ).toBe(true);
  });
});

describe('the requirements table', () => {
  it('names a Debian package and at least one test glob for every tool, each binary once', () => {
    const seen = new Set<string>();
    for (const t of SYSTEM_TOOLS) {
      expect(seen.has(t.binary), t.binary).toBe(false);
      seen.add(t.binary);
      expect(t.debianPackage).toMatch(/^[a-z0-9.+-]+$/);
      expect(t.neededBy.length).toBeGreaterThan(0);
    }
  });

  it('puts every test file in exactly one layer', () => {
    const files = ['packages/x/src/a.test.ts', 'apps/y/src/api/b.int.test.ts', 'test/e2e/c.lab.test.ts'];
    const layersOf = (f: string) =>
      TEST_LAYERS.filter(
        (l) => l.include.some((g) => matchesGlob(f, g)) && !l.exclude.some((g) => matchesGlob(f, g)),
      ).map((l) => l.name);
    expect(files.map(layersOf)).toEqual([['unit'], ['integration'], ['lab']]);
  });

  it('which finds binaries on PATH and not missing ones', () => {
    expect(which('sh')).toMatch(/\/sh$/);
    expect(which('sluice-no-such-binary')).toBeNull();
  });
});
