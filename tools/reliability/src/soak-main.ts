// `npm run soak [-- --minutes 10 --flood-pps 20000 --io auto]`: the soak on loopback (soak.ts).
// Prints a JSON line per minute and per post-kill check, then the result; exit 1 on any finding.
import { parseArgs } from 'node:util';
import { runSoak, SOAK_DEFAULTS } from './soak.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: String(SOAK_DEFAULTS.seconds / 60) },
    'flood-pps': { type: 'string', default: String(SOAK_DEFAULTS.floodPps) },
    io: { type: 'string', default: 'auto' },
    seed: { type: 'string' },
  },
});
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const r = await runSoak({
  seconds: Number(values.minutes) * 60,
  floodPps: Number(values['flood-pps']),
  io: values.io as 'auto' | 'native' | 'dgram',
  seed: values.seed === undefined ? undefined : Number(values.seed),
  onLine: out,
});
out(r);
process.exit(r.failures.length > 0 ? 1 : 0);
