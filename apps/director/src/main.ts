#!/usr/bin/env node
// The `sluice` command. `run` is the director daemon, `synthetic` the pipeline on synthetic
// traffic; every other command talks to a running director over its REST API (cli/). Each is
// imported when chosen, so a `sluice list` does not load the daemon.
//   sluice run [--config <file>] [--state-dir <dir>]   the director daemon
//   sluice synthetic [--workers N] [--seconds N]       the pipeline on synthetic traffic, no sockets
import { parseArgs } from 'node:util';
import { operatorPath, stateDir } from './state-dir.ts';

const USAGE = `usage:
  sluice run [--config <file>] [--state-dir <dir>]
      run the director. With --config, load that file and persist REST changes to it; without,
      use <state-dir>/config.json (default .sluice/ in the directory npm or the command was run
      in, or $SLUICE_STATE_DIR), seeded from the embedded demo config.
  sluice synthetic [--workers N] [--seconds N]
      run the classification pipeline on synthetic clients (no sockets, no root), with a live
      ipvsadm-style listing; Ctrl-C stops.`;

const [command, ...rest] = process.argv.slice(2);
if (command === 'run') {
  let values: { config?: string; 'state-dir'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string' },
        'state-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`sluice: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const { runDirector } = await import('./run.ts');
  const code = await runDirector({
    configPath: values.config === undefined ? null : operatorPath(values.config),
    stateDir: stateDir(values['state-dir']),
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
  const { runDemo } = await import('./demo.ts');
  await runDemo({ workers, seconds });
} else {
  const { processIo, runCli } = await import('./cli/main.ts');
  process.exitCode = await runCli(process.argv.slice(2), processIo());
}
