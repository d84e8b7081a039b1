// The priority defense inside the real Pipeline, in this thread on a hand-set clock: the
// challenge and its answer, probes, verification by rule, the sequence window that keeps a blind
// spoofer from moving anyone's connection, what the real server holds, the server's progress as
// the client acknowledges it, displacement and shedding with the RST's exact sequence number, and
// the defense loop switching verification on and off.
import {
  AnsweredPortTable,
  AnswerKind,
  Conn,
  ConnBit,
  ConnectionTable,
  ConnFlag,
  PersistenceTable,
  PORT_ANSWER_MS,
  PORT_SLOTS,
  RemoveReason,
  SourceTable,
  Src,
  VerifiedSourceTable,
} from '@sluice/conntrack';
import {
  DEFENSE_WEIGHTS,
  DefenseLoop,
  DefenseState,
  probePortFor,
  Rescorer,
  ServerQuietMarks,
  VictimIndex,
} from '@sluice/defense';
import { RealServerCounters } from '@sluice/schedulers';
import { addressBytes, TCP, TrafficFrames } from '@sluice/traffic';
import { FrameInfo, ParseStatus, parseFrame, parseVxlan, TcpFlag, VxlanInfo } from '@sluice/wire';
import { describe, expect, it } from 'vitest';
import {
  CompiledConfig,
  type ConfigSnapshot,
  CounterBlock,
  DEFAULT_PIPELINE_OPTIONS,
  Defense,
  DropReason,
  Pipeline,
  PROBE_FRAME_BYTES,
  ResetWord,
  Verdict,
} from './index.ts';
import { oneRealSnapshot } from './testing.ts';

const MAC = '02:00:00:00:00:01';
const traffic = new TrafficFrames({ vni: 7, clientMac: '02:00:00:00:09:09', directorMac: MAC });
const VIP = addressBytes('10.0.0.100'); // oneRealSnapshot's service
const KEY = [1, 2, 3, 4];
/** The VTEP the test's frames "come from". */
const VTEP = (192 << 24) | (168 << 16) | (7 << 8) | 7;

type Rule = { cidr: string; priority: number; verify?: boolean };

function snapshot(
  upper: number,
  mode: 'auto' | 'always' | 'off',
  rules: Rule[],
  probeNewSources = true,
  probesPerSecond = 1000,
): ConfigSnapshot {
  return {
    ...oneRealSnapshot('192.168.0.1', MAC, upper),
    vni: 7,
    defense: {
      strategy: 'priority',
      highWatermark: 0.98,
      lowWatermark: 0.95,
      verification: {
        mode,
        watermark: 0.75,
        holdSeconds: 10,
        ttlSeconds: 3600,
        probeIntervalMs: 1000,
        probeNewSources,
        probesPerSecond,
      },
      lvs: { dropEntry: 0, dropPacket: 0, secureTcp: 0, amemthresh: 0, amDroprate: 10 },
      weights: {},
      rules,
      sourceChecks: { enabled: true, action: 'lowest' },
    },
  };
}

function setup(
  upper: number,
  opts: {
    mode?: 'auto' | 'always' | 'off';
    rules?: Rule[];
    probeNewSources?: boolean;
    probesPerSecond?: number;
  } = {},
) {
  const limits = { maxServices: 1, maxReals: 1 };
  const reals = RealServerCounters.create(1);
  const victims = VictimIndex.create(1, 64);
  const state = DefenseState.create(1, KEY);
  const tables = {
    connections: ConnectionTable.create(1024, 0),
    sources: SourceTable.create(1024, 0),
    persistence: PersistenceTable.create(64, 0),
    reals,
    victims,
    verified: VerifiedSourceTable.create(1024, 0),
    answered: AnsweredPortTable.create(1024, 0),
    defenseState: state,
  };
  const counters = CounterBlock.create({ maxWorkers: 1, ...limits });
  const config = new CompiledConfig(
    snapshot(
      upper,
      opts.mode ?? 'auto',
      opts.rules ?? [],
      opts.probeNewSources ?? true,
      opts.probesPerSecond ?? 1000,
    ),
    limits,
    reals,
  );
  const pipe = new Pipeline(tables, counters.region(0), counters.layout, config, DEFAULT_PIPELINE_OPTIONS);
  const rescorer = new Rescorer({ ...tables, state, victims });
  /** One frame at `now`; returns the verdict (the pipeline's real, dropReason or replyLength go with it). */
  const send = (frame: Uint8Array, now: number) => {
    pipe.now = now;
    pipe.resetCount = 0;
    pipe.probeCount = 0;
    pipe.senderVtep = VTEP;
    pipe.replyLength = 0;
    return pipe.processFrame(frame, 0, frame.length);
  };
  const defenseCount = (word: number) => counters.sum(counters.layout.defense + word);
  return { pipe, tables, reals, config, rescorer, send, state, counters, defenseCount };
}

const src = (host: number) => addressBytes(`11.0.${host >> 8}.${host & 0xff}`);

const client = (
  host: number,
  port: number,
  flags: number,
  seq: number,
  payloadLen = 0,
  ack = 0,
  window?: number,
) =>
  traffic.tcp({
    window,
    // 11/8: a public source (documentation ranges are bogons to the source checks)
    src: src(host),
    dst: VIP,
    srcPort: port,
    dstPort: 80,
    flags,
    seq,
    ack,
    payloadLen,
    shape: flags === TCP.syn ? 'linux' : undefined,
  });

/** The TCP segment the pipeline wrote over `frame` (a reply) or into a probe slot, parsed. */
function parseOut(buf: Uint8Array, off: number, len: number): FrameInfo {
  const vx = new VxlanInfo();
  expect(parseVxlan(buf, off, len, vx)).toBe(ParseStatus.ok);
  expect(vx.vni).toBe(7);
  const f = new FrameInfo();
  expect(parseFrame(buf, off + 8, len - 8, f)).toBe(ParseStatus.ok);
  return f;
}

/** The RST a real stack in SYN-SENT (or with no socket) answers `synAck` with: <SEQ=SEG.ACK><CTL=RST>. */
const answerTo = (host: number, synAck: FrameInfo) => client(host, synAck.dstPort, TCP.rst, synAck.tcpAck);

/** The slot of host `host`'s connection from `port` (released again). */
function slotOf(table: ConnectionTable, host: number, port: number): number {
  const a = src(host);
  const addr = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3];
  const slot = table.acquire(0, 0, 0xffff, addr, port << 16, false, 0, 0);
  expect(slot).toBeGreaterThanOrEqual(0);
  table.release(slot);
  return slot;
}

function record(table: ConnectionTable, host: number, port: number): Int32Array {
  const slot = slotOf(table, host, port);
  const r = new Int32Array(Conn.snapshotWords);
  expect(table.readRecord(slot, r)).toBe(true);
  return r;
}
const prio = (r: Int32Array) => (r[Conn.statePrio] >>> 8) & 0xff;
const flags = (r: Int32Array) => r[Conn.flagsSyn];

/** A defense loop over `t`'s tables whose RSTs land in the returned list. */
function loopOf(t: ReturnType<typeof setup>) {
  const sent: Int32Array[] = [];
  const loop = new DefenseLoop(
    {
      connections: t.tables.connections,
      reals: t.reals,
      victims: t.tables.victims,
      state: t.state,
      verified: t.tables.verified,
    },
    (rec) => {
      sent.push(Int32Array.from(rec));
      return true;
    },
  );
  return { loop, sent };
}

