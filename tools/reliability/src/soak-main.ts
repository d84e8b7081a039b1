// `npm run soak [-- --minutes 10 --flood-pps 20000 --io auto]`: the soak on loopback (soak.ts).
// `npm run soak -- --lab [--minutes 10 --flood-interval-us 50 --long-lived 100]` (root, and under
// `flock /tmp/sluice-lab.lock`, which every lab user takes): the soak in the namespace lab
// (soak-lab.ts). Prints a JSON line per minute and per post-kill check, then the result; exit 1 on
// any finding.
import { parseArgs } from 'node:util';
import { runSoak, SOAK_DEFAULTS } from './soak.ts';
import { LAB_SOAK_DEFAULTS, runLabSoak } from './soak-lab.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: String(SOAK_DEFAULTS.seconds / 60) },
    'flood-pps': { type: 'string', default: String(SOAK_DEFAULTS.floodPps) },
    io: { type: 'string', default: 'auto' },
    seed: { type: 'string' },
    lab: { type: 'boolean', default: false },
    'flood-interval-us': { type: 'string', default: String(LAB_SOAK_DEFAULTS.floodIntervalUs) },
    'long-lived': { type: 'string' },
  },
});
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const longLived = values['long-lived'] === undefined ? undefined : Number(values['long-lived']);
const r = values.lab
  ? await runLabSoak({
      seconds: Number(values.minutes) * 60,
      floodIntervalUs: Number(values['flood-interval-us']),
      longLived: longLived ?? LAB_SOAK_DEFAULTS.longLived,
      onLine: out,
    })
  : await runSoak({
      seconds: Number(values.minutes) * 60,
      floodPps: Number(values['flood-pps']),
      io: values.io as 'auto' | 'native' | 'dgram',
      seed: values.seed === undefined ? undefined : Number(values.seed),
      longLived: longLived ?? SOAK_DEFAULTS.longLived,
      onLine: out,
    });
out(r);
process.exit(r.failures.length > 0 ? 1 : 0);
