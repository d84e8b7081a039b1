// The evaluation grid: every scenario × strategy × attack rate, one simulated run each, in a
// fixed order with a fixed seed, so two runs of the grid print the same numbers (wallMs aside).
import { STRATEGIES, type Strategy } from './director.ts';
import {
  DEFAULT_PARAMS,
  QUICK_PARAMS,
  runSim,
  SCENARIOS,
  type Scenario,
  type SimParams,
  type SimResult,
} from './sim.ts';

export const FULL_RATES: readonly number[] = [0, 1_000, 10_000, 50_000, 100_000];
export const QUICK_RATES: readonly number[] = [0, 1_000, 20_000];

export interface GridOptions {
  quick: boolean;
  scenarios?: readonly Scenario[];
  strategies?: readonly Strategy[];
  rates?: readonly number[];
  seed?: number;
  overrides?: Partial<SimParams>;
}

export function* runGrid(o: GridOptions): Generator<SimResult> {
  const base = o.quick ? QUICK_PARAMS : DEFAULT_PARAMS;
  const rates = o.rates ?? (o.quick ? QUICK_RATES : FULL_RATES);
  for (const scenario of o.scenarios ?? SCENARIOS) {
    for (const strategy of o.strategies ?? STRATEGIES) {
      for (const attackRate of rates) {
        yield runSim({ ...base, ...o.overrides, seed: o.seed ?? base.seed, scenario, strategy, attackRate });
      }
    }
  }
}
