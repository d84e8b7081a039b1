export { RealFlag, RealServerCounters } from './counters.ts';
export {
  createScheduler,
  DestinationHashing,
  type FlowView,
  LeastConnection,
  MaglevHashing,
  RoundRobin,
  SCHEDULER_NAMES,
  type Scheduler,
  SchedulerError,
  type SchedulerName,
  type SchedulerOptions,
  type SchedulingSpec,
  SourceHashing,
  WeightedLeastConnection,
  WeightedRoundRobin,
} from './schedulers.ts';
