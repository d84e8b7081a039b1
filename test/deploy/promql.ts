// PromQL as two real parsers see it. Prometheus's own (Go) parser, through `promtool check rules`
// on a generated rules file with each expression as a recording rule, is the judge of whether an
// expression parses and type-checks. The Prometheus project's lezer grammar
// (@prometheus-io/lezer-promql, the one its web UI uses) gives the syntax tree, from which the
// metric names, label matchers and grouping labels an expression uses are read, so they can be
// compared with what the director exports.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { stringify } from 'yaml';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  label: string;
  op: MatchOp;
  value: string;
}

export interface Selector {
  /** The metric name; '' for a selector by labels only. */
  metric: string;
  matchers: LabelMatcher[];
}

export interface PromqlShape {
  /** Syntax errors the lezer grammar found (positions in the expression). */
  errors: string[];
  selectors: Selector[];
  /** Labels named in by/without, on/ignoring and group_left/group_right. */
  groupingLabels: string[];
  /**
   * The outermost operation is a filter (a comparison without `bool`, or and/unless): the
   * expression may rightly return nothing.
   */
  filters: boolean;
}

const COMPARISONS = new Set(['Eql', 'Neq', 'Gtr', 'Lss', 'Gte', 'Lte']);

function unquote(literal: string): string {
  if (literal.startsWith('`')) return literal.slice(1, -1);
  if (literal.startsWith("'")) {
    return JSON.parse(`"${literal.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`) as string;
  }
  return JSON.parse(literal) as string;
}

function text(expr: string, node: SyntaxNode): string {
  return expr.slice(node.from, node.to);
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c !== null; c = c.nextSibling) out.push(c);
  return out;
}

/** The syntax of one expression: what it selects and groups by, and whether it filters. */
export function promqlShape(expr: string): PromqlShape {
  const tree = parser.parse(expr);
  const shape: PromqlShape = { errors: [], selectors: [], groupingLabels: [], filters: false };
  tree.iterate({
    enter: (ref) => {
      const node = ref.node;
      if (node.type.isError) {
        shape.errors.push(
          `syntax error at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`,
        );
        return;
      }
      if (node.name === 'VectorSelector') {
        const id = node.getChild('Identifier');
        const matchers: LabelMatcher[] = [];
        for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
          const name = m.getChild('LabelName');
          const op = m.getChild('MatchOp');
          const value = m.getChild('StringLiteral');
          if (name === null || op === null || value === null) continue;
          matchers.push({
            label: text(expr, name),
            op: text(expr, op) as MatchOp,
            value: unquote(text(expr, value)),
          });
        }
        shape.selectors.push({ metric: id === null ? '' : text(expr, id), matchers });
      } else if (node.name === 'GroupingLabels') {
        for (const l of node.getChildren('LabelName')) shape.groupingLabels.push(text(expr, l));
      }
    },
  });
  let top: SyntaxNode | null = tree.topNode.firstChild;
  while (top !== null && top.name === 'ParenExpr') top = top.firstChild;
  if (top !== null && top.name === 'BinaryExpr') {
    const names = children(top).map((c) => c.name);
    const bool = names.includes('BoolModifier');
    shape.filters =
      names.includes('And') || names.includes('Unless') || (!bool && names.some((n) => COMPARISONS.has(n)));
  }
  return shape;
}

/** The alternatives of a regex that is a plain `a|b|c` of literal words; null for a real regex. */
export function literalAlternatives(regex: string): string[] | null {
  return /^[\w.:+-]+(\|[\w.:+-]+)*$/.test(regex) ? regex.split('|') : null;
}

export interface PromtoolResult {
  status: number;
  output: string;
}

/** Runs promtool with `args`; throws if promtool is not installed (the checks are not optional). */
export function promtool(args: string[], cwd?: string): PromtoolResult {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error !== undefined) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : r.error.message;
    throw new Error(
      `promtool ${why}: it comes with the Debian package "prometheus" (apt-get install -y prometheus)`,
    );
  }
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/**
 * Parses each expression with Prometheus's parser: `promtool check rules` on a rules file where
 * expression i is the recording rule `expr_<i>`. The output names the failing rules.
 */
export function promtoolParse(exprs: readonly string[]): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-promql-'));
  try {
    const file = join(dir, 'expressions.yml');
    const rules = exprs.map((expr, i) => ({ record: `expr_${i}`, expr }));
    writeFileSync(file, stringify({ groups: [{ name: 'expressions', rules }] }));
    return promtool(['check', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
