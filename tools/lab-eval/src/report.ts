// The worst case per scenario and strategy over a grid's JSON lines, against issue 8's targets:
// the issue asks for the worst case, never the mean, because an attacker picks the level that hurts.
// Pure: lines in, rows and a markdown table out (`npm run eval -- lab --report <file>` prints it).

/** The fields of a result line the report reads (LabEvalResult has them all). */
export interface ReportLine {
  scenario: string;
  strategy: string;
  attackLevel?: unknown;
  attackPps: number;
  validSuccess: number;
  validSuccessNew: number | null;
  validSuccessReturning: number | null;
  setupP99MsNew: number | null;
  validFalselyReset: number;
  priority0Shed: number;
  labHealthy?: boolean;
}

/** Issue 8's targets for `priority`, per run. */
export const TARGETS = {
  returning: 0.99,
  firstTime: 0.97,
  setupP99MsNew: 1500,
  falselyReset: 0.001,
  priority0Shed: 0,
} as const;

export interface WorstRow {
  scenario: string;
  strategy: string;
  runs: number;
  /** Lowest success over the runs (levels), and the level that gave it. */
  validSuccess: number;
  worstLevel: unknown;
  worstAttackPps: number;
  validSuccessNew: number | null;
  validSuccessReturning: number | null;
  setupP99MsNew: number | null;
  validFalselyReset: number;
  priority0Shed: number;
  /** priority rows only: every target met in every run. */
  meetsTargets: boolean | null;
  /** priority rows only: its worst success at least `none`'s (no thresholds) worst. */
  atLeastNone: boolean | null;
}

const minOrNull = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : Math.min(...v);
};
const maxOrNull = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? null : Math.max(...v);
};

/** True when one run of `priority` meets every target. */
export function meetsTargets(r: ReportLine): boolean {
  return (
    (r.validSuccessReturning === null || r.validSuccessReturning >= TARGETS.returning) &&
    (r.validSuccessNew === null || r.validSuccessNew >= TARGETS.firstTime) &&
    (r.setupP99MsNew === null || r.setupP99MsNew <= TARGETS.setupP99MsNew) &&
    r.validFalselyReset <= TARGETS.falselyReset &&
    r.priority0Shed <= TARGETS.priority0Shed
  );
}

/** One row per (scenario, strategy), worst over the levels; the order of first appearance. */
export function worstCases(lines: readonly ReportLine[]): WorstRow[] {
  const groups = new Map<string, ReportLine[]>();
  for (const l of lines) {
    if (l.labHealthy === false) continue;
    const k = `${l.scenario}\u0000${l.strategy}`;
    const g = groups.get(k) ?? [];
    g.push(l);
    groups.set(k, g);
  }
  const rows: WorstRow[] = [];
  for (const g of groups.values()) {
    const worst = g.reduce((a, b) => (b.validSuccess < a.validSuccess ? b : a));
    const priority = g[0].strategy === 'priority';
    rows.push({
      scenario: g[0].scenario,
      strategy: g[0].strategy,
      runs: g.length,
      validSuccess: worst.validSuccess,
      worstLevel: worst.attackLevel ?? null,
      worstAttackPps: worst.attackPps,
      validSuccessNew: minOrNull(g.map((r) => r.validSuccessNew)),
      validSuccessReturning: minOrNull(g.map((r) => r.validSuccessReturning)),
      setupP99MsNew: maxOrNull(g.map((r) => r.setupP99MsNew)),
      validFalselyReset: Math.max(...g.map((r) => r.validFalselyReset)),
      priority0Shed: Math.max(...g.map((r) => r.priority0Shed)),
      meetsTargets: priority ? g.every(meetsTargets) : null,
      atLeastNone: null,
    });
  }
  for (const row of rows) {
    if (row.strategy !== 'priority') continue;
    const none = rows.find((r) => r.scenario === row.scenario && r.strategy === 'none');
    row.atLeastNone = none === undefined ? null : row.validSuccess >= none.validSuccess;
  }
  return rows;
}

const cell = (x: number | null, digits = 3): string => (x === null ? '–' : x.toFixed(digits));

/** The rows as a markdown table, a scenario's strategies together. */
export function renderWorstTable(rows: readonly WorstRow[]): string {
  const head =
    '| scenario | strategy | runs | worst valid success (level, attack pps) | first-time | returning | first-time setup p99 ms | falsely reset | priority-0 shed | targets |\n' +
    '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n';
  const body = rows
    .map((r) => {
      const targets =
        r.meetsTargets === null
          ? ''
          : `${r.meetsTargets ? 'met' : '**missed**'}${r.atLeastNone === false ? ', **below none**' : ''}`;
      return `| ${r.scenario} | ${r.strategy} | ${r.runs} | ${cell(r.validSuccess)} (${String(r.worstLevel)}, ${r.worstAttackPps}) | ${cell(r.validSuccessNew)} | ${cell(r.validSuccessReturning)} | ${cell(r.setupP99MsNew, 0)} | ${cell(r.validFalselyReset, 4)} | ${r.priority0Shed} | ${targets} |`;
    })
    .join('\n');
  return `${head}${body}\n`;
}