describe('source verification in the pipeline', () => {
  it('forwards every SYN while the service is not verifying: no challenge, no delay', () => {
    const { send, tables, defenseCount } = setup(100);
    expect(send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.forward);
    const r = record(tables.connections, 1, 1000);
    expect(prio(r)).toBe(8); // the unverified band, a kernel's SYN
    expect(flags(r) & (ConnFlag.verified | ConnFlag.held)).toBe(ConnFlag.held);
    expect(defenseCount(Defense.challengesSent)).toBe(0);
  });

  it('under pressure answers an unverified SYN with a SYN-ACK carrying a cookie, and creates nothing', () => {
    const { pipe, send, tables, state, defenseCount } = setup(100);
    state.setVerifying(0, 1);
    const syn = client(1, 1000, TCP.syn, 11);
    expect(send(syn, 0)).toBe(Verdict.reply);
    const f = parseOut(syn, 0, pipe.replyLength);
    expect(f.tcpFlags).toBe(TcpFlag.syn | TcpFlag.ack);
    expect([f.srcPort, f.dstPort]).toEqual([80, 1000]);
    expect(f.src3 >>> 0).toBe(0x0a000064); // from the VIP
    expect(f.dst3 >>> 0).toBe(0x0b000001); // to the client
    expect(f.tcpAck).not.toBe(12); // never the valid ISN + 1
    expect(tables.connections.count()).toBe(0);
    expect(defenseCount(Defense.challengesSent)).toBe(1);
    // the cookie is keyed: another 4-tuple gets another one
    const other = client(1, 1001, TCP.syn, 11);
    send(other, 0);
    expect(parseOut(other, 0, pipe.replyLength).tcpAck).not.toBe(f.tcpAck);
  });

  it("verifies a source by its RST carrying the cookie; the client's SYN again goes through, verified", () => {
    const { pipe, send, tables, state, defenseCount } = setup(100);
    state.setVerifying(0, 1);
    const syn = client(1, 1000, TCP.syn, 11);
    send(syn, 0);
    const challenge = parseOut(syn, 0, pipe.replyLength);
    expect(send(answerTo(1, challenge), 11)).toBe(Verdict.drop);
    expect(pipe.dropReason).toBe(DropReason.challengeAnswer);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000001, 11)).toBe(1);
    expect(defenseCount(Defense.sourcesVerified)).toBe(1);
    // the answer drew a probe to another port
    expect(pipe.probeCount).toBe(1);
    const probe = parseOut(pipe.probeFrames, 0, pipe.probeLengths[0]);
    expect(probe.dstPort).toBe(probePortFor(1000));
    expect(send(client(1, 1000, TCP.syn, 11), 21)).toBe(Verdict.forward);
    const r = record(tables.connections, 1, 1000);
    expect(flags(r) & ConnFlag.verified).toBe(ConnFlag.verified);
    expect(prio(r)).toBe(4);
    // the source answers the probe too (its stack resets any unsolicited SYN-ACK, a spoofer's
    // included), and another connection is forwarded at once
    send(answerTo(1, probe), 25);
    expect(send(client(1, 2000, TCP.syn, 99), 30)).toBe(Verdict.forward);
  });

  it('a source that answers its own challenges but no probe (a stealth NAT) is asked connection by connection; a spoof in its name never reaches a server', () => {
    const { pipe, send, tables, reals, state, defenseCount } = setup(100);
    state.setVerifying(0, 1);
    // (each connection its own initial sequence number, as stacks draw them)
    const stealthAnswer = (port: number, t: number, isn: number) => {
      const syn = client(1, port, TCP.syn, isn);
      expect(send(syn, t)).toBe(Verdict.reply);
      send(answerTo(1, parseOut(syn, 0, pipe.replyLength)), t + 10); // the probe it draws is dropped
      pipe.probeCount = 0;
      return send(client(1, port, TCP.syn, isn), t + 20); // its stack's SYN again
    };
    expect(stealthAnswer(1000, 0, 11)).toBe(Verdict.forward);
    // its next connection, and a spoofer's SYN from its address: each is challenged
    expect(send(client(1, 2000, TCP.syn, 0x30000000), 1000)).toBe(Verdict.reply);
    expect(send(client(1, 3000, TCP.syn, 0x50000007), 1001)).toBe(Verdict.reply);
    expect(tables.connections.count()).toBe(1);
    expect(stealthAnswer(2000, 2000, 0x30000000)).toBe(Verdict.forward);
    // its own connections end their provisional time in the verified band, without a probe
    send(client(1, 2000, TCP.ack, 0x30000001, 0, 5001), 2600);
    const r = record(tables.connections, 1, 2000);
    expect(flags(r) & (ConnFlag.verified | ConnFlag.provisional | ConnFlag.held)).toBe(
      ConnFlag.verified | ConnFlag.held,
    );
    expect(reals.held[0]).toBe(1);
    expect(defenseCount(Defense.reconfirmFailed)).toBe(0);
    // a spoofer must guess a port that answered lately, or an answered SYN's sequence number
    expect(send(client(1, 2001, TCP.syn, 0x50000007), 2700)).toBe(Verdict.reply);
  });

  it('a busy address asked connection by connection (a carrier NAT: more answers within a retransmission timeout than its record keeps) lets each of its SYNs through again, and no other port', () => {
    const { pipe, send, state } = setup(1000);
    state.setVerifying(0, 1);
    // Its users' first SYNs within one second, each challenged and answered (the probes dropped);
    // their stacks send them again only at their retransmission timeout.
    const users = 4 * PORT_SLOTS;
    for (let i = 0; i < users; i++) {
      const syn = client(1, 1000 + i, TCP.syn, 11 + i * 0x100000);
      expect(send(syn, i * 20)).toBe(Verdict.reply);
      send(answerTo(1, parseOut(syn, 0, pipe.replyLength)), i * 20 + 10);
    }
    // a spoofer's SYN from the address must guess a port that answered, and the sequence number
    // of the SYN whose challenge was answered there (the first users' ports are out of the record)
    expect(send(client(1, 9000, TCP.syn, 0x60000007), 900)).toBe(Verdict.reply);
    expect(send(client(1, 1000, TCP.syn, 0x40000000), 900)).toBe(Verdict.reply);
    for (let i = 0; i < users; i++) {
      expect(send(client(1, 1000 + i, TCP.syn, 11 + i * 0x100000), 1000 + i * 20)).toBe(Verdict.forward);
    }
    // and an answer counts for a retransmission's time only
    const late = client(1, 1000 + users, TCP.syn, 0x70000005);
    expect(send(late, 2000)).toBe(Verdict.reply);
    send(answerTo(1, parseOut(late, 0, pipe.replyLength)), 2010);
    expect(send(client(1, 1000 + users, TCP.syn, 0x70000005), 2010 + PORT_ANSWER_MS + 100)).toBe(
      Verdict.reply,
    );
  });

  it('a NAT that gives the SYN sent again another port (its entry closed by the answer): let through once by its sequence number', () => {
    const { pipe, send, state } = setup(1000);
    state.setVerifying(0, 1);
    const syn = client(1, 1000, TCP.syn, 0x1234567);
    expect(send(syn, 0)).toBe(Verdict.reply);
    send(answerTo(1, parseOut(syn, 0, pipe.replyLength)), 10);
    pipe.probeCount = 0; // the router drops the probe: asked connection by connection
    expect(send(client(1, 2000, TCP.syn, 0x1234567), 20)).toBe(Verdict.forward);
    // the same SYN again from a third port: the answer is used up
    expect(send(client(1, 3000, TCP.syn, 0x1234567), 30)).toBe(Verdict.reply);
    // an answered SYN let through by its own port uses up its sequence-number entry too
    const own = client(1, 5000, TCP.syn, 0x2345678);
    expect(send(own, 50)).toBe(Verdict.reply);
    send(answerTo(1, parseOut(own, 0, pipe.replyLength)), 60);
    pipe.probeCount = 0;
    expect(send(client(1, 5000, TCP.syn, 0x2345678), 70)).toBe(Verdict.forward);
    expect(send(client(1, 6000, TCP.syn, 0x2345678), 80)).toBe(Verdict.reply);
    // another SYN from a fourth: not the one answered
    expect(send(client(1, 4000, TCP.syn, 0x7654321), 40)).toBe(Verdict.reply);
  });

  it("a spoofer flooding a new client's address with SYNs, each challenge answered by the client's stack, does not lock it out: its probe's answer is known by its cookie", () => {
    const { pipe, send, state } = setup(100);
    state.setVerifying(0, 1);
    const syn = client(1, 1000, TCP.syn, 11);
    expect(send(syn, 0)).toBe(Verdict.reply);
    send(answerTo(1, parseOut(syn, 0, pipe.replyLength)), 10);
    const probe = parseOut(pipe.probeFrames, 0, pipe.probeLengths[0]);
    // The spoofer's SYNs from the same address; its owner's stack resets each challenge (a host
    // with no socket for the port answers as one in SYN-SENT), more answers than the ports the
    // director remembers.
    for (let i = 0; i < 20; i++) {
      const spoof = client(1, 5000 + i, TCP.syn, 0x50000000 + i * 0x10000);
      expect(send(spoof, 20 + i)).toBe(Verdict.reply);
      send(answerTo(1, parseOut(spoof, 0, pipe.replyLength)), 40 + i);
    }
    // the client's stack answers the probe (to a port it never used) a round trip later
    send(answerTo(1, probe), 300);
    // its SYN again, at its retransmission timeout: verified, forwarded
    expect(send(client(1, 1000, TCP.syn, 11), 1000)).toBe(Verdict.forward);
  });

  it('a wrong guess verifies nothing; an answer is good for its time slot and the next only', () => {
    const { pipe, send, tables, state, defenseCount } = setup(100);
    state.setVerifying(0, 1);
    const syn = client(1, 1000, TCP.syn, 11);
    send(syn, 0);
    const challenge = parseOut(syn, 0, pipe.replyLength);
    expect(send(client(1, 1000, TCP.rst, (challenge.tcpAck + 1) | 0), 5)).toBe(Verdict.drop);
    expect(pipe.dropReason).toBe(DropReason.noEntry);
    expect(defenseCount(Defense.answersWrong)).toBe(1);
    // an RST with ACK set is no answer (a stack answers <SEQ=SEG.ACK><CTL=RST> without ACK)
    const withAck = traffic.tcp({
      src: src(1),
      dst: VIP,
      srcPort: 1000,
      dstPort: 80,
      flags: TCP.rst | TCP.ack,
      seq: challenge.tcpAck,
      ack: 12,
    });
    send(withAck, 6);
    // two time slots (2 × 65.5 s) later the cookie is stale
    send(answerTo(1, challenge), 140_000);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000001, 140_000)).toBe(0);
    // within the next slot it still counts
    send(answerTo(1, challenge), 70_000);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000001, 70_000)).toBe(1);
  });

  it("a blind spoofer's whole kit (a kernel's SYN, its retransmission, an ACK, payload) never gets an entry under pressure", () => {
    const { send, tables, state } = setup(100);
    state.setVerifying(0, 1);
    for (let i = 0; i < 50; i++) {
      const host = 500 + i;
      expect(send(client(host, 3000, TCP.syn, 7), i)).toBe(Verdict.reply);
      expect(send(client(host, 3000, TCP.syn, 7), i + 1000)).toBe(Verdict.reply); // the retransmission
      expect(send(client(host, 3000, TCP.ack, 8, 0, 12345), i + 1050)).toBe(Verdict.drop); // blind ACK
      expect(send(client(host, 3000, TCP.ack | TCP.psh, 8, 300, 12345), i + 1051)).toBe(Verdict.drop);
      // a guessed answer
      expect(send(client(host, 3000, TCP.rst, 0x1234567), i + 1052)).toBe(Verdict.drop);
    }
    expect(tables.connections.count()).toBe(0);
    expect(tables.verified.count()).toBe(0);
  });

  it('always-mode challenges with no load at all; off never does', () => {
    const always = setup(100, { mode: 'always' });
    expect(always.send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.reply);
    const off = setup(100, { mode: 'off' });
    off.state.setVerifying(0, 1);
    expect(off.send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.forward);
  });

  it('lets a SYN retransmission of a connection admitted before the pressure through, unchallenged', () => {
    const { send, state } = setup(100);
    expect(send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.forward);
    state.setVerifying(0, 1);
    expect(send(client(1, 1000, TCP.syn, 11), 1000)).toBe(Verdict.forward);
  });
});

