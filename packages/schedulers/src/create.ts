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
import {
  type Scheduler,
  SchedulerError,
  SchedulerErrorCode,
  type SchedulerName,
  type SchedulerOptions,
  type SchedulingSpec,
} from './spec.ts';
import { PowerOfTwoChoices } from './twos.ts';

/** Throws SchedulerError (code SLUICE_ERR_SCHEDULER_*) on a bad name, spec or option. */
export function createScheduler(
  name: SchedulerName,
  spec: SchedulingSpec,
  counters: RealServerCounters,
  opts: SchedulerOptions = {},
): Scheduler {
  switch (name) {
    case 'rr':
      return new RoundRobin(spec, counters);
    case 'wrr':
      return new WeightedRoundRobin(spec, counters);
    case 'lc':
      return new LeastConnection(spec, counters);
    case 'wlc':
      return new WeightedLeastConnection(spec, counters);
    case 'sed':
      return new ShortestExpectedDelay(spec, counters);
    case 'nq':
      return new NeverQueue(spec, counters);
    case 'sh':
      return new SourceHashing(spec, counters, opts);
    case 'dh':
      return new DestinationHashing(spec, counters);
    case 'mh':
      return new MaglevHashing(spec, counters, opts);
    case 'lblc':
      return new LocalityBasedLeastConnection(spec, counters, opts);
    case 'lblcr':
      return new LocalityBasedLeastConnectionReplication(spec, counters, opts);
    case 'fo':
      return new WeightedFailover(spec, counters);
    case 'ovf':
      return new Overflow(spec, counters);
    case 'twos':
      return new PowerOfTwoChoices(spec, counters, opts);
    default:
      throw new SchedulerError(SchedulerErrorCode.unknown, `unknown scheduler ${JSON.stringify(name)}`);
  }
}
