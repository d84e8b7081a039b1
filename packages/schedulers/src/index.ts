// @sluice/schedulers: the IPVS schedulers and the shared per-real-server counters they read.
export { CountersError, CountersLayout, RealFlag, RealServerCounters } from './counters.ts';
export { createScheduler } from './create.ts';
export { Overflow, WeightedFailover } from './failover.ts';
export { foldAddress, halfSipHash32, halfSipHashBytes, hash32 } from './hash.ts';
export { DestinationHashing, dealBuckets, HASH_TAB_SIZE, SourceHashing } from './hashing.ts';
export {
  LeastConnection,
  NeverQueue,
  ShortestExpectedDelay,
  WeightedLeastConnection,
} from './least-connection.ts';
export { LocalityBasedLeastConnection, LocalityBasedLeastConnectionReplication } from './locality.ts';
export {
  CHECK_EXPIRE_INTERVAL_MS,
  COUNT_FOR_FULL_EXPIRATION,
  DEFAULT_LOCALITY_CAPACITY,
  DEFAULT_LOCALITY_EXPIRATION_MS,
  DEFAULT_LOCALITY_TABLE_BITS,
  ENTRY_TIMEOUT_MS,
} from './locality-table.ts';
export {
  isPrime,
  MaglevHashing,
  MH_DEFAULT_TABLE_SIZE,
  MH_MAX_TABLE_SIZE,
  maglevTurns,
  populateMaglev,
} from './maglev.ts';
export { type RandomSource, Xoshiro128 } from './random.ts';
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
export { PowerOfTwoChoices } from './twos.ts';