describe('probes: verifying the sources of connections that began before the pressure', () => {
  it('sends one probe per source per interval to another port, and the answer joins the connection to the verified band', () => {
    const { pipe, send, tables, state, defenseCount } = setup(100, { probeNewSources: false });
    send(client(1, 1000, TCP.syn, 11), 0);
    expect(pipe.probeCount).toBe(0);
    send(client(1, 1000, TCP.ack, 12, 0, 5001), 20);
    state.setVerifying(0, 1);
    expect(send(client(1, 1000, TCP.ack, 12, 100, 5001), 100)).toBe(Verdict.forward);
    expect(pipe.probeCount).toBe(1);
    expect(pipe.probeVteps[0]).toBe(VTEP);
    const probe = parseOut(pipe.probeFrames, 0, pipe.probeLengths[0]);
    expect(pipe.probeLengths[0]).toBeLessThanOrEqual(PROBE_FRAME_BYTES);
    expect(probe.tcpFlags).toBe(TcpFlag.syn | TcpFlag.ack);
    expect(probe.dstPort).not.toBe(1000); // not the connection's own port
    expect(probe.dst3 >>> 0).toBe(0x0b000001);
    // within the interval: no second probe
    send(client(1, 1000, TCP.ack, 112, 0, 5001), 500);
    expect(pipe.probeCount).toBe(0);
    // the client's stack answers the probe; the connection's next packet finds its source verified
    send(answerTo(1, probe), 520);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000001, 520)).toBe(1);
    send(client(1, 1000, TCP.ack, 112, 0, 9001), 600);
    const r = record(tables.connections, 1, 1000);
    expect(flags(r) & ConnFlag.verified).toBe(ConnFlag.verified);
    expect(prio(r)).toBeLessThan(8);
    expect(defenseCount(Defense.probesSent)).toBe(1);
  });

  it('probes a new source at its first SYN, with no pressure, so it is verified before any comes', () => {
    const { pipe, send, tables, defenseCount } = setup(100);
    expect(send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.forward);
    expect(pipe.probeCount).toBe(1);
    const probe = parseOut(pipe.probeFrames, 0, pipe.probeLengths[0]);
    expect(probe.dst3 >>> 0).toBe(0x0b000001);
    // its second connection within the interval: no second probe
    expect(send(client(1, 1001, TCP.syn, 11), 10)).toBe(Verdict.forward);
    expect(pipe.probeCount).toBe(0);
    send(answerTo(1, probe), 20);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000001, 20)).toBe(1);
    // verified sources are not probed again
    expect(send(client(1, 1002, TCP.syn, 11), 5000)).toBe(Verdict.forward);
    expect(pipe.probeCount).toBe(0);
    expect(defenseCount(Defense.probesSent)).toBe(1);
  });

  it("asking sources again takes at most half of each second's probes: first-time sources keep the rest", () => {
    const { pipe, send, defenseCount } = setup(100, { probesPerSecond: 4 });
    const probed = (host: number, port: number, now: number) => {
      send(client(host, port, TCP.syn, 11), now);
      return pipe.probeCount;
    };
    // Second 0: four new sources, four first probes; a fifth finds the budget spent.
    expect([1, 2, 3, 4, 5].map((h) => probed(h, 1000, 10 * h))).toEqual([1, 1, 1, 1, 0]);
    // Second 1: none of them answered. Asked again, only two of the four may be; a source never
    // probed still is, with what is left.
    expect([1, 2, 3, 4].map((h) => probed(h, 2000, 1100 + h))).toEqual([1, 1, 0, 0]);
    expect(probed(6, 1000, 1200)).toBe(1);
    expect(probed(7, 1000, 1201)).toBe(1);
    expect(probed(8, 1000, 1202)).toBe(0); // the whole budget spent
    expect(defenseCount(Defense.probesSent)).toBe(8);
  });

  it('a source asked connection by connection whose answers push out its ports (a spoofer using it) is probed beside a spent budget, once in PORT_SLOTS answers', () => {
    const { pipe, send, state, defenseCount } = setup(100, { probesPerSecond: 1 });
    state.setVerifying(0, 1);
    // Another live host's answer takes the only probe there is.
    const other = client(2, 7000, TCP.syn, 5);
    send(other, 0);
    send(answerTo(2, parseOut(other, 0, pipe.replyLength)), 1);
    expect(pipe.probeCount).toBe(1);
    // The client's first SYN, and its answer: no probe left for it.
    const syn = client(1, 1000, TCP.syn, 11);
    send(syn, 2);
    send(answerTo(1, parseOut(syn, 0, pipe.replyLength)), 3);
    expect(pipe.probeCount).toBe(0);
    // A spoofer's SYNs from its address, each challenge answered by the client's stack: the first
    // PORT_SLOTS - 1 fill the record's ports, then every answer pushes out a port still fresh.
    const probes: number[] = [];
    for (let i = 0; i < 2 * PORT_SLOTS; i++) {
      const spoof = client(1, 5000 + i, TCP.syn, 0x50000000 + i * 0x10000);
      send(spoof, 10 + i);
      send(answerTo(1, parseOut(spoof, 0, pipe.replyLength)), 10 + i);
      if (pipe.probeCount === 1) probes.push(i);
    }
    expect(probes.length).toBeGreaterThanOrEqual(1);
    expect(probes.length).toBeLessThanOrEqual(2);
    // the client answers the probe: verified per source, its own SYN again goes through
    const probe = parseOut(pipe.probeFrames, 0, pipe.probeLengths[0]);
    send(answerTo(1, probe), 100);
    expect(defenseCount(Defense.probesSent)).toBe(1 + probes.length);
    expect(send(client(1, 1000, TCP.syn, 11), 1000)).toBe(Verdict.forward);
  });

  it('a rule that verifies gives its priority only once the source answered; it probes at once, without delaying the SYN', () => {
    const { pipe, send, tables } = setup(100, { rules: [{ cidr: '11.0.0.0/24', priority: 0 }] });
    expect(send(client(1, 1000, TCP.syn, 11), 0)).toBe(Verdict.forward);
    expect(pipe.probeCount).toBe(1);
    let r = record(tables.connections, 1, 1000);
    expect(prio(r)).toBe(8); // not 0: a spoofer knowing the prefix gains nothing
    const probe = parseOut(pipe.probeFrames, 0, pipe.probeLengths[0]);
    send(answerTo(1, probe), 10);
    // the rescorer (or any packet under pressure) marks it verified: priority 0 from then on
    tablesRescore(tables, 20);
    r = record(tables.connections, 1, 1000);
    expect(prio(r)).toBe(0);
    // a rule that does not verify fixes the priority at once
    const open = setup(100, { rules: [{ cidr: '11.0.0.0/24', priority: 2, verify: false }] });
    open.send(client(1, 1000, TCP.syn, 11), 0);
    expect(prio(record(open.tables.connections, 1, 1000))).toBe(2);
  });

  it("a priority-0 connection, once closed, leaves its record the lowest: a spoofer using a verified partner's address cannot fill the table with the records its resets closed", () => {
    const { pipe, send, tables } = setup(100, { rules: [{ cidr: '11.0.0.0/24', priority: 0 }] });
    send(client(1, 1000, TCP.syn, 11), 0);
    send(answerTo(1, parseOut(pipe.probeFrames, 0, pipe.probeLengths[0])), 10);
    // a verified partner's connection: 0 while it lives, on the packet path and the re-scorer's
    expect(send(client(1, 2000, TCP.syn, 50), 20)).toBe(Verdict.forward);
    tablesRescore(tables, 30);
    expect(prio(record(tables.connections, 1, 2000))).toBe(0);
    send(client(1, 2000, TCP.ack, 51, 0, 1), 40);
    expect(prio(record(tables.connections, 1, 2000))).toBe(0);
    // the partner's stack resets it (the server's SYN-ACK for a SYN it never sent): the lowest
    send(client(1, 2000, TCP.rst, 51), 50);
    expect(prio(record(tables.connections, 1, 2000))).toBe(15);
    tablesRescore(tables, 60);
    expect(prio(record(tables.connections, 1, 2000))).toBe(15);
    // one closed by its FIN, seen only by the re-scorer after it was written with 0 before
    expect(send(client(1, 3000, TCP.syn, 70), 70)).toBe(Verdict.forward);
    send(client(1, 3000, TCP.fin | TCP.ack, 71, 0, 1), 80);
    tablesRescore(tables, 90);
    expect(prio(record(tables.connections, 1, 3000))).toBe(15);
  });
});

