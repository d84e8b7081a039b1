// The lab for humans: `npm run lab -- up|down|status|config [--name sl1] [options]`.
//   up      builds the lab (replacing a leftover one of that name) and starts each real's HTTP
//           server detached, so the lab outlives this command; prints how to use it.
//   down    kills the lab's processes and removes its namespaces, veths and bridge.
//   status  what exists of the lab and whether each real's HTTP server answers on its underlay.
//   config  the live config (`overlay` + `services`) for a director serving the lab, as JSON.
// What `up` built is kept in /run/sluice-lab/<name>.json (tmpfs: gone after a reboot, as the
// namespaces are), because status and config run in later processes.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LiveConfig } from '@sluice/config';
import { Lab, type LabDescription } from './lab.ts';
import { ownsName } from './plan.ts';
import { exec } from './sh.ts';

const STATE_DIR = '/run/sluice-lab';

interface LabState {
  lab: LabDescription;
  config: LiveConfig;
  httpPort: number | null;
}

const USAGE = `usage: npm run lab -- <up|down|status|config> [--name sl1]
  up options: [--reals 2] [--clients 1] [--vni 100] [--subnet N] [--vip4 A] [--vip6 A]
              [--director-mac M] [--no-ipv6] [--port 80] [--no-http] [--max-conns N]
  status/config options: [--json]
`;

function usage(message?: string): never {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(USAGE);
  process.exit(2);
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        name: { type: 'string', default: 'sl1' },
        reals: { type: 'string' },
        clients: { type: 'string' },
        vni: { type: 'string' },
        subnet: { type: 'string' },
        vip4: { type: 'string' },
        vip6: { type: 'string' },
        'director-mac': { type: 'string' },
        'no-ipv6': { type: 'boolean', default: false },
        port: { type: 'string', default: '80' },
        'no-http': { type: 'boolean', default: false },
        'max-conns': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
})();

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const name = values.name;
const statePath = join(STATE_DIR, `${name}.json`);

function readState(): LabState | null {
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')) as LabState;
  } catch {
    return null;
  }
}

async function up(): Promise<void> {
  const lab = await Lab.create({
    name,
    reals: num(values.reals),
    clients: num(values.clients),
    vni: num(values.vni),
    subnet: num(values.subnet),
    vip4: values.vip4,
    vip6: values.vip6,
    directorMac: values['director-mac'],
    ipv6: !values['no-ipv6'],
  });
  const port = Number(values.port);
  if (!values['no-http']) {
    await Promise.all(
      lab.reals.map((_, i) => lab.startHttp(i, port, { detached: true, maxConns: num(values['max-conns']) })),
    );
  }
  const state: LabState = {
    lab: lab.describe(),
    config: lab.directorConfig({ port }),
    httpPort: values['no-http'] ? null : port,
  };
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(statePath, `${JSON.stringify(state, null, 2)}\n`);
  const d = state.lab;
  const c = d.nodes.find((n) => n.role === 'client');
  const lines = [
    `lab ${name} is up (subnet ${d.subnet}, vni ${d.vni}, vx0 mtu ${d.overlayMtu})`,
    `  director: bind UDP ${d.directorUnderlay}:4789, overlay MAC ${d.directorMac}`,
    `  VIPs: ${d.vip4}${d.vip6 ? `, ${d.vip6}` : ''}`,
    ...d.nodes.map(
      (n) =>
        `  ${n.label.padEnd(4)} netns ${n.ns.padEnd(14)} underlay ${n.underlay.padEnd(15)} overlay ${n.overlay4}${n.overlay6 ? ` ${n.overlay6}` : ''}  mac ${n.mac}`,
    ),
    `  director config: npm run lab -- config --name ${name}`,
  ];
  if (c) lines.push(`  try: ip netns exec ${c.ns} curl http://${d.vip4}:${port}/`);
  lines.push(`  remove: npm run lab -- down --name ${name}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function down(): Promise<void> {
  await Lab.destroyByName(name);
  rmSync(statePath, { force: true });
  process.stdout.write(`lab ${name} is down\n`);
}

async function status(): Promise<void> {
  const state = readState();
  const nsOut = (await exec(['ip', '-j', 'netns', 'list'])).stdout.trim();
  const namespaces = nsOut === '' ? [] : (JSON.parse(nsOut) as { name: string }[]).map((n) => n.name);
  const present = new Set(namespaces.filter((n) => ownsName(name, n)));
  const bridgeUp = (await exec(['ip', 'link', 'show', 'dev', `${name}-br`])).code === 0;
  const nodes = await Promise.all(
    (state?.lab.nodes ?? []).map(async (n) => {
      let http: string | null = null;
      if (n.role === 'real' && state?.httpPort != null && present.has(n.ns)) {
        const r = await exec(['curl', '-sS', '--max-time', '2', `http://${n.underlay}:${state.httpPort}/`]);
        http = r.code === 0 ? r.stdout.trim() : `down (${r.stderr.trim()})`;
      }
      return { ...n, present: present.has(n.ns), http };
    }),
  );
  const report = { name, bridge: bridgeUp, namespaces: [...present], state: state !== null, nodes };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  if (!bridgeUp && present.size === 0) {
    process.stdout.write(`lab ${name}: down${state ? ' (stale state file)' : ''}\n`);
    return;
  }
  const lines = [`lab ${name}: bridge ${bridgeUp ? 'up' : 'missing'}, ${present.size} namespace(s)`];
  if (state === null) lines.push('  (no state file: not built by `lab up`, or built by a test)');
  for (const n of nodes) {
    lines.push(
      `  ${n.label.padEnd(4)} ${n.present ? 'present' : 'MISSING'} ${n.underlay}${n.http === null ? '' : `  http: ${n.http}`}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function config(): void {
  const state = readState();
  if (state === null) {
    process.stderr.write(
      `lab ${name} has no state file (${statePath}): run \`npm run lab -- up --name ${name}\`\n`,
    );
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify(state.config, null, 2)}\n`);
}

const commands: Record<string, () => Promise<void> | void> = { up, down, status, config };
const command = positionals[0];
if (values.help) usage();
if (command === undefined || !(command in commands)) usage(command && `unknown command: ${command}`);
try {
  await commands[command]();
} catch (err) {
  const e = err as Error & { code?: string };
  process.stderr.write(`${e.code ?? e.name}: ${e.message}\n`);
  process.exit(1);
}
