// The priority defense inside the pipeline, in this thread on a hand-set clock: a SYN refused for
// capacity is remembered so its retransmission earns the retry credit; the unproven count (TCP
// entries whose client sent no payload) per real server; the unproven budget that lets a SYN
// reset a blind-ACKed entry before the real server's backlog fills; and the shedder passing over
// clients that spoke while unproven entries can make the room.
import { ConnectionTable, PersistenceTable, SourceTable } from '@sluice/conntrack';
import { Rescorer, SynMemory, VictimIndex } from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { FrameInfo, ParseStatus, parseFrame, parseVxlan, VxlanInfo } from '@sluice/wire';
import { describe, expect, it } from 'vitest';
import {
  CompiledConfig,
  type ConfigSnapshot,
  CounterBlock,
  DEFAULT_PIPELINE_OPTIONS,
  DropReason,
  oneRealSnapshot,
  Pipeline,
  ResetWord,
  Shedder,
  Verdict,
} from './index.ts';

const MAC = '02:00:00:00:00:01';
const traffic = new TrafficFrames({ vni: 7, clientMac: '02:00:00:00:09:09', directorMac: MAC });
const VIP = addressBytes('10.0.0.100'); // oneRealSnapshot's service

function snapshot(upper: number, unprovenShare: number): ConfigSnapshot {
  return {
    ...oneRealSnapshot('192.168.0.1', MAC, upper),
    vni: 7,
    defense: {
      strategy: 'priority',
      highWatermark: 0.98,
      lowWatermark: 0.95,
      unprovenShare,
      lvs: { dropEntry: 0, dropPacket: 0, secureTcp: 0, amemthresh: 0, amDroprate: 10 },
      weights: {},
      rules: [],
      sourceChecks: { enabled: true, action: 'lowest' },
    },
  };
}

function setup(upper: number, unprovenShare = 1) {
  const limits = { maxServices: 1, maxReals: 1 };
  const reals = RealServerCounters.create(1);
  const victims = VictimIndex.create(1, 64);
  const tables = {
    connections: ConnectionTable.create(1024, 0),
    sources: SourceTable.create(1024, 0),
    persistence: PersistenceTable.create(64, 0),
    reals,
    victims,
    synMemory: SynMemory.create(1024),
  };
  const counters = CounterBlock.create({ maxWorkers: 1, ...limits });
  const config = new CompiledConfig(snapshot(upper, unprovenShare), limits, reals);
  const pipe = new Pipeline(tables, counters.region(0), counters.layout, config, DEFAULT_PIPELINE_OPTIONS);
  const rescorer = new Rescorer(tables.connections, tables.sources, victims);
  /** One frame at `now`; returns the verdict, with the pipeline's outArg (real or drop reason). */
  const send = (frame: Uint8Array, now: number) => {
    pipe.now = now;
    pipe.resetCount = 0;
    return pipe.processFrame(frame, 0, frame.length);
  };
  return { pipe, tables, reals, config, rescorer, send };
}

const client = (host: number, port: number, flags: number, seq: number, payloadLen = 0) =>
  traffic.tcp({
    // 11/8: a public source (documentation ranges are bogons to the source checks)
    src: addressBytes(`11.0.${host >> 8}.${host & 0xff}`),
    dst: VIP,
    srcPort: port,
    dstPort: 80,
    flags,
    seq,
    payloadLen,
    shape: flags === TCP.syn ? 'linux' : undefined,
  });

/** The client port of the i-th RST the last frame queued. */
const resetPort = (pipe: Pipeline, i: number) => pipe.resetQueue[i * ResetWord.words + ResetWord.port];

