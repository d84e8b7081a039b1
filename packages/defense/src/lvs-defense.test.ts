// Tests for the LVS defense baselines. The mode machine is checked against a line-by-line model
// of the kernel's update_defense_level(), proc_do_defense_mode() and ip_vs_todrop() (ip_vs_ctl.c,
// ip_vs.h) under random sequences; drop_entry runs on a real ConnectionTable and is checked
// against a model of ip_vs_random_dropentry() / todrop_entry() (ip_vs_conn.c).
import {
  Conn,
  ConnectionTable,
  ConnFlag,
  DEFAULT_TCP_TIMEOUTS_MS,
  nextTcpState,
  packStatePrio,
  RemoveReason,
  TcpState,
} from '@sluice/conntrack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  defaultLvsAmemthresh,
  LVS_DEFAULT_AM_DROPRATE,
  LvsDefense,
  type LvsDefenseConfig,
  LvsDefenseError,
  LvsDefenseErrorCode,
  LvsMode,
} from './lvs-defense.ts';

// ---------------------------------------------------------------------------------------------
// A model of the kernel, transcribed from ip_vs_ctl.c / ip_vs.h with the same names.

class KernelIpvs {
  sysctl_amemthresh: number;
  sysctl_am_droprate: number;
  sysctl_drop_entry: number;
  sysctl_drop_packet: number;
  sysctl_secure_tcp: number;
  dropentry = 0;
  drop_rate = 0;
  drop_counter = 0;
  old_secure_tcp = 0;
  /** which table tcp_timeout_change() last installed */
  tcp_states_dos = false;

  constructor(c: LvsDefenseConfig) {
    this.sysctl_amemthresh = c.amemthresh;
    this.sysctl_am_droprate = c.amDroprate;
    this.sysctl_drop_entry = c.dropEntry;
    this.sysctl_drop_packet = c.dropPacket;
    this.sysctl_secure_tcp = c.secureTcp;
  }

  update_defense_level(availmem: number): void {
    let to_change = -1;
    const amemthresh = Math.max(this.sysctl_amemthresh, 0);
    const nomem = availmem < amemthresh;
    switch (this.sysctl_drop_entry) {
      case 0:
        this.dropentry = 0;
        break;
      case 1:
        if (nomem) {
          this.dropentry = 1;
          this.sysctl_drop_entry = 2;
        } else {
          this.dropentry = 0;
        }
        break;
      case 2:
        if (nomem) {
          this.dropentry = 1;
        } else {
          this.dropentry = 0;
          this.sysctl_drop_entry = 1;
        }
        break;
      case 3:
        this.dropentry = 1;
        break;
    }
    switch (this.sysctl_drop_packet) {
      case 0:
        this.drop_rate = 0;
        break;
      case 1:
        if (nomem) {
          this.drop_counter = Math.trunc(amemthresh / (amemthresh - availmem));
          this.drop_rate = this.drop_counter;
          this.sysctl_drop_packet = 2;
        } else {
          this.drop_rate = 0;
        }
        break;
      case 2:
        if (nomem) {
          this.drop_counter = Math.trunc(amemthresh / (amemthresh - availmem));
          this.drop_rate = this.drop_counter;
        } else {
          this.drop_rate = 0;
          this.sysctl_drop_packet = 1;
        }
        break;
      case 3:
        this.drop_rate = this.sysctl_am_droprate;
        break;
    }
    switch (this.sysctl_secure_tcp) {
      case 0:
        if (this.old_secure_tcp >= 2) to_change = 0;
        break;
      case 1:
        if (nomem) {
          if (this.old_secure_tcp < 2) to_change = 1;
          this.sysctl_secure_tcp = 2;
        } else {
          if (this.old_secure_tcp >= 2) to_change = 0;
        }
        break;
      case 2:
        if (nomem) {
          if (this.old_secure_tcp < 2) to_change = 1;
        } else {
          if (this.old_secure_tcp >= 2) to_change = 0;
          this.sysctl_secure_tcp = 1;
        }
        break;
      case 3:
        if (this.old_secure_tcp < 2) to_change = 1;
        break;
    }
    this.old_secure_tcp = this.sysctl_secure_tcp;
    if (to_change >= 0) this.tcp_states_dos = this.sysctl_secure_tcp > 1;
  }

