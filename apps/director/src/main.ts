#!/usr/bin/env node
// The `sluice` command.
//   sluice run [--config <file>] [--state-dir <dir>]   the director daemon
//   sluice synthetic [--workers N] [--seconds N]       the pipeline on synthetic traffic, no sockets
import { parseArgs } from 'node:util';
import { runDemo } from './demo.ts';
import { runDirector } from './run.ts';

const USAGE = `usage:
  sluice run [--config <file>] [--state-dir <dir>]
      run the director. With --config, load that file and persist REST changes to it; without,
      use <state-dir>/config.json (default .sluice/), seeded from the embedded demo config.
  sluice synthetic [--workers N] [--seconds N]
      run the classification pipeline on synthetic clients (no sockets, no root), with a live
      ipvsadm-style listing; Ctrl-C stops.`;

const [command, ...rest] = process.argv.slice(2);
if (command === 'run') {
  let values: { config?: string; 'state-dir'?: string };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { config: { type: 'string' }, 'state-dir': { type: 'string' } },
    }));
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const code = await runDirector({
    configPath: values.config ?? null,
    stateDir: values['state-dir'] ?? process.env.SLUICE_STATE_DIR ?? '.sluice',
  });
  process.exit(code);
} else if (command === 'synthetic') {
  const { values } = parseArgs({
    args: rest,
    options: { workers: { type: 'string', default: '1' }, seconds: { type: 'string', default: '0' } },
  });
  const workers = Number(values.workers);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(workers) || workers < 1) {
    process.stderr.write('sluice: --workers must be a positive integer\n');
    process.exit(2);
  }
  if (!(seconds >= 0)) {
    process.stderr.write('sluice: --seconds must be a number of seconds (0 = until interrupted)\n');
    process.exit(2);
  }
  await runDemo({ workers, seconds });
} else {
  process.stderr.write(`${USAGE}\n`);
  process.exit(command === undefined || command === '--help' ? 0 : 2);
}
