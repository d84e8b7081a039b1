// `npm run eval -- sim [--quick] [--scenario S]... [--strategy S]... [--rate N]... [--seed N]...`:
// runs the scenario × strategy × attack-size × seed grid through the simulator and prints one
// JSON line per run on stdout (progress on stderr), so a grid can be saved, diffed and plotted.
// `npm run eval -- lab ...`: the real-kernel evaluation (tools/lab-eval), same result lines.
// `npm run eval -- report <jsonl> <outdir>`: reads such lines (either evaluation's) and writes
// <outdir>/DEFENSE-<mode>.md (the worst case over the seeds, tables) and
// <outdir>/defense/<mode>-<scenario>.svg (worst valid success vs attack size); nothing is written
// under docs/ unless this is asked for.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { figureName, parseResults, renderMarkdown, renderSvg, worstCases } from '@sluice/eval-report';
import { STRATEGIES, type Strategy } from './director.ts';
import { runGrid } from './grid.ts';
import { parseParamOverrides } from './params.ts';
import { SCENARIOS, type Scenario } from './sim.ts';

function usage(): never {
  process.stderr.write(
    'usage: npm run eval -- sim [--quick] [--scenario S]... [--strategy S]... [--rate N]... [--seed N]... [--param name=value]...\n' +
      '       npm run eval -- report <results.jsonl> <outdir>\n' +
      '       npm run eval -- lab [--quick] [--strategy S]... [--scenario S]... [--duration S]   (root)\n',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const values = (flag: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === flag && i + 1 < args.length) out.push(args[i + 1]);
  return out;
};

if (args[0] === 'sim') {
  const scenarios = values('--scenario') as Scenario[];
  const strategies = values('--strategy') as Strategy[];
  const rates = values('--rate').map(Number);
  const seeds = values('--seed').map(Number);
  if (scenarios.some((s) => !SCENARIOS.includes(s))) usage();
  if (strategies.some((s) => !STRATEGIES.includes(s))) usage();
  if (rates.some((r) => !(r >= 0)) || seeds.some((s) => !Number.isInteger(s))) usage();
  const started = performance.now();
  for (const r of runGrid({
    quick: args.includes('--quick'),
    scenarios: scenarios.length > 0 ? scenarios : undefined,
    strategies: strategies.length > 0 ? strategies : undefined,
    rates: rates.length > 0 ? rates : undefined,
    seeds: seeds.length > 0 ? seeds : undefined,
    overrides: parseParamOverrides(args, usage),
  })) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.stderr.write(
      `seed ${r.seed} ${r.scenario} ${r.strategy} ${r.attackRate} ${r.attackUnit}: validSuccess ${r.validSuccess} (${r.wallMs} ms)\n`,
    );
  }
  process.stderr.write(`grid done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
} else if (args[0] === 'report') {
  // npm runs this in the workspace's folder: paths are taken from where npm was run (INIT_CWD).
  const from = process.env.INIT_CWD ?? process.cwd();
  const [, given, givenOut] = args;
  if (given === undefined || givenOut === undefined) usage();
  const input = resolve(from, given);
  const outdir = resolve(from, givenOut);
  const results = parseResults(readFileSync(input, 'utf8'));
  if (results.length === 0) {
    process.stderr.write(`${input}: no result lines\n`);
    process.exit(1);
  }
  const figures = join(outdir, 'defense');
  mkdirSync(figures, { recursive: true });
  for (const mode of ['sim', 'lab'] as const) {
    const worst = worstCases(results.filter((r) => r.mode === mode));
    if (worst.length === 0) continue;
    for (const s of new Set(worst.map((r) => r.scenario))) {
      const file = join(figures, figureName({ mode, scenario: s }));
      writeFileSync(file, renderSvg(worst, s));
      process.stderr.write(`wrote ${file}\n`);
    }
    const md = join(outdir, `DEFENSE-${mode}.md`);
    writeFileSync(md, renderMarkdown(worst, 'defense', SCENARIOS));
    process.stderr.write(`wrote ${md}\n`);
  }
} else if (args[0] === 'lab') {
  // The real-kernel evaluation lives in tools/lab-eval (root, namespaces, hping3): run it as its
  // own process so this package needs none of that, with the same stdout (JSON lines).
  const main = fileURLToPath(new URL('../../lab-eval/src/main.ts', import.meta.url));
  const child = spawnSync(process.execPath, [main, ...args.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
} else {
  usage();
}
