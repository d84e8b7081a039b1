// NeighborTable's state machine on a hand-driven clock, with the probes it sends captured and
// the answers built as a real server's VTEP sends them (TrafficFrames): INCOMPLETE → REACHABLE on
// a solicited answer, REACHABLE → DELAY → PROBE (unicast, then broadcast) → FAILED and back,
// unsolicited news of a MAC (gratuitous ARP) taken then confirmed, the lock time, answers from
// another VTEP ignored, an upper layer's confirmation and suspicion, IPv6 advertisements.
import type { LiveConfig } from '@sluice/config';
import { addressBytes, TrafficFrames } from '@sluice/traffic';
import { beforeEach, describe, expect, it } from 'vitest';
import { type NeighborChange, NeighborTable } from './neighbors.ts';
import type { OwnFrames } from './own-frames.ts';

const DIRECTOR_MAC = '02:5c:00:00:00:01';
const DIRECTOR = addressBytes('0.0.0.0');
const MAC_A = '02:00:00:00:0a:0a';
const MAC_B = '02:00:00:00:0b:0b';
const REAL = '10.42.0.11';
const VTEP = '192.0.2.11';
const KEY = `web/${REAL}:80`;
const T = { reachableMs: 1000, delayMs: 200, retransMs: 100, ucastProbes: 3, mcastProbes: 2, lockMs: 500 };

function live(address = REAL): LiveConfig {
  return {
    overlay: { vni: 42, directorMac: DIRECTOR_MAC },
    services: [
      {
        name: 'web',
        vip: '10.42.0.100',
        port: 80,
        protocol: 'tcp',
        scheduler: 'rr',
        persistence: null,
        reals: [
          {
            address,
            port: 80,
            vtep: VTEP,
            mac: null,
            weight: 1,
            upperThreshold: 0,
            lowerThreshold: 0,
            state: 'active',
            healthCheck: null,
          },
        ],
      },
    ],
  };
}

/** A real server's stack at `mac`: its ARP answers and announcements, as VXLAN datagrams. */
function host(mac: string) {
  return new TrafficFrames({ vni: 42, clientMac: mac, directorMac: DIRECTOR_MAC });
}
const directorMacBytes = Uint8Array.from(DIRECTOR_MAC.split(':').map((h) => Number.parseInt(h, 16)));
const solicitedReply = (mac: string) => host(mac).arpReply(addressBytes(REAL), DIRECTOR, directorMacBytes);
const gratuitous = (mac: string) => host(mac).arpRequest(addressBytes(REAL), addressBytes(REAL));

let clock = 0;
let sent: Array<{ to: string; dstMac: string; arp: boolean }>;
let changes: NeighborChange[];
let logs: string[];
let table: NeighborTable;

