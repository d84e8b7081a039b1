// `npm run --workspace @sluice/lab-eval eval-lab -- [--quick] [--strategy s]... [--scenario s]...
// [--duration S] [--behind-nat] [--behind-cgnat N] [--agent] [--ghost-bots] [--no-thresholds]`:
// the real-kernel evaluation, one JSON line per run on stdout, progress on stderr. `--behind-nat`: the valid
// clients and partners behind a Linux home router; `--behind-cgnat N`: the same router, the valid
// clients sharing N public addresses (a carrier NAT); `--agent`: a load agent on each real server; `--ghost-bots`: the bots forge
// their handshakes, so the servers hold nothing for them; `--no-thresholds`: no real server has an
// upper threshold, in any arm.
// Needs root (network namespaces), hping3, tcpdump and python3. Ctrl-C kills the daemon, the
// clients, the attackers and the servers and removes the lab before exiting, so an interrupted run
// leaves nothing behind. `-- --report lab.jsonl`: a grid's worst cases as a table (no root).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseResults, renderTargetsTable, worstPerScenario } from '@sluice/eval-report';
import { abortLabEval, runLabEval } from './eval.ts';
import { SCENARIOS, type Scenario, STRATEGIES, type Strategy } from './plan.ts';

const USAGE =
  'usage: eval-lab [--quick] [--strategy S]... [--scenario S]... [--duration S] [--behind-nat] [--behind-cgnat N] [--agent] [--ghost-bots] [--no-thresholds]   (root)\n' +
  '       eval-lab --report lab.jsonl\n';
function parse() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        strategy: { type: 'string', multiple: true },
        scenario: { type: 'string', multiple: true },
        duration: { type: 'string' },
        'behind-nat': { type: 'boolean', default: false },
        'behind-cgnat': { type: 'string' },
        agent: { type: 'boolean', default: false },
        'ghost-bots': { type: 'boolean', default: false },
        'no-thresholds': { type: 'boolean', default: false },
        report: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (err) {
    // A mistyped flag gets one line and the usage, not a stack trace.
    process.stderr.write(`eval-lab: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const { values } = parse();
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
// `--report FILE`: the worst case per scenario and strategy of a grid's lines (no root needed).
if (values.report !== undefined) {
  // A run whose lab broke (labHealthy false) measured the lab, not the defense: left out.
  const lines = parseResults(readFileSync(values.report, 'utf8')).filter(
    (r) => (r as { labHealthy?: boolean }).labHealthy !== false,
  );
  process.stdout.write(renderTargetsTable(worstPerScenario(lines)));
  process.exit(0);
}
const pick = <T extends string>(
  what: string,
  given: string[] | undefined,
  all: readonly T[],
): T[] | undefined => {
  if (given === undefined) return undefined;
  for (const g of given) {
    if (!all.includes(g as T)) {
      process.stderr.write(`eval-lab: unknown ${what} ${g} (one of ${all.join(', ')})\n`);
      process.exit(2);
    }
  }
  return given as T[];
};
const strategies = pick<Strategy>('strategy', values.strategy, STRATEGIES);
const scenarios = pick<Scenario>('scenario', values.scenario, SCENARIOS);
const durationS = values.duration === undefined ? undefined : Number(values.duration);
const cgnatAddresses = values['behind-cgnat'] === undefined ? 0 : Number(values['behind-cgnat']);
if (!Number.isInteger(cgnatAddresses) || cgnatAddresses < 0 || cgnatAddresses > 256) {
  process.stderr.write(`eval-lab: --behind-cgnat takes a number of addresses, 1-256\n${USAGE}`);
  process.exit(2);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`eval-lab: ${sig}, cleaning up\n`);
    void abortLabEval().finally(() => process.exit(130));
  });
}
// A reader that went away (`| head -1`) must not leave the lab and its processes behind: stop at
// the next result, so the evaluation's own `finally` kills what it started and removes the lab.
let readerGone = false;
process.stdout.on('error', () => {
  readerGone = true;
});

try {
  for await (const result of runLabEval({
    quick: values.quick,
    strategies,
    scenarios,
    durationS,
    validBehindNat: values['behind-nat'] || cgnatAddresses > 0,
    cgnatAddresses,
    agent: values.agent,
    ghostBots: values['ghost-bots'],
    noThresholds: values['no-thresholds'],
  })) {
    if (readerGone) break;
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  process.exitCode = readerGone ? 1 : 0;
} catch (err) {
  process.stderr.write(`eval-lab: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
