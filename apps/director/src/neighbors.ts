// NeighborTable: the MACs of real servers configured with `mac: null`, resolved and kept fresh
// the way Linux's neighbour subsystem (NUD) keeps its cache, through each real server's VTEP.
//
//   INCOMPLETE  no MAC yet: a broadcast probe every retransMs until one answers. The real server
//               takes no new connections (weight 0 in the snapshot), as before it was learned.
//   REACHABLE   confirmed within reachable time (base 30 s, drawn from 0.5..1.5 of it per entry as
//               Linux does, so thousands of entries do not probe in step). A confirmation is a
//               solicited answer to a probe or an overlay health check that succeeded (the
//               upper-layer confirmation Linux takes from TCP).
//   DELAY       reachable time passed: wait delayMs (5 s) for a confirmation, then
//   PROBE       unicast probes (to the MAC in the cache) every retransMs, ucastProbes of them,
//               then broadcast probes (Linux's mcast_resolicit): a real server whose MAC changed
//               drops the unicast ones (its NIC filters a foreign destination MAC) and answers a
//               broadcast one with its new MAC.
//   FAILED      no answer to either: reported (log line, metric, /v1/services/:name/reals), takes
//               no new connections (the counters' down flag, as a failed health check), keeps its
//               MAC so its established connections keep their entries and their frames; a
//               broadcast probe every retransMs until it answers again.
//   STALE       a MAC learned unsolicited (a gratuitous ARP, an ARP request or an unsolicited
//               neighbour advertisement with a new link-layer address): used at once, then
//               confirmed through DELAY and PROBE.
//
// An overlay health check that fails makes the entry PROBE at once with one unicast probe
// before the broadcast ones: the traffic path itself says the MAC may be wrong, so a changed MAC
// is found a second or so after the check fails instead of at the next reachable-time expiry.
//
// Probes are RFC 5227 ARP probes (sender address 0.0.0.0, which pollutes no neighbour cache and
// which Linux answers when the target is configured on the receiving interface) or neighbour
// solicitations (multicast to the solicited-node group, or unicast to the cached MAC), sent in
// VXLAN to the real server's VTEP only. Answers are taken only from that VTEP: another overlay
// member cannot claim a real server's address. The answer reaches a serving worker, which punts
// it here (ports punt ARP/ND only from real servers' VTEPs).
import { type LiveConfig, realKey } from '@sluice/config';
import {
  EtherType,
  FrameInfo,
  fillL4Checksum,
  IpProto,
  ParseStatus,
  parseAddress,
  parseFrame,
  parseMac,
  parseVxlan,
  VxlanInfo,
  writeArp,
  writeEthernet,
  writeIpv6,
  writeVxlan,
} from '@sluice/wire';
import type { Logger } from './director.ts';
import type { OwnFrames } from './own-frames.ts';

export type NudState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe' | 'failed';

export interface NudTimings {
  /** Linux base_reachable_time_ms: an entry stays REACHABLE 0.5..1.5 times this long. */
  reachableMs: number;
  /** Linux delay_first_probe_time: DELAY waits this long for a confirmation before probing. */
  delayMs: number;
  /** Linux retrans_time_ms: between two probes. */
  retransMs: number;
  /** Linux ucast_solicit: unicast probes before the broadcast ones. */
  ucastProbes: number;
  /** Linux mcast_resolicit: broadcast probes in PROBE before FAILED. */
  mcastProbes: number;
  /** Linux locktime: an unsolicited answer with another MAC is taken only this long after the last change. */
  lockMs: number;
}

export const NUD_DEFAULTS: NudTimings = {
  reachableMs: 30_000,
  delayMs: 5_000,
  retransMs: 1_000,
  ucastProbes: 3,
  mcastProbes: 3,
  lockMs: 1_000,
};

/** How often the table's timers are looked at; far below every timing above. */
const TICK_MS = 100;

export interface NeighborView {
  state: NudState;
  mac: string | null;
  /** Seconds since the last confirmation; null when never confirmed. */
  confirmedSecondsAgo: number | null;
}

/** What changed, for the director: a MAC (republish), or reachability (down flags). */
export interface NeighborChange {
  kind: 'mac' | 'failed' | 'recovered';
  reals: readonly string[];
}

export interface NeighborCounters {
  unicastProbes: number;
  broadcastProbes: number;
  macChanges: number;
  failures: number;
}

