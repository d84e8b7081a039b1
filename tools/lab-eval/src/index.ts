export {
  abortLabEval,
  type LabEvalOptions,
  type LabEvalResult,
  prepareLab,
  type RealSysctls,
  runLabEval,
} from './eval.ts';
export {
  type Addresses,
  type AttackLevel,
  addresses,
  defenseFor,
  directorConfig,
  LAB_NAME,
  levels,
  planRuns,
  type RunSpec,
  SCENARIOS,
  type Scenario,
  STRATEGIES,
  type Strategy,
  SUBNET,
} from './plan.ts';
