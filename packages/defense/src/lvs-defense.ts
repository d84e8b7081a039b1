// The LVS defense baselines, followed from the Linux kernel so Sluice's own defense can be measured
// against what an LVS director would have done under the same flood:
//   drop_entry  — net/netfilter/ipvs/ip_vs_conn.c ip_vs_random_dropentry(), todrop_entry()
//   drop_packet — include/net/ip_vs.h ip_vs_todrop(), called from tcp_conn_schedule() and
//                 udp_conn_schedule() for every new connection, before a real server is chosen
//   secure_tcp  — ip_vs_proto_tcp.c tcp_states_dos / tcp_timeout_change(): a table swap only
//   the modes   — ip_vs_ctl.c update_defense_level(), run once a second by defense_work_handler()
//                 and at once whenever a mode sysctl is written (proc_do_defense_mode())
// Each defense has the kernel's four modes (Documentation/networking/ipvs-sysctl.rst): 0 off,
// 1 automatic and currently off, 2 automatic and currently on, 3 always on. In automatic mode the
// mode value itself flips between 1 and 2, as the sysctl does, so an operator reading it sees
// whether the defense is on.
//
// "Available memory". The kernel compares free + buffer RAM (si_meminfo, in pages) with
// amemthresh (pages, default 1024). Sluice's memory is fixed at start: what runs out under a
// flood is the connection table. So Sluice's available = free entries of the connection table
// (capacity − count), and amemthresh is a number of ENTRIES. The default, 1/64 of the capacity,
// switches the automatic modes on when the table is 98.4% full: next to the priority shed's
// default 98% high watermark, so the baselines and Sluice's own defense start at about the same
// occupancy and comparisons between them are fair. Caveat, measured on a 2^18-slot table filled
// with random keys and nothing expiring: the 2-choice, 8-way buckets refuse the first insert at
// about 72% load, 1% of inserts at 90%, 41% at 95% and 77% at 98.4%, because a key is refused when
// both of its buckets are full even though the table has room elsewhere. A deployment that wants
// the LVS defenses to act before the table refuses new flows should raise amemthresh (1/8 of the
// capacity engages at 87.5% load, where refusals are still under 1%).
//
// Threads. Each packet worker keeps its own LvsDefense for update() + shouldDropSyn() +
// secureTcpActive: all of them read the same shared table, so their modes agree, and each
// counts its own SYNs down, which keeps the overall proportion at 1 in rate (the kernel's
// drop_counter is one plain int shared by all CPUs, racy by design). Exactly one thread runs
// dropEntryStep() / tick() for the whole table, as the kernel's single defense_work does.
//
// Nothing here allocates or throws after construction: update(), shouldDropSyn(),
// dropEntryStep() and tick() only read and write plain fields and preallocated typed arrays.

import {
  Conn,
  type ConnectionTable,
  ConnFlag,
  RemoveReason,
  statePrioState,
  TcpState,
  timeReached,
} from '@sluice/conntrack';

/** The sysctl values drop_entry, drop_packet and secure_tcp take (ipvs-sysctl.rst). */
export const LvsMode = {
  /** always off (the kernel's default) */
  off: 0,
  /** automatic, currently off: the table has at least amemthresh free entries */
  autoOff: 1,
  /** automatic, currently on: fewer than amemthresh free entries */
  autoOn: 2,
  /** always on */
  always: 3,
} as const;

/** The kernel's default am_droprate: in mode 3, drop_packet drops 1 in 10 new connections. */
export const LVS_DEFAULT_AM_DROPRATE = 10;
/** Default amemthresh = capacity >> 6 (1/64 of the table; see the header for why). */
export const LVS_AMEMTHRESH_CAPACITY_SHIFT = 6;
/** drop_entry scans capacity >> 5 slots a second: 1/32 of the table, as the kernel does. */
export const LVS_DROP_ENTRY_SCAN_SHIFT = 5;
/** todrop_entry(): an entry that saw a packet in the last 60 s is never dropped. */
export const LVS_DROP_ENTRY_QUIET_MS = 60_000;
/** todrop_entry(): only entries with at most 8 incoming packets may be dropped. */
export const LVS_DROP_ENTRY_MAX_PACKETS = 8;

