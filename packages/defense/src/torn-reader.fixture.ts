// Worker body for the concurrency test: reads random records with the table's seqlock copy and
// checks the invariants the test's writer keeps inside every record, until told to stop. A torn
// copy (half old, half new) breaks them. Run by plain Node (type stripping).
import { parentPort, workerData } from 'node:worker_threads';
import { Conn, ConnectionTable, statePrioPriority, statePrioState } from '@sluice/conntrack';

const { sab, stop } = workerData as { sab: SharedArrayBuffer; stop: SharedArrayBuffer };
const table = ConnectionTable.attach(sab);
const flag = new Int32Array(stop);
const rec = new Int32Array(Conn.snapshotWords);
let rng = 0x9e3779b9;
let reads = 0;
let torn = 0;
while (Atomics.load(flag, 0) === 0) {
  for (let i = 0; i < 1000; i++) {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    const slot = (rng >>> 0) % table.capacity;
    if (!table.readRecord(slot, rec) || rec[Conn.tag] === 0) continue;
    reads++;
    const p = rec[Conn.packets];
    const sp = rec[Conn.statePrio];
    if (
      rec[Conn.awaitingSince] !== p * 7 ||
      rec[Conn.nextSeq] !== (p ^ 0x5a5a5a5a) ||
      statePrioState(sp) !== (p & 7)
    )
      torn++;
    const prio = statePrioPriority(sp);
    if (prio > 15) torn++;
  }
}
parentPort?.postMessage({ reads, torn });