describe('the priority defense in the pipeline', () => {
  it('remembers a SYN refused for capacity: its retransmission a second later outranks the entries the first try could not', () => {
    const { pipe, send, rescorer } = setup(2);
    // two kernel-shaped SYNs from new sources (priority 8 each) fill the server
    expect(send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.forward);
    expect(send(client(2, 1000, TCP.syn, 22), 0)).toBe(Verdict.forward);
    rescorer.runPass(10);
    // a third, as good as they are, does not outrank them: refused, and remembered
    expect(send(client(3, 1000, TCP.syn, 33), 20)).toBe(Verdict.drop);
    expect(pipe.outArg).toBe(DropReason.capacity);
    // the same SYN resent at once (a tool, not a stack) earns nothing
    expect(send(client(3, 1000, TCP.syn, 33), 100)).toBe(Verdict.drop);
    // a new connection (another ISN) is no retransmission either
    expect(send(client(3, 1001, TCP.syn, 34), 1020)).toBe(Verdict.drop);
    // the kernel's retry, a second after the refusal: credit 3 (8 → 5), so it takes a slot
    expect(send(client(3, 1000, TCP.syn, 33), 1020)).toBe(Verdict.forward);
    expect(pipe.resetCount).toBe(1);
    expect(resetPort(pipe, 0)).toBe(1000);
  });

  it('counts unproven connections per real server: a SYN adds one, the first payload or the removal takes it back', () => {
    const { send, reals, tables } = setup(0);
    send(client(1, 1000, TCP.syn, 1), 0);
    send(client(2, 1000, TCP.syn, 1), 0);
    expect(reals.unproven[0]).toBe(2);
    send(client(1, 1000, TCP.ack, 2), 10); // a handshake alone proves nothing
    expect(reals.unproven[0]).toBe(2);
    send(client(1, 1000, TCP.ack | TCP.psh, 2, 300), 11);
    send(client(1, 1000, TCP.ack | TCP.psh, 302, 300), 12); // counted once
    expect(reals.unproven[0]).toBe(1);
    // removing the unproven entry (here: expiry of everything) takes it back; the proven one was not counted
    tables.connections.expireStep(10_000_000, tables.connections.capacity);
    expect(tables.connections.count()).toBe(0);
    expect(reals.unproven[0]).toBe(0);
    // UDP has no handshake and no payload test: never counted
    send(traffic.udp(addressBytes('11.0.0.9'), VIP, 5000, 80, 0), 20);
    expect(reals.unproven[0]).toBe(0);
  });

  it('over its unproven budget, a SYN resets the lowest unproven entry it outranks or is refused; a client that spoke is never taken for it', () => {
    // capacity 20, budget half of it: 10 unproven
    const { pipe, send, reals, rescorer } = setup(20, 0.5);
    // 4 clients that spoke, then went idle for a minute (they sink: 6 + 6 = 12)
    for (let h = 1; h <= 4; h++) {
      send(client(h, 2000, TCP.syn, 1), 0);
      send(client(h, 2000, TCP.ack | TCP.psh, 2, 300), 10);
    }
    // 10 blind-ACKed entries: a SYN, an ACK, never data
    for (let h = 11; h <= 20; h++) {
      send(client(h, 3000, TCP.syn, 1), 59_000);
      send(client(h, 3000, TCP.ack, 2), 59_050);
    }
    expect(reals.unproven[0]).toBe(10);
    rescorer.runPass(61_000); // the blind-ACKed ones are silent: 8 + 4 = 12
    // a new client's SYN (8): the budget is spent, so it resets an unproven entry (not a client)
    expect(send(client(30, 4000, TCP.syn, 1), 61_001)).toBe(Verdict.forward);
    expect(pipe.resetCount).toBe(1);
    expect(resetPort(pipe, 0)).toBe(3000);
    expect(reals.unproven[0]).toBe(10); // one went, one came
    // only clients that spoke are left below the next SYN in the listing: nothing is reset for it
    const { pipe: pipe2, send: send2, rescorer: rescorer2 } = setup(20, 0.5);
    for (let h = 1; h <= 4; h++) {
      send2(client(h, 2000, TCP.syn, 1), 0);
      send2(client(h, 2000, TCP.ack | TCP.psh, 2, 300), 10);
    }
    for (let h = 11; h <= 20; h++) send2(client(h, 3000, TCP.syn, 1), 60_000);
    rescorer2.runPass(60_500); // idle clients at 12 listed first; the half-open ones at 8
    // the budget holds: refused like a full server (and remembered for its retry), nobody reset
    expect(send2(client(31, 4000, TCP.syn, 1), 60_501)).toBe(Verdict.drop);
    expect(pipe2.outArg).toBe(DropReason.unproven);
    expect(pipe2.resetCount).toBe(0);
    // its retransmission a second later earns the retry credit (8 → 5) and takes a half-open slot
    expect(send2(client(31, 4000, TCP.syn, 1), 61_600)).toBe(Verdict.forward);
    expect(pipe2.resetCount).toBe(1);
    expect(resetPort(pipe2, 0)).toBe(3000);
  });

  it('the shedder passes over listed clients that spoke while unproven entries can make the room', () => {
    const { send, tables, config, rescorer, reals } = setup(10);
    // 5 clients that spoke and idled a minute (12), then 5 fresh half-open entries (8): 10 of 10
    for (let h = 1; h <= 5; h++) {
      send(client(h, 2000, TCP.syn, 1), 0);
      send(client(h, 2000, TCP.ack | TCP.psh, 2, 300), 10);
    }
    for (let h = 11; h <= 15; h++) send(client(h, 3000, TCP.syn, 1), 60_000);
    rescorer.runPass(60_100);
    const sent: number[] = [];
    const info = new FrameInfo();
    const vx = new VxlanInfo();
    const shedder = new Shedder(tables, (datagram) => {
      expect(parseVxlan(datagram, 0, datagram.length, vx)).toBe(ParseStatus.ok);
      expect(parseFrame(datagram, 8, datagram.length - 8, info)).toBe(ParseStatus.ok);
      sent.push(info.srcPort);
    });
    // 98% of 10 reached: shed to 95% (9): one entry, and it is a half-open one, not a client
    expect(shedder.step(config)).toBe(1);
    expect(sent).toEqual([3000]);
    expect(shedder.spared).toBeGreaterThan(0);
    expect(reals.unproven[0]).toBe(4);
  });
});