/** Error codes of LvsDefenseError: stable, for the REST layer and for tests. */
export const LvsDefenseErrorCode = {
  /** dropEntry, dropPacket or secureTcp is not an integer 0..3 */
  mode: 'SLUICE_ERR_DEFENSE_LVS_MODE',
  /** amemthresh is not an integer 0..2^31-1 */
  amemthresh: 'SLUICE_ERR_DEFENSE_LVS_AMEMTHRESH',
  /** amDroprate is not an integer 0..2^31-1 */
  amDroprate: 'SLUICE_ERR_DEFENSE_LVS_AM_DROPRATE',
  /** the table capacity given is not a positive integer */
  capacity: 'SLUICE_ERR_DEFENSE_LVS_CAPACITY',
  /** the config object has a field this module does not know (a typo would otherwise be ignored) */
  unknownField: 'SLUICE_ERR_DEFENSE_LVS_UNKNOWN_FIELD',
} as const;

/** A rejected LVS defense setting; `field` names the config field at fault. */
export class LvsDefenseError extends Error {
  readonly code: string;
  readonly field: string;
  constructor(code: string, field: string, message: string) {
    super(message);
    this.name = 'LvsDefenseError';
    this.code = code;
    this.field = field;
  }
}

/** The LVS defense settings, named after the sysctls (net.ipv4.vs.*). */
export interface LvsDefenseConfig {
  /** drop_entry mode, 0..3 */
  dropEntry: number;
  /** drop_packet mode, 0..3 */
  dropPacket: number;
  /** secure_tcp mode, 0..3 */
  secureTcp: number;
  /** free connection-table entries below which the automatic modes switch on (kernel: pages) */
  amemthresh: number;
  /** drop_packet's rate in mode 3: drop 1 in amDroprate new connections (0: drop none) */
  amDroprate: number;
}

/** What update() needs from a table: ConnectionTable has both. */
export interface TableOccupancy {
  readonly capacity: number;
  count(): number;
}

const INT_MAX = 0x7fffffff;
const CONFIG_FIELDS: readonly string[] = ['dropEntry', 'dropPacket', 'secureTcp', 'amemthresh', 'amDroprate'];

/** The default amemthresh for a table of `capacity` entries: 1/64 of it. */
export function defaultLvsAmemthresh(capacity: number): number {
  return Math.floor(capacity / (1 << LVS_AMEMTHRESH_CAPACITY_SHIFT));
}

/**
 * The settings every LvsDefense of a director runs with, from the running config's (null: the
 * strategy is not an LVS one, all off; amemthresh 0: the default for the table). The packet
 * workers and the main thread configure theirs the same way, so their modes agree and either can
 * be read for metrics; each thread only acts on what it owns (workers: drop_packet, secure_tcp;
 * the main thread: the drop_entry scan).
 */
export function lvsSettings(configured: LvsDefenseConfig | null, capacity: number): LvsDefenseConfig {
  if (configured === null) {
    return {
      dropEntry: 0,
      dropPacket: 0,
      secureTcp: 0,
      amemthresh: defaultLvsAmemthresh(capacity),
      amDroprate: LVS_DEFAULT_AM_DROPRATE,
    };
  }
  return {
    ...configured,
    amemthresh: configured.amemthresh > 0 ? configured.amemthresh : defaultLvsAmemthresh(capacity),
  };
}

function checkCapacity(capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > INT_MAX) {
    throw new LvsDefenseError(
      LvsDefenseErrorCode.capacity,
      'capacity',
      `table capacity must be a positive integer, got ${String(capacity)}`,
    );
  }
}

function checkMode(field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 3) {
    throw new LvsDefenseError(
      LvsDefenseErrorCode.mode,
      field,
      `${field} must be 0 (off), 1 or 2 (automatic) or 3 (always on), got ${String(v)}`,
    );
  }
}

function checkCount(code: string, field: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > INT_MAX) {
    throw new LvsDefenseError(code, field, `${field} must be an integer 0..${INT_MAX}, got ${String(v)}`);
  }
}

/**
 * Validates a whole or partial config and fills the missing fields from `base`. Where the kernel
 * silently keeps the old value on an out-of-range mode write (proc_do_defense_mode), Sluice
 * refuses it with a typed error naming the field, so a REST client learns that its write failed.
 */