function tablesRescore(tables: ReturnType<typeof setup>['tables'], now: number): void {
  new Rescorer({ ...tables, state: tables.defenseState }).runPass(now);
}

describe('the sequence window: a blind spoofer cannot move a connection it does not see', () => {
  it('forwards out-of-window segments untouched: no close, no progress, no state change', () => {
    const { send, tables, reals, defenseCount } = setup(100);
    send(client(1, 1000, TCP.syn, 1000), 0);
    send(client(1, 1000, TCP.ack, 1001, 0, 5001), 20);
    const before = record(tables.connections, 1, 1000);
    const far = (1001 + (1 << 21)) | 0;
    expect(send(client(1, 1000, TCP.rst, far), 30)).toBe(Verdict.forward);
    expect(send(client(1, 1000, TCP.fin | TCP.ack, far, 0, 5001), 31)).toBe(Verdict.forward);
    expect(send(client(1, 1000, TCP.ack, far, 0, 999_999), 32)).toBe(Verdict.forward);
    const after = record(tables.connections, 1, 1000);
    expect(flags(after)).toBe(flags(before));
    expect(after[Conn.statePrio]).toBe(before[Conn.statePrio]);
    expect(after[Conn.lastSeen]).toBe(before[Conn.lastSeen]);
    expect(reals.held[0]).toBe(1);
    expect(defenseCount(Defense.outOfWindow)).toBe(3);
    // the client's own RST (in window) does close it
    send(client(1, 1000, TCP.rst, 1001), 40);
    expect(flags(record(tables.connections, 1, 1000)) & ConnFlag.rst).toBe(ConnFlag.rst);
  });
});

describe('what the real server holds', () => {
  it('counts a connection from its SYN until its client closes or resets it, and never twice', () => {
    const { send, tables, reals } = setup(100);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(2, 1000, TCP.syn, 200), 0);
    expect(reals.held[0]).toBe(2);
    send(client(1, 1000, TCP.ack, 101, 0, 7), 10);
    send(client(1, 1000, TCP.fin | TCP.ack, 101, 0, 7), 20);
    expect(reals.held[0]).toBe(1);
    send(client(1, 1000, TCP.ack, 102, 0, 8), 30); // the last ACK: still not held
    expect(reals.held[0]).toBe(1);
    send(client(2, 1000, TCP.rst, 201), 40);
    expect(reals.held[0]).toBe(0);
    // the entries themselves stay (IPVS's timeouts); removing them takes nothing more
    expect(tables.connections.count()).toBe(2);
    expect(reals.inactive[0] + reals.active[0]).toBe(2);
    tables.connections.expireStep(10_000_000, 4096);
    expect(reals.held[0]).toBe(0);
    expect(reals.inactive[0] + reals.active[0]).toBe(0);
  });

  it("releases an unverified half-open entry's slot after its grace, and takes it back when its handshake completes", () => {
    const { send, reals, rescorer } = setup(100);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(2, 1000, TCP.syn, 200), 0);
    rescorer.runPass(500);
    expect(reals.held[0]).toBe(2);
    rescorer.runPass(1000);
    expect(reals.held[0]).toBe(0);
    send(client(1, 1000, TCP.ack, 101, 0, 7), 1200); // a late but real ACK
    expect(reals.held[0]).toBe(1);
  });

  it("counts IPVS's way with countInactive", () => {
    const { send, reals, config } = setup(2);
    reals.setCountInactive(0, true);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.fin, 101), 10);
    expect(reals.load(0)).toBe(1);
    expect(reals.held[0]).toBe(0);
    expect(config.countInactive).toBe(false); // the test flipped the flag by hand
  });
});

