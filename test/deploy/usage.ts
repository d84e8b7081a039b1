// Whether a PromQL expression asks for series the director really exports: each metric name, each
// label a matcher or a grouping names, and each value a matcher selects from a fixed vocabulary
// (verdicts, reasons, states, ...) must appear in the inventory read from createMetrics. Labels
// whose values come from the config or the scrape target (service, real, instance, job) are only
// checked to exist. Series recorded by the rules file count as known, with the labels their
// recording keeps.
import { CONFIG_LABELS, type Inventory, TARGET_LABELS } from './exported.ts';
import { literalAlternatives, promqlShape } from './promql.ts';

export interface Usage {
  problems: string[];
  /** Every label some series of the expression carries (for legends and alert templates). */
  labels: Set<string>;
}

/**
 * The labels a recorded series keeps: its `by` labels when the recording aggregates, else the
 * labels of the series it reads (an approximation that holds for ratios and sums of one family).
 */
export function recordedLabels(expr: string, inventory: Inventory): Set<string> {
  const shape = promqlShape(expr);
  if (shape.groupingLabels.length > 0) return new Set(shape.groupingLabels);
  const out = new Set<string>(TARGET_LABELS);
  for (const s of shape.selectors) for (const l of inventory.get(s.metric)?.keys() ?? []) out.add(l);
  return out;
}

export function usage(
  expr: string,
  inventory: Inventory,
  recorded: ReadonlyMap<string, Set<string>> = new Map(),
): Usage {
  const shape = promqlShape(expr);
  const problems = [...shape.errors];
  const labels = new Set<string>(TARGET_LABELS);
  for (const s of shape.selectors) {
    if (s.metric === '') {
      problems.push('a selector without a metric name');
      continue;
    }
    const known = recorded.get(s.metric);
    const exported = inventory.get(s.metric);
    if (known === undefined && exported === undefined) {
      problems.push(`metric ${s.metric} is not one the director exports`);
      continue;
    }
    const labelNames = new Set(known ?? exported?.keys());
    for (const l of labelNames) labels.add(l);
    for (const m of s.matchers) {
      if (!labelNames.has(m.label)) {
        problems.push(`${s.metric} has no label ${m.label} (it has ${[...labelNames].join(', ')})`);
        continue;
      }
      const values = exported?.get(m.label);
      if (values === undefined || CONFIG_LABELS.has(m.label)) continue;
      const alternatives = m.op.endsWith('~') ? literalAlternatives(m.value) : [m.value];
      if (alternatives === null) {
        const re = new RegExp(`^(?:${m.value})$`);
        if (![...values].some((v) => re.test(v)))
          problems.push(`${s.metric}{${m.label}${m.op}"${m.value}"} matches none of its values`);
        continue;
      }
      for (const a of alternatives) {
        if (!values.has(a))
          problems.push(`${s.metric} has no ${m.label}="${a}" (its values: ${[...values].join(', ')})`);
      }
    }
  }
  for (const g of shape.groupingLabels) {
    if (!labels.has(g)) problems.push(`groups by ${g}, a label none of its series has`);
  }
  return { problems, labels };
}

/** Label names a Grafana legend (`{{label}}`) or a Prometheus template (`$labels.label`) uses. */
export function templateLabels(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) out.push(m[1]);
  for (const m of template.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) out.push(m[1]);
  return out;
}