export function resolveLvsDefenseConfig(
  partial: Partial<LvsDefenseConfig>,
  base: LvsDefenseConfig,
): LvsDefenseConfig {
  if (partial === null || typeof partial !== 'object') {
    throw new LvsDefenseError(LvsDefenseErrorCode.unknownField, '', 'config must be an object');
  }
  for (const key of Object.keys(partial)) {
    if (!CONFIG_FIELDS.includes(key)) {
      throw new LvsDefenseError(LvsDefenseErrorCode.unknownField, key, `unknown LVS defense field "${key}"`);
    }
  }
  const out: LvsDefenseConfig = {
    dropEntry: partial.dropEntry ?? base.dropEntry,
    dropPacket: partial.dropPacket ?? base.dropPacket,
    secureTcp: partial.secureTcp ?? base.secureTcp,
    amemthresh: partial.amemthresh ?? base.amemthresh,
    amDroprate: partial.amDroprate ?? base.amDroprate,
  };
  checkMode('dropEntry', out.dropEntry);
  checkMode('dropPacket', out.dropPacket);
  checkMode('secureTcp', out.secureTcp);
  checkCount(LvsDefenseErrorCode.amemthresh, 'amemthresh', out.amemthresh);
  checkCount(LvsDefenseErrorCode.amDroprate, 'amDroprate', out.amDroprate);
  return out;
}

/**
 * One automatic-mode step of update_defense_level(): mode 1 becomes 2 when memory is short and
 * mode 2 becomes 1 when it is not; 0 and 3 never change.
 */
function nextMode(mode: number, nomem: boolean): number {
  if (mode === LvsMode.autoOff && nomem) return LvsMode.autoOn;
  if (mode === LvsMode.autoOn && !nomem) return LvsMode.autoOff;
  return mode;
}

/*
 * secure_tcp in direct routing — what the kernel does and what Sluice does.
 *
 * tcp_states_dos (ip_vs_proto_tcp.c) has three sets of rows like tcp_states: INPUT (client →
 * server), OUTPUT (server → client, seen only when replies pass the director, i.e. NAT) and
 * INPUT-ONLY. __ip_vs_update_dest() marks every real server that is not masqueraded (DR, TUN)
 * IP_VS_CONN_F_NOOUTPUT, and set_tcp_state() then reads the INPUT-ONLY rows for client packets
 * (dropping the flag should a reply ever be seen). The strictness in LVS-FACTS ("an ACK in
 * SYN_RECV stays in SYN_RECV until the server's SYN-ACK moves the entry to SYNACK") lives in the
 * secure INPUT and OUTPUT rows: INPUT ack sSR → sSR, OUTPUT syn sSR → sSA, INPUT ack sSA → sES.
 * A DR director never sees that SYN-ACK, so the INPUT-ONLY rows cannot wait for it. Instead:
 *   - syn: sNO, sFW, sTW, sCL, sCW, sLA, sLI, sSA → sSA (SYNACK), where the normal INPUT-ONLY row
 *     goes to sSR. The entry starts as if the SYN-ACK had been seen.
 *   - ack: sSR → sES and sSA → sES, exactly as the normal INPUT-ONLY row.
 *   - fin and rst rows are the same as the normal INPUT-ONLY rows.
 * tcp-state.ts carries these rows (SECURE), and Sluice, which always forwards by direct routing
 * over VXLAN, uses them whenever secureTcpActive is true, as the kernel would for a DR service:
 * `nextTcpState(state, flags, defense.secureTcpActive)`.
 * Consequence for valid clients: none on the handshake. SYN → SYNACK → (their ACK) → ESTABLISHED
 * takes the same packets as SYN → SYN_RECV → ESTABLISHED, and ActiveConn counts the same. Their
 * half-open phase is spent in SYNACK, whose timeout is 120 s, instead of SYN_RECV's 60 s: the
 * kernel swaps the table only (tcp_timeout_change()), the timeouts stay as they are. So under
 * secure_tcp an unanswered flood SYN holds its entry twice as long in direct routing, which makes
 * the table fill faster, not slower. drop_entry removes SYNACK entries exactly like SYN_RECV ones,
 * so combined with drop_entry nothing is lost; on its own secure_tcp does not help a DR director.
 */

/**
 * The LVS defenses for one thread: the modes and update_defense_level() state, the drop_packet
 * countdown, and (on the one thread that runs it) drop_entry's scan. Every counter and mode is a
 * plain field the metrics layer can read.
 */
export class LvsDefense {
  /** Entries of the connection table this instance was sized for (default amemthresh). */
  readonly capacity: number;