interface Neighbor {
  readonly key: string;
  readonly address: string;
  readonly words: readonly [number, number, number, number];
  readonly v4: boolean;
  readonly vtep: string;
  reals: string[];
  mac: string | null;
  state: NudState;
  /** When the current state's timer fires (ms, the table's clock). */
  deadline: number;
  /** This entry's reachable time (jittered once per confirmation). */
  reachableFor: number;
  probes: number;
  ucastBudget: number;
  confirmedAt: number;
  updatedAt: number;
}

const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

function macText(b: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

export class NeighborTable {
  /** realKey → MAC, for the snapshot (every entry with a MAC, FAILED ones included). */
  readonly learned = new Map<string, string>();
  readonly counters: NeighborCounters = { unicastProbes: 0, broadcastProbes: 0, macChanges: 0, failures: 0 };
  private readonly byKey = new Map<string, Neighbor>();
  private readonly byReal = new Map<string, Neighbor>();
  private vni = 0;
  private readonly directorMac = new Uint8Array(6);
  private timer: NodeJS.Timeout | null = null;
  private readonly own: OwnFrames;
  private readonly onChange: (change: NeighborChange) => void;
  private readonly log: Logger;
  private readonly t: NudTimings;
  private readonly now: () => number;
  private readonly frame = new FrameInfo();
  private readonly vx = new VxlanInfo();

  constructor(
    own: OwnFrames,
    onChange: (change: NeighborChange) => void,
    log: Logger,
    timings: Partial<NudTimings> = {},
    now: () => number = Date.now,
  ) {
    this.own = own;
    this.onChange = onChange;
    this.log = log;
    this.t = { ...NUD_DEFAULTS, ...timings };
    this.now = now;
  }

  /** The real servers to resolve under this config (those with `mac: null`); states carry over. */
  track(live: LiveConfig): void {
    this.vni = live.overlay.vni;
    parseMac(live.overlay.directorMac, this.directorMac, 0);
    const now = this.now();
    const keep = new Set<string>();
    for (const n of this.byKey.values()) n.reals = [];
    this.byReal.clear();
    for (const svc of live.services) {
      for (const r of svc.reals) {
        if (r.mac !== null) continue;
        const words = parseAddress(r.address);
        const key = `${r.vtep} ${wordsKey(words)}`;
        let n = this.byKey.get(key);
        if (n === undefined) {
          n = {
            key,
            address: r.address,
            words,
            v4: words[0] === 0 && words[1] === 0 && words[2] === 0xffff,
            vtep: r.vtep,
            reals: [],
            mac: null,
            state: 'incomplete',
            deadline: now,
            reachableFor: 0,
            probes: 0,
            ucastBudget: 0,
            confirmedAt: -1,
            updatedAt: -1,
          };
          this.byKey.set(key, n);
        }
        const rk = realKey(svc.name, r.address, r.port);
        n.reals.push(rk);
        this.byReal.set(rk, n);
        keep.add(key);
      }
    }
    for (const k of [...this.byKey.keys()]) if (!keep.has(k)) this.byKey.delete(k);
    this.learned.clear();
    for (const [rk, n] of this.byReal) if (n.mac !== null) this.learned.set(rk, n.mac);
    // New entries probe at once rather than at the next tick.
    this.run(now);
  }

  start(): void {
    this.timer = setInterval(() => this.run(this.now()), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The neighbour state of a real server, or null when its MAC is configured (not learned). */
  view(real: string): NeighborView | null {
    const n = this.byReal.get(real);
    if (n === undefined) return null;
    return {
      state: n.state,
      mac: n.mac,
      confirmedSecondsAgo: n.confirmedAt < 0 ? null : Math.max(0, this.now() - n.confirmedAt) / 1000,
    };
  }

  /** Whether a real server's neighbour stopped answering (it then takes no new connections). */
  isFailed(real: string): boolean {
    return this.byReal.get(real)?.state === 'failed';
  }

  /** Every tracked real server with its state (metrics). */
  states(): Array<{ real: string; state: NudState }> {
    return [...this.byReal].map(([real, n]) => ({ real, state: n.state }));
  }

  /** An upper layer reached the real server through the overlay with the cached MAC. */
  confirm(real: string): void {
    const n = this.byReal.get(real);
    if (n === undefined || n.mac === null) return;
    this.reachable(n, this.now());
  }

  /** An upper layer failed to reach it through the overlay: probe now (one unicast, then broadcast). */
  suspect(real: string): void {
    const n = this.byReal.get(real);
    if (n === undefined || n.mac === null) return;
    if (n.state === 'probe' || n.state === 'failed') return;
    const now = this.now();
    this.enterProbe(n, now, 1);
  }

  private reachable(n: Neighbor, now: number): void {
    const wasFailed = n.state === 'failed';
    n.state = 'reachable';
    n.confirmedAt = now;
    n.probes = 0;
    n.reachableFor = Math.round(this.t.reachableMs * (0.5 + Math.random()));
    n.deadline = now + n.reachableFor;
    if (wasFailed) {
      this.log.info(`neighbour ${n.address} (VTEP ${n.vtep}) answers again; it takes new connections`);
      this.onChange({ kind: 'recovered', reals: n.reals });
    }
  }

  private enterProbe(n: Neighbor, now: number, ucastBudget: number): void {
    n.state = 'probe';
    n.probes = 0;
    n.ucastBudget = ucastBudget;
    n.deadline = now;
    this.step(n, now);
  }

  /** Timers: every entry whose deadline passed takes its next step. */
  run(now: number): void {
    for (const n of this.byKey.values()) if (now >= n.deadline) this.step(n, now);
  }

  private step(n: Neighbor, now: number): void {
    const t = this.t;
    switch (n.state) {
      case 'incomplete':
      case 'failed':
        this.send(n, false);
        n.deadline = now + t.retransMs;
        return;
      case 'reachable':
      case 'stale':
        n.state = 'delay';
        n.deadline = now + t.delayMs;
        return;
      case 'delay':
        this.enterProbe(n, now, t.ucastProbes);
        return;
      case 'probe':
        if (n.probes < n.ucastBudget) this.send(n, true);
        else if (n.probes < n.ucastBudget + t.mcastProbes) this.send(n, false);
        else {
          n.state = 'failed';
          this.counters.failures++;
          this.log.warn(
            `neighbour ${n.address} (VTEP ${n.vtep}, MAC ${n.mac}) stopped answering: no reply to ` +
              `${n.ucastBudget} unicast and ${t.mcastProbes} broadcast probes; no new connections ` +
              'until it answers, established ones keep their entries',
          );
          this.onChange({ kind: 'failed', reals: n.reals });
          n.deadline = now + t.retransMs;
          return;
        }
        n.probes++;
        n.deadline = now + t.retransMs;
        return;
    }
  }

  private send(n: Neighbor, unicast: boolean): void {
    const mac =
      unicast && n.mac !== null ? Uint8Array.from(n.mac.split(':').map((h) => Number.parseInt(h, 16))) : null;
    if (mac === null) this.counters.broadcastProbes++;
    else this.counters.unicastProbes++;
    this.own.send(this.probe(n, mac), n.vtep).catch(() => {});
  }

  /** An ARP probe or a neighbour solicitation for `n`, VXLAN-encapsulated; to `mac`, or broadcast. */
  probe(n: { words: readonly number[]; v4: boolean }, mac: Uint8Array | null): Uint8Array {
    const out = new Uint8Array(8 + 14 + 40 + 32);
    writeVxlan(out, 0, this.vni);
    const w = n.words;
    if (n.v4) {
      let o = 8 + writeEthernet(out, 8, mac ?? BROADCAST, 0, this.directorMac, 0, EtherType.arp, -1);
      o += writeArp(out, o, 1, this.directorMac, 0, 0, ZERO_MAC, 0, w[3]);
      return out.subarray(0, o);
    }
    // Multicast: the target's solicited-node group; unicast: the target itself, at its cached MAC.
    // Source: our link-local address (EUI-64 of our MAC).
    const dst = mac === null ? [0xff020000 | 0, 0, 1, 0xff000000 | (w[3] & 0xffffff) | 0] : [...w];
    const m = this.directorMac;
    const src = [
      0xfe800000 | 0,
      0,
      ((m[0] ^ 2) << 24) | (m[1] << 16) | (m[2] << 8) | 0xff | 0,
      (0xfe << 24) | (m[3] << 16) | (m[4] << 8) | m[5] | 0,
    ];
    const dstMac =
      mac ?? new Uint8Array([0x33, 0x33, 0xff, (w[3] >>> 16) & 0xff, (w[3] >>> 8) & 0xff, w[3] & 0xff]);
    let o = 8 + writeEthernet(out, 8, dstMac, 0, m, 0, EtherType.ipv6, -1);
    const l3 = o;
    o += writeIpv6(out, o, src, dst, IpProto.icmpv6, 32, 255);
    const l4 = o;
    out[o] = 135; // neighbour solicitation
    for (let i = 0; i < 4; i++) {
      const v = w[i];
      out[o + 8 + i * 4] = v >>> 24;
      out[o + 9 + i * 4] = (v >>> 16) & 0xff;
      out[o + 10 + i * 4] = (v >>> 8) & 0xff;
      out[o + 11 + i * 4] = v & 0xff;
    }
    out[o + 24] = 1; // option: source link-layer address
    out[o + 25] = 1;
    out.set(m, o + 26);
    fillL4Checksum(out, l3, 6, l4, 32, IpProto.icmpv6);
    return out.subarray(0, l4 + 32);
  }

  /**
   * A punted frame from `senderVtep`: an ARP request or reply, or a neighbour advertisement. A
   * solicited answer (an ARP reply to our MAC, an advertisement with the S flag) confirms the
   * entry with the MAC it carries; unsolicited news of another MAC (gratuitous ARP, an ARP request,
   * an advertisement with the O flag) is taken, as Linux takes it, and then confirmed.
   */
  learnFrom(datagram: Uint8Array, vni: number, senderVtep: string): void {
    if (this.byKey.size === 0) return;
    if (parseVxlan(datagram, 0, datagram.length, this.vx) !== ParseStatus.ok || this.vx.vni !== vni) return;
    const f = this.frame;
    if (parseFrame(datagram, 8, datagram.length - 8, f) !== ParseStatus.ok) return;
    let words: number[];
    let mac: string;
    let solicited: boolean;
    let override: boolean;
    if (f.etherType === EtherType.arp) {
      if (f.arpSenderIp === 0) return;
      words = [0, 0, 0xffff, f.arpSenderIp];
      mac = macText(datagram, f.l3Offset + 8);
      let toUs = true;
      for (let i = 0; i < 6; i++) if (datagram[f.l2Offset + i] !== this.directorMac[i]) toUs = false;
      solicited = f.arpOp === 2 && toUs;
      // A gratuitous ARP announces the sender's own address: it overrides the lock time.
      override = (f.arpSenderIp | 0) === (f.arpTargetIp | 0);
    } else if (f.ipProto === IpProto.icmpv6 && f.icmpType === 136 && f.ndTargetOffset >= 0) {
      const t = f.ndTargetOffset;
      words = [];
      for (let i = 0; i < 4; i++) {
        words.push(
          (datagram[t + i * 4] << 24) |
            (datagram[t + i * 4 + 1] << 16) |
            (datagram[t + i * 4 + 2] << 8) |
            datagram[t + i * 4 + 3],
        );
      }
      mac =
        f.ndLinkAddrOffset >= 0 ? macText(datagram, f.ndLinkAddrOffset) : macText(datagram, f.l2Offset + 6);
      const flags = datagram[f.l4Offset + 4];
      solicited = (flags & 0x40) !== 0;
      override = (flags & 0x20) !== 0;
    } else {
      return;
    }
    const n = this.byKey.get(`${senderVtep} ${wordsKey(words)}`);
    if (n === undefined) return;
    const now = this.now();
    const changed = n.mac !== mac;
    if (solicited) {
      if (changed) this.setMac(n, mac, now);
      this.reachable(n, now);
      return;
    }
    if (!changed) return;
    if (n.mac !== null && !override && now - n.updatedAt < this.t.lockMs) return;
    this.setMac(n, mac, now);
    if (n.state !== 'failed') {
      n.state = 'stale';
      n.deadline = now;
    }
  }

  private setMac(n: Neighbor, mac: string, now: number): void {
    const before = n.mac;
    n.mac = mac;
    n.updatedAt = now;
    for (const rk of n.reals) this.learned.set(rk, mac);
    if (before !== null) {
      this.counters.macChanges++;
      this.log.warn(`neighbour ${n.address} (VTEP ${n.vtep}) changed its MAC: ${before} → ${mac}`);
    } else {
      this.log.info(`neighbour ${n.address} (VTEP ${n.vtep}) resolved: ${mac}`);
    }
    this.onChange({ kind: 'mac', reals: n.reals });
  }
}

/** One text per address whatever its spelling: the four words in hex. */
function wordsKey(words: readonly number[]): string {
  return words.map((w) => (w >>> 0).toString(16)).join(':');
}
