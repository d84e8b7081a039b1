// `npm run --workspace @sluice/reliability mac-change [-- --runs N]`: how long a real server's
// MAC change takes to be picked up with the default neighbour timings, measured on loopback
// against FakeVtep (apps/director/src/neighbor-rig.fixture.ts): an established connection's frames go
// to MAC A; the fake real server switches to MAC B (its NIC then drops frames to A); the time
// until that connection's frames arrive addressed to B, once with an overlay health check
// (interval 2 s, timeout 1 s, fall 2: its failure has the MAC probed at once) and once without
// (found when the entry's reachable time, 15..45 s, runs out). One JSON line per run, then a
// summary line per mode.
import { parseArgs } from 'node:util';
import {
  establish,
  MAC_A,
  MAC_B,
  segment,
  send,
  startRig,
  stopRig,
  until,
} from '@sluice/director/src/neighbor-rig.fixture.ts';
import { TCP } from '@sluice/traffic';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, mode: { type: 'string', default: 'both' } },
});
const runs = Number(values.runs);
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function once(overlayCheck: boolean, port: number): Promise<number> {
  const r = await startRig(
    overlayCheck ? { type: 'tcp', via: 'overlay', intervalSeconds: 2, timeoutSeconds: 1, fall: 2 } : null,
  );
  try {
    await until(() => r.director.realStatus('web')?.[0].mac === MAC_A, 10_000, 'learned');
    if (overlayCheck) await until(() => r.fake.checks.synAck >= 1, 10_000, 'checked');
    await establish(r, port);
    await until(
      () => r.fake.forwarded.some((f) => f.srcPort === port && f.dstMac === MAC_A),
      5000,
      'forwarded',
    );
    // Changed at a random point of the check cycle, as in life.
    await new Promise((res) => setTimeout(res, Math.random() * 2000));
    r.fake.setMac(MAC_B);
    const changed = performance.now();
    let seq = 1011;
    const pump = setInterval(() => {
      void send(r, segment(port, TCP.ack | TCP.psh, seq, 10));
      seq += 10;
    }, 50);
    try {
      await until(
        () => r.fake.forwarded.some((f) => f.srcPort === port && f.dstMac === MAC_B),
        60_000,
        'new MAC',
      );
    } finally {
      clearInterval(pump);
    }
    return (performance.now() - changed) / 1000;
  } finally {
    await stopRig(r);
  }
}

for (const overlayCheck of values.mode === 'both' ? [true, false] : [values.mode === 'overlay']) {
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = await once(overlayCheck, 41000 + i);
    seconds.push(s);
    out({ measure: 'mac-change', overlayCheck, run: i + 1, seconds: Math.round(s * 100) / 100 });
  }
  seconds.sort((a, b) => a - b);
  out({
    measure: 'mac-change',
    overlayCheck,
    runs,
    minSeconds: Math.round(seconds[0] * 100) / 100,
    medianSeconds: Math.round(seconds[Math.floor(runs / 2)] * 100) / 100,
    maxSeconds: Math.round(seconds[runs - 1] * 100) / 100,
  });
}