  /** proc_do_defense_mode(): a changed, in-range value re-evaluates at once. */
  proc_do_defense_mode(field: 'dropEntry' | 'dropPacket' | 'secureTcp', value: number, availmem: number) {
    const key =
      field === 'dropEntry'
        ? 'sysctl_drop_entry'
        : field === 'dropPacket'
          ? 'sysctl_drop_packet'
          : 'sysctl_secure_tcp';
    const old = this[key];
    this[key] = value;
    if (value !== old) this.update_defense_level(availmem);
  }

  ip_vs_todrop(): boolean {
    if (!this.drop_rate) return false;
    if (--this.drop_counter > 0) return false;
    this.drop_counter = this.drop_rate;
    return true;
  }
}

function expectSameState(d: LvsDefense, k: KernelIpvs): void {
  expect({
    dropEntry: d.dropEntryMode,
    dropPacket: d.dropPacketMode,
    secureTcp: d.secureTcpMode,
    dropentry: d.dropEntryActive ? 1 : 0,
    dropRate: d.dropRate,
    dropCounter: d.dropCounter,
    oldSecureTcp: d.oldSecureTcp,
    secure: d.secureTcpActive,
  }).toEqual({
    dropEntry: k.sysctl_drop_entry,
    dropPacket: k.sysctl_drop_packet,
    secureTcp: k.sysctl_secure_tcp,
    dropentry: k.dropentry,
    dropRate: k.drop_rate,
    dropCounter: k.drop_counter,
    oldSecureTcp: k.old_secure_tcp,
    secure: k.tcp_states_dos,
  });
}

/** A table stand-in for update(): only capacity and count() are read. */
function occupancy(capacity: number, used: number) {
  return { capacity, count: () => used };
}

// ---------------------------------------------------------------------------------------------
// Connection-table helpers.

const V4 = 0xffff;
const NOW = 10_000_000;
const QUIET = NOW - 61_000;
const RECENT = NOW - 10_000;

interface EntrySpec {
  state: number;
  packets: number;
  lastSeen: number;
  udp?: boolean;
  /** deadline relative to NOW (default far in the future) */
  expiresIn?: number;
}

let nextAddr = 1;
/** Inserts one entry with the given facts; returns its slot. */
function put(t: ConnectionTable, e: EntrySpec): number {
  const addr = nextAddr++;
  const slot = t.acquire(0, 0, V4, addr, ((addr & 0xffff) << 16) | 1, true, 5, NOW);
  expect(slot).toBeGreaterThanOrEqual(0);
  expect(t.created).toBe(1);
  const b = t.recordBase(slot);
  t.i32[b + Conn.statePrio] = packStatePrio(e.state, 5, 5, 0);
  t.i32[b + Conn.flagsSyn] = (e.udp ? ConnFlag.udp : 0) | (1 << 16);
  t.i32[b + Conn.packets] = e.packets;
  t.i32[b + Conn.firstSeen] = e.lastSeen - 1000;
  t.i32[b + Conn.lastSeen] = e.lastSeen;
  t.setExpires(slot, (NOW + (e.expiresIn ?? 1_000_000)) | 0);
  t.release(slot);
  return slot;
}

/** The remaining entries, as their address word (unique per entry). */
function remaining(t: ConnectionTable): Map<number, Int32Array> {
  const out = new Map<number, Int32Array>();
  for (let s = 0; s < t.capacity; s++) {
    const rec = new Int32Array(Conn.snapshotWords);
    expect(t.readRecord(s, rec)).toBe(true);
    if (rec[Conn.tag] !== 0) out.set(rec[Conn.addr3], rec);
  }
  return out;
}

/** An rng whose 32 draws start the scan at k/32 of the table: 32 steps tile it exactly. */
function tilingRng(): () => number {
  let k = 0;
  return () => (k++ % 32) / 32;
}

function countRemovals(t: ConnectionTable): number[] {
  const byReason: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  t.listener = {
    onConnectionRemoved(_t, _base, reason) {
      byReason[reason]++;
    },
  };
  return byReason;
}

// ---------------------------------------------------------------------------------------------

