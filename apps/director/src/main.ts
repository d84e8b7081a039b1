#!/usr/bin/env node
// The `sluice` command. `run` is the director daemon; every other command talks to a running
// director over its REST API (cli/). Each is imported when chosen, so a `sluice list` does not
// load the daemon. (The pipeline on synthetic traffic, no sockets: `npm run synthetic`, tools/demo.)
//   sluice run [--config <file>] [--state-dir <dir>]   the director daemon
import { parseArgs } from 'node:util';
import { operatorPath, stateDir } from './state-dir.ts';

const USAGE = `usage:
  sluice run [--config <file>] [--state-dir <dir>]
      run the director. With --config, load that file and persist REST changes to it; without,
      use <state-dir>/config.json (default .sluice/ in the directory npm or the command was run
      in, or $SLUICE_STATE_DIR), seeded from the embedded demo config.`;

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
} else {
  const { processIo, runCli } = await import('./cli/main.ts');
  process.exitCode = await runCli(process.argv.slice(2), processIo());
}
