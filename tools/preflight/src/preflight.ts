// The preflight: for each system tool the suites need, is it on PATH, can it be installed (root,
// Debian's apt-get) or must what needs it be skipped, and why. Planning is pure (a Probe answers the
// questions, so every decision is unit-tested); applying it runs `apt-get update` once and one
// `apt-get install -y` for every missing package, then looks again. Every decision is logged as one
// line, so a CI log says what was found, what was installed and what was not run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { SystemTool } from './requirements.ts';

/** What the preflight asks of the machine. */
export interface Probe {
  /** Absolute path of `binary` on PATH, or null. */
  which(binary: string): string | null;
  isRoot: boolean;
  /** apt-get is there to install with (a Debian-family machine). */
  hasAptGet: boolean;
}

/** Runs one command; returns its exit status (null when it could not start) and its stderr. */
export type RunCommand = (argv: readonly string[]) => { status: number | null; stderr: string };

export type ToolStatus =
  /** On PATH before anything was done. */
  | 'found'
  /** Missing; the plan installs its package. */
  | 'install'
  /** Installed by this preflight and now on PATH. */
  | 'installed'
  /** Missing and not installable here (reason says why); what needs it is skipped. */
  | 'missing';

export interface ToolDecision {
  readonly tool: SystemTool;
  status: ToolStatus;
  /** Where it was found, or '' */
  path: string;
  /** Why it is missing (status 'missing'), or '' */
  reason: string;
}

export interface PreflightPlan {
  readonly decisions: ToolDecision[];
  /** Debian packages to install, deduplicated, in table order. */
  readonly packages: readonly string[];
}

/** The path the shell would run for `binary`: the first executable match on PATH. */
export function which(binary: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, binary);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return null;
}

export function machineProbe(): Probe {
  return {
    which: (b) => which(b),
    isRoot: (process.getuid?.() ?? -1) === 0,
    hasAptGet: process.platform === 'linux' && which('apt-get') !== null,
  };
}

/** Decides, for each tool, found / install / missing, and which packages to install. */
export function planPreflight(tools: readonly SystemTool[], probe: Probe): PreflightPlan {
  const decisions: ToolDecision[] = [];
  const packages: string[] = [];
  for (const tool of tools) {
    const path = probe.which(tool.binary);
    if (path !== null) {
      decisions.push({ tool, status: 'found', path, reason: '' });
    } else if (!probe.isRoot) {
      decisions.push({ tool, status: 'missing', path: '', reason: 'not root, so it cannot be installed' });
    } else if (!probe.hasAptGet) {
      decisions.push({ tool, status: 'missing', path: '', reason: 'no apt-get on this machine' });
    } else {
      decisions.push({ tool, status: 'install', path: '', reason: '' });
      if (!packages.includes(tool.debianPackage)) packages.push(tool.debianPackage);
    }
  }
  return { decisions, packages };
}

/**
 * Installs the plan's packages (apt-get update once, then one install), then looks for each tool
 * again: 'installed' if it is there now, 'missing' with apt-get's complaint if not. Updates the
 * plan's decisions in place; `log` receives one line per decision as it is made.
 */
export function applyPreflight(
  plan: PreflightPlan,
  probe: Probe,
  run: RunCommand,
  log: (line: string) => void,
): void {
  for (const d of plan.decisions) {
    if (d.status === 'found') log(`preflight: found ${d.tool.binary} (${d.path})`);
  }
  if (plan.packages.length > 0) {
    log(`preflight: installing ${plan.packages.join(' ')} (apt-get, as root)`);
    const env = ['env', 'DEBIAN_FRONTEND=noninteractive'];
    let failure = '';
    const update = run([...env, 'apt-get', 'update', '-qq']);
    if (update.status !== 0) failure = `apt-get update failed: ${lastLine(update.stderr)}`;
    else {
      const install = run([
        ...env,
        'apt-get',
        'install',
        '-y',
        '-qq',
        '--no-install-recommends',
        ...plan.packages,
      ]);
      if (install.status !== 0) failure = `apt-get install failed: ${lastLine(install.stderr)}`;
    }
    for (const d of plan.decisions) {
      if (d.status !== 'install') continue;
      const path = probe.which(d.tool.binary);
      if (path !== null) {
        d.status = 'installed';
        d.path = path;
        log(`preflight: installed ${d.tool.binary} (${path}) from ${d.tool.debianPackage}`);
      } else {
        d.status = 'missing';
        d.reason = failure || `package ${d.tool.debianPackage} installed but ${d.tool.binary} is not on PATH`;
      }
    }
  }
  for (const d of plan.decisions) {
    if (d.status === 'missing') {
      log(
        `preflight: missing ${d.tool.binary} (${d.tool.why}): ${d.reason}; skipping ${d.tool.neededBy.join(', ')}`,
      );
    }
  }
}

/** The globs of test files that cannot run because a tool they need is missing. */
export function unrunnableTests(plan: PreflightPlan): string[] {
  const out: string[] = [];
  for (const d of plan.decisions) {
    if (d.status !== 'missing') continue;
    for (const g of d.tool.neededBy) if (!out.includes(g)) out.push(g);
  }
  return out;
}

/** The missing tools' Debian packages, for the "run this to fix it" line. */
export function missingPackages(plan: PreflightPlan): string[] {
  const out: string[] = [];
  for (const d of plan.decisions) {
    if (d.status === 'missing' && !out.includes(d.tool.debianPackage)) out.push(d.tool.debianPackage);
  }
  return out;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** A RunCommand over spawnSync, inheriting stdout so apt's progress is visible. */
export const runCommand: RunCommand = (argv) => {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  return { status: r.error === undefined ? r.status : null, stderr: r.stderr ?? String(r.error) };
};

/** Plans, applies and returns the plan for `tools` on this machine. */
export function preflight(tools: readonly SystemTool[], log: (line: string) => void): PreflightPlan {
  const probe = machineProbe();
  const plan = planPreflight(tools, probe);
  applyPreflight(plan, probe, runCommand, log);
  return plan;
}