function macAt(d: Uint8Array, o: number): string {
  return [...d.subarray(o, o + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

beforeEach(() => {
  clock = 1_000_000;
  sent = [];
  changes = [];
  logs = [];
  const own = {
    send: async (d: Uint8Array, to: string) => {
      sent.push({ to, dstMac: macAt(d, 8), arp: d[8 + 12] === 0x08 && d[8 + 13] === 0x06 });
    },
  } as unknown as OwnFrames;
  const log = {
    info: (m: string) => logs.push(m),
    warn: (m: string) => logs.push(m),
    error: (m: string) => logs.push(m),
  };
  table = new NeighborTable(
    own,
    (c) => changes.push(c),
    log,
    T,
    () => clock,
  );
  table.track(live());
});

/** Moves the clock in timer-sized steps, running the table's timers as its interval would. */
function advance(ms: number): void {
  const end = clock + ms;
  while (clock < end) {
    clock = Math.min(end, clock + 50);
    table.run(clock);
  }
}

const broadcasts = () => sent.filter((s) => s.dstMac === 'ff:ff:ff:ff:ff:ff').length;
const unicastsTo = (mac: string) => sent.filter((s) => s.dstMac === mac).length;

describe('NeighborTable', () => {
  it('INCOMPLETE: broadcast probes to the VTEP until a solicited answer makes it REACHABLE', () => {
    expect(table.view(KEY)).toEqual({ state: 'incomplete', mac: null, confirmedSecondsAgo: null });
    advance(250);
    expect(broadcasts()).toBe(3); // at 0, 100, 200 ms
    expect(sent.every((s) => s.to === VTEP && s.arp)).toBe(true);
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    expect(table.view(KEY)?.state).toBe('reachable');
    expect(table.learned.get(KEY)).toBe(MAC_A);
    expect(changes).toEqual([{ kind: 'mac', reals: [KEY] }]);
  });

  it('REACHABLE → DELAY → PROBE (unicast, then broadcast) → FAILED, and back when it answers', () => {
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    sent = [];
    advance(1600 + 200); // past any reachable time (0.5..1.5 × 1000) and the delay
    expect(['probe', 'failed']).toContain(table.view(KEY)?.state);
    advance(600);
    expect(unicastsTo(MAC_A)).toBe(3);
    expect(broadcasts()).toBeGreaterThanOrEqual(2);
    expect(table.view(KEY)?.state).toBe('failed');
    expect(table.isFailed(KEY)).toBe(true);
    expect(changes.at(-1)).toEqual({ kind: 'failed', reals: [KEY] });
    expect(logs.some((l) => l.includes('stopped answering'))).toBe(true);
    // FAILED keeps the MAC (established connections keep their frames) and keeps probing.
    expect(table.learned.get(KEY)).toBe(MAC_A);
    const before = broadcasts();
    advance(300);
    expect(broadcasts()).toBeGreaterThan(before);
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    expect(table.view(KEY)?.state).toBe('reachable');
    expect(changes.at(-1)).toEqual({ kind: 'recovered', reals: [KEY] });
  });

  it('a confirmation in DELAY (an overlay check that passed) spares the probes', () => {
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    sent = [];
    for (let i = 0; i < 20; i++) {
      advance(200);
      table.confirm(KEY);
    }
    expect(sent).toEqual([]);
    expect(table.view(KEY)?.state).toBe('reachable');
  });

  it('a suspicion (an overlay check that failed) probes at once: one unicast, then broadcast', () => {
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    sent = [];
    table.suspect(KEY);
    expect(sent.map((s) => s.dstMac)).toEqual([MAC_A]);
    advance(100);
    expect(sent.map((s) => s.dstMac)).toEqual([MAC_A, 'ff:ff:ff:ff:ff:ff']);
    // The new NIC answers the broadcast probe: the MAC changes and the entry is REACHABLE.
    table.learnFrom(solicitedReply(MAC_B), 42, VTEP);
    expect(table.view(KEY)).toMatchObject({ state: 'reachable', mac: MAC_B });
    expect(table.counters.macChanges).toBe(1);
    expect(logs.some((l) => l.includes(`changed its MAC: ${MAC_A} → ${MAC_B}`))).toBe(true);
  });

  it('a gratuitous ARP with a new MAC is taken at once (STALE), then confirmed by a unicast probe to it', () => {
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    sent = [];
    table.learnFrom(gratuitous(MAC_B), 42, VTEP);
    expect(table.view(KEY)?.mac).toBe(MAC_B);
    expect(changes.at(-1)).toEqual({ kind: 'mac', reals: [KEY] });
    advance(T.delayMs + 100);
    expect(unicastsTo(MAC_B)).toBe(1);
    expect(unicastsTo(MAC_A)).toBe(0);
  });

  it('an ARP request with another MAC within the lock time is not taken; after it, it is', () => {
    table.learnFrom(solicitedReply(MAC_A), 42, VTEP);
    const request = host(MAC_B).arpRequest(addressBytes(REAL), addressBytes('10.42.0.1'));
    table.learnFrom(request, 42, VTEP);
    expect(table.view(KEY)?.mac).toBe(MAC_A);
    clock += T.lockMs;
    table.learnFrom(request, 42, VTEP);
    expect(table.view(KEY)?.mac).toBe(MAC_B);
  });

  it('ignores answers from another VTEP, another VNI, or for another address', () => {
    table.learnFrom(solicitedReply(MAC_A), 42, '192.0.2.99');
    table.learnFrom(solicitedReply(MAC_A), 43, VTEP);
    table.learnFrom(host(MAC_A).arpReply(addressBytes('10.42.0.12'), DIRECTOR, directorMacBytes), 42, VTEP);
    expect(table.view(KEY)?.state).toBe('incomplete');
    expect(changes).toEqual([]);
  });

  it('IPv6: a solicited neighbour advertisement resolves it', () => {
    table.track(live('2001:db8::11'));
    const v6key = 'web/[2001:db8::11]:80';
    expect(table.view(v6key)?.state).toBe('incomplete');
    expect(table.view(KEY)).toBeNull();
    const na = new Uint8Array(8 + 14 + 40 + 32);
    const frames = host(MAC_A).neighborSolicitation(
      addressBytes('2001:db8::11'),
      addressBytes('2001:db8::11'),
    );
    na.set(frames.subarray(0, na.length));
    // Turn the solicitation into a solicited advertisement: type 136, S and O flags, target option.
    const l4 = 8 + 14 + 40;
    na[l4] = 136;
    na[l4 + 4] = 0x60;
    na[l4 + 24] = 2;
    table.learnFrom(na, 42, VTEP);
    expect(table.view(v6key)).toMatchObject({ state: 'reachable', mac: MAC_A });
    // An advertisement without the S flag and without O, with the same MAC, confirms nothing.
    na[l4 + 4] = 0;
    clock += 5000;
    table.learnFrom(na, 42, VTEP);
    expect(table.view(v6key)?.confirmedSecondsAgo).toBe(5);
  });
});
