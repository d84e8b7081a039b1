// Worker body for counters.test.ts (plain Node strips the types: erasable syntax, .ts imports).
// Churns connections on every real server, with thresholds so the overload flag is contended too,
// then leaves a known number behind: per real, 1000 active and 500 inactive.
import { workerData } from 'node:worker_threads';
import { RealServerCounters } from './counters.ts';

const { sab, ops, upper, lower } = workerData as {
  sab: SharedArrayBuffer;
  ops: number;
  upper: number;
  lower: number;
};
const c = RealServerCounters.attach(sab);
const reals = c.capacity;
for (let i = 0; i < ops; i++) {
  const r = i % reals;
  c.bind(r, false, upper, lower);
  c.establish(r);
  if ((i & 1) === 0) {
    c.unestablish(r);
    c.unbind(r, false, upper, lower);
  } else {
    c.unbind(r, true, upper, lower);
  }
}
for (let r = 0; r < reals; r++) {
  for (let i = 0; i < 1500; i++) c.bind(r, false, upper, lower);
  for (let i = 0; i < 1000; i++) c.establish(r);
}
