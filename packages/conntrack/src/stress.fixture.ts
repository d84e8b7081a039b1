// Worker body for the multi-thread stress test (run by plain Node, which strips the types).
// Writers keep an invariant inside every record so a reader can detect a torn copy:
// bytes = packets * 7 and lastSeen = packets ^ 0x5a5a5a5a, always changed together under the lock.
import { parentPort, workerData } from 'node:worker_threads';
import { AcquireFail, Conn, ConnectionTable, RemoveReason } from './index.ts';

const { sab, role, ops, keys, seed } = workerData as {
  sab: SharedArrayBuffer;
  role: 'writer' | 'reader';
  ops: number;
  keys: number;
  seed: number;
};
const table = ConnectionTable.attach(sab);
let rng = seed >>> 0 || 1;
function rand(n: number): number {
  rng ^= rng << 13;
  rng ^= rng >>> 17;
  rng ^= rng << 5;
  return (rng >>> 0) % n;
}

if (role === 'writer') {
  let increments = 0;
  let removedPackets = 0;
  let inserted = 0;
  let removed = 0;
  let failures = 0;
  let contention = 0;
  table.listener = {
    onConnectionRemoved(t, base) {
      removedPackets += t.i32[base + Conn.packets];
      removed++;
    },
  };
  for (let i = 0; i < ops; i++) {
    const k = rand(keys);
    const slot = table.acquire(0, 0, 0xffff, 0x0a000000 + k, (k & 0xffff) << 16, true, 5, 1000);
    if (slot < 0) {
      // A lock held by a thread the OS descheduled outlasts the bounded spin: a contention drop,
      // by design (the packet path never waits unboundedly). Anything else is a failure.
      if (table.failReason === AcquireFail.contention) contention++;
      else failures++;
      continue;
    }
    const base = table.recordBase(slot);
    if (table.created === 1) {
      inserted++;
      table.setExpires(slot, 0x3fffffff);
      table.i32[base + Conn.statePrio] = 5 << 8;
    }
    const p = table.i32[base + Conn.packets] + 1;
    table.i32[base + Conn.packets] = p;
    table.i32[base + Conn.awaitingSince] = p * 7;
    table.i32[base + Conn.lastSeen] = p ^ 0x5a5a5a5a;
    increments++;
    if (rand(10) === 0) table.removeHeld(slot, RemoveReason.reset);
    else table.release(slot);
  }
  parentPort!.postMessage({ increments, removedPackets, inserted, removed, failures, contention });
} else {
  const rec = new Int32Array(Conn.snapshotWords);
  let reads = 0;
  let torn = 0;
  const deadline = Date.now() + ops;
  while (Date.now() < deadline) {
    for (let i = 0; i < 1000; i++) {
      const slot = rand(table.capacity);
      if (!table.readRecord(slot, rec)) continue;
      if (rec[Conn.tag] === 0) continue;
      reads++;
      const p = rec[Conn.packets];
      if (rec[Conn.awaitingSince] !== p * 7 || rec[Conn.lastSeen] !== (p ^ 0x5a5a5a5a)) torn++;
    }
  }
  parentPort!.postMessage({ reads, torn });
}
