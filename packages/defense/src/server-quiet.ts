// The real servers' word on which connections they are serving: a load agent (@sluice/agent) lists
// the connections whose server has sent no data for a while (its kernel's tcpi_last_data_sent),
// and those it is answering slower than a floor (bytes acknowledged per second of tcpi_busy_time:
// a slow reader its server keeps sending to just often enough not to look quiet), and this marks
// their entries ConnBit.serverQuiet, clearing the marks its previous report made that the new one
// no longer lists.
//
// Why the server's word: under direct routing the director never sees what a server sends, only
// the client's acknowledgements of it, and a bot forges those from its real address (an ACK of
// data never sent is dropped by the server's stack, RFC 9293 §3.10.7.4, so it costs nothing). With
// them a bot looked served for ever and outranked every new client (the renewing bot: 0.166 of
// valid clients served at 4000 bot connections). The server's clock of its own last data segment
// moves only when it really sends, which a real-address attacker pays for with real requests.
//
// The daemon (apps/director) and tools/sim both apply reports through this class. Not the packet
// path: one report a second per real server, each listed entry looked up and locked once, and
// the previous report's marks found again by slot and tag, not by key.

import {
  Conn,
  ConnBit,
  type ConnectionTable,
  ConnFlag,
  EditOutcome,
  type RecordEditor,
} from '@sluice/conntrack';
import { parseAddress } from '@sluice/wire';

/** Words per connection key in a report: the client's address (4) and clientPort << 16 | service. */
export const QUIET_KEY_WORDS = 5;

/**
 * How late an honest acknowledgement may reach the director after the data it acknowledges left
 * the server: a round trip to nearly anywhere and a delayed ACK. News from the client later than
 * this into its server's silence, and before the agent looked, acknowledged nothing the server sent.
 */
export const ACK_LATE_MS = 1000;

/**
 * The share of a real server's connections its slow list may name before any is marked. A few
 * slow connections are honest clients on slow links downloading something large, and they hold a
 * few workers at most; only readers that hold a real share of the server's workers are an attack,
 * and an attacker who keeps its slow readers under this share leaves the rest to everyone else.
 * In tools/sim, with a twentieth of valid connections slow downloads and no slow attacker,
 * marking every listed one cut 92% of those downloads under pressure for no gain.
 */
export const SLOW_SHARE_FREE = 0.1;

/**
 * How many of `listed` slow connections a report of a server holding `held` marks: none while they
 * are at most SLOW_SHARE_FREE of what it holds, else all (the list is no longer a few honest
 * downloads). `held` null (no count) takes the list as it is.
 */
export function slowToMark(listed: number, held: number | null): number {
  if (held === null) return listed;
  return listed > held * SLOW_SHARE_FREE ? listed : 0;
}

/** The record bits that leave a client's latest news to an acknowledgement: served, no request waiting, open. */
const FORGE_MASK = ConnFlag.progress | ConnFlag.awaiting | ConnFlag.ackForged | ConnFlag.fin | ConnFlag.rst;

/** One connection of an agent's quiet list, as @sluice/health parses it. */
export interface QuietEntry {
  /** The client's address (an IP literal: IPv4 for an IPv4 client, IPv6 otherwise). */
  client: string;
  clientPort: number;
  /** The server's port of the connection: under direct routing, the service's. */
  localPort: number;
  /** How long the server had sent no data on it when the agent read it. */
  lastSendMs: number;
}

/** One connection of an agent's slow list (its server answers it under the agent's floor). */
export interface SlowEntry {
  client: string;
  clientPort: number;
  localPort: number;
}

/** What a report carries beyond its quiet list (ServerQuietMarks.applyReport). */
export interface ReportExtras {
  /** When the agent was asked, on the table's clock: with it, quiet entries are judged (apply). */
  probeAt?: number;
  /** The agent's slow list. */
  slow?: readonly SlowEntry[];
  /** The connections the agent counted (`held:N`); null or absent, no count (slowToMark). */
  held?: number | null;
}

export interface QuietApplied {
  /**
   * Entries the report marks (found on this real server, and listed quiet `servedIdleMs` or more,
   * or listed slow).
   */
  marked: number;
  /** Of those, entries found to have acknowledged data their server never sent (ConnFlag.ackForged). */
  forged: number;
  /** Entries the previous report had marked that this one does not list. */
  cleared: number;
}

