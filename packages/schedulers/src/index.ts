// @sluice/schedulers: the IPVS schedulers and the shared per-real-server counters they read.
export { CountersError, CountersLayout, RealFlag, RealServerCounters } from './counters.ts';
export { createScheduler } from './create.ts';
export { foldAddress, halfSipHash32, halfSipHashBytes, hash32 } from './hash.ts';
export { DestinationHashing, dealBuckets, HASH_TAB_SIZE, SourceHashing } from './hashing.ts';
export {
  LeastConnection,
  NeverQueue,
  ShortestExpectedDelay,
  WeightedLeastConnection,
} from './least-connection.ts';
export {
  isPrime,
  MaglevHashing,
  MH_DEFAULT_TABLE_SIZE,
  MH_MAX_TABLE_SIZE,
  maglevTurns,
  populateMaglev,
} from './maglev.ts';
export { RoundRobin, WeightedRoundRobin } from './round-robin.ts';
export {
  type FlowView,
  isSchedulerName,
  SCHEDULER_NAMES,
  type Scheduler,
  SchedulerError,
  SchedulerErrorCode,
  type SchedulerName,
  type SchedulerOptions,
  type SchedulingSpec,
} from './spec.ts';
