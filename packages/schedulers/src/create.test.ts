import { describe, expect, it } from 'vitest';
import { RealServerCounters } from './counters.ts';
import { createScheduler } from './create.ts';
import { isSchedulerName, SCHEDULER_NAMES, SchedulerError, type SchedulerName } from './spec.ts';
import { flow4, specOf } from './test-helpers.ts';

describe('createScheduler', () => {
  it('builds every IPVS scheduler it names, each picking a member', () => {
    const c = RealServerCounters.create(4);
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, specOf([1, 2, 3]), c);
      expect(s.name).toBe(name);
      expect([0, 1, 2]).toContain(s.pick(flow4(0x0a000001)));
    }
    expect(SCHEDULER_NAMES).toHaveLength(14);
    expect(new Set(SCHEDULER_NAMES.map((n) => createScheduler(n, specOf([1]), c).constructor)).size).toBe(14);
  });

  it('rejects what a config must not carry, with stable codes', () => {
    const c = RealServerCounters.create(2);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(SchedulerError);
        return (e as SchedulerError).code;
      }
      return 'no error';
    };
    expect(code(() => createScheduler('lblcrr' as SchedulerName, specOf([1]), c))).toBe(
      'SLUICE_ERR_SCHEDULER_UNKNOWN',
    );
    expect(code(() => createScheduler('rr', specOf([1, 1, 1]), c))).toBe('SLUICE_ERR_SCHEDULER_SPEC'); // member 2 >= capacity
    expect(code(() => createScheduler('wlc', { ...specOf([1, 1]), weights: Int32Array.of(1) }, c))).toBe(
      'SLUICE_ERR_SCHEDULER_SPEC',
    );
    expect(code(() => createScheduler('wrr', specOf([70000]), c))).toBe('SLUICE_ERR_SCHEDULER_SPEC');
    expect(code(() => createScheduler('mh', specOf([1]), c, { mhTableSize: 100 }))).toBe(
      'SLUICE_ERR_SCHEDULER_TABLE_SIZE',
    );
    expect(code(() => createScheduler('lblcr', specOf([1]), c, { localityCapacity: 0 }))).toBe(
      'SLUICE_ERR_SCHEDULER_OPTION',
    );
  });

  it('copies the spec: changing the caller arrays later does not change a built scheduler', () => {
    const c = RealServerCounters.create(2);
    const spec = specOf([1, 1]);
    const s = createScheduler('rr', spec, c);
    spec.weights[1] = 0;
    spec.members[0] = 1;
    expect([s.pick(flow4(1)), s.pick(flow4(1))]).toEqual([0, 1]);
  });

  it('isSchedulerName guards config input', () => {
    expect(isSchedulerName('wlc')).toBe(true);
    expect(isSchedulerName('ovf')).toBe(true);
    expect(isSchedulerName('lblcrr')).toBe(false);
    expect(isSchedulerName(3)).toBe(false);
  });
});
