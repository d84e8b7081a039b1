// `npm run sim -- [--scenario S] [--strategy S] [--pps N] [--seed N] [--quick] [--param k=v]...`:
// one simulated run, its metrics as one JSON line on stdout. For looking at a single case; the
// whole grid is `npm run eval -- sim`.
import { STRATEGIES, type Strategy } from './director.ts';
import { parseParamOverrides, parseWeightOverrides } from './params.ts';
import { DEFAULT_PARAMS, QUICK_PARAMS, runSim, SCENARIOS, type Scenario } from './sim.ts';

function usage(): never {
  process.stderr.write(
    `usage: npm run sim -- [--scenario ${SCENARIOS.join('|')}] [--strategy ${STRATEGIES.join('|')}] ` +
      '[--pps N] [--seed N] [--quick] [--param name=value]... [--weight name=value]...\n',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const value = (flag: string): string | undefined => {
  const i = args.lastIndexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const scenario = (value('--scenario') ?? 'syn-flood') as Scenario;
const strategy = (value('--strategy') ?? 'priority') as Strategy;
const attackRate = Number(value('--rate') ?? value('--pps') ?? 10_000);
const seed = Number(value('--seed') ?? 1);
if (!SCENARIOS.includes(scenario) || !STRATEGIES.includes(strategy) || !(attackRate >= 0)) usage();
const base = args.includes('--quick') ? QUICK_PARAMS : DEFAULT_PARAMS;
const weights = parseWeightOverrides(args, usage);
const r = runSim({
  ...base,
  ...parseParamOverrides(args, usage),
  weights,
  scenario,
  strategy,
  attackRate,
  seed,
});
process.stdout.write(`${JSON.stringify(r)}\n`);
