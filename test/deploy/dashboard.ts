// Reading deploy/grafana/sluice.json as Grafana would: every PromQL query it sends (panel targets,
// annotations, the label_values() of its template variables), each with where it comes from, and
// Grafana's variable interpolation ($var, ${var}, ${var:format}, [[var]] and the $__ built-ins),
// so the queries can be handed to a real PromQL parser and a real Prometheus.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DASHBOARD_PATH = `${REPO_ROOT}deploy/grafana/sluice.json`;

export interface Target {
  datasource?: { type?: string; uid?: string };
  expr?: string;
  refId?: string;
  legendFormat?: string;
  instant?: boolean;
  format?: string;
  [key: string]: unknown;
}

export interface PanelJson {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: PanelJson[];
  options?: Record<string, unknown>;
  fieldConfig?: { defaults?: { custom?: Record<string, unknown> } };
  gridPos?: { x: number; y: number; w: number; h: number };
  [key: string]: unknown;
}

export interface VariableJson {
  name: string;
  type: string;
  query?: unknown;
  definition?: string;
  includeAll?: boolean;
  allValue?: string;
  datasource?: { type?: string; uid?: string };
  [key: string]: unknown;
}

export interface DashboardJson {
  panels: PanelJson[];
  templating: { list: VariableJson[] };
  annotations?: {
    list: Array<{
      name?: string;
      datasource?: { type?: string; uid?: string };
      /** A Prometheus annotation's query (Grafana moves a legacy top-level `expr` here). */
      target?: { expr?: string; refId?: string };
      expr?: string;
    }>;
  };
  [key: string]: unknown;
}

export function loadDashboard(path = DASHBOARD_PATH): DashboardJson {
  return JSON.parse(readFileSync(path, 'utf8')) as DashboardJson;
}

/** Every panel, rows' nested panels included (a collapsed row keeps its panels inside it). */
export function allPanels(d: DashboardJson): PanelJson[] {
  const out: PanelJson[] = [];
  for (const p of d.panels) {
    out.push(p);
    for (const child of p.panels ?? []) out.push(child);
  }
  return out;
}

export type QueryKind = 'panel' | 'annotation' | 'variable';

export interface DashboardQuery {
  kind: QueryKind;
  /** Where it is, for failure messages: `panel 12 "Drops by reason" target B`. */
  where: string;
  /** The PromQL as written, variables unexpanded. */
  expr: string;
  /** Set for panel targets. */
  target?: Target;
  panel?: PanelJson;
  /** For label_values(selector, label): the label whose values the variable lists. */
  label?: string;
}

const LABEL_VALUES = /^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s;

/**
 * Every PromQL query of the dashboard. A query variable that is not `label_values(selector,
 * label)` throws: it would go unchecked.
 */
export function dashboardQueries(d: DashboardJson): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const p of allPanels(d)) {
    for (const t of p.targets ?? []) {
      if (typeof t.expr !== 'string') continue;
      out.push({
        kind: 'panel',
        where: `panel ${p.id} "${p.title}" target ${t.refId}`,
        expr: t.expr,
        target: t,
        panel: p,
      });
    }
  }
  for (const a of d.annotations?.list ?? []) {
    const expr = a.target?.expr ?? a.expr;
    if (typeof expr === 'string') out.push({ kind: 'annotation', where: `annotation "${a.name}"`, expr });
  }
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const m = typeof q === 'string' ? LABEL_VALUES.exec(q) : null;
    if (m === null)
      throw new Error(
        `variable ${v.name}: query ${JSON.stringify(v.query)} is not label_values(selector, label)`,
      );
    out.push({ kind: 'variable', where: `variable $${v.name}`, expr: m[1], label: m[2] });
  }
  return out;
}

/** Values Grafana gives its built-in interval variables; a test may pass others. */
export const BUILTIN_VALUES: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '1m',
  __range: '1h',
};

const VARIABLE = /\$\{([a-zA-Z0-9_]+)(?::[^}]*)?\}|\[\[([a-zA-Z0-9_]+)(?::[^\]]*)?\]\]|\$([a-zA-Z0-9_]+)/g;

/** The variable names an expression uses. */
export function variablesOf(expr: string): string[] {
  return [...expr.matchAll(VARIABLE)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** Interpolates variables as Grafana would before sending the query; an unknown one throws. */
export function expandVariables(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(VARIABLE, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c) as string;
    const value = values[name] ?? BUILTIN_VALUES[name];
    if (value === undefined) throw new Error(`unknown variable ${whole} in ${expr}`);
    return value;
  });
}

/**
 * What a multi-value "All" selection of each query variable interpolates to (its allValue), and
 * `fallback` for the others (single-valued variables such as the director).
 */
export function allSelections(d: DashboardJson, fallback: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...fallback };
  for (const v of d.templating.list) {
    if (v.type === 'query' && v.includeAll === true && typeof v.allValue === 'string')
      out[v.name] = v.allValue;
  }
  return out;
}
