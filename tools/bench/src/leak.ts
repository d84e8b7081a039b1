// The `leak` suite: a serving worker with the native port forwards established-flow frames from
// the native generator for --seconds (default 120) in 10-second rounds, and the process's RSS
// (main thread and worker alike) is sampled after each round. A leak per frame or per batch
// shows as RSS growing with the frame count; the verdict compares the last round with the
// second (the first carries the warm-up: JIT, table pages first touched). Not a timed test: a
// tool whose output is recorded in docs/BENCHMARKS.md.
import { Dataplane, DEFAULT_VXLAN_PORT_SETTINGS, Verdict } from '@sluice/dataplane';
import { oneRealSnapshot } from '@sluice/dataplane/testing';
import { freeUdpPort } from '@sluice/traffic';
import { buildFrameFiles, generate, openSink, removeFrameFiles } from './forward.ts';
import type { BenchOptions } from './main.ts';
import { emit, note, round } from './report.ts';

const ROUND_SECONDS = 10;

export async function runLeak(opts: BenchOptions): Promise<void> {
  const files = buildFrameFiles();
  const { sink, port: sinkPort } = await openSink();
  const port = await freeUdpPort('127.0.0.1');
  const dp = new Dataplane({ workers: 1, connectionCapacity: 1 << 16 });
  try {
    dp.publishConfig(oneRealSnapshot('127.0.0.2', '02:00:00:00:00:01'));
    await dp.serve(
      { ...DEFAULT_VXLAN_PORT_SETTINGS, address: '127.0.0.1', port, remotePort: sinkPort },
      () => {},
      'native',
    );
    const warm = generate(port, files.syns, 0.6, 15_000);
    await warm.next();
    const rounds = Math.max(3, Math.round(opts.seconds / ROUND_SECONDS));
    note(`leak: ${rounds} rounds of ${ROUND_SECONDS} s through one native worker`);
    const rss: number[] = [];
    const forwarded: number[] = [];
    for (let r = 1; r <= rounds; r++) {
      const gen = generate(port, files.data, ROUND_SECONDS, opts.rate);
      await gen.next();
      await gen.done();
      globalThis.gc?.();
      const m = process.memoryUsage();
      rss.push(m.rss);
      forwarded.push(dp.counters.sum(Verdict.forward));
      emit({
        suite: 'leak',
        round: r,
        forwardedFrames: forwarded[r - 1],
        rssMiB: round(m.rss / 2 ** 20, 1),
        heapUsedMiB: round(m.heapUsed / 2 ** 20, 1),
        externalMiB: round(m.external / 2 ** 20, 1),
      });
    }
    // From the end of round 2 to the end: the frames and the RSS after warm-up.
    const growth = rss[rss.length - 1] - rss[1];
    const frames = forwarded[forwarded.length - 1] - forwarded[1];
    emit({
      suite: 'leak',
      verdict: growth < 8 * 2 ** 20 ? 'flat' : 'growing',
      forwardedFrames: forwarded[forwarded.length - 1],
      framesAfterWarmup: frames,
      rssGrowthMiB: round(growth / 2 ** 20, 1),
      bytesPerMillionFrames: round(growth / Math.max(1, frames / 1e6), 0),
    });
  } finally {
    await dp.close();
    await sink.stop();
    removeFrameFiles(files);
  }
}
