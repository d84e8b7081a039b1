// The simulation: populations of clients and attackers sending frames through the real director
// (director.ts) to modelled real servers (servers.ts), on a simulated millisecond clock, and the
// metrics that say whether valid clients noticed the attack.
//
// Time: integer milliseconds. Each simulated millisecond, the frames due in it reach the director
// in a random (seeded) order, in batches of `batchFrames` as a port would hand them over; after
// each batch the director does a worker's post-batch work, after each millisecond its background
// defense work. A frame the director forwards reaches its real server in the same millisecond (a
// LAN); a server's answer reaches the client one client RTT later (direct return: the director
// never sees it, as in LVS-DR).
//
// Populations (owner codes in servers.ts):
//   valid    kernel-shaped SYN; retransmitted at 1 s and 3 s if no SYN-ACK came (Linux's backoff),
//            given up at 7 s; then the handshake ACK and the request, the response one service
//            time + RTT later, two more ACKs, a FIN after a think time, the last ACK. Addresses
//            from a pool, so some clients come back and have history at the director.
//   partner  the same behaviour from a subnet with a priority-0 rule (the seed's strategic partner).
//   flood    bare SYNs (no options, as Trin00/TFN/hping3) from random spoofed sources; nothing else.
//   spoofAck the seed's "smarter" attacker: a kernel-shaped spoofed SYN, then a blind ACK 50 ms
//            later, never any data. At the director that is a completed handshake; at the server
//            (which checks the acknowledgement number) it stays half-open.
//   bot      a botnet of a few hundred real addresses: real handshakes, then the connection is
//            held idle (nothing more is sent).
// `attackPps` is the offered attack load in packets per second: flood SYNs, or SYN+ACK pairs
// (spoofAck, bot: half the rate in connections). `mixed` splits it in three.
import type { DefenseSnapshot } from '@sluice/dataplane';
import { DROP_REASON_NAMES, Verdict } from '@sluice/dataplane';
import { SimDirector, type Strategy, VIP_NUM, VPORT } from './director.ts';
import { FrameFactory, FrameKind, REQUEST_BYTES } from './frames.ts';
import { EventHeap, TupleQueue } from './queue.ts';
import { Rng } from './rng.ts';
import { OWNER_COUNT, OWNER_NAMES, Owner, ServerFarm, SynResult } from './servers.ts';

export type Scenario = 'syn-flood' | 'syn-ack-spoof' | 'botnet-idle' | 'mixed';
export const SCENARIOS: readonly Scenario[] = ['syn-flood', 'syn-ack-spoof', 'botnet-idle', 'mixed'];

export interface SimParams {
  scenario: Scenario;
  strategy: Strategy;
  attackPps: number;
  seed: number;
  /**
   * New valid connections are opened during [0, durationMs); those opened from attackStartMs on
   * are measured (the first seconds are a warm-up in which sources build history).
   */
  durationMs: number;
  /** Then the run goes on this long (attack included) so the last attempts resolve. */
  tailMs: number;
  attackStartMs: number;
  reals: number;
  /** Per real server: connection capacity = its upperThreshold. */
  capacity: number;
  /** Per real server: half-open connections it can hold. */
  backlog: number;
  /** Valid (non-partner) new connections per second. */
  validRate: number;
  /** Partner (priority-0 subnet) new connections per second. */
  partnerRate: number;
  validAddresses: number;
  partnerAddresses: number;
  botAddresses: number;
  tableCapacity: number;
  batchFrames: number;
  /** Re-scorer slots examined per simulated ms (its own thread in the dataplane). */
  rescorerSlotsPerMs: number;
  /** Priority weights over the defaults (`--weight name=value`), for tuning runs. */
  weights?: Record<string, number>;
}

export const DEFAULT_PARAMS: Omit<SimParams, 'scenario' | 'strategy' | 'attackPps'> = {
  seed: 1,
  durationMs: 20_000,
  tailMs: 8_000,
  attackStartMs: 2_000,
  reals: 4,
  capacity: 200,
  backlog: 128,
  validRate: 50,
  partnerRate: 5,
  validAddresses: 1000,
  partnerAddresses: 100,
  botAddresses: 300,
  tableCapacity: 1 << 16,
  batchFrames: 64,
  rescorerSlotsPerMs: 4096,
};

