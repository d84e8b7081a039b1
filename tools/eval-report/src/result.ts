// EvalResult: the one JSON line per run that both defense evaluations print, the simulator
// (tools/sim, `mode: "sim"`) and the real-kernel lab (tools/lab-eval, `mode: "lab"`), so one
// report reads either, and a figure from one can be set beside the other.

export type AttackUnit = 'pps' | 'connections';

/**
 * The arms both evaluations run, in the order reports list them: the priority defense, IPVS's
 * default (`none`, no thresholds), `none` with thresholds, and IPVS's three defenses.
 */
export const EVAL_STRATEGIES = [
  'priority',
  'none',
  'none-thresholds',
  'drop_entry',
  'drop_packet',
  'secure_tcp',
] as const;
export type EvalStrategy = (typeof EVAL_STRATEGIES)[number];

export interface EvalResult {
  mode: 'sim' | 'lab';
  scenario: string;
  strategy: string;
  /** Packets per second for floods and spoofers; connections held for bot scenarios. */
  attackRate: number;
  attackUnit: AttackUnit;
  /** The simulator's seed; the lab's repetition number. */
  seed: number;
  /** Valid attempts (measured window) that got their response within the success deadline. */
  validSuccess: number;
  /** The same for addresses connecting for the first time in the run, and for returning ones. */
  validSuccessNew: number | null;
  validSuccessReturning: number | null;
  setupP50Ms: number | null;
  setupP99Ms: number | null;
  setupP99NewMs: number | null;
  /** Fraction of valid attempts whose connection the director reset on its real server. */
  validFalselyReset: number;
  /**
   * The part of validFalselyReset reset after its response, idle since: a keep-alive connection
   * closed at capacity (weights.servedIdle), which cost its client nothing it asked for. The
   * simulator's only (the lab's clients close after their response); absent: 0.
   */
  validResetIdle?: number;
  /** Priority-0 (partner subnet) connections the director reset: must be 0. */
  priority0Shed: number;
  partnerSuccess: number | null;
  /** Mean share of the real servers' capacity held by attackers while the attack ran. */
  attackerSlots: number;
  challengesSent: number;
  sourcesVerified: number;
}

const NUMBER_FIELDS = [
  'attackRate',
  'seed',
  'validSuccess',
  'validFalselyReset',
  'priority0Shed',
  'attackerSlots',
  'challengesSent',
  'sourcesVerified',
] as const;
const NULLABLE_FIELDS = [
  'validSuccessNew',
  'validSuccessReturning',
  'setupP50Ms',
  'setupP99Ms',
  'setupP99NewMs',
  'partnerSuccess',
] as const;

/** Valid attempts reset before their response was done: validFalselyReset less the idle ones. */
export function resetBeforeResponse(r: { validFalselyReset: number; validResetIdle?: number }): number {
  return Math.max(0, Math.round((r.validFalselyReset - (r.validResetIdle ?? 0)) * 10_000) / 10_000);
}

/** Whether `v` is an EvalResult line (a bench line or a half-written one is not). */
export function isEvalResult(v: unknown): v is EvalResult {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  if (r.mode !== 'sim' && r.mode !== 'lab') return false;
  if (typeof r.scenario !== 'string' || typeof r.strategy !== 'string') return false;
  if (r.attackUnit !== 'pps' && r.attackUnit !== 'connections') return false;
  for (const k of NUMBER_FIELDS) if (typeof r[k] !== 'number') return false;
  for (const k of NULLABLE_FIELDS) if (r[k] !== null && typeof r[k] !== 'number') return false;
  return true;
}

/** The EvalResult lines of a JSON-lines text; other lines (blank, bench, diagnostics) are skipped. */
export function parseResults(text: string): EvalResult[] {
  const out: EvalResult[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      continue;
    }
    if (isEvalResult(v)) out.push(v);
  }
  return out;
}

/** The worst of a group of runs of one case (scenario, strategy, rate): what a report shows. */
export interface WorstCase {
  mode: EvalResult['mode'];
  scenario: string;
  strategy: string;
  attackRate: number;
  attackUnit: AttackUnit;
  runs: number;
  /** The seed whose validSuccess was the worst. */
  worstSeed: number;
  validSuccess: number;
  validSuccessNew: number | null;
  validSuccessReturning: number | null;
  setupP99Ms: number | null;
  setupP99NewMs: number | null;
  /** Reset before the response was done (resetBeforeResponse), and after it, idle. */
  validFalselyReset: number;
  validResetIdle: number;
  priority0Shed: number;
  partnerSuccess: number | null;
  attackerSlots: number;
  challengesSent: number;
  sourcesVerified: number;
}

const minOf = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : Math.min(...v);
};
const maxOf = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : Math.max(...v);
};

/**
 * Groups runs by (mode, scenario, strategy, rate) and keeps the worst of each figure over the
 * group's seeds: lowest success, highest latency, most resets. Each figure's worst may come from
 * a different seed; `worstSeed` names the one with the lowest validSuccess.
 */
export function worstCases(results: readonly EvalResult[]): WorstCase[] {
  const groups = new Map<string, EvalResult[]>();
  for (const r of results) {
    const k = `${r.mode}\u0000${r.scenario}\u0000${r.strategy}\u0000${r.attackRate}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [r]);
    else g.push(r);
  }
  const out: WorstCase[] = [];
  for (const g of groups.values()) {
    const worst = g.reduce((a, b) => (b.validSuccess < a.validSuccess ? b : a));
    out.push({
      mode: worst.mode,
      scenario: worst.scenario,
      strategy: worst.strategy,
      attackRate: worst.attackRate,
      attackUnit: worst.attackUnit,
      runs: g.length,
      worstSeed: worst.seed,
      validSuccess: worst.validSuccess,
      validSuccessNew: minOf(g.map((r) => r.validSuccessNew)),
      validSuccessReturning: minOf(g.map((r) => r.validSuccessReturning)),
      setupP99Ms: maxOf(g.map((r) => r.setupP99Ms)),
      setupP99NewMs: maxOf(g.map((r) => r.setupP99NewMs)),
      validFalselyReset: Math.max(...g.map(resetBeforeResponse)),
      validResetIdle: Math.max(...g.map((r) => r.validResetIdle ?? 0)),
      priority0Shed: Math.max(...g.map((r) => r.priority0Shed)),
      partnerSuccess: minOf(g.map((r) => r.partnerSuccess)),
      attackerSlots: Math.max(...g.map((r) => r.attackerSlots)),
      challengesSent: Math.max(...g.map((r) => r.challengesSent)),
      sourcesVerified: Math.max(...g.map((r) => r.sourcesVerified)),
    });
  }
  return out;
}

/**
 * The upper threshold the LVS baselines run with, in both evaluations: the one an operator
 * settles on after watching InActConn with no attack. IPVS counts inactive entries toward it (a
 * closed connection stays in FIN_WAIT for 120 s under direct routing), so a threshold at the
 * servers' worker count would refuse clients with no attack at all: the workers, plus the closed
 * connections the valid traffic (`connectionsPerSecond` over the cluster) leaves per server.
 */
export function ipvsThresholdFor(
  workers: number,
  connectionsPerSecond: number,
  reals: number,
  finWaitSeconds = 120,
): number {
  return workers + Math.ceil((connectionsPerSecond / reals) * finWaitSeconds);
}
