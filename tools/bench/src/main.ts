// `npm run bench -- <suite> [--seconds N]`: runs a benchmark suite and prints one JSON line per
// figure on stdout (progress goes to stderr), so results can be piped, diffed and recorded.
import { runFlood } from './flood.ts';
import { runForward } from './forward.ts';
import { runHotpath } from './hotpath.ts';
import { runIdle } from './idle.ts';
import { runLab } from './lab.ts';
import { runLeak } from './leak.ts';
import { runQuiet } from './quiet.ts';

export interface BenchOptions {
  seconds: number;
  /** Only these cases (all when empty). */
  cases: string[];
  /** Only these worker counts (all when empty). */
  workers: number[];
  /** hotpath: the defense strategy in the benchmark's config (priority, as deployed, or none). */
  defense: 'priority' | 'none';
  /** hotpath: source verification once the flows are open (auto, as deployed, or always). */
  verify: 'auto' | 'always';
  /** forward: the director's ports to measure (both when empty). */
  io: Array<'native' | 'dgram'>;
  /** forward: datagrams per second the generator offers (0 = as fast as the kernel takes them). */
  rate: number;
  /** forward: established flows' data, or half of it and half spoofed SYNs. */
  traffic: 'established' | 'mixed';
  /** forward: the native port sends same-destination runs as UDP GSO messages (default on). */
  gso: boolean;
  /** hotpath, forward: the shared tables on transparent huge pages (default on, as deployed). */
  hugePages: boolean;
  /**
   * lab: the attackers' niceness (hping3, sluice-gen). 0 lets them take the cores they share with
   * the director on this machine; a real attack's CPU is somebody else's (default 0).
   */
  attackNice: number;
}

const suites: Record<string, (opts: BenchOptions) => Promise<void>> = {
  hotpath: runHotpath,
  forward: runForward,
  flood: runFlood,
  leak: runLeak,
  idle: runIdle,
  lab: runLab,
  quiet: runQuiet,
};

function usage(): never {
  process.stderr.write(
    `usage: npm run bench -- <${Object.keys(suites).join('|')}> [--seconds N] [--case NAME]... [--workers N]... [--defense priority|none]\n` +
      '       forward: [--io native|dgram]... [--rate PPS] [--traffic established|mixed] [--gso on|off]\n' +
      '       flood: [--workers N]... [--rate PPS] [--traffic established|mixed] [--defense priority|none]\n' +
      '       hotpath, forward: [--huge-pages on|off]\n' +
      '       lab (root; under flock /tmp/sluice-lab.lock): [--case none|priority]... [--seconds N] [--rate PPS] [--attack-nice 0-19]\n',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const name = args[0];
if (name === undefined || !(name in suites)) usage();
function values(flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) if (args[i] === flag && i + 1 < args.length) out.push(args[i + 1]);
  return out;
}
const seconds = Number(values('--seconds').at(-1) ?? 3);
const workers = values('--workers').map(Number);
if (!(seconds > 0) || workers.some((w) => !(w >= 1))) usage();
const defense = values('--defense').at(-1) ?? 'priority';
if (defense !== 'priority' && defense !== 'none') usage();
const verify = values('--verify').at(-1) ?? 'auto';
if (verify !== 'auto' && verify !== 'always') usage();
const io = values('--io');
if (io.some((v) => v !== 'native' && v !== 'dgram')) usage();
const rate = Number(values('--rate').at(-1) ?? 0);
if (!(rate >= 0)) usage();
const traffic = values('--traffic').at(-1) ?? 'established';
if (traffic !== 'established' && traffic !== 'mixed') usage();
const gso = values('--gso').at(-1) ?? 'on';
if (gso !== 'on' && gso !== 'off') usage();
const attackNice = Number(values('--attack-nice').at(-1) ?? 0);
if (!Number.isInteger(attackNice) || attackNice < 0 || attackNice > 19) usage();
const hugePages = values('--huge-pages').at(-1) ?? 'on';
if (hugePages !== 'on' && hugePages !== 'off') usage();
await suites[name]({
  seconds,
  cases: values('--case'),
  workers,
  defense,
  verify,
  io: io as Array<'native' | 'dgram'>,
  rate,
  traffic,
  gso: gso === 'on',
  hugePages: hugePages === 'on',
  attackNice,
});
