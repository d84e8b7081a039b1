// `npm run demo`, the whole story on one machine: build the namespace lab, start the director
// daemon on it, push real traffic from the clients' kernels through it, and redraw an ipvsadm-style
// listing every 2 s until Ctrl-C/SIGTERM (or `--seconds`). Teardown runs in the reverse order of
// setup (traffic, director, lab) on every way out (stop, error, signal during setup), because a
// demo that leaves namespaces and a bound VXLAN port behind breaks the next run and the e2e suite.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigFile } from '@sluice/config';
import { DirectorProcess, Lab } from '@sluice/lab';
import { pickApiPort } from './api-port.ts';
import { readDirector } from './collect.ts';
import { formatListing } from './listing.ts';
import { Traffic } from './traffic.ts';

export const LAB_NAME = 'demo';
export const API_HOST = '127.0.0.1';
export const API_PORT = 9180;
const REFRESH_MS = 2000;
const READY_TIMEOUT_MS = 30_000;

export interface DemoOptions {
  /** Stop by itself after this long (seconds of listing); null: until a signal. */
  seconds: number | null;
  /** Redraw in place (clear screen) instead of printing listings one after another. */
  clear: boolean;
  out: NodeJS.WritableStream;
  /** Progress and errors. */
  err: NodeJS.WritableStream;
}

// Home and clear screen, then clear the scrollback so the redraw does not pile up listings.
const CLEAR = '\x1b[H\x1b[2J\x1b[3J';