/** Clears ConnBit.serverQuiet of a record still on real `real`; 1 when it did. */
class Unmark implements RecordEditor {
  real = 0;
  edit(i32: Int32Array, base: number): number {
    if (i32[base + Conn.real] !== this.real) return 0;
    i32[base + Conn.flagsSyn] &= ~ConnBit.serverQuiet;
    return 1;
  }
}

export class ServerQuietMarks {
  readonly #table: ConnectionTable;
  /** Per real server: the (slot, tag) pairs its last report marked. */
  readonly #marked = new Map<number, Int32Array>();
  /** Per slot: the report that last marked it (this class's count of reports applied). */
  readonly #stamp: Int32Array;
  #report = 0;
  readonly #unmark = new Unmark();
  /** A report's (slot, tag) pairs as they are gathered, grown as reports need. */
  #pairs = new Int32Array(0);
  /** The keys of applyReport, grown as reports need. */
  #keys = new Int32Array(0);
  #lastSend = new Float64Array(0);

  constructor(table: ConnectionTable) {
    this.#table = table;
    this.#stamp = new Int32Array(table.capacity);
  }

  /**
   * One report of real server `real`'s agent, as the agent lists it: its connections on `port`
   * (the service's; others are another service's business) are keyed to `service`'s entries and
   * applied (apply), the quiet ones and then the slow ones. An entry whose address does not parse
   * is skipped.
   */
  applyReport(
    real: number,
    quiet: readonly QuietEntry[],
    port: number,
    service: number,
    servedIdleMs: number,
    now: number,
    { probeAt, slow = [], held = null }: ReportExtras = {},
  ): QuietApplied {
    const total = quiet.length + slow.length;
    if (this.#lastSend.length < total) {
      this.#keys = new Int32Array(total * QUIET_KEY_WORDS);
      this.#lastSend = new Float64Array(total);
    }
    const quietCount = this.#keyEntries(quiet, 0, port, service);
    const slowCount = this.#keyEntries(slow, quietCount, port, service) - quietCount;
    return this.apply(
      real,
      this.#keys,
      this.#lastSend,
      quietCount,
      servedIdleMs,
      now,
      probeAt,
      slowCount,
      held,
    );
  }