/** For tests and `--quick`: shorter, the same shape. */
export const QUICK_PARAMS: Omit<SimParams, 'scenario' | 'strategy' | 'attackPps'> = {
  ...DEFAULT_PARAMS,
  durationMs: 6_000,
  tailMs: 8_000,
  attackStartMs: 1_000,
};

export const PARTNER_CIDR = '44.1.0.0/16';
const PARTNER_BASE = (44 << 24) | (1 << 16);
const BOT_BASE = 150 << 24;
/** Linux's SYN retransmissions (1 s initial RTO, doubled) and when a client gives up. */
const SYN_RETRIES_MS = [1_000, 3_000];
const GIVE_UP_MS = 7_000;
const SPOOF_ACK_DELAY_MS = 50;
const BOT_RTT_MS = 30;
const SAMPLE_EVERY_MS = 100;

/**
 * Director TCP timeouts: IPVS's, except the closing states at 5 s (`ipvsadm --set 900 5 300`
 * and the like). With IPVS's 120 s FIN_WAIT, closed connections would hold most of a small
 * upper threshold at 55 connections/s, and valid clients would be refused with no attack at all.
 */
export const SIM_TCP_TIMEOUTS_MS = [
  2_000, 900_000, 120_000, 60_000, 5_000, 5_000, 5_000, 5_000, 5_000, 120_000, 120_000,
];

/**
 * The defense section for a strategy. The LVS baselines run in automatic mode (1): mode 3 would
 * drop valid SYNs with no attack at all (drop_packet's 1 in am_droprate), which is not how an
 * operator runs it. amemthresh is sized so the automatic modes engage: LVS measures free memory,
 * Sluice free connection-table entries, and here the upper thresholds keep the table nearly empty
 * under any flood (a SYN for a full cluster is refused before it gets an entry), so the kernel-like
 * default (1/64 of the table) would never trip. It is set to engage once the table holds 3/4 of the
 * cluster's capacity (tableCapacity − 0.75 × Σ upper): on under attack, off under valid load.
 */
export function defenseFor(strategy: Strategy, p: SimParams): DefenseSnapshot {
  const engageAt = Math.floor(0.75 * p.reals * p.capacity);
  return {
    strategy,
    highWatermark: 0.98,
    lowWatermark: 0.95,
    // The LVS baselines count as IPVS does; the priority defense counts what the servers hold.
    countInactive: strategy !== 'priority',
    lvs: {
      dropEntry: 1,
      dropPacket: 1,
      secureTcp: 1,
      amemthresh: p.tableCapacity - engageAt,
      amDroprate: 10,
    },
    weights: { ...p.weights },
    rules: [{ cidr: PARTNER_CIDR, priority: 0 }],
    sourceChecks: { enabled: true, action: 'lowest' },
  };
}

export interface SimResult {
  mode: 'sim';
  scenario: Scenario;
  strategy: Strategy;
  attackPps: number;
  seed: number;
  validSuccess: number;
  setupP50Ms: number | null;
  setupP99Ms: number | null;
  validFalselyReset: number;
  priority0Shed: number;
  attackerSlots: number;
  partnerSuccess: number;
  validAttempts: number;
  partnerAttempts: number;
  /** Diagnostics: director drops by reason, RSTs it sent, server refusals by population. */
  directorDrops: Record<string, number>;
  resetsSent: number;
  /** LVS: entries drop_entry removed (main thread), new connections drop_packet refused. */
  lvsDroppedEntries: number;
  lvsDroppedSyns: number;
  lvsEngagedSeconds: number;
  resetsDisplaced: number;
  resetsShed: number;
  resetsForNothing: number;
  validSynDrops: Record<string, number>;
  partnerSynDrops: Record<string, number>;
  serverRefused: Record<string, number>;
  resetByDirector: Record<string, number>;
  /** Measured valid connections reset: `displaced|shed` × `halfOpen|established` at the server. */
  validResetHow: Record<string, number>;
  frames: number;
  wallMs: number;
}