describe("a verified client's address, spoofed: its owner's reset within a round trip", () => {
  /** Host 9 verified, as if it had answered a challenge; verification on (as under pressure). */
  function verifiedNine(upper = 100) {
    const t = setup(upper, { mode: 'always' });
    t.tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, 1, 0, 60_000);
    return t;
  }
  const MIB = 1 << 20;

  it('starts a verified source entry provisional: not held, and never held when its owner resets it', () => {
    const { send, tables, reals } = verifiedNine();
    send(client(9, 1000, TCP.syn, 900), 0);
    expect(flags(record(tables.connections, 9, 1000)) & (ConnFlag.provisional | ConnFlag.held)).toBe(
      ConnFlag.provisional,
    );
    expect(reals.held[0]).toBe(0);
    send(client(9, 1000, TCP.ack, 901, 0, 5001), 1); // a blind ACK completes nothing that counts
    expect(reals.held[0]).toBe(0);
    send(client(9, 1000, TCP.rst, 901), 40); // the owner answers the server's SYN-ACK
    expect(flags(record(tables.connections, 9, 1000)) & (ConnFlag.provisional | ConnFlag.held)).toBe(0);
    send(client(9, 1000, TCP.ack, 901, 0, 5001), 600);
    expect(reals.held[0]).toBe(0);
  });

  it("holds a real client's connection from provisionalMs after its SYN: on its next packet, or the re-scorer's pass", () => {
    const { send, tables, reals, rescorer } = verifiedNine();
    send(client(9, 1000, TCP.syn, 900), 0);
    send(client(9, 1001, TCP.syn, 100), 0);
    send(client(9, 1001, TCP.ack, 101, 0, 7001), 20);
    send(client(9, 1000, TCP.ack | TCP.psh, 901, 100, 5001), 20);
    send(client(9, 1000, TCP.ack, 1001, 0, 9001), 60); // served: still provisional (forgeable)
    expect(reals.held[0]).toBe(0);
    send(client(9, 1000, TCP.ack, 1001, 0, 9001), 500);
    expect(flags(record(tables.connections, 9, 1000)) & (ConnFlag.provisional | ConnFlag.held)).toBe(
      ConnFlag.held,
    );
    expect(reals.held[0]).toBe(1);
    rescorer.runPass(499);
    expect(reals.held[0]).toBe(1);
    rescorer.runPass(520);
    expect(reals.held[0]).toBe(2);
    expect(rescorer.promoted).toBe(1);
    send(client(9, 1001, TCP.rst, 101), 530); // closed after it counted: released once
    expect(reals.held[0]).toBe(1);
  });

  it('holds a half-open entry only once its handshake completes, however long its provisional time ended before', () => {
    const { send, tables, reals, rescorer } = verifiedNine();
    // a host flooding SYNs from its own address: the server's SYN-ACKs are reset by its kernel,
    // but the director reads the reset late (its queue deep) or never (a dropped frame)
    send(client(9, 1000, TCP.syn, 900), 0);
    send(client(9, 1001, TCP.syn, 100), 0);
    send(client(9, 1000, TCP.syn, 900), 600); // its retransmission: the packet path's verdict
    rescorer.runPass(620); // the re-scorer's
    for (const port of [1000, 1001]) {
      expect(flags(record(tables.connections, 9, port)) & (ConnFlag.provisional | ConnFlag.held)).toBe(0);
    }
    expect(reals.held[0]).toBe(0);
    expect(rescorer.promoted).toBe(0);
    // a real client whose ACK came late holds its slot from then on, once
    send(client(9, 1001, TCP.ack, 101, 0, 7001), 900);
    expect(flags(record(tables.connections, 9, 1001)) & (ConnFlag.verified | ConnFlag.held)).toBe(
      ConnFlag.verified | ConnFlag.held,
    );
    send(client(9, 1001, TCP.ack | TCP.psh, 101, 100, 7001), 910);
    rescorer.runPass(1000);
    expect(reals.held[0]).toBe(1);
    send(client(9, 1001, TCP.rst, 201), 1100);
    expect(reals.held[0]).toBe(0);
  });

  it("takes the owner's reset from behind a window a spoofer walked, while the entry is young", () => {
    const { send, tables } = verifiedNine();
    const walk = (port: number, t: number) => {
      send(client(9, port, TCP.syn, 900), t);
      send(client(9, port, TCP.ack, 901, 0, 5001), t + 1);
      let next = 901;
      for (let k = 0; k < 3; k++) {
        const seq = (next + MIB - 1) | 0; // one byte inside the window, ahead
        send(client(9, port, TCP.ack | TCP.psh, seq, 100, 5001), t + 1);
        next = (seq + 100) | 0;
      }
      expect(flags(record(tables.connections, 9, port)) & ConnFlag.rst).toBe(0);
    };
    walk(1000, 0);
    send(client(9, 1000, TCP.rst, 901), 40);
    expect(flags(record(tables.connections, 9, 1000)) & ConnFlag.rst).toBe(ConnFlag.rst);
    walk(1001, 0);
    send(client(9, 1001, TCP.rst, 901), 500); // past its youth: the window rules again
    expect(flags(record(tables.connections, 9, 1001)) & ConnFlag.rst).toBe(0);
  });

  it("a far owner (its probe's answer took 700 ms): a spoof in its name stays provisional 1.5 round trips (at most provisionalMaxMs), and the owner's late reset from behind a walked window ends it", () => {
    const { send, tables, reals, rescorer } = setup(100, { mode: 'always' });
    // probed at 100, answered at 800: a satellite client
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, AnswerKind.probe, 800, 60_000, 100);
    expect(tables.verified.roundTrip(0, 0, 0xffff, 0x0b000009)).toBe(700);
    // the spoofer: a SYN in its name, a blind ACK, and the window walked 3 MiB ahead
    send(client(9, 1000, TCP.syn, 900), 1000);
    send(client(9, 1000, TCP.ack, 901, 0, 5001), 1001);
    let next = 901;
    for (let k = 0; k < 3; k++) {
      const seq = (next + MIB - 1) | 0;
      send(client(9, 1000, TCP.ack | TCP.psh, seq, 100, 5001), 1001);
      next = (seq + 100) | 0;
    }
    // past provisionalMs (500), within 1.5 round trips (1050; at most provisionalMaxMs, 1000):
    // not counted, by either path
    send(client(9, 1000, TCP.ack, next, 0, 5001), 1700);
    rescorer.runPass(1800);
    expect(flags(record(tables.connections, 9, 1000)) & (ConnFlag.provisional | ConnFlag.held)).toBe(
      ConnFlag.provisional,
    );
    expect(reals.held[0]).toBe(0);
    // the owner's reset to the server's SYN-ACK, 900 ms after the SYN, from far behind the window
    send(client(9, 1000, TCP.rst, 901), 1900);
    expect(flags(record(tables.connections, 9, 1000)) & ConnFlag.rst).toBe(ConnFlag.rst);
    // disowned: the spoof's early request and forged progress refute nothing
    rescorer.runPass(2100);
    expect(tables.verified.roundTrip(0, 0, 0xffff, 0x0b000009)).toBe(700);
    // the owner's own connection counts once its provisional time (provisionalMaxMs, 1 s) is over
    send(client(9, 1001, TCP.syn, 100), 3000);
    // it last answered at 800, so it was asked again at its SYN; its answer times the trip again
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40001, AnswerKind.probe, 3700, 60_000);
    expect(tables.verified.roundTrip(0, 0, 0xffff, 0x0b000009)).toBe(700);
    send(client(9, 1001, TCP.ack, 101, 0, 7001), 3700);
    send(client(9, 1001, TCP.ack | TCP.psh, 101, 100, 7001), 3900);
    expect(reals.held[0]).toBe(0);
    send(client(9, 1001, TCP.ack, 201, 0, 7001), 4010);
    expect(flags(record(tables.connections, 9, 1001)) & (ConnFlag.verified | ConnFlag.held)).toBe(
      ConnFlag.verified | ConnFlag.held,
    );
    expect(reals.held[0]).toBe(1);
  });

  it('a source that looks far (its probes answered a second late) but speaks at once loses the trip once a connection of its outlives its provisional time undisowned', () => {
    const { send, tables, reals, rescorer } = setup(100, { mode: 'always' });
    const trip = () => tables.verified.roundTrip(0, 0, 0xffff, 0x0b000009);
    // a real-address bot: probed at 100, it held the answer until 1100
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, AnswerKind.probe, 1100, 60_000, 100);
    expect(trip()).toBe(1000);
    // its connection: the ACK and a request 20 ms after the SYN, a host 1 s away cannot send them
    // before the server's SYN-ACK has reached it
    send(client(9, 1000, TCP.syn, 900), 2000);
    send(client(9, 1000, TCP.ack | TCP.psh, 901, 100, 5001), 2020);
    rescorer.runPass(2600);
    expect(trip()).toBe(1000); // within its provisional time nothing is decided: a spoof's owner may yet reset it
    expect(reals.held[0]).toBe(0);
    // held back its probe's answer again (asked at its SYN): the answer ends the asking
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40001, AnswerKind.probe, 2900, 60_000);
    rescorer.runPass(3010);
    expect(flags(record(tables.connections, 9, 1000)) & (ConnFlag.provisional | ConnFlag.held)).toBe(
      ConnFlag.held,
    );
    // it spoke 20 ms after its SYN: it is at most 40 ms away, and answers held back raise it no more
    expect(trip()).toBe(40);
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40002, AnswerKind.probe, 5000, 60_000, 4000);
    expect(trip()).toBe(40);
    // so its next connection counts after provisionalMs
    send(client(9, 1001, TCP.syn, 100), 5100);
    send(client(9, 1001, TCP.ack | TCP.psh, 101, 100, 7001), 5120);
    rescorer.runPass(5620);
    expect(reals.held[0]).toBe(2);
    // a record that expired measures afresh
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40003, AnswerKind.probe, 200_000, 60_000, 199_300);
    expect(trip()).toBe(700);
  });

  it("a far client's own connections, and a served one that is slow, keep its trip", () => {
    const { send, tables, rescorer } = setup(100, { mode: 'always' });
    const trip = () => tables.verified.roundTrip(0, 0, 0xffff, 0x0b000009);
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, AnswerKind.probe, 800, 60_000, 100);
    // its request a round trip after its SYN (a little sooner than the longest trip measured)
    send(client(9, 1000, TCP.syn, 900), 2000);
    send(client(9, 1000, TCP.ack | TCP.psh, 901, 100, 5001), 2600);
    // its response acknowledged two trips after the SYN, after its provisional time
    send(client(9, 1000, TCP.ack, 1001, 0, 6001), 3400);
    rescorer.runPass(3500);
    expect(trip()).toBe(700);
  });

  it('times a silence from the first probe it left unanswered: a spoofer sending all along does not postpone the verdict', () => {
    const { pipe, send, tables, defenseCount } = verifiedNine();
    // the owner answered at 0 and went quiet; from 20 s a spoofer opens a connection every 100 ms
    // and a blind ACK on the first one, so that the pipeline asks for its verdict each time
    expect(send(client(9, 1000, TCP.syn, 900), 20_000)).toBe(Verdict.forward);
    let probes = pipe.probeCount;
    for (let t = 20_100, port = 1001; t <= 20_400; t += 100, port++) {
      send(client(9, port, TCP.syn, 900), t);
      probes += pipe.probeCount;
      send(client(9, 1000, TCP.ack, 901, 0, 5001), t);
    }
    expect(probes).toBe(3); // asked every reconfirmAfterMs (at 0, 200 and 400 ms), unanswered
    expect(defenseCount(Defense.reconfirmFailed)).toBe(0);
    // 500 ms after the first probe: the first connection leaves the verified band (the probes
    // since do not restart the wait) and the address is verified no more
    send(client(9, 1000, TCP.ack, 901, 0, 5001), 20_510);
    expect(defenseCount(Defense.reconfirmFailed)).toBe(1);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000009, 20_510)).toBe(0);
    expect(flags(record(tables.connections, 9, 1000)) & (ConnFlag.verified | ConnFlag.provisional)).toBe(0);
  });

  it('asks a source that last answered a while ago again, and keeps it verified only if it answers', () => {
    const { send, tables, reals, pipe, defenseCount } = verifiedNine();
    // it answered at 0; its SYN at 20 s is forwarded at once, with a probe in the background
    expect(send(client(9, 1000, TCP.syn, 900), 20_000)).toBe(Verdict.forward);
    expect(pipe.probeCount).toBe(1);
    send(client(9, 1000, TCP.ack, 901, 0, 5001), 20_500); // no answer: out of the verified band
    let r = record(tables.connections, 9, 1000);
    expect(flags(r) & (ConnFlag.verified | ConnFlag.provisional | ConnFlag.held)).toBe(ConnFlag.held);
    expect(prio(r)).toBe(14); // the last of the unverified band (DEMOTED_POINTS): a spoof, most likely
    expect(reals.held[0]).toBe(1);
    expect(tables.verified.isVerified(0, 0, 0xffff, 0x0b000009, 20_500)).toBe(0);
    expect(defenseCount(Defense.reconfirmFailed)).toBe(1);
    // answered: stays verified
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, 1, 30_000, 60_000);
    send(client(9, 1001, TCP.syn, 100), 40_000);
    tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, 1, 40_030, 60_000); // the probe's answer
    send(client(9, 1001, TCP.ack, 101, 0, 5001), 40_500);
    r = record(tables.connections, 9, 1001);
    expect(flags(r) & (ConnFlag.verified | ConnFlag.provisional | ConnFlag.held)).toBe(
      ConnFlag.verified | ConnFlag.held,
    );
  });

  it('a young entry that never skipped ahead takes a reset from at most 16 MiB behind', () => {
    const { send, tables } = verifiedNine();
    /** `mib` MiB of contiguous data on `port` (sequence numbers: what the director tracks), then the owner's reset. */
    const contiguous = (port: number, mib: number) => {
      send(client(9, port, TCP.syn, 900), 0);
      let next = 901;
      for (let sent = 0; sent < mib * MIB; sent += 1400) {
        send(client(9, port, TCP.ack | TCP.psh, next, 1400, 5001), 1);
        next = (next + 1400) | 0;
      }
      expect(record(tables.connections, 9, port)[Conn.flagsSyn] & ConnBit.leapt).toBe(0);
      send(client(9, port, TCP.rst, 901), 40);
      return flags(record(tables.connections, 9, port)) & ConnFlag.rst;
    };
    expect(contiguous(1000, 15)).toBe(ConnFlag.rst);
    expect(contiguous(1001, 17)).toBe(0); // 17 MiB a spoofer had to send
  });
});

