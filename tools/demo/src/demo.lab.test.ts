// The demo end to end, as root: `main.ts --seconds 8 --no-clear` in a child process builds the lab,
// runs the director daemon, pushes curl and wrk through it and prints listings. Proven here: it
// exits 0 by itself, real traffic reached both real servers of the IPv4 service (Conns > 0 on each,
// as the director counts them), and nothing of the lab is left behind. A machine that cannot run
// the lab fails in beforeAll with the lab's precise reason: never a silent skip.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkLabPrerequisites, labNodeBinary, planLab } from '@sluice/lab';
import { beforeAll, describe, expect, it } from 'vitest';
import { LAB_NAME } from './demo.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function run(
  argv: string[],
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(labNodeBinary(), [MAIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

async function leftovers(): Promise<string[]> {
  const names = (cmd: string[]): Promise<string[]> =>
    new Promise((resolve) => {
      const c = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      c.once('close', () => {
        const list = out.trim() === '' ? [] : (JSON.parse(out) as { name?: string; ifname?: string }[]);
        resolve(list.map((x) => x.name ?? x.ifname ?? ''));
      });
    });
  const owned = new RegExp(`^${LAB_NAME}-(br|rs\\d+|c\\d+)$`);
  const all = [
    ...(await names(['ip', '-j', 'netns', 'list'])),
    ...(await names(['ip', '-j', 'link', 'show'])),
  ];
  return all.filter((n) => owned.test(n));
}

/** Conns of each real server of the service on `vip:port`, from one listing. */
function connsOf(listing: string, vip: string, port: number): Map<string, number> {
  const out = new Map<string, number>();
  let inService = false;
  for (const line of listing.split('\n')) {
    if (/^(TCP|UDP) /.test(line)) inService = line.split(/\s+/)[1] === `${vip}:${port}`;
    else if (inService && line.startsWith('  -> ') && !line.includes('RemoteAddress')) {
      // -> address:port Weight ActiveConn InActConn Conns InPkts InBytes Health
      const cols = line.trim().split(/\s+/);
      out.set(cols[1], Number.parseInt(cols[5], 10) * (cols[5].endsWith('K') ? 1000 : 1));
    }
  }
  return out;
}

describe('npm run demo', () => {
  beforeAll(async () => {
    await checkLabPrerequisites();
  });

  it('runs for --seconds, shows traffic on both IPv4 reals, exits 0 and leaves nothing behind', async () => {
    const r = await run(['--seconds', '8', '--no-clear']);
    const context = `stdout:\n${r.out}\nstderr:\n${r.err}`;
    expect(r.code, context).toBe(0);

    const listings = r.out.split(/\n(?=Sluice demo: )/).filter((l) => l.startsWith('Sluice demo: '));
    expect(listings.length, context).toBeGreaterThanOrEqual(3);
    const last = listings[listings.length - 1];
    const plan = planLab({ name: LAB_NAME, reals: 2, clients: 2 });
    const conns = connsOf(last, plan.vip4, 80);
    expect([...conns.keys()], context).toEqual(plan.reals.map((real) => `${real.overlay4}:80`));
    for (const [real, n] of conns) expect(n, `${real}\n${context}`).toBeGreaterThan(0);
    expect(last).toMatch(/^priorities \(.*\): p\d+ \d+/m);
    expect(r.err).toMatch(/lab demo removed/);

    expect(await leftovers()).toEqual([]);
  }, 180_000);
});
