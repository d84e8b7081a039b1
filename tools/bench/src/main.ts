// `npm run bench -- <suite> [--seconds N]`: runs a benchmark suite and prints one JSON line per
// figure on stdout (progress goes to stderr), so results can be piped, diffed and recorded.
import { runHotpath } from './hotpath.ts';

const suites: Record<string, (seconds: number) => Promise<void>> = {
  hotpath: runHotpath,
};

function usage(): never {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(suites).join('|')}> [--seconds N]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const name = args[0];
if (name === undefined || !(name in suites)) usage();
const si = args.indexOf('--seconds');
const seconds = si >= 0 ? Number(args[si + 1]) : 3;
if (!(seconds > 0)) usage();
await suites[name](seconds);
