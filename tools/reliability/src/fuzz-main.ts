// `npm run fuzz -- rest [--requests N] [--seed S]` and `npm run fuzz -- packets [--seconds N]
// [--io native|dgram|both]`: the fuzzers at their full size, one JSON line per result. Exit 1 when
// any finding (a 5xx, a changed config after a refusal, a crash, frames unaccounted for).
import { parseArgs } from 'node:util';
import { runPacketFuzz } from './packet-fuzz.ts';
import { runRestFuzz } from './rest-fuzz.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    io: { type: 'string', default: 'both' },
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
if (which !== 'rest' && which !== 'all' && which !== 'packets') {
  process.stderr.write(
    'usage: npm run fuzz -- [rest|packets|all] [--requests N] [--seed S] [--seconds N] [--io native|dgram|both]\n',
  );
  process.exit(2);
}
process.exit(failed ? 1 : 0);
