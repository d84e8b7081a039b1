// Checks a dashboard against Grafana's own schema. No Grafana server can be installed here (it is
// in neither the Debian nor the npm registry), and the npm package @grafana/schema carries no
// JSON Schema file: it carries the TypeScript types Grafana generates from its CUE schema (the
// dashboard, and each panel plugin's Options and FieldConfig). So the dashboard is written out as
// a TypeScript module whose values must satisfy those types, and the TypeScript compiler judges
// it: a misspelled or unknown field (excess property), a wrong type, a missing required option or
// a value outside an enum is an error naming the field.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allPanels, type DashboardJson, REPO_ROOT } from './dashboard.ts';

const COMPOSABLE = '@grafana/schema/dist/esm/raw/composable';

/** Panel plugin id → its schema module under @grafana/schema, and whether it has FieldConfig. */
export const PANEL_SCHEMAS: Readonly<Record<string, { module: string; fieldConfig: boolean }>> = {
  timeseries: { module: 'timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen', fieldConfig: true },
  stat: { module: 'stat/panelcfg/x/StatPanelCfg_types.gen', fieldConfig: false },
  bargauge: { module: 'bargauge/panelcfg/x/BarGaugePanelCfg_types.gen', fieldConfig: false },
  'state-timeline': { module: 'statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen', fieldConfig: true },
  heatmap: { module: 'heatmap/panelcfg/x/HeatmapPanelCfg_types.gen', fieldConfig: true },
  table: { module: 'table/panelcfg/x/TablePanelCfg_types.gen', fieldConfig: true },
};

export interface SchemaCheck {
  ok: boolean;
  /** Each problem with the panel (or "dashboard") it belongs to. */
  problems: string[];
}

/**
 * The schema types as JSON sees them: Grafana's types use TypeScript enums for closed sets
 * (`ThresholdsMode.Absolute`), which a JSON string can only match by value ("absolute").
 */
const JSON_VIEW = `type Json<T> = T extends string
  ? \`\${T}\`
  : T extends readonly (infer E)[]
    ? Json<E>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;`;

/**
 * The dashboard type with one opening: an annotation's `target` is a query of its data source,
 * which the schema types as the DataQuery every query extends (refId, hide, ...); the Prometheus
 * fields (expr, interval) are checked by the tests that read the queries instead.
 */
const DASHBOARD_VIEW = `type Annotation = Json<Omit<AnnotationQuery, 'target'>> & {
  target?: Json<DataQuery> & Record<string, unknown>;
};
type SluiceDashboard = Json<Omit<Dashboard, 'annotations'>> & {
  annotations?: { list?: Annotation[] };
};`;

/** Type-checks `dashboard` and each panel's options and custom field config against @grafana/schema. */
export function checkDashboardSchema(dashboard: DashboardJson): SchemaCheck {
  const problems: string[] = [];
  const lines: string[] = ["import type { AnnotationQuery, Dashboard, DataQuery } from '@grafana/schema';"];
  const types = Object.keys(PANEL_SCHEMAS);
  types.forEach((type, i) => {
    lines.push(`import type * as P${i} from '${COMPOSABLE}/${PANEL_SCHEMAS[type].module}';`);
  });
  lines.push(...JSON_VIEW.split('\n'), ...DASHBOARD_VIEW.split('\n'));
  /** [first line of a section, what it is]: tsc's line numbers are mapped back through it. */
  const sections: Array<[number, string]> = [];
  const section = (what: string, code: string) => {
    sections.push([lines.length + 1, what]);
    lines.push(...code.split('\n'));
  };
  section(
    'dashboard',
    `export const dashboard = ${JSON.stringify(dashboard, null, 2)} satisfies SluiceDashboard;`,
  );
  for (const p of allPanels(dashboard)) {
    if (p.type === 'row') continue;
    const what = `panel ${p.id} "${p.title}" (${p.type})`;
    const schema = PANEL_SCHEMAS[p.type];
    if (schema === undefined) {
      problems.push(`${what}: no schema for panel type ${p.type} (known: ${types.join(', ')})`);
      continue;
    }
    const alias = `P${types.indexOf(p.type)}`;
    const custom = p.fieldConfig?.defaults?.custom;
    if (!schema.fieldConfig && custom !== undefined) {
      problems.push(
        `${what}: fieldConfig.defaults.custom is set, but ${p.type} panels have no custom field config`,
      );
    }
    const value = { options: p.options ?? {}, ...(schema.fieldConfig ? { custom: custom ?? {} } : {}) };
    const type = `{ options: Json<${alias}.Options>${schema.fieldConfig ? `; custom: Json<${alias}.FieldConfig>` : ''} }`;
    section(what, `export const panel${p.id} = ${JSON.stringify(value, null, 2)} satisfies ${type};`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'sluice-grafana-schema-'));
  try {
    // The check module resolves @grafana/schema from the repository's node_modules.
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    writeFileSync(join(dir, 'dashboard.check.mts'), `${lines.join('\n')}\n`);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2023',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          skipLibCheck: true,
          types: [],
        },
        files: ['dashboard.check.mts'],
      }),
    );
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
    if (r.error !== undefined) throw r.error;
    const output = `${r.stdout}${r.stderr}`;
    for (const line of output.split('\n')) {
      const m = /^(?:.*[/\\])?dashboard\.check\.mts\((\d+),\d+\): (.*)$/.exec(line);
      if (m === null) {
        if (line.trim() !== '') problems.push(line);
        continue;
      }
      const at = Number(m[1]);
      let where = 'imports';
      for (const [start, what] of sections) if (start <= at) where = what;
      problems.push(`${where}: ${m[2]} [${lines[at - 1].trim()}]`);
    }
    if (r.status !== 0 && problems.length === 0) problems.push(`tsc exited ${r.status}: ${output}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { ok: problems.length === 0, problems };
}