describe('LvsDefense configuration', () => {
  it('defaults to the kernel: every mode 0, am_droprate 10, amemthresh 1/64 of the table', () => {
    const d = new LvsDefense(65536);
    expect(d.config()).toEqual({
      dropEntry: 0,
      dropPacket: 0,
      secureTcp: 0,
      amemthresh: 1024,
      amDroprate: LVS_DEFAULT_AM_DROPRATE,
    });
    expect(defaultLvsAmemthresh(4096)).toBe(64);
    expect(d.dropEntryActive || d.secureTcpActive || d.dropRate !== 0).toBe(false);
  });

  it('refuses bad values with a typed error naming the field', () => {
    const cases: [Partial<LvsDefenseConfig>, string, string][] = [
      [{ dropEntry: 4 }, LvsDefenseErrorCode.mode, 'dropEntry'],
      [{ dropPacket: -1 }, LvsDefenseErrorCode.mode, 'dropPacket'],
      [{ secureTcp: 1.5 }, LvsDefenseErrorCode.mode, 'secureTcp'],
      [{ amemthresh: -3 }, LvsDefenseErrorCode.amemthresh, 'amemthresh'],
      [{ amemthresh: Number.NaN }, LvsDefenseErrorCode.amemthresh, 'amemthresh'],
      [{ amDroprate: 2 ** 31 }, LvsDefenseErrorCode.amDroprate, 'amDroprate'],
      [
        { dropentry: 1 } as unknown as Partial<LvsDefenseConfig>,
        LvsDefenseErrorCode.unknownField,
        'dropentry',
      ],
    ];
    for (const [cfg, code, field] of cases) {
      let err: unknown;
      try {
        new LvsDefense(1024, cfg);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LvsDefenseError);
      expect((err as LvsDefenseError).code).toBe(code);
      expect((err as LvsDefenseError).field).toBe(field);
    }
    expect(() => new LvsDefense(0)).toThrow(LvsDefenseError);
    expect(() => new LvsDefense(0)).toThrow(expect.objectContaining({ code: LvsDefenseErrorCode.capacity }));
  });

  it('reconfigure validates the whole change first: a bad field changes nothing', () => {
    const d = new LvsDefense(1024, { dropPacket: 3 });
    expect(() => d.reconfigure({ dropEntry: 3, amDroprate: -1 })).toThrow(LvsDefenseError);
    expect(d.config()).toMatchObject({ dropEntry: 0, dropPacket: 3, amDroprate: 10 });
  });

  it('a mode write re-evaluates at once (proc_do_defense_mode); an amemthresh write waits for update', () => {
    const d = new LvsDefense(1024, { amemthresh: 100 });
    const full = occupancy(1024, 1000); // 24 free < 100
    d.reconfigure({ dropEntry: 1 }, 5, full);
    expect(d.dropEntryMode).toBe(LvsMode.autoOn);
    expect(d.dropEntryActive).toBe(true);
    expect(d.lastUpdate).toBe(5);
    d.reconfigure({ amemthresh: 10 }, 6, full);
    expect(d.lastUpdate).toBe(5);
    expect(d.dropEntryMode).toBe(LvsMode.autoOn);
    d.update(7, full);
    expect(d.dropEntryMode).toBe(LvsMode.autoOff);
    expect(d.dropEntryActive).toBe(false);
  });
});