  /** sysctl drop_entry: 0..3, flips 1 ↔ 2 in automatic mode. */
  dropEntryMode: number;
  /** sysctl drop_packet: 0..3, flips 1 ↔ 2 in automatic mode. */
  dropPacketMode: number;
  /** sysctl secure_tcp: 0..3, flips 1 ↔ 2 in automatic mode. */
  secureTcpMode: number;
  /** sysctl amemthresh, in free connection-table entries. */
  amemthresh: number;
  /** sysctl am_droprate. */
  amDroprate: number;

  /** The kernel's atomic `dropentry`: whether tick() runs the drop_entry scan. */
  dropEntryActive = false;
  /** The kernel's drop_rate: drop 1 in dropRate new connections; 0 = drop none. */
  dropRate = 0;
  /** The kernel's drop_counter: the countdown to the next dropped new connection. */
  dropCounter = 0;
  /** Which state table is in use: pass it to nextTcpState(state, flags, secure). */
  secureTcpActive = false;
  /** The kernel's old_secure_tcp: the secure_tcp mode after the previous update. */
  oldSecureTcp = 0;

  /** Free entries seen by the last update (the kernel's availmem). */
  available = 0;
  /** Whether the last update found fewer than amemthresh free entries (the kernel's nomem). */
  nomem = false;
  /** `now` of the last update (wrapping ms); -1 before the first. */
  lastUpdate = -1;
  /** Number of update() calls, for a metrics gauge of liveness. */
  updates = 0;

  /** New connections refused by drop_packet on this instance. */
  droppedSyns = 0;
  /** Entries removed by drop_entry on this instance. */
  droppedEntries = 0;
  /** Slots drop_entry has examined on this instance. */
  scannedSlots = 0;

  /**
   * todrop_entry()'s todrop_counter[9], one per incoming-packet count 0..8 (todrop_rate[i] = i).
   * Kept per instance: the kernel's static array was global to every netns until it was made
   * per-net, which is the same thing for one director.
   */
  private readonly todropCounter = new Int32Array(LVS_DROP_ENTRY_MAX_PACKETS + 1);
  /** One record, reused by every scan. */
  private readonly rec = new Int32Array(Conn.snapshotWords);

  /**
   * `capacity` is the connection table's (ConnectionTable.capacity) and gives the default
   * amemthresh. Every field of `config` is optional: modes default to 0 as in the kernel.
   * Throws LvsDefenseError on a bad value.
   */
  constructor(capacity: number, config: Partial<LvsDefenseConfig> = {}) {
    checkCapacity(capacity);
    this.capacity = capacity;
    const c = resolveLvsDefenseConfig(config, {
      dropEntry: LvsMode.off,
      dropPacket: LvsMode.off,
      secureTcp: LvsMode.off,
      amemthresh: defaultLvsAmemthresh(capacity),
      amDroprate: LVS_DEFAULT_AM_DROPRATE,
    });
    this.dropEntryMode = c.dropEntry;
    this.dropPacketMode = c.dropPacket;
    this.secureTcpMode = c.secureTcp;
    this.amemthresh = c.amemthresh;
    this.amDroprate = c.amDroprate;
    this.available = capacity;
  }

  /** The current settings; an automatic mode reads 1 or 2, as `sysctl net.ipv4.vs` would show. */
  config(): LvsDefenseConfig {
    return {
      dropEntry: this.dropEntryMode,
      dropPacket: this.dropPacketMode,
      secureTcp: this.secureTcpMode,
      amemthresh: this.amemthresh,
      amDroprate: this.amDroprate,
    };
  }

  /**
   * Applies new settings (validated as a whole first: a bad field changes nothing). As the kernel's
   * proc_do_defense_mode(), writing a mode that differs from the current one re-evaluates the
   * defense level at once when a table is given; amemthresh and amDroprate take effect at the next
   * update, as in the kernel.
   */
  reconfigure(config: Partial<LvsDefenseConfig>, now?: number, table?: TableOccupancy): void {
    const c = resolveLvsDefenseConfig(config, this.config());
    const modeChanged =
      c.dropEntry !== this.dropEntryMode ||
      c.dropPacket !== this.dropPacketMode ||
      c.secureTcp !== this.secureTcpMode;
    this.dropEntryMode = c.dropEntry;
    this.dropPacketMode = c.dropPacket;
    this.secureTcpMode = c.secureTcp;
    this.amemthresh = c.amemthresh;
    this.amDroprate = c.amDroprate;
    if (modeChanged && table !== undefined) this.update(now ?? this.lastUpdate, table);
  }

