// Worker entry of the background re-scorer (started by RescorerThread.start). Attaches to the
// connection table, source table and victim index given in workerData and walks the table in
// bounded steps for as long as it lives, with a timer between steps so the worker's event loop
// can deliver new weights and the stop request. Run by plain Node (type stripping), not bundled.

import { parentPort, workerData } from 'node:worker_threads';
import { ConnectionTable, clockNow, SourceTable, VerifiedSourceTable } from '@sluice/conntrack';
import { RealServerCounters } from '@sluice/schedulers';
import { DefenseState } from './defense-state.ts';
import { Rescorer } from './rescorer.ts';
import type { RescorerMessage, RescorerReply, RescorerWorkerData } from './rescorer-thread.ts';
import { VictimIndex } from './victim-index.ts';

const port = parentPort;
if (port !== null) {
  const data = workerData as RescorerWorkerData;
  const table = ConnectionTable.attach(data.connections);
  const sources = data.sources === null ? null : SourceTable.attach(data.sources);
  const rescorer = new Rescorer(
    {
      connections: table,
      sources,
      victims: VictimIndex.attach(data.victims),
      reals: data.reals === null ? null : RealServerCounters.attach(data.reals),
      verified: data.verified === null ? null : VerifiedSourceTable.attach(data.verified),
      state: data.state === null ? null : DefenseState.attach(data.state),
    },
    data.weights,
  );
  const budget = data.slotsPerStep;
  const pause = data.pauseMs;
  let running = true;

  const tick = (): void => {
    if (!running) return;
    rescorer.step(clockNow(table.epochMs), budget);
    if (pause > 0) setTimeout(tick, pause);
    else setImmediate(tick);
  };

  port.on('message', (m: RescorerMessage) => {
    if (m.type === 'weights') {
      rescorer.setWeights(m.weights);
    } else if (m.type === 'stop') {
      running = false;
      const reply: RescorerReply = {
        type: 'stopped',
        stats: {
          passes: rescorer.passes,
          examined: rescorer.examined,
          changed: rescorer.changed,
          lockFailures: rescorer.lockFailures,
          readFailures: rescorer.readFailures,
        },
      };
      port.postMessage(reply);
      port.close();
    }
  });
  const ready: RescorerReply = { type: 'ready' };
  port.postMessage(ready);
  tick();
}