describe('update(): the kernel mode machine', () => {
  const availArb = (thresh: number, capacity: number) =>
    fc.oneof(fc.integer({ min: 0, max: thresh + 2 }), fc.integer({ min: 0, max: capacity }));

  it('matches update_defense_level / proc_do_defense_mode / ip_vs_todrop for random sequences', () => {
    const capacity = 4096;
    const action = fc.oneof(
      fc.record({ t: fc.constant('tick' as const), avail: availArb(64, capacity) }),
      fc.record({
        t: fc.constant('write' as const),
        field: fc.constantFrom('dropEntry' as const, 'dropPacket' as const, 'secureTcp' as const),
        value: fc.integer({ min: 0, max: 3 }),
        avail: availArb(64, capacity),
      }),
      fc.record({ t: fc.constant('syns' as const), n: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ t: fc.constant('thresh' as const), value: fc.integer({ min: 0, max: 200 }) }),
    );
    fc.assert(
      fc.property(
        fc.record({
          dropEntry: fc.integer({ min: 0, max: 3 }),
          dropPacket: fc.integer({ min: 0, max: 3 }),
          secureTcp: fc.integer({ min: 0, max: 3 }),
          amemthresh: fc.integer({ min: 0, max: 128 }),
          amDroprate: fc.integer({ min: 0, max: 20 }),
        }),
        fc.array(action, { maxLength: 60 }),
        (cfg, actions) => {
          const d = new LvsDefense(capacity, cfg);
          const k = new KernelIpvs(cfg);
          let now = 0;
          for (const a of actions) {
            now += 1000;
            if (a.t === 'tick') {
              d.update(now, occupancy(capacity, capacity - a.avail));
              k.update_defense_level(a.avail);
            } else if (a.t === 'write') {
              d.reconfigure({ [a.field]: a.value }, now, occupancy(capacity, capacity - a.avail));
              k.proc_do_defense_mode(a.field, a.value, a.avail);
            } else if (a.t === 'syns') {
              for (let i = 0; i < a.n; i++) expect(d.shouldDropSyn()).toBe(k.ip_vs_todrop());
            } else {
              d.reconfigure({ amemthresh: a.value });
              k.sysctl_amemthresh = a.value;
            }
            expectSameState(d, k);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('flips an automatic mode 1 → 2 when free entries fall below amemthresh, and back', () => {
    const t = ConnectionTable.create(256);
    const d = new LvsDefense(t.capacity, { dropEntry: 1, dropPacket: 1, secureTcp: 1, amemthresh: 16 });
    d.update(0, t);
    expect([d.dropEntryMode, d.dropPacketMode, d.secureTcpMode]).toEqual([1, 1, 1]);
    const slots: number[] = [];
    for (let i = 0; slots.length < t.capacity - 15 && i < 10 * t.capacity; i++) {
      const s = t.acquire(0, 0, V4, 0x0a000000 + i, (1000 << 16) | 1, true, 5, 0);
      if (s < 0) continue;
      t.setExpires(s, 1_000_000);
      t.release(s);
      slots.push(s);
    }
    expect(t.capacity - t.count()).toBe(15);
    d.update(1000, t);
    expect([d.dropEntryMode, d.dropPacketMode, d.secureTcpMode]).toEqual([2, 2, 2]);
    expect(d.available).toBe(15);
    expect(d.dropEntryActive && d.secureTcpActive).toBe(true);
    expect(d.dropRate).toBe(16); // 16 / (16 − 15)
    const tag = t.core.tagOfSlot(slots[0]);
    expect(t.removeSlot(slots[0], tag, RemoveReason.control)).toBe(true);
    d.update(2000, t);
    expect([d.dropEntryMode, d.dropPacketMode, d.secureTcpMode]).toEqual([1, 1, 1]);
    expect(d.dropEntryActive || d.secureTcpActive || d.dropRate !== 0).toBe(false);
  });
});

describe('drop_packet', () => {
  it('rate = amemthresh / (amemthresh − available), integer division, 1 when the table is full', () => {
    const d = new LvsDefense(1 << 16, { dropPacket: 2, amemthresh: 64 });
    const expected: [number, number][] = [
      [0, 1],
      [1, 1],
      [32, 2],
      [43, 3], // 64 / 21 = 3.04
      [48, 4],
      [60, 16],
      [63, 64],
      [64, 0], // not below the threshold: off, mode back to 1
    ];
    for (const [avail, rate] of expected) {
      d.reconfigure({ dropPacket: 2 });
      d.updateAvailable(0, avail);
      expect(d.dropRate).toBe(rate);
    }
    expect(d.dropPacketMode).toBe(LvsMode.autoOff);
  });

  it('drops every rate-th new connection, counting down from the rate set by each update', () => {
    const d = new LvsDefense(1 << 16, { dropPacket: 1, amemthresh: 64 });
    d.updateAvailable(0, 48); // rate 4
    const pattern: boolean[] = [];
    for (let i = 0; i < 12; i++) pattern.push(d.shouldDropSyn());
    expect(pattern).toEqual([
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      true,
    ]);
    expect(d.droppedSyns).toBe(3);
  });

  it('keeps the kernel quirk: the automatic countdown restarts every second, so < rate SYNs/s pass', () => {
    const d = new LvsDefense(1 << 16, { dropPacket: 1, amemthresh: 64 });
    for (let second = 0; second < 100; second++) {
      d.updateAvailable(second * 1000, 48); // rate 4, counter 4
      for (let i = 0; i < 3; i++) expect(d.shouldDropSyn()).toBe(false);
    }
    expect(d.droppedSyns).toBe(0);
  });

  it('mode 3 uses am_droprate and carries the countdown across updates; a fresh one drops the first', () => {
    const d = new LvsDefense(1 << 16, { dropPacket: 3 });
    d.updateAvailable(0, 1 << 16);
    expect(d.dropRate).toBe(10);
    const drops: number[] = [];
    for (let i = 1; i <= 35; i++) {
      if (i % 7 === 0) d.updateAvailable(i * 1000, 1 << 16); // updates do not reset the countdown
      if (d.shouldDropSyn()) drops.push(i);
    }
    expect(drops).toEqual([1, 11, 21, 31]);
  });

  it('never drops with mode 0, nor with am_droprate 0 in mode 3', () => {
    for (const cfg of [{ dropPacket: 0 }, { dropPacket: 3, amDroprate: 0 }]) {
      const d = new LvsDefense(1024, { ...cfg, amemthresh: 1024 });
      d.updateAvailable(0, 0);
      for (let i = 0; i < 100; i++) expect(d.shouldDropSyn()).toBe(false);
    }
  });
});

describe('secure_tcp', () => {
  it('mode 3 installs the secure table, mode 0 the normal one, automatic follows memory', () => {
    const d = new LvsDefense(1024, { secureTcp: 3 });
    d.updateAvailable(0, 1024);
    expect(d.secureTcpActive).toBe(true);
    d.reconfigure({ secureTcp: 0 }, 1, occupancy(1024, 0));
    expect(d.secureTcpActive).toBe(false);
    d.reconfigure({ secureTcp: 2 }, 2, occupancy(1024, 0)); // memory enough: becomes 1, stays off
    expect([d.secureTcpMode, d.secureTcpActive]).toEqual([1, false]);
    d.update(3, occupancy(1024, 1024));
    expect([d.secureTcpMode, d.secureTcpActive]).toEqual([2, true]);
  });

  it('in direct routing (INPUT-ONLY rows) a valid handshake still completes: SYN → SYNACK → ESTABLISHED', () => {
    const SYN = 0x02;
    const ACK = 0x10;
    const d = new LvsDefense(1024, { secureTcp: 3 });
    d.updateAvailable(0, 1024);
    let s = nextTcpState(TcpState.none, SYN, d.secureTcpActive);
    expect(s).toBe(TcpState.synAck);
    s = nextTcpState(s, ACK, d.secureTcpActive);
    expect(s).toBe(TcpState.established);
    // Without secure_tcp the half-open state is SYN_RECV; the timeouts themselves do not change,
    // so a SYN nobody completes lives 120 s instead of 60 s under secure_tcp.
    expect(nextTcpState(TcpState.none, SYN, false)).toBe(TcpState.synRecv);
    expect(DEFAULT_TCP_TIMEOUTS_MS[TcpState.synAck]).toBe(2 * DEFAULT_TCP_TIMEOUTS_MS[TcpState.synRecv]);
  });
});

describe('drop_entry on a real connection table', () => {
  it('removes every SYN_RECV and SYNACK entry within 32 steps that cover the table, and nothing else', () => {
    const t = ConnectionTable.create(4096);
    const removals = countRemovals(t);
    const d = new LvsDefense(t.capacity, { dropEntry: 3 });
    const victims = new Set<number>();
    const keep = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const a = nextAddr;
      put(t, { state: i % 2 === 0 ? TcpState.synRecv : TcpState.synAck, packets: 1, lastSeen: NOW - 1000 });
      victims.add(a);
    }
    const keepers: EntrySpec[] = [];
    for (let p = 9; p < 400; p += 3)
      keepers.push({ state: TcpState.established, packets: p, lastSeen: QUIET }); // busy
    for (let p = 1; p <= 8; p++)
      for (let j = 0; j < 20; j++)
        keepers.push({ state: TcpState.established, packets: p, lastSeen: RECENT });
    for (const st of [
      TcpState.finWait,
      TcpState.timeWait,
      TcpState.close,
      TcpState.closeWait,
      TcpState.lastAck,
    ])
      for (let j = 0; j < 20; j++) keepers.push({ state: st, packets: 1, lastSeen: QUIET });
    for (const e of keepers) {
      keep.add(nextAddr);
      put(t, e);
    }
    const before = t.count();
    d.update(NOW, t);
    expect(d.dropEntryActive).toBe(true);
    const rng = tilingRng();
    let dropped = 0;
    for (let step = 0; step < 32; step++) dropped += d.dropEntryStep(t, NOW, rng);
    const left = remaining(t);
    expect(dropped).toBe(victims.size);
    expect(t.count()).toBe(before - victims.size);
    for (const a of victims) expect(left.has(a)).toBe(false);
    for (const a of keep) expect(left.has(a)).toBe(true);
    expect(removals[RemoveReason.dropEntry]).toBe(victims.size);
    expect(d.droppedEntries).toBe(victims.size);
    expect(d.scannedSlots).toBe(t.capacity);
  });

  it('drops 1 in i of the quiet ESTABLISHED entries with i packets (todrop_entry), none with 0', () => {
    const t = ConnectionTable.create(4096);
    const d = new LvsDefense(t.capacity, { dropEntry: 3 });
    const PER = 100;
    for (let i = 0; i <= 8; i++)
      for (let j = 0; j < PER; j++) put(t, { state: TcpState.established, packets: i, lastSeen: QUIET });
    d.update(NOW, t);
    // todrop_counter[i] starts at 0: the 1st, (i+1)th, (2i+1)th … eligible entry of each i goes.
    const rng = tilingRng();
    for (let pass = 1; pass <= 2; pass++) {
      for (let step = 0; step < 32; step++) d.dropEntryStep(t, NOW, rng);
      const left = [...remaining(t).values()];
      for (let i = 0; i <= 8; i++) {
        const n = left.filter((r) => r[Conn.packets] === i).length;
        // A countdown per i over every entry of class i, visited once per pass.
        let counter = 0;
        let kept = PER;
        for (let p = 0; p < pass; p++) {
          let survivors = 0;
          for (let e = 0; e < kept; e++) {
            if (i === 0) {
              survivors++;
              continue;
            }
            if (--counter > 0) survivors++;
            else counter = i;
          }
          kept = survivors;
        }
        expect(n).toBe(kept);
        if (pass === 1) expect(PER - n).toBe(i === 0 ? 0 : Math.ceil(PER / i));
      }
    }
  });

  it('treats UDP entries as the kernel treats non-TCP ones: todrop_entry only', () => {
    const t = ConnectionTable.create(1024);
    const d = new LvsDefense(t.capacity, { dropEntry: 3 });
    const quietOne = new Set<number>();
    for (let j = 0; j < 30; j++) {
      quietOne.add(nextAddr);
      put(t, { state: 0, packets: 1, lastSeen: QUIET, udp: true });
    }
    for (let j = 0; j < 30; j++) put(t, { state: 0, packets: 1, lastSeen: RECENT, udp: true });
    for (let j = 0; j < 30; j++) put(t, { state: 0, packets: 9, lastSeen: QUIET, udp: true });
    d.update(NOW, t);
    const rng = tilingRng();
    for (let step = 0; step < 32; step++) d.dropEntryStep(t, NOW, rng);
    const left = remaining(t);
    expect(left.size).toBe(60);
    for (const a of quietOne) expect(left.has(a)).toBe(false);
  });

  it('leaves entries past their deadline to the expiry sweep', () => {
    const t = ConnectionTable.create(1024);
    const removals = countRemovals(t);
    const d = new LvsDefense(t.capacity, { dropEntry: 3 });
    for (let j = 0; j < 50; j++)
      put(t, { state: TcpState.synRecv, packets: 1, lastSeen: QUIET, expiresIn: -1 });
    d.update(NOW, t);
    const rng = tilingRng();
    for (let step = 0; step < 32; step++) expect(d.dropEntryStep(t, NOW, rng)).toBe(0);
    expect(t.expireStep(NOW, t.capacity)).toBe(50);
    expect(removals[RemoveReason.expired]).toBe(50);
    expect(removals[RemoveReason.dropEntry]).toBe(0);
  });

  it('scans 1/32 of the table per step, from the slot the rng picks, wrapping', () => {
    const t = ConnectionTable.create(1024);
    const d = new LvsDefense(t.capacity, { dropEntry: 3 });
    const slots = new Map<number, number>();
    for (let j = 0; j < 400; j++) {
      const a = nextAddr;
      slots.set(a, put(t, { state: TcpState.synRecv, packets: 1, lastSeen: NOW }));
    }
    d.update(NOW, t);
    const start = 1000; // 1000..1023, then 0..7
    d.dropEntryStep(t, NOW, () => start / t.capacity);
    const left = remaining(t);
    for (const [a, s] of slots) {
      const scanned = s >= start || s < 8;
      expect(left.has(a)).toBe(!scanned);
    }
  });

  it('does nothing in mode 0 or while automatic and memory is enough; always on in mode 3', () => {
    for (const mode of [0, 1, 2, 3]) {
      const t = ConnectionTable.create(256);
      const d = new LvsDefense(t.capacity, {
        dropEntry: mode,
        dropPacket: mode,
        secureTcp: mode,
        amemthresh: 4,
      });
      for (let j = 0; j < 100; j++) put(t, { state: TcpState.synRecv, packets: 1, lastSeen: NOW });
      const rng = tilingRng();
      let dropped = 0;
      for (let s = 0; s < 32; s++) dropped += d.tick(NOW + s * 1000, t, rng);
      const on = mode === 3;
      expect(dropped).toBe(on ? 100 : 0);
      expect(d.dropEntryActive).toBe(on);
      expect(d.secureTcpActive).toBe(on);
      expect(d.dropRate).toBe(on ? LVS_DEFAULT_AM_DROPRATE : 0);
      expect(t.count()).toBe(on ? 0 : 100);
    }
  });

  it('matches a model of ip_vs_random_dropentry over random tables (one covering pass)', () => {
    const spec = fc.record({
      state: fc.constantFrom(
        TcpState.synRecv,
        TcpState.synAck,
        TcpState.established,
        TcpState.established,
        TcpState.finWait,
        TcpState.close,
      ),
      packets: fc.integer({ min: -1, max: 12 }),
      idle: fc.constantFrom(0, 30_000, 59_999, 60_000, 120_000),
      udp: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 500 }), (entries) => {
        const t = ConnectionTable.create(1024);
        const d = new LvsDefense(t.capacity, { dropEntry: 3 });
        const bySlot = new Map<number, { addr: number; e: (typeof entries)[number] }>();
        for (const e of entries) {
          const addr = nextAddr;
          const slot = put(t, { state: e.state, packets: e.packets, lastSeen: NOW - e.idle, udp: e.udp });
          bySlot.set(slot, { addr, e });
        }
        // The model visits slots 0..capacity-1 in order (the tiling rng) with todrop_counter[9].
        const counter = new Array<number>(9).fill(0);
        const todrop = (packets: number, idle: number) => {
          if (idle < 60_000) return false;
          if (packets > 8 || packets < 0) return false;
          if (packets === 0) return false;
          if (--counter[packets] > 0) return false;
          counter[packets] = packets;
          return true;
        };
        const expectedGone = new Set<number>();
        for (let s = 0; s < t.capacity; s++) {
          const x = bySlot.get(s);
          if (x === undefined) continue;
          const { e } = x;
          let drop: boolean;
          if (e.udp) drop = todrop(e.packets, e.idle);
          else if (e.state === TcpState.synRecv || e.state === TcpState.synAck) drop = true;
          else if (e.state === TcpState.established) drop = todrop(e.packets, e.idle);
          else drop = false;
          if (drop) expectedGone.add(x.addr);
        }
        d.update(NOW, t);
        const rng = tilingRng();
        let dropped = 0;
        for (let step = 0; step < 32; step++) dropped += d.dropEntryStep(t, NOW, rng);
        const left = remaining(t);
        expect(dropped).toBe(expectedGone.size);
        for (const { addr } of bySlot.values()) expect(left.has(addr)).toBe(!expectedGone.has(addr));
      }),
      { numRuns: 60 },
    );
  });
});
