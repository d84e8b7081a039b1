// Real traffic from the lab's client namespaces: real kernels' TCP stacks, real curl and wrk
// processes, nothing synthesised.
// - In every client, one shell loop per VIP (IPv4 and IPv6) runs `curl` a few times a second.
//   Each curl is a new process and so a new connection: the director schedules every one, and
//   the Conns column moves on both services.
// - In the first client, one `wrk -c4` holds 4 keep-alive connections for the whole demo, paced
//   by a Lua `delay()` so they stay ESTABLISHED (ActiveConn) without flooding a userspace director.
// Each process leads its own process group (`detached`), so Ctrl-C in the terminal reaches only
// the demo, which stops the traffic first, then the director, then the lab: in that order no
// request fails because the director went away under it. The lab SIGKILLs whatever is left in
// its namespaces when it is destroyed, so nothing outlives the demo even if a stop goes wrong.
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab, LabNode } from '@sluice/lab';
import type { TrafficLine } from './listing.ts';

export interface TrafficOptions {
  /** Pause between one curl's end and the next one's start, in seconds. Default 0.3. */
  curlPauseSeconds?: number;
  /** wrk's connections. Default 4. */
  wrkConnections?: number;
  /** Pause between requests on each wrk connection, in ms. Default 250. */
  wrkDelayMs?: number;
}

// `-w '%{http_code}\n'` prints one line per request, 000 when it failed, so the demo tallies
// what the clients saw. `|| :` keeps the loop going after a failed request; the timeouts keep a
// lost SYN from stalling the loop for curl's default minutes.
const CURL_LOOP =
  'while :; do curl -sg -o /dev/null --connect-timeout 2 --max-time 4 -w "%{http_code}\\n" "$1" || :; sleep "$2"; done';

/** wrk's hook, called before each request: a fixed pause per connection. */
const wrkScript = (delayMs: number): string =>
  `-- Paces each connection so wrk holds steady established connections instead of flooding.\nfunction delay()\n  return ${delayMs}\nend\n`;

interface Stream {
  line: TrafficLine;
  child: ChildProcess;
  stdout: string;
}

function url(vip: string): string {
  return vip.includes(':') ? `http://[${vip}]/` : `http://${vip}/`;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export class Traffic {
  readonly #streams: Stream[] = [];

  private constructor() {}

  /** Starts every generator; `dir` holds wrk's script. */
  static async start(lab: Lab, dir: string, opts: TrafficOptions = {}): Promise<Traffic> {
    const t = new Traffic();
    const pause = String(opts.curlPauseSeconds ?? 0.3);
    const vips: [string, string][] = [['v4', lab.vip4]];
    if (lab.ipv6) vips.push(['v6', lab.vip6]);
    for (const client of lab.clients) {
      for (const [family, vip] of vips) {
        t.#add(client, { tool: 'curl', family }, ['sh', '-c', CURL_LOOP, 'sh', url(vip), pause], (s, d) => {
          for (const code of d.split('\n')) {
            if (code === '') continue;
            if (code === '200') s.line.ok! += 1;
            else s.line.failed! += 1;
          }
        });
      }
    }
    const first = lab.clients[0];
    if (first !== undefined) {
      const script = join(dir, 'pace.lua');
      await writeFile(script, wrkScript(opts.wrkDelayMs ?? 250));
      const conns = opts.wrkConnections ?? 4;
      const argv = ['wrk', '-t1', `-c${conns}`, '-d24h', '--timeout', '4s', '-s', script, url(lab.vip4)];
      t.#add(first, { tool: 'wrk', family: 'v4', connections: conns }, argv, (s, d) => {
        // Kept for the summary wrk prints when it is interrupted.
        s.stdout += d;
      });
    }
    return t;
  }

  #add(
    node: LabNode,
    what: Pick<TrafficLine, 'tool' | 'family' | 'connections'>,
    argv: string[],
    onData: (s: Stream, data: string) => void,
  ): void {
    const counting = what.tool === 'curl';
    const line: TrafficLine = {
      client: node.label,
      ...what,
      ok: counting ? 0 : null,
      failed: counting ? 0 : null,
      running: true,
    };
    const child = node.spawn(argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stream: Stream = { line, child, stdout: '' };
    // A line split across two reads must not count twice: only whole lines are handed on.
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const text = partial + d;
      const cut = text.lastIndexOf('\n') + 1;
      partial = text.slice(cut);
      if (cut > 0) onData(stream, text.slice(0, cut));
    });
    child.stderr!.resume();
    child.once('exit', () => {
      line.running = false;
    });
    child.once('error', () => {
      line.running = false;
    });
    this.#streams.push(stream);
  }

  /** Live tallies, one line per generator. */
  lines(): TrafficLine[] {
    return this.#streams.map((s) => ({ ...s.line }));
  }

  /**
   * Stops every generator and resolves with wrk's own summary (empty if it had none). wrk gets
   * SIGINT, on which it prints its statistics; the curl loops get SIGTERM. Whatever is still
   * there after 3 s is killed.
   */
  async stop(): Promise<string> {
    const live = this.#streams.filter((s) => s.line.running);
    for (const s of live) killGroup(s.child, s.line.tool === 'wrk' ? 'SIGINT' : 'SIGTERM');
    await Promise.all(
      live.map(async (s) => {
        if (!(await waitExit(s.child, 3000))) {
          killGroup(s.child, 'SIGKILL');
          await waitExit(s.child, 1000);
        }
      }),
    );
    // Without wrk's first line: `Running 1440m test` is the -d placeholder, not what ran.
    return this.#streams
      .filter((s) => s.line.tool === 'wrk')
      .map((s) =>
        s.stdout
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith('Running '))
          .join('\n'),
      )
      .filter((t) => t !== '')
      .join('\n');
  }
}