describe("the server's progress, as the client acknowledges it", () => {
  it('marks a client being served; a request without an answer is awaiting; an ACK going back was forged', () => {
    const { send, tables } = setup(100);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.ack, 101, 0, 5001), 10);
    send(client(1, 1000, TCP.ack | TCP.psh, 101, 300, 5001), 11);
    let r = record(tables.connections, 1, 1000);
    expect(flags(r) & (ConnFlag.awaiting | ConnFlag.progress)).toBe(ConnFlag.awaiting);
    expect(r[Conn.awaitingSince]).toBe(11);
    send(client(1, 1000, TCP.ack, 401, 0, 9001), 40); // the response arrived
    r = record(tables.connections, 1, 1000);
    expect(flags(r) & (ConnFlag.awaiting | ConnFlag.progress)).toBe(ConnFlag.progress);
    expect(r[Conn.ackMax]).toBe(9001);
    send(client(1, 1000, TCP.ack, 401, 0, 9001 - 70_000), 50);
    expect(flags(record(tables.connections, 1, 1000)) & ConnFlag.ackForged).toBe(ConnFlag.ackForged);
  });

  it("an empty ACK is no news to the idle clock (a keepalive, a duplicate, a window update); payload, an answer's ACK and a FIN are", () => {
    const { send, tables } = setup(100);
    const seen = () => record(tables.connections, 1, 1000)[Conn.lastSeen];
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.ack, 101, 0, 5001), 10); // the handshake completes: news
    expect(seen()).toBe(10);
    send(client(1, 1000, TCP.ack | TCP.psh, 101, 300, 5001), 20);
    expect(seen()).toBe(20);
    send(client(1, 1000, TCP.ack, 401, 0, 9001), 40); // the response acknowledged
    expect(seen()).toBe(40);
    send(client(1, 1000, TCP.ack, 401, 0, 9001), 900); // a keepalive: nothing new
    send(client(1, 1000, TCP.ack, 401, 0, 9001), 1800);
    expect(seen()).toBe(40);
    send(client(1, 1000, TCP.ack, 401, 0, 9002), 2700); // a byte more acknowledged
    expect(seen()).toBe(2700);
    send(client(1, 1000, TCP.ack | TCP.fin, 401, 0, 9002), 3000);
    expect(seen()).toBe(3000);
  });

  it("keeps its server's word (serverQuiet) through the client's packets: a forged ACK of unsent data does not buy the credit back", () => {
    const { send, tables } = setup(100);
    const rec = () => record(tables.connections, 1, 1000);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.ack, 101, 0, 5001), 10);
    send(client(1, 1000, TCP.ack | TCP.psh, 101, 300, 5001), 20);
    send(client(1, 1000, TCP.ack, 401, 0, 9001), 40); // the response acknowledged: served
    const served = prio(rec());
    const a = src(1);
    const marks = new ServerQuietMarks(tables.connections);
    const key = Int32Array.of(0, 0, 0xffff, (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3], 1000 << 16);
    expect(marks.apply(rec()[Conn.real], key, [1500], 1, 1000, 1540)).toEqual({
      marked: 1,
      forged: 0,
      cleared: 0,
    });
    // A segment further each 0.9 s, as if the server had sent it: news to the client's side only.
    send(client(1, 1000, TCP.ack, 401, 0, 10_461), 1600);
    expect(flags(rec()) & ConnBit.serverQuiet).toBe(ConnBit.serverQuiet);
    // Ranked as forged acknowledgements are: below a new client's from the same band.
    const initial = (rec()[Conn.statePrio] >>> 16) & 0xff;
    expect(prio(rec())).toBe(DEFENSE_WEIGHTS.unverifiedBase + initial + DEFENSE_WEIGHTS.ackForged);
    expect(prio(rec())).toBeGreaterThan(served);
    send(client(1, 1000, TCP.syn, 100), 1700); // a stray SYN again: the SYN count moves, the word stays
    expect(flags(rec()) & ConnBit.serverQuiet).toBe(ConnBit.serverQuiet);
    // The server sent again: the next report leaves it out, and the credit is back.
    marks.apply(rec()[Conn.real], new Int32Array(0), [], 0, 1000, 2500);
    send(client(1, 1000, TCP.ack, 401, 0, 11_921), 2600);
    expect(flags(rec()) & ConnBit.serverQuiet).toBe(0);
    expect(prio(rec())).toBe(served);
  });

  it('a request head that grows after it waited progressHoldMs unanswered is marked; a split request, a retransmission or an answer is not', () => {
    const { send, tables } = setup(100);
    const grew = (port: number) => record(tables.connections, 1, port)[Conn.flagsSyn] & ConnBit.holdsUp;
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.ack, 101, 0, 5001), 10);
    send(client(1, 1000, TCP.ack | TCP.psh, 101, 1400, 5001), 11); // a request in three segments
    send(client(1, 1000, TCP.ack | TCP.psh, 1501, 1400, 5001), 12);
    send(client(1, 1000, TCP.ack | TCP.psh, 2901, 100, 5001), 900);
    expect(grew(1000)).toBe(0);
    send(client(1, 1000, TCP.ack | TCP.psh, 2901, 100, 5001), 2000); // its last segment again
    expect(grew(1000)).toBe(0);
    send(client(1, 1000, TCP.ack | TCP.psh, 3001, 1, 5001), 2000); // one byte more, 2 s on: growing
    expect(grew(1000)).toBe(ConnBit.holdsUp);
    send(client(1, 1000, TCP.ack, 3002, 0, 9001), 2100); // the answer at last
    expect(grew(1000)).toBe(0);
    expect(flags(record(tables.connections, 1, 1000)) & ConnFlag.awaiting).toBe(0);
  });

  it('a receive window shut for progressHoldMs holds the server up; what it acknowledges meanwhile is not served; an open window is', () => {
    const { send, tables } = setup(100);
    const rec = () => record(tables.connections, 1, 1000);
    const state = () => flags(rec()) & (ConnFlag.awaiting | ConnFlag.progress);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.ack, 101, 0, 5001), 10);
    send(client(1, 1000, TCP.ack | TCP.psh, 101, 300, 5001), 11); // the request for a large response
    send(client(1, 1000, TCP.ack, 401, 0, 7897, 0), 40); // its first bytes fill the buffer: window 0
    expect(state()).toBe(ConnFlag.awaiting | ConnFlag.progress);
    expect(rec()[Conn.awaitingSince]).toBe(11);
    send(client(1, 1000, TCP.ack, 401, 0, 7897, 0), 900); // the server's window probe, answered
    expect(rec()[Conn.flagsSyn] & ConnBit.holdsUp).toBe(0);
    send(client(1, 1000, TCP.ack, 401, 0, 9345, 0), 1900); // it read a segment; shut again 1.9 s on
    expect(rec()[Conn.flagsSyn] & ConnBit.holdsUp).toBe(ConnBit.holdsUp);
    expect(rec()[Conn.ackMax]).toBe(9345);
    send(client(1, 1000, TCP.ack, 401, 0, 70_000), 2000); // reading again: the rest arrives
    expect(state()).toBe(ConnFlag.progress);
    expect(rec()[Conn.flagsSyn] & ConnBit.holdsUp).toBe(0);
    send(client(1, 1000, TCP.ack, 401, 0, 70_000, 0), 3000); // shut after its response, idle
    expect(rec()[Conn.awaitingSince]).toBe(3000);
    expect(rec()[Conn.flagsSyn] & ConnBit.windowShut).toBe(ConnBit.windowShut);
    send(client(1, 1000, TCP.ack, 401, 0, 70_000), 3500); // it read it all: a window update
    expect(state()).toBe(ConnFlag.progress);
    expect(rec()[Conn.flagsSyn] & ConnBit.windowShut).toBe(0);
    // Shut again: its half second shut before counts; reopening a segment at a time, just inside
    // each second, does not start the count afresh.
    send(client(1, 1000, TCP.ack, 401, 0, 71_448, 0), 3800);
    expect(rec()[Conn.awaitingSince]).toBe(3300);
    send(client(1, 1000, TCP.ack, 401, 0, 71_448), 4100); // a segment read: the update
    send(client(1, 1000, TCP.ack, 401, 0, 72_896, 0), 4150); // and the next one fills it
    expect(rec()[Conn.flagsSyn] & ConnBit.holdsUp).toBe(0);
    send(client(1, 1000, TCP.ack, 401, 0, 72_896, 0), 4900); // shut 500 + 300 + 750 ms in all
    expect(rec()[Conn.flagsSyn] & ConnBit.holdsUp).toBe(ConnBit.holdsUp);
    // A new request starts the count afresh.
    send(client(1, 1000, TCP.ack, 401, 0, 80_000), 5000);
    send(client(1, 1000, TCP.ack | TCP.psh, 401, 300, 80_000), 5100);
    expect(rec()[Conn.awaitingSince]).toBe(5100);
  });

  it("toggling the window does not restart a request's clock: only a wait the shut window started ends when it reopens", () => {
    const { send, tables } = setup(100);
    const rec = () => record(tables.connections, 1, 1000);
    send(client(1, 1000, TCP.syn, 100), 0);
    send(client(1, 1000, TCP.ack, 101, 0, 5001), 10);
    send(client(1, 1000, TCP.ack | TCP.psh, 101, 20, 5001), 20); // a header line, no answer
    send(client(1, 1000, TCP.ack, 121, 0, 5001, 0), 500); // shut ...
    send(client(1, 1000, TCP.ack, 121, 0, 5001), 600); // ... and open again
    expect(flags(rec()) & ConnFlag.awaiting).toBe(ConnFlag.awaiting);
    expect(rec()[Conn.awaitingSince]).toBe(20);
    // Shut before the request: the request's wait runs on from the shut window's clock.
    send(client(1, 1001, TCP.syn, 100), 0);
    send(client(1, 1001, TCP.ack, 101, 0, 5001), 10);
    send(client(1, 1001, TCP.ack, 101, 0, 5001, 0), 100);
    send(client(1, 1001, TCP.ack | TCP.psh, 101, 20, 5001, 0), 200);
    send(client(1, 1001, TCP.ack, 121, 0, 5001), 300); // reopened: the request still waits
    const r = record(tables.connections, 1, 1001);
    expect(flags(r) & ConnFlag.awaiting).toBe(ConnFlag.awaiting);
    expect(r[Conn.awaitingSince]).toBe(100);
    send(client(1, 1001, TCP.ack | TCP.psh, 121, 20, 5001), 1200); // and grows: held up
    expect(record(tables.connections, 1, 1001)[Conn.flagsSyn] & ConnBit.holdsUp).toBe(ConnBit.holdsUp);
  });
});

