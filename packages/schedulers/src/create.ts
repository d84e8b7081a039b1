// createScheduler: the one way the dataplane gets a scheduler. The variant is chosen here, once per
// service and config version; pick() then runs on a monomorphic class with its tables built.
import type { RealServerCounters } from './counters.ts';
import { Overflow, WeightedFailover } from './failover.ts';
import { DestinationHashing, SourceHashing } from './hashing.ts';
import {
  LeastConnection,
  NeverQueue,
  ShortestExpectedDelay,
  WeightedLeastConnection,
} from './least-connection.ts';
import { LocalityBasedLeastConnection, LocalityBasedLeastConnectionReplication } from './locality.ts';
import { MaglevHashing } from './maglev.ts';
import { RoundRobin, WeightedRoundRobin } from './round-robin.ts';
import type { Scheduler, SchedulerName, SchedulerOptions, SchedulingSpec } from './spec.ts';
import { SchedulerError, SchedulerErrorCode } from './spec.ts';
import { PowerOfTwoChoices } from './twos.ts';

type SchedulerClass = new (
  spec: SchedulingSpec,
  counters: RealServerCounters,
  opts: SchedulerOptions,
) => Scheduler;

/** Each scheduler's class, by the kernel module's name (the ones without options ignore them). */
const CLASSES: Readonly<Record<SchedulerName, SchedulerClass>> = {
  rr: RoundRobin,
  wrr: WeightedRoundRobin,
  lc: LeastConnection,
  wlc: WeightedLeastConnection,
  sed: ShortestExpectedDelay,
  nq: NeverQueue,
  sh: SourceHashing,
  dh: DestinationHashing,
  mh: MaglevHashing,
  lblc: LocalityBasedLeastConnection,
  lblcr: LocalityBasedLeastConnectionReplication,
  fo: WeightedFailover,
  ovf: Overflow,
  twos: PowerOfTwoChoices,
};

/** Throws SchedulerError (code SLUICE_ERR_SCHEDULER_*) on a bad name, spec or option. */
export function createScheduler(
  name: SchedulerName,
  spec: SchedulingSpec,
  counters: RealServerCounters,
  opts: SchedulerOptions = {},
): Scheduler {
  // Own keys only: a name such as 'toString' from untyped config is unknown, not Object's.
  if (!Object.hasOwn(CLASSES, name)) {
    throw new SchedulerError(SchedulerErrorCode.unknown, `unknown scheduler ${JSON.stringify(name)}`);
  }
  return new CLASSES[name](spec, counters, opts);
}