const Ev = { syn: 0, synAck: 1, response: 2, more: 3, close: 4, lastAck: 5, giveUp: 6 } as const;

interface Client {
  id: number;
  owner: number;
  addr: number;
  port: number;
  key: number;
  rtt: number;
  t0: number;
  isn: number;
  synAcked: boolean;
  setupMs: number;
  /** 0 pending, 1 completed its request in time, 2 failed */
  outcome: number;
  reset: boolean;
  closed: boolean;
}

interface Event {
  c: Client;
  ev: number;
}

export function runSim(p: SimParams): SimResult {
  const started = performance.now();
  const rng = new Rng(p.seed);
  const rngValid = rng.fork(1);
  const rngAttack = rng.fork(2);
  const rngOrder = rng.fork(3);
  const director = new SimDirector(
    {
      reals: p.reals,
      capacity: p.capacity,
      tableCapacity: p.tableCapacity,
      defense: defenseFor(p.strategy, p),
      tcpTimeoutsMs: SIM_TCP_TIMEOUTS_MS,
      rescorerSlotsPerMs: p.rescorerSlotsPerMs,
    },
    p.seed ^ 0x5eed,
  );
  const servers = new ServerFarm({
    reals: p.reals,
    capacity: p.capacity,
    backlog: p.backlog,
    halfOpenTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
  });
  const frames = new FrameFactory(director.config.vni, '02:00:00:00:00:01', VIP_NUM, VPORT);

  // --- valid clients ---
  const clients: Client[] = [];
  const live = new Map<number, Client>();
  const heap = new EventHeap<Event>();
  const validAddr = Int32Array.from({ length: p.validAddresses }, () =>
    rngValid.int(11 << 24, (100 << 24) - 1),
  );
  const partnerAddr = Int32Array.from({ length: p.partnerAddresses }, (_, i) => PARTNER_BASE + 1 + i);
  const nextPort = new Map<number, number>();
  const portFor = (addr: number, r: Rng): number => {
    let port = nextPort.get(addr) ?? r.int(32768, 60999);
    port = port >= 60999 ? 32768 : port + 1;
    nextPort.set(addr, port);
    return port;
  };
  const schedule = (rate: number, owner: number, pool: Int32Array) => {
    if (rate <= 0) return;
    for (let t = rngValid.exp(1000 / rate); t < p.durationMs; t += rngValid.exp(1000 / rate)) {
      const addr = pool[rngValid.int(0, pool.length - 1)];
      const port = portFor(addr, rngValid);
      const c: Client = {
        id: 0,
        owner,
        addr,
        port,
        key: ServerFarm.key(addr, port),
        rtt: rngValid.int(10, 80),
        t0: Math.floor(t) + 1,
        isn: rngValid.u32(),
        synAcked: false,
        setupMs: -1,
        outcome: 0,
        reset: false,
        closed: false,
      };
      clients.push(c);
    }
  };
  schedule(p.validRate, Owner.valid, validAddr);
  schedule(p.partnerRate, Owner.partner, partnerAddr);
  clients.sort((a, b) => a.t0 - b.t0 || a.owner - b.owner);
  clients.forEach((c, i) => {
    c.id = i;
    heap.push(c.t0, { c, ev: Ev.syn });
    for (const r of SYN_RETRIES_MS) heap.push(c.t0 + r, { c, ev: Ev.syn });
    heap.push(c.t0 + GIVE_UP_MS, { c, ev: Ev.giveUp });
  });

  // --- attackers ---
  const share = p.scenario === 'mixed' ? 1 / 3 : 1;
  const floodPps = p.scenario === 'syn-flood' || p.scenario === 'mixed' ? p.attackPps * share : 0;
  const spoofConnPs =
    p.scenario === 'syn-ack-spoof' || p.scenario === 'mixed' ? (p.attackPps * share) / 2 : 0;
  const botConnPs = p.scenario === 'botnet-idle' || p.scenario === 'mixed' ? (p.attackPps * share) / 2 : 0;
  const botAddr = Int32Array.from({ length: p.botAddresses }, () => BOT_BASE + rngAttack.int(1, 0xffffff));
  const botPort = Int32Array.from({ length: p.botAddresses }, () => rngAttack.int(1024, 65535));
  const spoofAcks = new TupleQueue(4, 4096); // due, addr, port, seq
  const botAcks = new TupleQueue(4, 4096);
  let floodCarry = 0;
  let spoofCarry = 0;
  let botCarry = 0;

  // --- director ↔ servers ---
  let resetsSent = 0;
  let framesSent = 0;
  let inBatch = 0;
  // Measured valid connections the director reset, by what reset them and their server state.
  const validResetHow: Record<string, number> = {};
  director.onReset((addr, port) => {
    resetsSent++;
    const key = ServerFarm.key(addr, port);
    const wasEst = servers.isEstablished(key);
    const owner = servers.reset(key);
    if (owner === Owner.valid || owner === Owner.partner) {
      const c = live.get(key);
      if (c !== undefined && !c.reset) {
        c.reset = true;
        if (c.t0 >= p.attackStartMs) {
          const k = `${director.resetKind}-${wasEst ? 'established' : 'halfOpen'}`;
          validResetHow[k] = (validResetHow[k] ?? 0) + 1;
        }
        if (c.outcome === 0) c.outcome = 2;
      }
    }
  });
  // Why the director dropped measured valid and partner SYNs (first or retransmitted), by reason.
  const validSynDrops: Record<string, number> = {};
  const partnerSynDrops: Record<string, number> = {};
  let now = 0;
  const send = (kind: number, addr: number, port: number, seq: number): boolean => {
    const buf = frames.frame(kind as FrameKind, addr, port, seq, 0);
    const v = director.frame(buf, now);
    framesSent++;
    if (++inBatch >= p.batchFrames) {
      director.afterBatch(now);
      inBatch = 0;
    }
    return v === Verdict.forward;
  };

  const validEvent = (e: Event): void => {
    const c = e.c;
    switch (e.ev) {
      case Ev.syn: {
        if (c.synAcked || c.outcome !== 0) return;
        live.set(c.key, c);
        const forwarded = send(FrameKind.synLinux, c.addr, c.port, c.isn);
        if (!forwarded && c.t0 >= p.attackStartMs) {
          const why = DROP_REASON_NAMES[director.outReason] || String(director.outReason);
          const tally = c.owner === Owner.valid ? validSynDrops : partnerSynDrops;
          tally[why] = (tally[why] ?? 0) + 1;
        }
        if (forwarded) {
          if (servers.syn(director.outReal, c.key, c.owner, c.id, now) === SynResult.accepted) {
            heap.push(now + c.rtt, { c, ev: Ev.synAck });
          }
        }
        return;
      }
      case Ev.synAck: {
        if (c.synAcked || c.outcome !== 0) return;
        c.synAcked = true;
        c.setupMs = now - c.t0;
        if (send(FrameKind.ack, c.addr, c.port, c.isn + 1)) servers.ack(c.key, true, now);
        if (send(FrameKind.data, c.addr, c.port, c.isn + 1) && servers.segment(c.key, now)) {
          heap.push(now + rngValid.int(5, 30) + c.rtt, { c, ev: Ev.response });
        }
        return;
      }
      case Ev.response: {
        if (c.outcome === 0) c.outcome = !c.reset && now - c.t0 <= GIVE_UP_MS ? 1 : 2;
        heap.push(now, { c, ev: Ev.more });
        heap.push(now + Math.ceil(c.rtt / 2), { c, ev: Ev.more });
        heap.push(now + rngValid.int(500, 3000), { c, ev: Ev.close });
        return;
      }
      case Ev.more: {
        if (c.closed) return;
        if (send(FrameKind.ack, c.addr, c.port, c.isn + 1 + REQUEST_BYTES)) servers.segment(c.key, now);
        return;
      }
      case Ev.close: {
        c.closed = true;
        if (send(FrameKind.fin, c.addr, c.port, c.isn + 1 + REQUEST_BYTES)) servers.close(c.key);
        heap.push(now + c.rtt, { c, ev: Ev.lastAck });
        return;
      }
      case Ev.lastAck: {
        send(FrameKind.ack, c.addr, c.port, c.isn + 2 + REQUEST_BYTES);
        if (live.get(c.key) === c) live.delete(c.key);
        return;
      }
      case Ev.giveUp: {
        if (c.outcome === 0) c.outcome = 2;
        if (!c.synAcked && live.get(c.key) === c) live.delete(c.key);
        return;
      }
    }
  };

  const attackFrame = (type: number): void => {
    const r = rngAttack;
    switch (type) {
      case 0: {
        const addr = r.u32();
        const port = r.int(1024, 65535);
        if (send(FrameKind.synBare, addr, port, r.u32()))
          servers.syn(director.outReal, ServerFarm.key(addr, port), Owner.flood, -1, now);
        return;
      }
      case 1: {
        const addr = r.u32();
        const port = r.int(1024, 65535);
        const seq = r.u32() | 0;
        if (send(FrameKind.synLinux, addr, port, seq))
          servers.syn(director.outReal, ServerFarm.key(addr, port), Owner.spoofAck, -1, now);
        spoofAcks.push(now + SPOOF_ACK_DELAY_MS, addr | 0, port, (seq + 1) | 0);
        return;
      }
      case 2: {
        const addr = spoofAcks.peek(1) >>> 0;
        const port = spoofAcks.peek(2);
        const seq = spoofAcks.peek(3);
        spoofAcks.shift();
        if (send(FrameKind.ack, addr, port, seq)) servers.ack(ServerFarm.key(addr, port), false, now);
        return;
      }
      case 3: {
        const b = r.int(0, botAddr.length - 1);
        const addr = botAddr[b] >>> 0;
        const port = botPort[b] >= 65535 ? 1024 : botPort[b] + 1;
        botPort[b] = port;
        const seq = r.u32() | 0;
        if (
          send(FrameKind.synLinux, addr, port, seq) &&
          servers.syn(director.outReal, ServerFarm.key(addr, port), Owner.bot, -1, now) === SynResult.accepted
        ) {
          botAcks.push(now + BOT_RTT_MS, addr | 0, port, (seq + 1) | 0);
        }
        return;
      }
      case 4: {
        const addr = botAcks.peek(1) >>> 0;
        const port = botAcks.peek(2);
        const seq = botAcks.peek(3);
        botAcks.shift();
        if (send(FrameKind.ack, addr, port, seq)) servers.ack(ServerFarm.key(addr, port), true, now);
        return;
      }
    }
  };

  // --- the clock ---
  const end = p.durationMs + p.tailMs;
  const counts = new Int32Array(5);
  const due: Event[] = [];
  let slotSamples = 0;
  let slotSum = 0;
  const totalCapacity = p.reals * p.capacity;
  for (now = 1; now <= end; now++) {
    due.length = 0;
    while (heap.peekTime() <= now) due.push(heap.pop());
    const attacking = now >= p.attackStartMs;
    if (attacking) {
      floodCarry += floodPps / 1000;
      spoofCarry += spoofConnPs / 1000;
      botCarry += botConnPs / 1000;
    }
    counts[0] = Math.floor(floodCarry);
    floodCarry -= counts[0];
    counts[1] = Math.floor(spoofCarry);
    spoofCarry -= counts[1];
    counts[3] = Math.floor(botCarry);
    botCarry -= counts[3];
    counts[2] = 0;
    counts[4] = 0;
    // Follow-ups due now: they were queued in due order.
    let sa = 0;
    while (sa < spoofAcks.size && isDue(spoofAcks, sa, now)) sa++;
    counts[2] = sa;
    let ba = 0;
    while (ba < botAcks.size && isDue(botAcks, ba, now)) ba++;
    counts[4] = ba;
    let attackLeft = counts[0] + counts[1] + counts[2] + counts[3] + counts[4];
    // Valid events go at random places among this millisecond's attack frames.
    let validLeft = due.length;
    let vi = 0;
    while (attackLeft + validLeft > 0) {
      if (validLeft > 0 && rngOrder.next() * (attackLeft + validLeft) < validLeft) {
        validEvent(due[vi++]);
        validLeft--;
        // Events pushed for `now` itself (e.g. the first of two ACKs) run in this millisecond too.
        while (heap.peekTime() <= now) {
          due.push(heap.pop());
          validLeft++;
        }
        continue;
      }
      // Pick an attack type in proportion to what is left of each.
      let k = Math.floor(rngOrder.next() * attackLeft);
      let type = 0;
      while (k >= counts[type]) {
        k -= counts[type];
        type++;
      }
      counts[type]--;
      attackLeft--;
      attackFrame(type);
    }
    if (inBatch > 0) {
      director.afterBatch(now);
      inBatch = 0;
    }
    director.tick(now);
    servers.expire(now);
    if (attacking && now % SAMPLE_EVERY_MS === 0) {
      slotSamples++;
      const held = servers.heldBy(Owner.flood) + servers.heldBy(Owner.spoofAck) + servers.heldBy(Owner.bot);
      slotSum += held / totalCapacity;
    }
  }

  // --- metrics ---
  let validAttempts = 0;
  let validOk = 0;
  let validReset = 0;
  let partnerAttempts = 0;
  let partnerOk = 0;
  let partnerReset = 0;
  const setups: number[] = [];
  for (const c of clients) {
    // Measured: attempts made once the attack is on (before it, the warm-up gives sources history).
    if (c.t0 < p.attackStartMs) continue;
    if (c.owner === Owner.valid) {
      validAttempts++;
      if (c.outcome === 1) validOk++;
      if (c.reset) validReset++;
      if (c.setupMs >= 0) setups.push(c.setupMs);
    } else {
      partnerAttempts++;
      if (c.outcome === 1) partnerOk++;
      if (c.reset) partnerReset++;
    }
  }
  setups.sort((a, b) => a - b);
  const byOwner = (a: Float64Array): Record<string, number> => {
    const out: Record<string, number> = {};
    for (let o = 0; o < OWNER_COUNT; o++) if (a[o] > 0) out[OWNER_NAMES[o]] = a[o];
    return out;
  };
  return {
    mode: 'sim',
    scenario: p.scenario,
    strategy: p.strategy,
    attackPps: p.attackPps,
    seed: p.seed,
    validSuccess: round(validAttempts > 0 ? validOk / validAttempts : 1),
    setupP50Ms: percentile(setups, 0.5),
    setupP99Ms: percentile(setups, 0.99),
    validFalselyReset: round(validAttempts > 0 ? validReset / validAttempts : 0),
    priority0Shed: partnerReset,
    attackerSlots: round(slotSamples > 0 ? slotSum / slotSamples : 0),
    partnerSuccess: round(partnerAttempts > 0 ? partnerOk / partnerAttempts : 1),
    validAttempts,
    partnerAttempts,
    directorDrops: director.drops(),
    resetsSent,
    lvsDroppedEntries: director.loop.lvs.droppedEntries,
    lvsDroppedSyns: director.pipeline.lvs.droppedSyns,
    lvsEngagedSeconds: director.loop.lvsEngagedTicks,
    resetsDisplaced: director.resetsDisplaced,
    resetsShed: director.resetsShed,
    resetsForNothing: servers.resetsForNothing,
    validSynDrops,
    partnerSynDrops,
    serverRefused: byOwner(servers.refused),
    resetByDirector: byOwner(servers.resetByDirector),
    validResetHow,
    frames: framesSent,
    wallMs: Math.round(performance.now() - started),
  };
}

function isDue(q: TupleQueue, k: number, now: number): boolean {
  return q.peekAt(k, 0) <= now;
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
