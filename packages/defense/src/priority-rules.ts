// PriorityRules: the operator's subnet rules — CIDR → fixed priority, optionally a dedicated pool
// of real servers (the seed's "strategic partner company B": priority 0 and its own servers).
// Longest prefix wins, so a rule for a /24 inside a rule for its /16 overrides it there.
// Compiled once per configuration into a PrefixTrie whose values are rule indices; the packet
// path calls `lookup` (allocation-free) and reads the priority and pool by rule index.
// A rule's priority is fixed for the connection's life: the scorer marks such entries and neither
// packet adjustments nor the re-scorer move them. Priority 0 is never shed.
//
// A rule that `verify`s (the default for priority 0) gives its priority only to sources that
// answered the director's challenge: otherwise a spoofer who knows the partner's prefix would hold
// every slot at priority 0 with a few SYNs a second. Until the source is verified its connections
// are scored like anyone's, and the director verifies it in the background (a probe).

import { type Cidr, formatCidr, parseCidr } from './cidr.ts';
import { DefenseError, DefenseErrorCode } from './errors.ts';
import { PrefixTrie } from './prefix-trie.ts';

/** Highest priority; never shed, never adjusted. */
export const PRIORITY_HIGHEST = 0;
/** Lowest priority: shed first. */
export const PRIORITY_LOWEST = 15;

export interface PriorityRule {
  cidr: string;
  /** 0 (highest, never shed) .. 15 (lowest). */
  priority: number;
  /** Global real-server indices the scheduler should use for these sources (none: the service's own). */
  pool?: number[];
  /** Give the priority only to verified sources. Default: true for priority 0, false otherwise. */
  verify?: boolean;
}

export class PriorityRules {
  readonly trie: PrefixTrie;
  readonly count: number;
  /** Priority per rule index. */
  readonly priorities: Uint8Array;
  /** 1 where the rule's priority goes only to verified sources. */
  readonly verifies: Uint8Array;
  /** Parsed prefixes, per rule index (listings, error messages). */
  readonly prefixes: readonly Cidr[];
  private readonly pools: readonly (Int32Array | null)[];

  /**
   * Validates and compiles rules. Throws DefenseError (SLUICE_ERR_DEFENSE_CIDR for a bad prefix,
   * SLUICE_ERR_DEFENSE_RULE for a bad priority or pool or a prefix given twice) naming the rule index.
   */
  static compile(rules: readonly PriorityRule[]): PriorityRules {
    if (!Array.isArray(rules)) throw new DefenseError(DefenseErrorCode.rule, 'rules must be an array');
    const prefixes: Cidr[] = [];
    const priorities = new Uint8Array(rules.length);
    const pools: (Int32Array | null)[] = [];
    const verifies = new Uint8Array(rules.length);
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      if (r === null || typeof r !== 'object') {
        throw new DefenseError(DefenseErrorCode.rule, `rule ${i}: must be an object`, i);
      }
      const c = parseCidr(r.cidr, i);
      const key = `${c.words.join(',')}/${c.length}`;
      const dup = seen.get(key);
      if (dup !== undefined) {
        throw new DefenseError(
          DefenseErrorCode.rule,
          `rule ${i}: prefix ${formatCidr(c)} is already rule ${dup}`,
          i,
          'cidr',
        );
      }
      seen.set(key, i);
      const p = r.priority;
      if (!Number.isInteger(p) || p < PRIORITY_HIGHEST || p > PRIORITY_LOWEST) {
        throw new DefenseError(
          DefenseErrorCode.rule,
          `rule ${i}: priority must be an integer from ${PRIORITY_HIGHEST} to ${PRIORITY_LOWEST}`,
          i,
          'priority',
        );
      }
      let pool: Int32Array | null = null;
      if (r.pool !== undefined) {
        if (!Array.isArray(r.pool) || r.pool.length === 0) {
          throw new DefenseError(
            DefenseErrorCode.rule,
            `rule ${i}: pool must be a non-empty array`,
            i,
            'pool',
          );
        }
        for (const x of r.pool) {
          if (!Number.isInteger(x) || x < 0 || x > 0xffffff) {
            throw new DefenseError(
              DefenseErrorCode.rule,
              `rule ${i}: pool entries must be real-server indices (integers from 0 to 16777215)`,
              i,
              'pool',
            );
          }
        }
        if (new Set(r.pool).size !== r.pool.length) {
          throw new DefenseError(
            DefenseErrorCode.rule,
            `rule ${i}: pool lists a real server twice`,
            i,
            'pool',
          );
        }
        pool = Int32Array.from(r.pool);
      }
      if (r.verify !== undefined && typeof r.verify !== 'boolean') {
        throw new DefenseError(DefenseErrorCode.rule, `rule ${i}: verify must be true or false`, i, 'verify');
      }
      verifies[i] = (r.verify ?? p === PRIORITY_HIGHEST) ? 1 : 0;
      prefixes.push(c);
      priorities[i] = p;
      pools.push(pool);
    });
    const trie = PrefixTrie.build(prefixes.map((c, i) => ({ words: c.words, length: c.length, value: i })));
    return new PriorityRules(trie, priorities, verifies, prefixes, pools);
  }

  /** No rules at all. */
  static empty(): PriorityRules {
    return PriorityRules.compile([]);
  }

  private constructor(
    trie: PrefixTrie,
    priorities: Uint8Array,
    verifies: Uint8Array,
    prefixes: readonly Cidr[],
    pools: readonly (Int32Array | null)[],
  ) {
    this.trie = trie;
    this.count = priorities.length;
    this.priorities = priorities;
    this.verifies = verifies;
    this.prefixes = prefixes;
    this.pools = pools;
  }

  /** Index of the longest rule containing the address (four words, IPv4 v4-mapped), or -1. */
  lookup(a0: number, a1: number, a2: number, a3: number): number {
    return this.trie.lookup(a0, a1, a2, a3);
  }

  priorityOf(rule: number): number {
    return this.priorities[rule];
  }

  /** 1 when the rule's priority goes only to verified sources. */
  verifiesSource(rule: number): number {
    return this.verifies[rule];
  }

  /** The rule's dedicated real servers (global indices), or null when it has none. Do not mutate. */
  poolOf(rule: number): Int32Array | null {
    return this.pools[rule];
  }
}