  /**
   * Writes the keys of `entries` on `port` from key `from` on (and, for quiet ones, how long they
   * were quiet); returns the index after the last written.
   */
  #keyEntries(
    entries: readonly (QuietEntry | SlowEntry)[],
    from: number,
    port: number,
    service: number,
  ): number {
    const keys = this.#keys;
    let n = from;
    for (const q of entries) {
      if (q.localPort !== port) continue;
      let words: [number, number, number, number];
      try {
        words = parseAddress(q.client);
      } catch {
        continue;
      }
      const o = n * QUIET_KEY_WORDS;
      keys[o] = words[0];
      keys[o + 1] = words[1];
      keys[o + 2] = words[2];
      keys[o + 3] = words[3];
      keys[o + 4] = (q.clientPort << 16) | service;
      this.#lastSend[n++] = 'lastSendMs' in q ? q.lastSendMs : 0;
    }
    return n;
  }

  /**
   * One report of real server `real`'s agent: `count` connections, key i at
   * keys[i * QUIET_KEY_WORDS ..], whose server sent no data for lastSendMs[i] ms when the agent
   * read them. Those quiet `servedIdleMs` or more are marked (0: the rule is off, nothing is);
   * every mark of the previous report this one does not renew is cleared. The `slowCount` keys
   * after the first `count` are the agent's slow list: marked too (when the rule is on, and only
   * while they are more than a small share of the `held` connections its agent counted:
   * slowToMark), never judged, since their server is sending.
   *
   * With `probeAt` (when the agent was asked, on the table's clock; the agent read its sockets
   * between then and `now`), a marked entry is also judged: its server sent nothing from
   * `now - lastSendMs` to `probeAt` at the least, so news from the client in that span, past
   * ACK_LATE_MS, that left it answered with no request waiting was an acknowledgement of data
   * never sent: ConnFlag.ackForged, as for an acknowledgement gone backward (sticky; its source is
   * marked as misbehaving by the re-scorer). A request in that span leaves it waiting, and an
   * answer sent after the agent looked is acknowledged after `probeAt`: neither is judged.
   */
  apply(
    real: number,
    keys: Int32Array,
    lastSendMs: ArrayLike<number>,
    count: number,
    servedIdleMs: number,
    now: number,
    probeAt?: number,
    slowCount = 0,
    held: number | null = null,
  ): QuietApplied {
    const report = ++this.#report;
    const table = this.#table;
    const i32 = table.i32;
    const stamp = this.#stamp;
    const before = this.#marked.get(real);
    const listed = count + slowToMark(slowCount, held);
    const pairs = this.#pairsFor(listed * 2 + (before?.length ?? 0));
    let marked = 0;
    let forged = 0;
    const judge = probeAt !== undefined;
    for (let i = 0; i < listed && servedIdleMs > 0; i++) {
      const isQuiet = i < count;
      if (isQuiet && !(lastSendMs[i] >= servedIdleMs)) continue;
      const o = i * QUIET_KEY_WORDS;
      const slot = table.acquire(keys[o], keys[o + 1], keys[o + 2], keys[o + 3], keys[o + 4], false, 0, now);
      if (slot < 0) continue;
      const base = table.recordBase(slot);
      // Listed twice, or another real server's entry with this key: nothing to mark again.
      if (i32[base + Conn.real] === real && stamp[slot] !== report) {
        const fs = i32[base + Conn.flagsSyn];
        let mark = ConnBit.serverQuiet;
        if (judge && isQuiet && (fs & FORGE_MASK) === ConnFlag.progress) {
          const seen = i32[base + Conn.lastSeen];
          const silentFrom = (now - lastSendMs[i] + ACK_LATE_MS) | 0;
          if (((seen - silentFrom) | 0) > 0 && (((probeAt as number) - seen) | 0) > 0) {
            mark |= ConnFlag.ackForged;
            forged++;
          }
        }
        i32[base + Conn.flagsSyn] = fs | mark;
        stamp[slot] = report;
        pairs[marked * 2] = slot;
        pairs[marked * 2 + 1] = table.core.tagOfSlot(slot);
        marked++;
      }
      table.release(slot);
    }
    const { cleared, kept } = this.#clear(real, report, before, pairs, marked * 2);
    this.#store(real, pairs, kept);
    return { marked, forged, cleared };
  }

  /**
   * No word from `real`'s agent any more (a failed probe, a reply without the list, the agent
   * gone from the config): its marks are cleared, and the client's packets alone judge again.
   */
  forget(real: number): number {
    const before = this.#marked.get(real);
    const pairs = this.#pairsFor(before?.length ?? 0);
    const { cleared, kept } = this.#clear(real, ++this.#report, before, pairs, 0);
    this.#store(real, pairs, kept);
    return cleared;
  }

  /** How many entries of `real` the last report marked (all reals when omitted). */
  markedCount(real?: number): number {
    if (real !== undefined) return (this.#marked.get(real)?.length ?? 0) >> 1;
    let n = 0;
    for (const m of this.#marked.values()) n += m.length >> 1;
    return n;
  }

  /**
   * Clears `before`, the previous marks of `real`, that report `report` did not make again. One
   * whose record lock stayed taken past the bounded spin is appended to `pairs` after its first
   * `kept` words, to be tried again with the next report. Returns how many it cleared, and how
   * many words of `pairs` are the marks to keep.
   */
  #clear(
    real: number,
    report: number,
    before: Int32Array | undefined,
    pairs: Int32Array,
    kept: number,
  ): { cleared: number; kept: number } {
    let cleared = 0;
    if (before === undefined) return { cleared, kept };
    this.#unmark.real = real;
    for (let i = 0; i < before.length; i += 2) {
      const slot = before[i];
      // Marked again by this report (the same connection, or a new one in its slot on this real).
      if (this.#stamp[slot] === report) continue;
      const done = this.#table.editIfStill(slot, before[i + 1], this.#unmark);
      if (done === 1) cleared++;
      else if (done === EditOutcome.busy) {
        pairs[kept++] = slot;
        pairs[kept++] = before[i + 1];
      }
    }
    return { cleared, kept };
  }

  /** Records the first `words` of `pairs` as `real`'s marks. */
  #store(real: number, pairs: Int32Array, words: number): void {
    if (words === 0) this.#marked.delete(real);
    else this.#marked.set(real, pairs.slice(0, words));
  }

  /** The scratch for a report's pairs, at least `words` long. */
  #pairsFor(words: number): Int32Array {
    if (this.#pairs.length < words) this.#pairs = new Int32Array(Math.max(words, this.#pairs.length * 2));
    return this.#pairs;
  }
}
