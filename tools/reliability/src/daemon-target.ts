// The daemon the packet fuzzer and the soak run against, as a process of its own: exactly what
// `sluice run --config FILE` starts (startDaemon: the VTEP lock, the director, the control plane
// on a real port), plus what `sluice run` has no option for and these runs need:
//   --remote-port P      real servers' VTEP port (the fake real servers listen on loopback ports)
//   --kill-worker-every S  terminate a serving worker every S seconds, as a crash would (the
//                          director replaces it on the same counter slot; chaos for the soak)
// It prints the banner line the harness waits for, then one JSON line per worker it kills.
import { parseArgs } from 'node:util';
import { startDaemon } from '@sluice/director/src/run.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    'remote-port': { type: 'string' },
    'kill-worker-every': { type: 'string', default: '0' },
  },
});
if (values.config === undefined) {
  process.stderr.write('daemon-target: --config FILE is required\n');
  process.exit(2);
}
const log = {
  info: (m: string) => process.stderr.write(`info  ${m}\n`),
  warn: (m: string) => process.stderr.write(`warn  ${m}\n`),
  error: (m: string) => process.stderr.write(`error ${m}\n`),
};
let daemon: Awaited<ReturnType<typeof startDaemon>>;
try {
  daemon = await startDaemon(
    { configPath: values.config, stateDir: '' },
    log,
    values['remote-port'] === undefined ? {} : { remotePort: Number(values['remote-port']) },
  );
} catch (err) {
  process.stderr.write(`daemon-target: ${(err as Error).message}\n`);
  process.exit(1);
}

const every = Number(values['kill-worker-every']);
let kills = 0;
const chaos =
  every > 0
    ? setInterval(() => {
        const workers = daemon.director.dataplane.servingSlots.length;
        const i = kills % workers;
        kills++;
        daemon.director.dataplane.killServingWorker(i).then(
          () =>
            process.stdout.write(
              `${JSON.stringify({ event: 'worker-killed', worker: i, at: Date.now() })}\n`,
            ),
          (err: Error) =>
            process.stdout.write(
              `${JSON.stringify({ event: 'kill-failed', worker: i, error: err.message })}\n`,
            ),
        );
      }, every * 1000)
    : null;

const stop = async () => {
  if (chaos !== null) clearInterval(chaos);
  await daemon.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Handlers before the banner: the soak signals as soon as it reads it.
process.stdout.write(`daemon-target running: control plane ${daemon.apiUrl}/v1/config pid ${process.pid}\n`);
