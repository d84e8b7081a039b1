// @sluice/eval-report: the result line of both defense evaluations and the report made from them.

export { figureName, rateLabel, renderMarkdown, renderSvg, STRATEGY_ORDER } from './report.ts';
export {
  type AttackUnit,
  EVAL_STRATEGIES,
  type EvalResult,
  type EvalStrategy,
  ipvsThresholdFor,
  isEvalResult,
  parseResults,
  type WorstCase,
  worstCases,
} from './result.ts';
export {
  meetsTargets,
  renderTargetsTable,
  type ScenarioWorst,
  TARGETS,
  worstPerScenario,
} from './targets.ts';