/** Runs the demo; resolves with the process exit code (0: stopped as asked, 1: something failed). */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const say = (m: string): void => {
    opts.err.write(`demo: ${m}\n`);
  };
  let stopRequested: string | null = null;
  let wake: () => void = () => {};
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRequested !== null) {
      say(`${signal}: already stopping (traffic, director, lab), please wait`);
      return;
    }
    stopRequested = signal;
    wake();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Whatever goes wrong outside the main flow still ends in teardown: an exception nobody caught
  // would otherwise exit at once and leave the namespaces, the director and the traffic running.
  // A holder, not a `let`: assigned only in a callback, a `let` would be narrowed to null below.
  const failure: { error: Error | null } = { error: null };
  const onFatal = (err: unknown): void => {
    failure.error ??= err instanceof Error ? err : new Error(String(err));
    if (stopRequested === null) {
      stopRequested = 'error';
      wake();
    }
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
  // The reader went away (`npm run demo | head`): nobody to show listings to, so stop. EPIPE on
  // stdout is otherwise an uncaught error event.
  let outOpen = true;
  const onOutError = (): void => {
    outOpen = false;
    if (stopRequested === null) {
      stopRequested = 'stdout closed';
      wake();
    }
  };
  opts.out.on('error', onOutError);
  const onErrError = (): void => {};
  opts.err.on('error', onErrError);
  // Stops the wait of the refresh loop at once on a signal (or when the director dies).
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const checkpoint = (): void => {
    if (stopRequested !== null) throw new Error(`interrupted by ${stopRequested}`);
  };

  const dir = await mkdtemp(join(tmpdir(), 'sluice-demo-'));
  let lab: Lab | null = null;
  let labStarted = false;
  let director: DirectorProcess | null = null;
  let traffic: Traffic | null = null;
  let code = 0;
  try {
    say(`building lab ${LAB_NAME} (2 real servers, 2 clients, IPv4 + IPv6)`);
    labStarted = true;
    lab = await Lab.create({ name: LAB_NAME, reals: 2, clients: 2, ipv6: true });
    checkpoint();
    const built = lab;
    await Promise.all(built.reals.map((_, i) => built.startHttp(i, 80)));
    checkpoint();

    const apiPort = await pickApiPort(API_HOST, API_PORT);
    if (apiPort !== API_PORT) say(`${API_HOST}:${API_PORT} is taken; the API listens on port ${apiPort}`);
    const apiUrl = `http://${API_HOST}:${apiPort}`;
    const config: ConfigFile = {
      daemon: {
        vxlan: { address: lab.directorUnderlay, port: 4789 },
        api: { address: API_HOST, port: apiPort },
        workers: 2,
        // Small enough that the occupancy figure means something, far above what the demo fills.
        connectionCapacity: 1 << 16,
        tokenFile: join(dir, 'token'),
      },
      ...lab.directorConfig(),
    };
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
    say(`starting the director: sluice run --config ${configPath} (log ${join(dir, 'director.log')})`);
    // Its own process group: Ctrl-C reaches the demo only, which stops the director after the
    // traffic (see traffic.ts).
    director = DirectorProcess.spawn(configPath, { logPath: join(dir, 'director.log'), detached: true });
    const t0 = Date.now();
    try {
      await director.waitReady(apiUrl, READY_TIMEOUT_MS, () => stopRequested !== null);
    } catch (err) {
      checkpoint();
      throw err;
    }
    say(
      `director ready on ${apiUrl} after ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `starting curl loops in ${lab.clients.map((c) => c.ns).join(', ')}`,
    );
    say(`and wrk in ${lab.clients[0].ns}`);
    traffic = await Traffic.start(lab, dir);

    const running = director;
    // A dead director ends the loop at once rather than at the next refresh.
    void running.exited.then(() => wake());
    const started = Date.now();
    const deadline = opts.seconds === null ? null : started + opts.seconds * 1000;
    for (;;) {
      const left = deadline === null ? REFRESH_MS : Math.min(REFRESH_MS, deadline - Date.now());
      await pause(Math.max(0, left));
      if (stopRequested !== null) break;
      if (!running.running) {
        await running.exited;
        throw new Error(`the director exited unexpectedly (${running.describeExit()})`);
      }
      const now = Date.now();
      let text: string;
      try {
        const reading = await readDirector(apiUrl);
        text = formatListing({
          ...reading,
          lab: LAB_NAME,
          apiUrl,
          directorPid: running.child.pid ?? null,
          elapsedSeconds: (now - started) / 1000,
          remainingSeconds: deadline === null ? null : (deadline - now) / 1000,
          traffic: traffic.lines(),
        });
      } catch (err) {
        text = `listing unavailable: ${(err as Error).message}`;
      }
      if (outOpen) opts.out.write(opts.clear ? `${CLEAR}${text}\n` : `${text}\n\n`);
      if (deadline !== null && Date.now() >= deadline) break;
    }
    if (stopRequested !== null) say(`${stopRequested}: stopping`);
  } catch (err) {
    if (stopRequested !== null && failure.error === null) {
      // Ctrl-C reaches the whole foreground process group, so the lab's own `ip` commands may
      // fail from the same keystroke: a failure after a stop was asked for is that stop.
      say(`${stopRequested} during setup: stopping`);
    } else {
      code = 1;
      say(`error: ${(err as Error).message}`);
      if (director !== null) {
        const tail = director.tail();
        if (tail !== '') opts.err.write(`--- director output (last lines) ---\n${tail}\n---\n`);
      }
    }
  } finally {
    if (failure.error !== null) {
      code = 1;
      say(`error: ${failure.error.stack ?? failure.error.message}`);
    }
    code = Math.max(code, await teardown({ say, traffic, director, lab, labStarted }));
    // The log explains a failure: kept then, removed after a clean run.
    if (code === 0) await rm(dir, { recursive: true, force: true });
    else say(`kept ${dir} (config, director log)`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onFatal);
    process.off('unhandledRejection', onFatal);
    opts.out.off('error', onOutError);
    opts.err.off('error', onErrError);
  }
  return code;
}

/** Each step runs whatever the one before did; returns 1 if any step failed. */
async function teardown(t: {
  say: (m: string) => void;
  traffic: Traffic | null;
  director: DirectorProcess | null;
  lab: Lab | null;
  labStarted: boolean;
}): Promise<number> {
  let code = 0;
  const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      code = 1;
      t.say(`cleanup: ${what} failed: ${(err as Error).message}`);
    }
  };
  if (t.traffic !== null) {
    const traffic = t.traffic;
    await step('stopping the traffic', async () => {
      const lines = traffic.lines();
      const summary = await traffic.stop();
      const curl = lines.filter((l) => l.tool === 'curl');
      const ok = curl.reduce((a, l) => a + (l.ok ?? 0), 0);
      const failed = curl.reduce((a, l) => a + (l.failed ?? 0), 0);
      t.say(`traffic stopped: curl ${ok} ok, ${failed} failed`);
      if (summary !== '') t.say(`wrk: ${summary.split('\n').join('\n      ')}`);
    });
  }
  if (t.director !== null) {
    const director = t.director;
    await step('stopping the director', async () => {
      const { exit, forced, already } = await director.stop(10_000);
      if (forced) throw new Error('the director did not stop on SIGTERM within 10 s and was killed');
      // (A SIGTERM status is a director stopped before it had installed its handlers, at startup.)
      const status = exit.signal ?? exit.code;
      t.say(already ? `director had already exited (${status})` : `director stopped (exit ${status})`);
    });
  }
  if (t.labStarted) {
    const lab = t.lab;
    await step(`removing lab ${LAB_NAME}`, async () => {
      // By name as well: a lab whose creation was interrupted half-way has no object to destroy.
      if (lab !== null) await lab.destroy();
      await Lab.destroyByName(LAB_NAME);
      t.say(`lab ${LAB_NAME} removed`);
    });
  }
  return code;
}