describe('displacement and shedding', () => {
  /** Fills the one real server (upper 2) with two unverified connections, then verifies source 9. */
  function full() {
    const t = setup(2);
    t.send(client(1, 1000, TCP.syn, 100), 0);
    t.send(client(1, 1000, TCP.ack, 101, 0, 5), 5);
    t.send(client(2, 1000, TCP.syn, 200), 0);
    t.send(client(2, 1000, TCP.ack, 201, 0, 5), 10);
    t.send(client(2, 1000, TCP.ack | TCP.psh, 201, 50, 5), 11);
    t.rescorer.runPass(20);
    t.tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, 1, 0, 60_000);
    return t;
  }

  it('a verified SYN on a full server displaces the lowest held entry with an RST at its exact sequence number', () => {
    const { pipe, send, tables } = full();
    expect(tables.reals.isOverloaded(0)).toBe(true);
    expect(send(client(9, 1000, TCP.syn, 900), 30)).toBe(Verdict.forward);
    expect(pipe.resetCount).toBe(1);
    // both victims are unverified kernels at 8; the listed order takes the longest idle first
    const port = pipe.resetQueue[ResetWord.port];
    const seq = pipe.resetQueue[ResetWord.seq];
    expect(port).toBe(1000);
    expect([101, 251]).toContain(seq);
  });

  it('a verified SYN takes the slot of an unverified half-open entry without an RST; its ACK still goes through', () => {
    const t = setup(2);
    t.send(client(1, 1000, TCP.syn, 100), 0);
    t.send(client(2, 1000, TCP.syn, 200), 0);
    t.rescorer.runPass(20);
    t.tables.verified.verify(0, 0, 0xffff, 0x0b000009, 40000, 1, 0, 60_000);
    expect(t.send(client(9, 1000, TCP.syn, 900), 30)).toBe(Verdict.forward);
    expect(t.pipe.resetCount).toBe(0);
    expect(t.defenseCount(Defense.halfOpenReleased)).toBe(1);
    // one released; the verified SYN's own entry is provisional (not held for provisionalMs)
    expect(t.reals.held[0]).toBe(1);
    for (const h of [1, 2])
      expect(t.send(client(h, 1000, TCP.ack, h * 100 + 1, 0, 5), 40)).toBe(Verdict.forward);
    expect(t.reals.held[0]).toBe(2);
  });

  it('an unverified SYN does not outrank an equal unverified entry: refused for capacity', () => {
    const { pipe, send } = full();
    expect(send(client(7, 1000, TCP.syn, 700), 30)).toBe(Verdict.drop);
    expect(pipe.dropReason).toBe(DropReason.capacity);
  });

  /**
   * One server with upper threshold 2, held by two verified clients that were served, past their
   * provisional time (their sources answered just before); client 9's source is verified too.
   */
  function fullOfGoodStanding() {
    const t = setup(2);
    for (const h of [1, 2, 9]) t.tables.verified.verify(0, 0, 0xffff, 0x0b000000 + h, 40000, 1, 0, 60_000);
    for (const h of [1, 2]) {
      t.send(client(h, 1000, TCP.syn, h * 100), 0);
      t.send(client(h, 1000, TCP.ack, h * 100 + 1, 0, 5), 5);
    }
    for (const h of [1, 2]) t.send(client(h, 1000, TCP.ack | TCP.psh, h * 100 + 1, 50, 5), 600);
    t.rescorer.runPass(610);
    return t;
  }

  it('a verified SYN that outranks nobody on a server full of clients in good standing is forwarded anyway, and counted', () => {
    const t = fullOfGoodStanding();
    expect(t.reals.held[0]).toBe(2);
    expect(t.reals.isOverloaded(0)).toBe(true);
    // Both are verified clients no worse than it: nobody's slot to take, and no reason to refuse
    // it (the director cannot tell them from ghosts the server never held).
    expect(t.send(client(9, 1000, TCP.syn, 900), 620)).toBe(Verdict.forward);
    expect(t.pipe.resetCount).toBe(0);
    expect(t.defenseCount(Defense.admittedOverCapacity)).toBe(1);
  });

  it("with a load agent's report in force: ghosts leave the count; a server that holds them all admits a SYN in good standing, as one without a report does", () => {
    const t = fullOfGoodStanding();
    expect(t.reals.isOverloaded(0)).toBe(true);
    // The server says it holds both: the count stands, and the SYN goes to it over capacity (its
    // accept queue decides), not refused.
    t.reals.correctHeld(0, 2, 2, 2, 0);
    expect(t.send(client(9, 1000, TCP.syn, 900), 620)).toBe(Verdict.forward);
    expect(t.defenseCount(Defense.admittedOverCapacity)).toBe(1);
    // The server says it holds one (the other was a ghost): room, and the SYN is scheduled there.
    t.reals.correctHeld(0, 2, 1, 2, 0);
    expect(t.reals.isOverloaded(0)).toBe(false);
    expect(t.send(client(9, 1001, TCP.syn, 901), 630)).toBe(Verdict.forward);
    expect(t.defenseCount(Defense.admittedOverCapacity)).toBe(1);
  });

  it('marks a verified source whose open connection was shed, not one whose closed connection made room, nor an idle keep-alive one', () => {
    const t = setup(100, { mode: 'always' });
    for (const h of [6, 7, 8, 9]) t.tables.verified.verify(0, 0, 0xffff, 0x0b000000 + h, 40000, 1, 0, 60_000);
    for (const h of [6, 7, 8, 9]) {
      t.send(client(h, 1000, TCP.syn, 900), 10);
      t.send(client(h, 1000, TCP.ack | TCP.psh, 901, 100, 5001), 20);
    }
    t.send(client(9, 1000, TCP.fin | TCP.ack, 1001, 0, 6001), 30); // host 9 finished its request
    // host 7 was answered and asks nothing more (an idle keep-alive connection); host 6 too, but
    // its acknowledgement then went backward (forged progress)
    t.send(client(7, 1000, TCP.ack, 1001, 0, 7001), 30);
    t.send(client(6, 1000, TCP.ack, 1001, 0, 7001), 30);
    t.send(client(6, 1000, TCP.ack, 1001, 0, 5001 - 0x10000), 31);
    const shed = (host: number) => {
      const slot = slotOf(t.tables.connections, host, 1000);
      const tag = t.tables.connections.core.tagOfSlot(slot);
      expect(t.tables.connections.removeIfStill(slot, tag, 0, 0, RemoveReason.shed, null)).toBe(true);
    };
    shed(8);
    shed(9); // the table's shedder takes closed entries first, as the cheapest room there is
    shed(7);
    shed(6);
    const misbehavedAt = (host: number) => {
      const s = t.tables.sources.acquire(0, 0, 0xffff, 0x0b000000 + host, false, 40);
      t.tables.sources.release(s);
      return t.tables.sources.i32[t.tables.sources.recordBase(s) + Src.misbehavedAt];
    };
    expect(misbehavedAt(8)).not.toBe(0);
    expect(misbehavedAt(9)).toBe(0);
    expect(misbehavedAt(7)).toBe(0);
    expect(misbehavedAt(6)).not.toBe(0);
    // and it counts as an idle keep-alive connection closed (sluice_keepalive_connections_closed_total)
    expect(t.defenseCount(Defense.keepAliveClosed)).toBe(1);
  });

  it('never sends an RST for a connection its client already closed', () => {
    const t = setup(2);
    t.send(client(1, 1000, TCP.syn, 100), 0);
    t.send(client(1, 1000, TCP.fin, 101), 1);
    for (const h of [2, 3]) {
      t.send(client(h, 1000, TCP.syn, h * 100), 0);
      t.send(client(h, 1000, TCP.ack, h * 100 + 1, 0, 5), 5);
    }
    t.rescorer.runPass(20);
    const { loop, sent } = loopOf(t);
    loop.tick(t.config, 40);
    // the closed one is not held: 2 held on an upper threshold of 2 → shed to floor(0.95 × 2) = 1
    expect(sent.length).toBe(1);
    expect(sent[0][Conn.flagsSyn] & ConnFlag.fin).toBe(0);
    expect(t.reals.held[0]).toBe(1);
  });

  it("resets no client for entries newer than its list: a flood's half-open SYNs since the last pass are released once listed", () => {
    const t = setup(20);
    // Three clients served, listed by a pass while the server held just them.
    for (const h of [1, 2, 3]) {
      t.send(client(h, 1000, TCP.syn, h * 100), 0);
      t.send(client(h, 1000, TCP.ack | TCP.psh, h * 100 + 1, 50, 5), 5);
    }
    t.rescorer.runPass(10);
    // The onset: a bare-SYN flood (no options: hping3's) fills the server before the next pass.
    for (let i = 0; i < 17; i++) {
      const syn = traffic.tcp({
        src: src(50),
        dst: VIP,
        srcPort: 2000 + i,
        dstPort: 80,
        flags: TCP.syn,
        seq: i,
        window: 512,
        shape: 'bare',
      });
      expect(t.send(syn, 20)).toBe(Verdict.forward);
    }
    expect(t.reals.held[0]).toBe(20);
    const { loop, sent } = loopOf(t);
    // At the high watermark, the list speaks for the 3 it saw, none over the target (19): nothing.
    loop.tick(t.config, 30);
    expect(sent.length).toBe(0);
    expect(t.reals.held[0]).toBe(20);
    // The next list has the flood's entries, worst first: one is released, no client is reset.
    t.rescorer.runPass(40);
    loop.tick(t.config, 50);
    expect(sent.length).toBe(0);
    expect(t.reals.held[0]).toBe(19);
    for (const h of [1, 2, 3])
      expect(flags(record(t.tables.connections, h, 1000)) & ConnFlag.held).not.toBe(0);
  });

  /** Two unverified half-open entries (hosts 2 and 3) fill a server of 2; one shedder step. */
  function shedTwoHalfOpen(countInactive: boolean) {
    const t = setup(2);
    t.reals.setCountInactive(0, countInactive);
    t.send(client(2, 1000, TCP.syn, 200), 0);
    t.send(client(3, 1000, TCP.syn, 300), 0);
    t.rescorer.runPass(20);
    const { loop, sent } = loopOf(t);
    loop.tick(t.config, 40);
    return { t, sent };
  }

  it('releases an unverified half-open entry instead of resetting it; its ACK holds the slot again', () => {
    const { t, sent } = shedTwoHalfOpen(false);
    // 2 held on an upper threshold of 2 → down to 1, by a release: a server with syncookies holds
    // nothing for a spoofed SYN, and a real client's handshake must survive it
    expect(sent.length).toBe(0);
    expect(t.reals.held[0]).toBe(1);
    const released = [2, 3].filter(
      (h) => (flags(record(t.tables.connections, h, 1000)) & ConnFlag.held) === 0,
    );
    expect(released.length).toBe(1);
    expect(t.send(client(released[0], 1000, TCP.ack, released[0] * 100 + 1, 0, 5), 50)).toBe(Verdict.forward);
    expect(t.reals.held[0]).toBe(2);
  });

  it('with countInactive a half-open entry is reset: releasing it would free nothing the thresholds count', () => {
    const { t, sent } = shedTwoHalfOpen(true);
    expect(sent.length).toBe(1);
    expect(t.reals.load(0)).toBe(1);
  });
});

