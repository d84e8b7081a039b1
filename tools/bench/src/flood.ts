// The `flood` suite (issue 9, "fairness under a flood"): does a flood on the serving workers'
// sockets starve the control plane? The real daemon (`sluice run`'s start, in its own process,
// native port, --workers N, priority defense unless --defense none) serves on loopback; this
// process is its REST client. Two phases in one run, the same measurement in each:
//   idle   the flows established (their SYNs), then nothing on the VXLAN socket
//   flood  the native generator (sluice-gen send) at --rate, or as fast as the kernel takes
//          frames (the default), with the flows' data (`--traffic established`) or half of it
//          and half spoofed SYNs (`--traffic mixed`)
// Measured per phase: GET /healthz back to back (one keep-alive connection, 5 ms apart) for its
// latency p50 and p99; GET /metrics every 500 ms, for the scrape's own latency and the
// re-scorer's progress (`sluice_rescorer_passes_total`: the mean pass time is the phase's length
// over the passes completed in it; the re-scorer walks the whole table per pass). The shedder
// runs on the same main thread as the REST API (a 20 ms timer), so /healthz's latency is also
// how late the shedder's turn comes. One JSON line per figure, each with the ratio flood/idle.
//
// On a two-core machine the generator, the sink, the daemon's threads and this client share the
// cores: the figures say what an operator's probe sees when the box is saturated, not a bound.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateConfigFile } from '@sluice/config';
import { cleanEnv, spawnDaemon } from '@sluice/director/src/daemon-process.ts';
import { freeUdpPort } from '@sluice/traffic';
import { buildFrameFiles, DIRECTOR_MAC, generate, openSink, removeFrameFiles } from './forward.ts';
import type { BenchOptions } from './main.ts';
import { emit, note, quantile, round } from './report.ts';

/** The soak's and fuzzer's daemon entry: `sluice run`'s start plus --remote-port (the sink). */
const DAEMON_TARGET = fileURLToPath(import.meta.resolve('@sluice/reliability/src/daemon-target.ts'));
const HEALTHZ_GAP_MS = 5;
const SCRAPE_EVERY_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon's config: the forward suite's service (VNI 42, VIP 10.0.0.100:80, one real on 127.0.0.2). */
function floodConfig(listenPort: number, workers: number, defense: 'priority' | 'none') {
  return validateConfigFile({
    daemon: {
      vxlan: { address: '127.0.0.1', port: listenPort },
      api: { address: '127.0.0.1', port: 0 },
      workers,
      io: 'native',
      connectionCapacity: 1 << 20,
    },
    overlay: { vni: 42, directorMac: DIRECTOR_MAC },
    services: [
      {
        name: 'web',
        vip: '10.0.0.100',
        port: 80,
        scheduler: 'rr',
        reals: [{ address: '10.0.1.1', port: 80, vtep: '127.0.0.2', mac: '02:00:00:00:01:01' }],
      },
    ],
    defense: { strategy: defense },
  });
}

/** One GET on a keep-alive agent: the status and the milliseconds until the body ended. */
function timedGet(
  agent: Agent,
  base: URL,
  route: string,
): Promise<{ status: number; ms: number; body: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(
      { host: base.hostname, port: base.port, path: route, agent, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0, body: '' }));
    req.end();
  });
}

function metricValue(body: string, name: string): number | null {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(body);
  return m === null ? null : Number(m[1]);
}

interface Phase {
  healthz: number[];
  healthzFailed: number;
  scrapes: number[];
  /** Re-scorer passes completed in the phase, and the phase's length in seconds. */
  passes: number;
  seconds: number;
  tableEntries: number | null;
}

/** Probes /healthz and scrapes /metrics until `until` resolves. */
async function observe(base: URL, until: Promise<unknown>): Promise<Phase> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const scrapeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const phase: Phase = {
    healthz: [],
    healthzFailed: 0,
    scrapes: [],
    passes: 0,
    seconds: 0,
    tableEntries: null,
  };
  const first = await timedGet(scrapeAgent, base, '/metrics');
  const passes0 = metricValue(first.body, 'sluice_rescorer_passes_total') ?? 0;
  const t0 = performance.now();
  let lastBody = first.body;
  const probing = (async () => {
    while (!done) {
      const r = await timedGet(agent, base, '/healthz');
      if (r.status === 200) phase.healthz.push(r.ms);
      else phase.healthzFailed++;
      await sleep(HEALTHZ_GAP_MS);
    }
  })();
  const scraping = (async () => {
    while (!done) {
      await sleep(SCRAPE_EVERY_MS);
      const r = await timedGet(scrapeAgent, base, '/metrics');
      if (r.status === 200) {
        phase.scrapes.push(r.ms);
        lastBody = r.body;
      }
    }
  })();
  await Promise.all([probing, scraping]);
  phase.seconds = (performance.now() - t0) / 1000;
  phase.passes = (metricValue(lastBody, 'sluice_rescorer_passes_total') ?? 0) - passes0;
  phase.tableEntries = metricValue(lastBody, 'sluice_connection_table_entries');
  agent.destroy();
  scrapeAgent.destroy();
  return phase;
}

