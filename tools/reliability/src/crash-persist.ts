// Config persistence under crash: `sluice run --config FILE` as a child process, a client
// streaming `PUT /v1/config` at it back to back (configs of a few to some 60 KB, each numbered
// by its VNI), and SIGKILL at a random moment of the stream; then the file is loaded as the daemon
// loads it and must (1) load, (2) be the last config the daemon acknowledged or the one in
// flight when it died, never older and never a mix; and the daemon must start again on it (the
// next iteration does, taking the VTEP lock the killed one held). Repeated many times.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LiveConfig, loadConfigFile, validateConfigFile } from '@sluice/config';
import { spawnDaemon } from '@sluice/director/src/daemon-process.ts';
import { freeUdpPort } from '@sluice/traffic';
import fc from 'fast-check';

export interface CrashResult {
  fuzz: 'crash';
  iterations: number;
  seed: number;
  putsAcknowledged: number;
  /** Iterations whose file held the last acknowledged config / the one in flight. */
  fileWasAcknowledged: number;
  fileWasInFlight: number;
  /** Temp files a killed save left behind (removed by the next start). */
  staleTempFiles: number;
  failures: string[];
  seconds: number;
}

/** Config number `n`: its VNI says which it is; its size varies so kills land inside writes. */
function numbered(n: number, size: number): LiveConfig {
  const services = [];
  for (let s = 0; s < 1 + (size % 4); s++) {
    const reals = [];
    for (let r = 0; r < 10 + size * 10; r++) {
      reals.push({
        address: `10.${s}.${r >> 8}.${r & 0xff}`,
        port: 80,
        vtep: '127.0.0.2',
        mac: '02:00:00:00:01:01',
      });
    }
    services.push({ name: `svc${s}`, vip: `10.200.0.${s + 1}`, port: 80, reals });
  }
  const rules = Array.from({ length: size * 20 }, (_, i) => ({
    cidr: `198.${51 + (i >> 8)}.${i & 0xff}.0/24`,
    priority: 3,
  }));
  const { daemon: _d, ...live } = validateConfigFile({
    daemon: { vxlan: { address: '127.0.0.1', port: 1 }, api: { address: '127.0.0.1', port: 0 } },
    overlay: { vni: n, directorMac: '02:5c:00:00:00:01' },
    services,
    defense: { rules },
  });
  return live;
}

export async function runCrashPersistence(opts: { iterations: number; seed?: number }): Promise<CrashResult> {
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const started = performance.now();
  const rng = fc.sample(fc.tuple(fc.integer({ min: 50, max: 2500 }), fc.integer({ min: 0, max: 6 })), {
    numRuns: opts.iterations,
    seed,
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-crash-'));
  const configPath = path.join(dir, 'config.json');
  const listenPort = await freeUdpPort('127.0.0.1');
  await writeFile(
    configPath,
    JSON.stringify(
      validateConfigFile({
        daemon: {
          vxlan: { address: '127.0.0.1', port: listenPort },
          api: { address: '127.0.0.1', port: 0 },
          workers: 1,
          connectionCapacity: 4096,
        },
        ...numbered(1, 1),
      }),
    ),
  );
  const result: CrashResult = {
    fuzz: 'crash',
    iterations: 0,
    seed,
    putsAcknowledged: 0,
    fileWasAcknowledged: 0,
    fileWasInFlight: 0,
    staleTempFiles: 0,
    failures: [],
    seconds: 0,
  };
  let next = 2;
  let onDisk = 1;
  try {
    for (const [killAfterMs, size] of rng) {
      const daemon = spawnDaemon(['run', '--config', configPath]);
      let api: string;
      try {
        api = await daemon.ready;
      } catch (err) {
        result.failures.push(
          `iteration ${result.iterations + 1}: the daemon did not start: ${(err as Error).message}`,
        );
        break;
      }
      const token = (await readFile(path.join(dir, 'token'), 'utf8')).trim();
      let acknowledged = -1;
      let inFlight = -1;
      let stop = false;
      const kill = setTimeout(() => {
        stop = true;
        daemon.child.kill('SIGKILL');
      }, killAfterMs);
      while (!stop) {
        const n = next++;
        inFlight = n;
        try {
          const res = await fetch(`${api}/v1/config`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(numbered(n, size)),
          });
          await res.arrayBuffer();
          if (res.status !== 200) {
            result.failures.push(`PUT of config ${n} answered ${res.status}`);
            stop = true;
          } else {
            acknowledged = n;
            result.putsAcknowledged++;
          }
        } catch {
          break; // the daemon died under the request
        }
      }
      clearTimeout(kill);
      await daemon.exited;
      result.iterations++;
      result.staleTempFiles += (await readdir(dir)).filter((f) => f.endsWith('.tmp')).length;
      try {
        const loaded = await loadConfigFile(configPath);
        const vni = loaded.overlay.vni;
        // Killed before any PUT was acknowledged, the last acknowledged config is the file as it was.
        const expected = acknowledged === -1 ? onDisk : acknowledged;
        if (vni === expected) result.fileWasAcknowledged++;
        else if (vni === inFlight) result.fileWasInFlight++;
        else
          result.failures.push(
            `iteration ${result.iterations}: the file holds config ${vni}; acknowledged ${expected}, in flight ${inFlight}`,
          );
        onDisk = vni;
      } catch (err) {
        result.failures.push(
          `iteration ${result.iterations}: the file does not load: ${(err as Error).message}`,
        );
        break;
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  result.seconds = Math.round((performance.now() - started) / 10) / 100;
  return result;
}
