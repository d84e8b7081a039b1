#!/usr/bin/env node
// The `sluice` command. Today: `sluice demo` runs the director's pipeline on the embedded demo
// config with synthetic clients. The socket-facing daemon (`sluice run --config <file>`) arrives
// with the VXLAN port and control plane.
import { parseArgs } from 'node:util';
import { runDemo } from './demo.ts';

const USAGE = `usage: sluice demo [--workers N] [--seconds N]
  demo   run the pipeline on the embedded demo config with synthetic traffic (Ctrl-C stops)`;

const [command, ...rest] = process.argv.slice(2);
if (command === 'demo') {
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
