// `npm run demo [-- --seconds N] [-- --no-clear]`: the namespace lab, the director daemon and real
// traffic, with a live ipvsadm-style listing (demo.ts). This file is the command line: it checks
// the machine first and, when the lab cannot be built here (not root, no netns/vxlan, a missing
// binary), says why and what to run instead, rather than failing half-way through the setup.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkLabPrerequisites } from '@sluice/lab';
import { which } from '@sluice/preflight';
import { runDemo } from './demo.ts';

const USAGE = `usage: npm run demo [-- [--seconds N] [--no-clear]]
  Builds the network-namespace lab "demo", starts the director on it (sluice run), sends real
  curl and wrk traffic through it and redraws an ipvsadm-style listing every 2 s. Needs root.
  --seconds N   stop after N seconds (default: until Ctrl-C or SIGTERM)
  --no-clear    print each listing below the previous one instead of redrawing the screen
`;

const INSTEAD = `What to run instead:
  sudo npm run demo                                 this demo, as root
  npm start                                         the director alone, on its embedded demo config
  npm run --workspace @sluice/demo synthetic        the pipeline on synthetic traffic, no root needed
`;

/** One demo at a time: a second one would destroy the first one's lab (same name) to build its own. */
const LOCK = '/run/sluice-demo.pid';

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

function parse(): { seconds: number | null; clear: boolean } {
  let values: { seconds?: string; 'no-clear'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        seconds: { type: 'string' },
        'no-clear': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  let seconds: number | null = null;
  if (values.seconds !== undefined) {
    seconds = Number(values.seconds);
    if (!Number.isFinite(seconds) || seconds <= 0) usage('--seconds must be a positive number');
  }
  // Escape codes in a file or a pipe are noise, so only a terminal gets the redraw.
  return { seconds, clear: !values['no-clear'] && process.stdout.isTTY === true };
}

/** Refuses with the reason and the alternatives; exits 1. */
function cannot(why: string): never {
  process.stderr.write(
    `sluice demo cannot run here: ${why}\n` +
      'It builds network namespaces, veth and VXLAN devices and starts processes inside them,\n' +
      'which needs root on Linux (with iproute2, ethtool, curl and wrk installed).\n\n' +
      INSTEAD,
  );
  process.exit(1);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function takeLock(): void {
  try {
    writeFileSync(LOCK, `${process.pid}\n`, { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return; // no /run: run unlocked
  }
  const other = Number(readFileSync(LOCK, 'utf8').trim());
  if (Number.isInteger(other) && other > 0 && other !== process.pid && alive(other)) {
    process.stderr.write(
      `sluice demo: another demo is running (pid ${other}); stop it first (kill ${other}), ` +
        `or remove ${LOCK} if that pid is not a demo\n`,
    );
    process.exit(1);
  }
  // Left by a demo that was killed outright.
  writeFileSync(LOCK, `${process.pid}\n`);
}

function releaseLock(): void {
  try {
    if (Number(readFileSync(LOCK, 'utf8').trim()) === process.pid) rmSync(LOCK);
  } catch {
    // gone already
  }
}

const options = parse();
// Checked here too, before the lab's check: its reason for this case speaks of the e2e suite.
const uid = process.getuid?.() ?? -1;
if (process.platform === 'linux' && uid !== 0) cannot(`not root (uid ${uid})`);
try {
  await checkLabPrerequisites();
} catch (err) {
  const e = err as { code?: unknown; reason?: unknown };
  if (e.code === 'SLUICE_ERR_LAB_UNAVAILABLE') cannot(String(e.reason));
  throw err;
}
if (which('wrk') === null) cannot('wrk is not on PATH (apt-get install -y wrk)');
takeLock();
let code: number;
try {
  code = await runDemo({ ...options, out: process.stdout, err: process.stderr });
} finally {
  releaseLock();
}
process.exit(code);