  /**
   * update_defense_level() for Sluice: call once a second (defense_work_handler's
   * DEFENSE_TIMER_PERIOD is 1 s). Available = the table's free entries.
   */
  update(now: number, table: TableOccupancy): void {
    const free = table.capacity - table.count();
    this.updateAvailable(now, free > 0 ? free : 0);
  }

  /**
   * update_defense_level() given the available entries directly (the simulator and the tests
   * drive it this way). Follows ip_vs_ctl.c case by case; the quirks kept on purpose:
   * - drop_packet automatic: every update while memory is short sets drop_rate AND drop_counter
   *   to amemthresh / (amemthresh − available) (C integer division). The countdown therefore
   *   restarts each second: with rate r, fewer than r new connections a second are never dropped.
   * - drop_packet mode 3 sets drop_rate = am_droprate and leaves drop_counter alone, so the
   *   countdown runs on across seconds; from a fresh start (counter 0) the very first new
   *   connection is dropped, since --drop_counter > 0 fails at once.
   * - switching drop_packet off (mode 0, or automatic with memory enough) zeroes drop_rate only;
   *   the stale drop_counter is what a later mode-3 countdown starts from.
   * - secure_tcp swaps the state table only when the mode crosses between ≤1 and ≥2 relative to
   *   the previous update (old_secure_tcp, the `to_change` logic), never otherwise.
   */
  updateAvailable(now: number, available: number): void {
    // amemthresh = max(READ_ONCE(ipvs->sysctl_amemthresh), 0); nomem = availmem < amemthresh.
    const thresh = this.amemthresh > 0 ? this.amemthresh : 0;
    const nomem = available < thresh;
    this.available = available;
    this.nomem = nomem;
    this.lastUpdate = now;
    this.updates++;

    // drop_entry
    const de = this.dropEntryMode;
    this.dropEntryActive =
      de === LvsMode.always || (nomem && (de === LvsMode.autoOff || de === LvsMode.autoOn));
    this.dropEntryMode = nextMode(de, nomem);

    // drop_packet
    const dp = this.dropPacketMode;
    if (dp === LvsMode.off) {
      this.dropRate = 0;
    } else if (dp === LvsMode.always) {
      this.dropRate = this.amDroprate;
    } else if (nomem) {
      // nomem implies thresh > available >= 0, so the divisor is positive and the rate >= 1.
      const rate = Math.floor(thresh / (thresh - available));
      this.dropCounter = rate;
      this.dropRate = rate;
    } else {
      this.dropRate = 0;
    }
    this.dropPacketMode = nextMode(dp, nomem);

    // secure_tcp
    const st = this.secureTcpMode;
    const newSt = nextMode(st, nomem);
    const wasOn = this.oldSecureTcp >= LvsMode.autoOn;
    let toChange = -1;
    if (st === LvsMode.off) {
      if (wasOn) toChange = 0;
    } else if (st === LvsMode.always) {
      if (!wasOn) toChange = 1;
    } else if (nomem) {
      if (!wasOn) toChange = 1;
    } else if (wasOn) {
      toChange = 0;
    }
    this.secureTcpMode = newSt;
    this.oldSecureTcp = newSt;
    // ip_vs_protocol_timeout_change(ipvs, sysctl_secure_tcp > 1) → tcp_timeout_change(): the
    // table pointer only.
    if (toChange >= 0) this.secureTcpActive = newSt > LvsMode.autoOff;
  }

  /**
   * ip_vs_todrop(): whether drop_packet refuses this new connection. Call it once for each packet
   * that would create an entry, after the entry is found to be new and before a real server is
   * scheduled: the kernel calls it from tcp_conn_schedule() (a SYN without RST, the same rule by
   * which Sluice creates TCP entries) and from udp_conn_schedule() (any datagram of a new UDP
   * flow). A countdown: with rate r, every r-th new connection is dropped. Allocation-free.
   */
  shouldDropSyn(): boolean {
    if (this.dropRate === 0) return false;
    if (--this.dropCounter > 0) return false;
    this.dropCounter = this.dropRate;
    this.droppedSyns++;
    return true;
  }

