// `npm run fuzz -- rest [--requests N] [--seed S]`, `npm run fuzz -- packets [--seconds N]
// [--io native|dgram|both]`, `npm run fuzz -- crash [--iterations N]`; with no name, all three.
// The fuzzers at their full size, one JSON line per result. Exit 1 on any finding (a 5xx, a
// changed config after a refusal, a crash, frames unaccounted for, a config file that fails to load).
import { parseArgs } from 'node:util';
import { runCrashPersistence } from './crash-persist.ts';
import { runPacketFuzz } from './packet-fuzz.ts';
import { runRestFuzz } from './rest-fuzz.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    io: { type: 'string', default: 'both' },
    iterations: { type: 'string', default: '200' },
  },
});
const which = positionals[0] ?? 'all';
let failed = false;
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (which === 'rest' || which === 'all') {
  const r = await runRestFuzz({
    requests: Number(values.requests),
    seed: values.seed === undefined ? undefined : Number(values.seed),
  });
  out(r);
  failed ||= r.failures.length > 0;
}
if (which === 'packets' || which === 'all') {
  for (const io of values.io === 'both'
    ? (['native', 'dgram'] as const)
    : [values.io as 'native' | 'dgram']) {
    const r = await runPacketFuzz({
      io,
      seconds: Number(values.seconds),
      seed: values.seed === undefined ? undefined : Number(values.seed),
    });
    out(r);
    failed ||= r.failures.length > 0;
  }
}
if (which === 'crash' || which === 'all') {
  const r = await runCrashPersistence({
    iterations: Number(values.iterations),
    seed: values.seed === undefined ? undefined : Number(values.seed),
  });
  out(r);
  failed ||= r.failures.length > 0;
}
if (!['rest', 'packets', 'crash', 'all'].includes(which)) {
  process.stderr.write(
    'usage: npm run fuzz -- [rest|packets|crash|all] [--requests N] [--seed S] [--seconds N] [--io native|dgram|both] [--iterations N]\n',
  );
  process.exit(2);
}
process.exit(failed ? 1 : 0);
