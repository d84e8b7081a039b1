// `npm run eval -- sim [--quick] [--scenario S]... [--strategy S]... [--rate N]... [--seed N]`:
// runs the scenario × strategy × attack-rate grid through the simulator and prints one JSON line
// per run on stdout (progress on stderr), so a grid can be saved, diffed and plotted.
// `npm run eval -- lab ...`: the real-kernel evaluation (tools/lab-eval), same output format.
// `npm run eval -- report <jsonl> <outdir>`: reads such lines and writes <outdir>/DEFENSE-sim.md
// (tables) and <outdir>/defense/sim-<scenario>.svg (valid success vs attack rate); nothing is
// written under docs/ unless this is asked for.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STRATEGIES, type Strategy } from './director.ts';
import { runGrid } from './grid.ts';
import { parseResults, renderMarkdown, renderSvg } from './plot.ts';
import { SCENARIOS, type Scenario } from './sim.ts';

function usage(): never {
  process.stderr.write(
    'usage: npm run eval -- sim [--quick] [--scenario S]... [--strategy S]... [--rate PPS]... [--seed N]\n' +
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
  const seed = values('--seed').map(Number).at(-1);
  if (scenarios.some((s) => !SCENARIOS.includes(s))) usage();
  if (strategies.some((s) => !STRATEGIES.includes(s))) usage();
  if (rates.some((r) => !(r >= 0)) || (seed !== undefined && !Number.isInteger(seed))) usage();
  const started = performance.now();
  for (const r of runGrid({
    quick: args.includes('--quick'),
    scenarios: scenarios.length > 0 ? scenarios : undefined,
    strategies: strategies.length > 0 ? strategies : undefined,
    rates: rates.length > 0 ? rates : undefined,
    seed,
  })) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.stderr.write(
      `${r.scenario} ${r.strategy} ${r.attackRate} pps: validSuccess ${r.validSuccess} (${r.wallMs} ms)\n`,
    );
  }
  process.stderr.write(`grid done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
} else if (args[0] === 'report') {
  const [, input, outdir] = args;
  if (input === undefined || outdir === undefined) usage();
  const results = parseResults(readFileSync(input, 'utf8'));
  if (results.length === 0) {
    process.stderr.write(`${input}: no mode "sim" lines\n`);
    process.exit(1);
  }
  const figures = join(outdir, 'defense');
  mkdirSync(figures, { recursive: true });
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  for (const s of scenarios) {
    const file = join(figures, `sim-${s}.svg`);
    writeFileSync(file, renderSvg(results, s));
    process.stderr.write(`wrote ${file}\n`);
  }
  const md = join(outdir, 'DEFENSE-sim.md');
  writeFileSync(md, renderMarkdown(results, 'defense'));
  process.stderr.write(`wrote ${md}\n`);
} else if (args[0] === 'lab') {
  // The real-kernel evaluation lives in tools/lab-eval (root, namespaces, hping3): run it as its
  // own process so this package needs none of that, with the same stdout (JSON lines).
  const main = fileURLToPath(new URL('../../lab-eval/src/main.ts', import.meta.url));
  const child = spawnSync(process.execPath, [main, ...args.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
} else {
  usage();
}
