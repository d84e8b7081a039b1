// SourceChecks: bogon and martian source addresses. A public VIP never receives a real client's
// SYN from 10.0.0.0/8, 127.0.0.0/8, a documentation range or a multicast address: replies to such
// a source cannot be routed back over the internet, so a SYN carrying one is spoofed (or leaked
// from a misconfigured network). Flood tools that randomise sources over all of IPv4 hit these
// ranges about 14% of the time, so the check is cheap, certain evidence.
//
// Configurable because the same ranges are valid clients elsewhere: in a lab or a private
// deployment (the network-namespace lab uses 10.99.0.0/16) the check MUST be disabled
// (`enabled: false`) or the lab's ranges listed in `allow`. The default action is 'lowest'
// (admit at priority 15, marked fixed, shed first) rather than 'drop', so that a deployment that
// forgot to disable the check still serves its clients while nothing else is pressing; choose
// 'drop' for an internet-facing VIP to refuse them before they cost a real server anything.
// Longest prefix wins between `prefixes` and `allow`, so an allowed 10.99.0.0/16 carves a hole
// in a listed 10.0.0.0/8. Compiled into the same PrefixTrie as the priority rules.

import { type Cidr, formatCidr, parseCidr } from './cidr.ts';
import { DefenseError, DefenseErrorCode } from './errors.ts';
import { PrefixTrie } from './prefix-trie.ts';

/**
 * Default bogons: IANA special-purpose ranges that are not globally reachable as sources
 * (RFC 6890 registries, Team Cymru's bogon list). IPv4-mapped IPv6 (::ffff:0:0/96) is not listed:
 * such addresses are checked as the IPv4 address they carry. 64:ff9b::/96 (NAT64) is left out:
 * RFC 6890 marks it globally reachable and 464XLAT deployments can show it as a source.
 */
export const DEFAULT_BOGON_PREFIXES: readonly string[] = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8', // private (RFC 1918)
  '100.64.0.0/10', // carrier-grade NAT shared space (RFC 6598)
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local
  '172.16.0.0/12', // private
  '192.0.0.0/24', // IETF protocol assignments
  '192.0.2.0/24', // TEST-NET-1
  '192.168.0.0/16', // private
  '198.18.0.0/15', // benchmarking
  '198.51.100.0/24', // TEST-NET-2
  '203.0.113.0/24', // TEST-NET-3
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved
  '255.255.255.255/32', // limited broadcast (inside 240/4; listed for readers)
  '::/128', // unspecified
  '::1/128', // loopback
  '100::/64', // discard-only
  '2001:db8::/32', // documentation
  '3fff::/20', // documentation (RFC 9637)
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'ff00::/8', // multicast
];

export const SourceVerdict = { ok: 0, bogon: 1 } as const;
export type SourceVerdict = (typeof SourceVerdict)[keyof typeof SourceVerdict];

export const BogonAction = { drop: 0, lowest: 1 } as const;
export type BogonAction = (typeof BogonAction)[keyof typeof BogonAction];

export interface SourceCheckConfig {
  /** Default true. Disable in a lab or a private deployment whose clients use private ranges. */
  enabled?: boolean;
  /** What a bogon SYN gets: 'drop' (refused) or 'lowest' (priority 15, fixed). Default 'lowest'. */
  action?: 'drop' | 'lowest';
  /** Ranges treated as bogons. Default DEFAULT_BOGON_PREFIXES. */
  prefixes?: readonly string[];
  /** Ranges carved out of `prefixes` (longest prefix wins), e.g. a private deployment's client range. */
  allow?: readonly string[];
}

const VALUE_ALLOW = 0;
const VALUE_BOGON = 1;

export class SourceChecks {
  readonly enabled: boolean;
  readonly action: BogonAction;
  readonly trie: PrefixTrie;

  /** Throws DefenseError SLUICE_ERR_DEFENSE_CIDR / SLUICE_ERR_DEFENSE_CHECKS naming the entry. */
  static compile(config: SourceCheckConfig = {}): SourceChecks {
    if (config === null || typeof config !== 'object') {
      throw new DefenseError(DefenseErrorCode.checks, 'source checks must be an object');
    }
    const enabled = config.enabled ?? true;
    if (typeof enabled !== 'boolean') {
      throw new DefenseError(DefenseErrorCode.checks, 'enabled must be a boolean', -1, 'enabled');
    }
    const actionText = config.action ?? 'lowest';
    if (actionText !== 'drop' && actionText !== 'lowest') {
      throw new DefenseError(DefenseErrorCode.checks, "action must be 'drop' or 'lowest'", -1, 'action');
    }
    const bogons = config.prefixes ?? DEFAULT_BOGON_PREFIXES;
    const allow = config.allow ?? [];
    if (!Array.isArray(bogons) || !Array.isArray(allow)) {
      throw new DefenseError(DefenseErrorCode.checks, 'prefixes and allow must be arrays of CIDR strings');
    }
    const entries: { words: readonly number[]; length: number; value: number }[] = [];
    const seen = new Map<string, string>();
    const add = (list: readonly string[], value: number, name: string) => {
      list.forEach((text, i) => {
        let c: Cidr;
        try {
          c = parseCidr(text);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          throw new DefenseError(DefenseErrorCode.cidr, `${name}[${i}]: ${why}`, i, name);
        }
        const key = `${c.words.join(',')}/${c.length}`;
        const prev = seen.get(key);
        if (prev !== undefined) {
          throw new DefenseError(
            DefenseErrorCode.checks,
            `${name}[${i}]: ${formatCidr(c)} is already listed as ${prev}`,
            i,
            name,
          );
        }
        seen.set(key, `${name}[${i}]`);
        entries.push({ words: c.words, length: c.length, value });
      });
    };
    add(bogons, VALUE_BOGON, 'prefixes');
    add(allow, VALUE_ALLOW, 'allow');
    return new SourceChecks(
      enabled,
      actionText === 'drop' ? BogonAction.drop : BogonAction.lowest,
      PrefixTrie.build(entries),
    );
  }

  /** Checks switched off: every source is ok. */
  static disabled(): SourceChecks {
    return SourceChecks.compile({ enabled: false });
  }

  private constructor(enabled: boolean, action: BogonAction, trie: PrefixTrie) {
    this.enabled = enabled;
    this.action = action;
    this.trie = trie;
  }

  /** SourceVerdict for a source address (four words, IPv4 v4-mapped). Allocation-free. */
  check(a0: number, a1: number, a2: number, a3: number): number {
    if (!this.enabled) return SourceVerdict.ok;
    return this.trie.lookup(a0, a1, a2, a3) === VALUE_BOGON ? SourceVerdict.bogon : SourceVerdict.ok;
  }
}
