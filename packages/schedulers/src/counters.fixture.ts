// Worker body for counters.test.ts: churn connections, then leave a known number behind.
import { workerData } from 'node:worker_threads';
import { RealServerCounters } from './index.ts';

const { sab, ops } = workerData as { sab: SharedArrayBuffer; seed: number; ops: number };
const c = RealServerCounters.attach(sab);
for (let i = 0; i < ops; i++) {
  const r = i & 3;
  c.bind(r, false, 0, 0);
  c.establish(r);
  c.unestablish(r);
  c.unbind(r, false, 0, 0);
}
for (let r = 0; r < 4; r++) {
  for (let i = 0; i < 1500; i++) c.bind(r, false, 0, 0);
  for (let i = 0; i < 1000; i++) c.establish(r);
}