const ratio = (flood: number | null, idle: number | null) =>
  flood === null || idle === null || idle === 0 ? null : round(flood / idle, 2);
const p = (xs: number[], q: number) => (xs.length === 0 ? null : round(quantile(xs, q), 2));

export async function runFlood(opts: BenchOptions): Promise<void> {
  const files = buildFrameFiles();
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-flood-'));
  try {
    for (const workers of opts.workers.length > 0 ? opts.workers : [1]) {
      note(
        `flood: daemon (native port, ${workers} worker(s), ${opts.defense}), idle then ${opts.traffic} flood`,
      );
      const { sink, port: sinkPort } = await openSink();
      const port = await freeUdpPort('127.0.0.1');
      const configPath = path.join(dir, `sluice-${workers}.json`);
      writeFileSync(configPath, JSON.stringify(floodConfig(port, workers, opts.defense)));
      const daemon = spawnDaemon(['--config', configPath, '--remote-port', String(sinkPort)], {
        script: DAEMON_TARGET,
        env: cleanEnv(),
      });
      try {
        const base = new URL(await daemon.ready);
        const warm = generate(port, files.syns, 0.6, 15_000);
        await warm.next();
        await sleep(500);
        const load = loadavg()[0];
        const idle = await observe(base, sleep(opts.seconds * 1000));
        const before = await sink.ask();
        const gen = generate(
          port,
          opts.traffic === 'mixed' ? files.mixed : files.data,
          opts.seconds,
          opts.rate,
        );
        const flood = await observe(base, gen.done());
        const g = await gen.next();
        await sleep(100);
        const after = await sink.ask();
        const common = {
          suite: 'flood',
          io: 'native',
          workers,
          defense: opts.defense,
          traffic: opts.traffic,
          // The machine's own load when the idle phase began: others' work moves every figure here.
          loadAverage1m: round(load, 1),
        };
        emit({
          ...common,
          figure: 'offered',
          offeredMpps: round(g.sent / g.seconds / 1e6),
          deliveredMpps: round((after.received - before.received) / g.seconds / 1e6),
          lossShare: round(g.sent > 0 ? Math.max(0, 1 - (after.received - before.received) / g.sent) : 0),
          seconds: round(g.seconds, 2),
        });
        emit({
          ...common,
          figure: 'healthzMs',
          idleP50: p(idle.healthz, 0.5),
          idleP99: p(idle.healthz, 0.99),
          floodP50: p(flood.healthz, 0.5),
          floodP99: p(flood.healthz, 0.99),
          ratioP50: ratio(p(flood.healthz, 0.5), p(idle.healthz, 0.5)),
          ratioP99: ratio(p(flood.healthz, 0.99), p(idle.healthz, 0.99)),
          idleRequests: idle.healthz.length,
          floodRequests: flood.healthz.length,
          failed: idle.healthzFailed + flood.healthzFailed,
        });
        emit({
          ...common,
          figure: 'metricsScrapeMs',
          idleP50: p(idle.scrapes, 0.5),
          floodP50: p(flood.scrapes, 0.5),
          idleMax: idle.scrapes.length === 0 ? null : round(Math.max(...idle.scrapes), 2),
          floodMax: flood.scrapes.length === 0 ? null : round(Math.max(...flood.scrapes), 2),
          ratioP50: ratio(p(flood.scrapes, 0.5), p(idle.scrapes, 0.5)),
        });
        const passMs = (ph: Phase) => (ph.passes > 0 ? round((ph.seconds * 1000) / ph.passes, 1) : null);
        emit({
          ...common,
          figure: 'rescorerPassMs',
          idle: passMs(idle),
          flood: passMs(flood),
          ratio: ratio(passMs(flood), passMs(idle)),
          idlePasses: idle.passes,
          floodPasses: flood.passes,
          idleTableEntries: idle.tableEntries,
          floodTableEntries: flood.tableEntries,
        });
      } finally {
        daemon.child.kill('SIGTERM');
        await daemon.exited.catch(() => undefined);
        await sink.stop();
      }
    }
  } finally {
    removeFrameFiles(files);
    rmSync(dir, { recursive: true, force: true });
  }
}