  /**
   * todrop_entry(): for an ESTABLISHED (or UDP) entry, whether to drop it. Not if it saw a packet
   * in the last 60 s (time_before(cp->timeout + jiffies, cp->timer.expires + 60*HZ): the timer
   * expires `timeout` after the last packet, so this is "idle < 60 s"); not unless its incoming
   * packets are 0..8; never with 0 (todrop_rate[0] = 0); else 1 in i for i packets, by one
   * countdown per i that starts at 0 — so the first eligible entry of each i is dropped.
   * "Idle" here is Conn.lastSeen, which an empty ACK does not move (8bd2df1), where the kernel's
   * timer is re-armed by every packet: an entry kept up by nothing but TCP keepalives for a
   * minute is a candidate here and not in the kernel. Its packets (at most 8) still gate it.
   */
  private todropEntry(lastSeen: number, packets: number, now: number): boolean {
    if (((now - lastSeen) | 0) < LVS_DROP_ENTRY_QUIET_MS) return false;
    if (packets > LVS_DROP_ENTRY_MAX_PACKETS || packets < 0) return false;
    if (packets === 0) return false;
    const c = this.todropCounter;
    if (--c[packets] > 0) return false;
    c[packets] = packets;
    return true;
  }

  /**
   * ip_vs_random_dropentry(), when drop_entry is active (defense_work_handler checks the atomic
   * `dropentry` before calling it); returns the number of entries removed.
   *
   * The kernel draws (conn_tab_size >> 5) random hash buckets and walks their chains: 1/32 of the
   * table a second, at random. Sluice's table is open (8-slot buckets, no chains), so it draws one
   * random start slot and examines capacity >> 5 consecutive slots, wrapping. Keys are hashed
   * uniformly over the slots, so a run is as random a sample of entries as random buckets are,
   * and it reads the compact tag array sequentially. Neither covers the whole table in exactly
   * 32 s; both do on average.
   *
   * Per entry, as the kernel: TCP in SYN_RECV or SYNACK — dropped; TCP ESTABLISHED — dropped if
   * todrop_entry() says so; any other TCP state — kept; UDP — todrop_entry() (the kernel's
   * non-TCP, non-SCTP branch, `try_drop`). Entries already past their deadline are left to the
   * expiry sweep (the kernel's have already gone by their timers), so they leave as `expired`.
   *
   * Records are read with readRecord (a seqlock snapshot, no lock) and removed with
   * removeIfUnchanged, which takes the record lock, so packet workers may run meanwhile: an entry
   * whose record changed since the snapshot (a packet arrived) is kept rather than removed on
   * stale facts. Removal reason: RemoveReason.dropEntry
   * (counted apart from priority sheds).
   */
  dropEntryStep(table: ConnectionTable, now: number, rng: () => number = Math.random): number {
    if (!this.dropEntryActive) return 0;
    const cap = table.capacity;
    const n = cap >>> LVS_DROP_ENTRY_SCAN_SHIFT || 1;
    let slot = Math.floor(rng() * cap);
    if (!(slot >= 0 && slot < cap)) slot = 0;
    const core = table.core;
    const rec = this.rec;
    let dropped = 0;
    for (let k = 0; k < n; k++, slot++) {
      if (slot === cap) slot = 0;
      if (core.tagOfSlot(slot) === 0) continue;
      if (!table.readRecord(slot, rec)) continue;
      if (rec[Conn.tag] === 0 || timeReached(rec[Conn.expires], now)) continue;
      let drop: boolean;
      if ((rec[Conn.flagsSyn] & ConnFlag.udp) !== 0) {
        drop = this.todropEntry(rec[Conn.lastSeen], rec[Conn.packets], now);
      } else {
        const state = statePrioState(rec[Conn.statePrio]);
        if (state === TcpState.synRecv || state === TcpState.synAck) drop = true;
        else if (state === TcpState.established)
          drop = this.todropEntry(rec[Conn.lastSeen], rec[Conn.packets], now);
        else drop = false;
      }
      if (!drop) continue;
      if (table.removeIfUnchanged(slot, rec, RemoveReason.dropEntry)) dropped++;
    }
    this.scannedSlots += n;
    this.droppedEntries += dropped;
    return dropped;
  }

  /**
   * defense_work_handler(): update_defense_level(), then the drop_entry scan when it is active.
   * For the one thread that owns drop_entry; call once a second. Returns the entries dropped.
   */
  tick(now: number, table: ConnectionTable, rng: () => number = Math.random): number {
    this.update(now, table);
    return this.dropEntryStep(table, now, rng);
  }
}
