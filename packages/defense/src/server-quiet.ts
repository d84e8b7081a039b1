// The real servers' word on which connections they are serving: a load agent (@sluice/agent) lists
// the connections whose server has sent no data for a while (its kernel's tcpi_last_data_sent),
// and this marks their entries ConnBit.serverQuiet, clearing the marks its previous report made
// that the new one no longer lists.
//
// Why the server's word: under direct routing the director never sees what a server sends, only
// the client's acknowledgements of it, and a bot forges those from its real address (an ACK of
// data never sent is dropped by the server's stack, RFC 9293 §3.10.7.4, so it costs nothing). With
// them a bot looked served for ever and outranked every new client (the renewing bot: 0.166 of
// valid clients served at 4000 bot connections). The server's clock of its own last data segment
// moves only when it really sends, which a real-address attacker pays for with real requests.
//
// The daemon (apps/director) and tools/sim both apply reports through this class. Not the packet
// path: one report a second per real server, each entry locked like the re-scorer locks it.

import { Conn, ConnBit, type ConnectionTable } from '@sluice/conntrack';

/** Words per connection key in a report: the client's address (4) and clientPort << 16 | service. */
export const QUIET_KEY_WORDS = 5;

export interface QuietApplied {
  /** Entries the report marks (listed, quiet `servedIdleMs` or more, found on this real server). */
  marked: number;
  /** Entries the previous report had marked that this one does not list. */
  cleared: number;
}

export class ServerQuietMarks {
  readonly #table: ConnectionTable;
  /** Per real server: the keys its last report marked ("a0,a1,a2,a3,portService"). */
  readonly #marked = new Map<number, Map<string, Int32Array>>();

  constructor(table: ConnectionTable) {
    this.#table = table;
  }

  /**
   * One report of real server `real`'s agent: `count` connections, key i at
   * keys[i * QUIET_KEY_WORDS ..], whose server sent no data for lastSendMs[i] ms when the agent
   * read them. Those quiet `servedIdleMs` or more are marked (0: the rule is off, nothing is);
   * every mark of the previous report this one does not renew is cleared.
   */
  apply(
    real: number,
    keys: Int32Array,
    lastSendMs: ArrayLike<number>,
    count: number,
    servedIdleMs: number,
    now: number,
  ): QuietApplied {
    const before = this.#marked.get(real);
    const after = new Map<string, Int32Array>();
    let marked = 0;
    if (servedIdleMs > 0) {
      for (let i = 0; i < count; i++) {
        if (!(lastSendMs[i] >= servedIdleMs)) continue;
        const key = keys.subarray(i * QUIET_KEY_WORDS, (i + 1) * QUIET_KEY_WORDS);
        const name = `${key[0]},${key[1]},${key[2]},${key[3]},${key[4]}`;
        if (after.has(name)) continue;
        if (this.#set(real, key, true, now)) {
          after.set(name, key);
          marked++;
        }
      }
    }
    let cleared = 0;
    if (before !== undefined) {
      for (const [name, key] of before) {
        if (!after.has(name) && this.#set(real, key, false, now)) cleared++;
      }
    }
    if (after.size > 0) this.#marked.set(real, after);
    else this.#marked.delete(real);
    return { marked, cleared };
  }

  /**
   * No word from `real`'s agent any more (a failed probe, a reply without the list, the agent
   * gone from the config): its marks are cleared, and the client's packets alone judge again.
   */
  forget(real: number, now: number): number {
    const before = this.#marked.get(real);
    if (before === undefined) return 0;
    this.#marked.delete(real);
    let cleared = 0;
    for (const key of before.values()) if (this.#set(real, key, false, now)) cleared++;
    return cleared;
  }

  /** How many entries of `real` the last report marked (all reals when omitted). */
  markedCount(real?: number): number {
    if (real !== undefined) return this.#marked.get(real)?.size ?? 0;
    let n = 0;
    for (const m of this.#marked.values()) n += m.size;
    return n;
  }

  /** Sets or clears the mark of one entry, if it is still there and still on `real`. */
  #set(real: number, key: Int32Array, on: boolean, now: number): boolean {
    const table = this.#table;
    const slot = table.acquire(key[0], key[1], key[2], key[3], key[4], false, 0, now);
    if (slot < 0) return false;
    const base = table.recordBase(slot);
    const i32 = table.i32;
    let done = false;
    if (i32[base + Conn.real] === real) {
      const fs = i32[base + Conn.flagsSyn];
      i32[base + Conn.flagsSyn] = on ? fs | ConnBit.serverQuiet : fs & ~ConnBit.serverQuiet;
      done = true;
    }
    table.release(slot);
    return done;
  }
}