describe('the defense loop', () => {
  it('switches verification on at the watermark and off a hold time after the load fell', () => {
    const t = setup(4);
    const { loop } = loopOf(t);
    loop.tick(t.config, 0);
    expect(t.state.verifying(0)).toBe(0);
    for (let h = 1; h <= 3; h++) t.send(client(h, 1000, TCP.syn, h), 10); // 3 of 4 = the 0.75 watermark
    loop.tick(t.config, 40);
    expect(t.state.verifying(0)).toBe(1);
    for (let h = 1; h <= 3; h++) t.send(client(h, 1000, TCP.rst, h + 1), 50);
    loop.tick(t.config, 80);
    expect(t.state.verifying(0)).toBe(1); // held for holdSeconds
    loop.tick(t.config, 10_030); // last at the watermark at 40: 9990 ms ago
    expect(t.state.verifying(0)).toBe(1);
    loop.tick(t.config, 10_060);
    expect(t.state.verifying(0)).toBe(0);
    expect(t.state.capacity()).toBe(4);
  });

  it('switches verification on when the connection table holds the watermark share of its entries, with no threshold anywhere', () => {
    // upper threshold 0: the service never nears its capacity; a flood of new flows (UDP's, at a
    // service without thresholds) fills the table every service shares instead
    const t = setup(0);
    const { loop } = loopOf(t);
    for (let h = 1; h <= 700; h++) t.send(client(h, 1000, TCP.syn, h), 10);
    loop.tick(t.config, 20);
    expect(t.tables.connections.count() / t.tables.connections.capacity).toBeLessThan(0.75);
    expect(t.state.verifying(0)).toBe(0);
    for (let h = 701; h <= 800; h++) t.send(client(h, 1000, TCP.syn, h), 30);
    expect(t.tables.connections.count() / t.tables.connections.capacity).toBeGreaterThanOrEqual(0.75);
    loop.tick(t.config, 40);
    expect(t.state.verifying(0)).toBe(1);
    // an unverified SYN is now answered with a challenge, creating nothing
    const before = t.tables.connections.count();
    expect(t.send(client(900, 1000, TCP.syn, 900), 50)).toBe(Verdict.reply);
    expect(t.tables.connections.count()).toBe(before);
  });
});
