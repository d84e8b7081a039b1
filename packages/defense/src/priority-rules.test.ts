import { describe, expect, it } from 'vitest';
import { DefenseError, PriorityRules, parseCidr } from './index.ts';

function at(rules: PriorityRules, text: string): number {
  const [a0, a1, a2, a3] = parseCidr(text).words;
  return rules.lookup(a0, a1, a2, a3);
}

function fails(fn: () => unknown): DefenseError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DefenseError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('PriorityRules', () => {
  const rules = PriorityRules.compile([
    { cidr: '203.0.113.0/24', priority: 0, pool: [4, 5] }, // partner company B, own servers
    { cidr: '203.0.113.128/25', priority: 3 },
    { cidr: '2001:db8:b::/48', priority: 0, pool: [6] },
    { cidr: '198.18.0.0/15', priority: 15 },
    { cidr: '0.0.0.0/0', priority: 9 },
  ]);

  it('longest prefix wins, for IPv4 and IPv6', () => {
    expect(at(rules, '203.0.113.7')).toBe(0);
    expect(at(rules, '203.0.113.200')).toBe(1);
    expect(at(rules, '2001:db8:b:1::5')).toBe(2);
    expect(at(rules, '198.19.255.1')).toBe(3);
    expect(at(rules, '192.0.2.1')).toBe(4); // 0.0.0.0/0 covers all of IPv4 …
    expect(at(rules, '2001:db8:c::1')).toBe(-1); // … and none of IPv6
    expect(rules.priorityOf(0)).toBe(0);
    expect(rules.priorityOf(1)).toBe(3);
    expect(rules.priorityOf(3)).toBe(15);
  });

  it('pools: the dedicated real servers of a rule, or null', () => {
    expect(Array.from(rules.poolOf(0) ?? [])).toEqual([4, 5]);
    expect(Array.from(rules.poolOf(2) ?? [])).toEqual([6]);
    expect(rules.poolOf(1)).toBeNull();
    expect(rules.poolOf(at(rules, '203.0.113.9'))).toBe(rules.poolOf(0));
  });

  it('rejects bad rules naming the rule index and field', () => {
    const bad = fails(() =>
      PriorityRules.compile([
        { cidr: '10.0.0.0/8', priority: 1 },
        { cidr: '10.0.0.1/8', priority: 1 },
      ]),
    );
    expect(bad.code).toBe('SLUICE_ERR_DEFENSE_CIDR');
    expect(bad.index).toBe(1);
    expect(bad.message).toContain('entry 1');

    const prio = fails(() => PriorityRules.compile([{ cidr: '10.0.0.0/8', priority: 16 }]));
    expect([prio.code, prio.index, prio.field]).toEqual(['SLUICE_ERR_DEFENSE_RULE', 0, 'priority']);
    expect(fails(() => PriorityRules.compile([{ cidr: '10.0.0.0/8', priority: 1.5 }])).field).toBe(
      'priority',
    );

    const pool = fails(() => PriorityRules.compile([{ cidr: '::/0', priority: 2, pool: [1, -1] }]));
    expect([pool.code, pool.field]).toEqual(['SLUICE_ERR_DEFENSE_RULE', 'pool']);
    expect(fails(() => PriorityRules.compile([{ cidr: '::/0', priority: 2, pool: [] }])).field).toBe('pool');
    expect(fails(() => PriorityRules.compile([{ cidr: '::/0', priority: 2, pool: [3, 3] }])).field).toBe(
      'pool',
    );

    const dup = fails(() =>
      PriorityRules.compile([
        { cidr: '10.0.0.0/8', priority: 1 },
        { cidr: '::ffff:10.0.0.0/104', priority: 2 },
      ]),
    );
    expect([dup.code, dup.index]).toEqual(['SLUICE_ERR_DEFENSE_RULE', 1]);
    expect(dup.message).toContain('already rule 0');
  });

  it('no rules: nothing matches', () => {
    expect(at(PriorityRules.empty(), '1.2.3.4')).toBe(-1);
  });
});
