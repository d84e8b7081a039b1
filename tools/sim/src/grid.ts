// The evaluation grid: every scenario × strategy × attack size × seed, one simulated run each, in
// a fixed order, so two runs of the grid print the same numbers (wallMs aside). Floods and
// spoofers are sized in packets per second; bots in connections held.
import { STRATEGIES, type Strategy } from './director.ts';
import {
  BOT_SCENARIOS,
  DEFAULT_PARAMS,
  QUICK_PARAMS,
  runSim,
  SCENARIOS,
  type Scenario,
  type SimParams,
  type SimResult,
} from './sim.ts';

export const FULL_PPS: readonly number[] = [0, 1_000, 10_000, 50_000, 100_000];
export const QUICK_PPS: readonly number[] = [0, 1_000, 20_000];
/** The cluster holds 4 × 100 connections: from a quarter of it to ten times it. */
export const FULL_CONNECTIONS: readonly number[] = [0, 100, 400, 1_000, 4_000];
export const QUICK_CONNECTIONS: readonly number[] = [0, 400, 1_000];

export interface GridOptions {
  quick: boolean;
  scenarios?: readonly Scenario[];
  strategies?: readonly Strategy[];
  /** Attack sizes for every scenario (packets/s or connections, as the scenario counts). */
  rates?: readonly number[];
  /** Seeds, each run as its own case; default [1]. */
  seeds?: readonly number[];
  overrides?: Partial<SimParams>;
}

/** The attack sizes of `scenario` in the grid. */
export function ratesFor(scenario: Scenario, quick: boolean): readonly number[] {
  if (BOT_SCENARIOS.includes(scenario)) return quick ? QUICK_CONNECTIONS : FULL_CONNECTIONS;
  return quick ? QUICK_PPS : FULL_PPS;
}

export function* runGrid(o: GridOptions): Generator<SimResult> {
  const base = o.quick ? QUICK_PARAMS : DEFAULT_PARAMS;
  for (const seed of o.seeds ?? [base.seed]) {
    for (const scenario of o.scenarios ?? SCENARIOS) {
      for (const strategy of o.strategies ?? STRATEGIES) {
        for (const attackRate of o.rates ?? ratesFor(scenario, o.quick)) {
          yield runSim({ ...base, ...o.overrides, seed, scenario, strategy, attackRate });
        }
      }
    }
  }
}
