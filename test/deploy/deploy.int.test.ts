// The operator's kit in deploy/: the Grafana dashboard and the Prometheus rules, checked by real
// tools. promtool (Debian `prometheus`) checks and unit-tests the rules and parses every dashboard
// query; the TypeScript compiler checks the dashboard against Grafana's schema types
// (@grafana/schema; no Grafana server is installable here); every metric, label and label value
// the queries use is compared with what createMetrics registers; and a real director is scraped
// by a real Prometheus that loads the rules, runs every dashboard query and raises an alert.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_CONFIG, validateConfigFile } from '@sluice/config';
import { freeTcpPort, RunningDirector } from '@sluice/lab';
import { NEW_CONNECTION_DROP_REASONS } from '@sluice/metrics';
import { freeUdpPort } from '@sluice/traffic';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  allPanels,
  allSelections,
  type DashboardJson,
  dashboardQueries,
  expandVariables,
  loadDashboard,
  REPO_ROOT,
} from './dashboard.ts';
import { directorInventory, type Inventory } from './exported.ts';
import { checkDashboardSchema } from './grafana-schema.ts';
import { PrometheusServer } from './prometheus-server.ts';
import { type PromtoolResult, promqlShape, promtool, promtoolParse } from './promql.ts';
import { recordedLabels, templateLabels, usage } from './usage.ts';

const RULES_DIR = `${REPO_ROOT}deploy/prometheus`;
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template.
const DATASOURCE_VARIABLE = '${datasource}';
const RULES_PATH = `${RULES_DIR}/sluice-rules.yml`;
const RULES_TEST_PATH = `${RULES_DIR}/sluice-rules.test.yml`;
const PROMETHEUS_EXAMPLE_PATH = `${RULES_DIR}/prometheus.example.yml`;
const PROVISIONING_DIR = `${REPO_ROOT}deploy/grafana/provisioning`;
const README_PATH = `${REPO_ROOT}deploy/README.md`;
/** Severities an Alertmanager route can rely on: page (critical), ticket (warning), notice (info). */
const ALERT_SEVERITIES: readonly string[] = ['critical', 'warning', 'info'];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RulesFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface RulesTestFile {
  rule_files: string[];
  tests: Array<{
    name: string;
    alert_rule_test?: Array<{ eval_time: string; alertname: string; exp_alerts: unknown[] }>;
  }>;
}

const rulesFile = (): RulesFile => parse(readFileSync(RULES_PATH, 'utf8')) as RulesFile;

interface PrometheusConfig {
  global: Record<string, string>;
  rule_files: string[];
  scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
}
const exampleConfig = (): PrometheusConfig =>
  parse(readFileSync(PROMETHEUS_EXAMPLE_PATH, 'utf8')) as PrometheusConfig;
const allRules = (f: RulesFile): Rule[] => f.groups.flatMap((g) => g.rules);

/** Static expansion: every "All" selection, any director. */
function staticExpansion(d: DashboardJson): Record<string, string> {
  return allSelections(d, { instance: '.+' });
}

let inventory: Inventory;
beforeAll(async () => {
  inventory = await directorInventory();
});

describe('deploy/prometheus: the rules', () => {
  it('pass `promtool check rules`, every rule counted', () => {
    const r = promtool(['check', 'rules', RULES_PATH]);
    expect(r.output).toContain(`SUCCESS: ${allRules(rulesFile()).length} rules found`);
    expect(r.status, r.output).toBe(0);
  });

  it('pass their unit tests (`promtool test rules`)', () => {
    const r = promtool(['test', 'rules', 'sluice-rules.test.yml'], RULES_DIR);
    expect(r.output).toContain('SUCCESS');
    expect(r.status, r.output).toBe(0);
  });

  it('`promtool test rules` fails a test whose expectation is wrong, so the pass above means something', () => {
    const text = readFileSync(RULES_TEST_PATH, 'utf8');
    const wrong = text.replace(
      'summary: Sluice refuses 9% of new connections (capacity)',
      'summary: Sluice refuses 8% of new connections (capacity)',
    );
    expect(wrong).not.toBe(text);
    const r = promtoolTestRules(wrong);
    expect(r.output).toContain('FAILED');
    expect(r.output).toContain('Sluice refuses 9% of new connections (capacity)');
    expect(r.status).not.toBe(0);
  });

  it('the example Prometheus configuration passes `promtool check config` and scrapes the job the alerts expect', () => {
    const r = promtool(['check', 'config', PROMETHEUS_EXAMPLE_PATH]);
    expect(r.output).toContain(`SUCCESS: ${allRules(rulesFile()).length} rules found`);
    expect(r.status, r.output).toBe(0);
    const config = exampleConfig();
    expect(config.rule_files).toEqual(['sluice-rules.yml']);
    expect(config.scrape_configs.map((c) => c.job_name)).toEqual(['sluice']);
    const down = allRules(rulesFile()).find((rule) => rule.alert === 'SluiceDirectorDown');
    expect(down?.expr).toContain('job="sluice"');
  });

  it('have a unit test where each alert fires and one where it stays quiet', () => {
    const tests = parse(readFileSync(RULES_TEST_PATH, 'utf8')) as RulesTestFile;
    expect(tests.rule_files).toEqual(['sluice-rules.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const alerts = allRules(rulesFile()).flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert}: no case where it fires`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert}: no case where it does not fire`,
      ).toBe(true);
    }
    // And no test of an alert that does not exist (a rename would leave it testing nothing).
    for (const c of cases) expect(alerts, c.alertname).toContain(c.alertname);
  });

  it("are each listed in deploy/README.md's alert table with their severity, and nothing else is", () => {
    const table = new Map<string, string>();
    for (const m of readFileSync(README_PATH, 'utf8').matchAll(/^\|\s*`(Sluice\w+)`\s*\|\s*(\w+)\s*\|/gm))
      table.set(m[1], m[2]);
    const rules = new Map(
      allRules(rulesFile()).flatMap((r) => (r.alert === undefined ? [] : [[r.alert, r.labels?.severity]])),
    );
    expect(Object.fromEntries(table)).toEqual(Object.fromEntries(rules));
  });

  it('use only series, labels and label values the director exports or the rules record', () => {
    const rules = allRules(rulesFile());
    const recorded = new Map<string, Set<string>>();
    for (const r of rules)
      if (r.record !== undefined) recorded.set(r.record, recordedLabels(r.expr, inventory));
    const problems: string[] = [];
    for (const r of rules) {
      const name = r.alert ?? r.record;
      const u = usage(r.expr, inventory, recorded);
      for (const p of u.problems) problems.push(`${name}: ${p}`);
      for (const text of Object.values(r.annotations ?? {})) {
        for (const l of templateLabels(text)) {
          if (!u.labels.has(l))
            problems.push(`${name}: its annotation uses $labels.${l}, which its series lack`);
        }
      }
      if (r.alert !== undefined && !ALERT_SEVERITIES.includes(r.labels?.severity ?? ''))
        problems.push(`${name}: severity must be one of ${ALERT_SEVERITIES.join(', ')}`);
    }
    expect(problems).toEqual([]);
  });
});

/** `promtool test rules` on a test file's text, run against the rules in deploy/prometheus. */
function promtoolTestRules(text: string): PromtoolResult {
  const tests = parse(text) as RulesTestFile;
  tests.rule_files = [RULES_PATH];
  const dir = mkdtempSync(join(tmpdir(), 'sluice-rules-test-'));
  try {
    writeFileSync(join(dir, 'rules.test.yml'), stringify(tests));
    return promtool(['test', 'rules', 'rules.test.yml'], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('deploy/grafana: the dashboard', () => {
  const dashboard = loadDashboard();
  const queries = dashboardQueries(dashboard);

  it("conforms to Grafana's dashboard and panel schemas (@grafana/schema, judged by tsc)", () => {
    const check = checkDashboardSchema(dashboard);
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
  });

  it('the schema check rejects a wrong field, type, option and enum value, naming the panel', () => {
    const spoiled = structuredClone(dashboard);
    const panels = allPanels(spoiled).filter((p) => p.type !== 'row');
    const series = panels.find((p) => p.type === 'timeseries');
    const stat = panels.find((p) => p.type === 'stat');
    const gauge = panels.find((p) => p.type === 'bargauge');
    if (series === undefined || stat === undefined || gauge === undefined)
      throw new Error('panel types missing');
    (series.options as { legend: Record<string, unknown> }).legend.displayMod = 'list';
    delete (stat.options as Record<string, unknown>).textMode;
    (gauge.options as Record<string, unknown>).displayMode = 'sparkles';
    spoiled.refresh = 30;
    const check = checkDashboardSchema(spoiled);
    const text = check.problems.join('\n');
    expect(check.ok).toBe(false);
    expect(text).toMatch(new RegExp(`panel ${series.id} .*displayMod`));
    expect(text).toMatch(new RegExp(`panel ${stat.id} .*textMode`));
    expect(text).toMatch(new RegExp(`panel ${gauge.id} .*sparkles`));
    expect(text).toMatch(/dashboard: .*number.* is not assignable to type 'string'/);
  });

  it('sends every query to the datasource variable as Prometheus code, each with its own refId', () => {
    const variables = dashboard.templating.list;
    const ds = variables.find((v) => v.name === 'datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['service', 'real']) {
      expect(
        variables.find((v) => v.name === name),
        name,
      ).toMatchObject({ type: 'query', includeAll: true, multi: true });
    }
    const want = { type: 'prometheus', uid: DATASOURCE_VARIABLE };
    for (const v of variables.filter((v) => v.type === 'query')) expect(v.datasource, v.name).toEqual(want);
    const ids = new Set<number>();
    for (const p of allPanels(dashboard)) {
      expect(ids.has(p.id as number), `panel id ${p.id} twice`).toBe(false);
      ids.add(p.id as number);
      if (p.type === 'row') continue;
      expect(p.datasource, `panel ${p.id}`).toEqual(want);
      const targets = p.targets ?? [];
      expect(targets.length, `panel ${p.id} "${p.title}" has no query`).toBeGreaterThan(0);
      expect(new Set(targets.map((t) => t.refId)).size, `panel ${p.id} refIds`).toBe(targets.length);
      for (const t of targets) {
        expect(t.datasource, `panel ${p.id} ${t.refId}`).toEqual(want);
        expect(typeof t.expr === 'string' && t.expr.trim() !== '', `panel ${p.id} ${t.refId} expr`).toBe(
          true,
        );
      }
    }
  });

  it('comes with provisioning for a Prometheus data source and a file dashboard provider', () => {
    const ds = parse(readFileSync(`${PROVISIONING_DIR}/datasources/sluice-prometheus.yml`, 'utf8')) as {
      apiVersion: number;
      datasources: Array<Record<string, unknown>>;
    };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toHaveLength(1);
    // The dashboard's datasource variable lists data sources of this type.
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(ds.datasources[0]).toMatchObject({ type: variable?.query, access: 'proxy' });
    expect(typeof ds.datasources[0].url).toBe('string');
    const dashboards = parse(readFileSync(`${PROVISIONING_DIR}/dashboards/sluice.yml`, 'utf8')) as {
      apiVersion: number;
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(dashboards.apiVersion).toBe(1);
    expect(dashboards.providers).toHaveLength(1);
    expect(dashboards.providers[0].type).toBe('file');
    // deploy/README.md tells the operator to copy sluice.json to this path.
    const readme = readFileSync(README_PATH, 'utf8');
    expect(readme).toContain(dashboards.providers[0].options.path);
  });

  it('lays its panels out on the 24-column grid without overlaps', () => {
    const cells = new Map<string, number>();
    for (const p of dashboard.panels) {
      const g = p.gridPos;
      if (g === undefined) throw new Error(`panel ${p.id} has no gridPos`);
      expect(g.x + g.w, `panel ${p.id} width`).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`);
          expect(other, `panel ${p.id} overlaps panel ${other}`).toBeUndefined();
          cells.set(`${x},${y}`, p.id as number);
        }
      }
    }
  });

  it("every query parses with Prometheus's own parser (promtool), which rejects a broken one", () => {
    const values = staticExpansion(dashboard);
    const exprs = queries.map((q) => expandVariables(q.expr, values));
    const r = promtoolParse(exprs);
    const failing = [...r.output.matchAll(/"expr_(\d+)"/g)].map((m) => queries[Number(m[1])].where);
    expect(failing, r.output).toEqual([]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);

    const broken = promtoolParse(['sum by (reason) (rate(sluice_packets_total[1m])', exprs[0]]);
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain('expr_0');
  });

  it('every metric, label and fixed label value a query uses is one the director exports', () => {
    const values = staticExpansion(dashboard);
    const problems: string[] = [];
    for (const q of queries) {
      const u = usage(expandVariables(q.expr, values), inventory);
      for (const p of u.problems) problems.push(`${q.where}: ${p}`);
      if (q.label !== undefined && !u.labels.has(q.label))
        problems.push(`${q.where}: lists label ${q.label}, which its series lack`);
      const legend = q.target?.legendFormat ?? '';
      for (const l of templateLabels(legend)) {
        if (!u.labels.has(l)) problems.push(`${q.where}: legend {{${l}}} is a label its series lack`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the usage check names a renamed metric, a missing label, a wrong value and a grouping by a missing label', () => {
    const problems = (expr: string) => usage(expr, inventory).problems.join('\n');
    expect(problems('sum(rate(sluice_packets_total{verdict="forward"}[1m]))')).toBe('');
    expect(problems('rate(sluice_frames_total[1m])')).toContain('metric sluice_frames_total is not one');
    expect(problems('sluice_workers{service="web"}')).toContain('sluice_workers has no label service');
    expect(problems('sluice_packets_total{verdict="forwarded"}')).toContain('no verdict="forwarded"');
    expect(problems('sluice_dropped_packets_total{reason=~"capacity|table_full"}')).toContain(
      'no reason="table_full"',
    );
    expect(problems('sluice_connections{state=~"SYN_.*X"}')).toContain('matches none of its values');
    expect(problems('sum by (reasn) (sluice_dropped_packets_total)')).toContain('groups by reasn');
  });

  it('shows every sluice_ family the director exports', () => {
    const used = new Set(
      queries.flatMap((q) =>
        promqlShape(expandVariables(q.expr, staticExpansion(dashboard))).selectors.map((s) => s.metric),
      ),
    );
    const families = [...inventory.keys()].filter((n) => n.startsWith('sluice_'));
    // A histogram is shown through its buckets.
    const missing = families.filter((f) => !used.has(f) && !/_(sum|count)$/.test(f));
    expect(missing).toEqual([]);
  });
});

describe('deploy: the refused-connection reasons', () => {
  it('are exactly NEW_CONNECTION_DROP_REASONS wherever the dashboard or the rules select them', () => {
    const d = loadDashboard();
    const values = staticExpansion(d);
    const exprs = [
      ...dashboardQueries(d).map((q) => ({ where: q.where, expr: expandVariables(q.expr, values) })),
      ...allRules(rulesFile()).map((r) => ({ where: r.alert ?? r.record, expr: r.expr })),
    ];
    let selections = 0;
    for (const { where, expr } of exprs) {
      for (const s of promqlShape(expr).selectors) {
        if (s.metric !== 'sluice_dropped_packets_total') continue;
        for (const m of s.matchers) {
          if (m.label !== 'reason' || m.op !== '=~') continue;
          selections++;
          expect(m.value.split('|').sort(), `${where}`).toEqual([...NEW_CONNECTION_DROP_REASONS].sort());
        }
      }
    }
    // The overview stat, the by-reason panel and the recording rule.
    expect(selections).toBeGreaterThanOrEqual(3);
  });
});

describe('deploy: a real director scraped by a real Prometheus with the rules loaded', () => {
  let director: RunningDirector | null = null;
  let prometheus: PrometheusServer | null = null;
  let healthy: Server | null = null;
  let target = '';

  beforeAll(async () => {
    // One real server answers its TCP health check on loopback, the other's port is closed.
    healthy = createServer((s) => s.destroy());
    await new Promise<void>((r) => healthy?.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const healthyPort = (healthy.address() as { port: number }).port;
    const closedPort = await freeTcpPort();
    const vxlanPort = await freeUdpPort('127.0.0.1');
    // The demo config (`npm start`), kept on loopback: its real servers' VTEPs and health checks.
    const thresholds = [100, 50];
    const checked = [healthyPort, closedPort];
    director = await RunningDirector.start((apiPort) => {
      const config = validateConfigFile(structuredClone(DEMO_CONFIG));
      config.daemon = { ...config.daemon, workers: 1, connectionCapacity: 4096 };
      config.daemon.vxlan = { address: '127.0.0.1', port: vxlanPort };
      config.daemon.api = { address: '127.0.0.1', port: apiPort };
      config.services[0].reals.forEach((r, i) => {
        r.vtep = '127.0.0.1';
        r.mac = `02:00:00:00:00:1${i + 1}`;
        r.upperThreshold = thresholds[i];
        r.healthCheck = {
          type: 'tcp',
          port: checked[i],
          intervalSeconds: 1,
          timeoutSeconds: 1,
          rise: 1,
          fall: 1,
        };
      });
      // A UDP service routing QUIC by connection ID, so the dashboard's QUIC panels have series.
      config.services.push({
        ...config.services[0],
        name: 'h3',
        port: 4433,
        protocol: 'udp',
        scheduler: 'rr',
        quic: { cidServerIdOffset: 1, cidServerIdLength: 2 },
        reals: [
          {
            ...config.services[0].reals[0],
            port: 4433,
            quicServerId: '0a01',
            healthCheck: null,
            // No threshold: the recording rules' load share leaves it out.
            upperThreshold: 0,
            lowerThreshold: 0,
          },
        ],
      });
      return config;
    }, 'sluice-deploy-');
    target = director.base.replace('http://', '');
    // The example configuration an operator starts from, pointed at this director and made quick.
    const config = exampleConfig();
    config.global = { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
    config.rule_files = config.rule_files.map((f) => join(RULES_DIR, f));
    config.scrape_configs[0].static_configs = [{ targets: [target] }];
    prometheus = await PrometheusServer.start({ port: await freeTcpPort(), config });
    // Enough scrapes for rate() over the dashboard's interval, and every rule evaluated.
    const p = prometheus;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const scrapes = await p.query('count_over_time(up{job="sluice"}[1m])');
      const n = Number(scrapes.data?.result?.[0]?.value[1] ?? 0);
      const rules = await p.rules();
      const evaluated = rules.length > 0 && rules.every((r) => !r.lastEvaluation.startsWith('0001-'));
      if (n >= 5 && evaluated) break;
      if (Date.now() > deadline)
        throw new Error(`Prometheus did not scrape and evaluate in time:\n${p.log()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  afterAll(async () => {
    await prometheus?.stop();
    await director?.stop();
    await new Promise<void>((r) => (healthy === null ? r() : healthy.close(() => r())));
  });

  it('scrapes the director, and every rule evaluates without error', async () => {
    const p = prometheus as PrometheusServer;
    const up = await p.query('up{job="sluice"}');
    expect(up.data.result.map((s) => [s.metric.instance, s.value[1]])).toEqual([[target, '1']]);
    const rules = await p.rules();
    expect(rules.length).toBe(allRules(rulesFile()).length);
    for (const r of rules)
      expect({ rule: r.name, health: r.health, error: r.lastError ?? '' }).toEqual({
        rule: r.name,
        health: 'ok',
        error: '',
      });
  });

  it('serves no sluice_ family the inventory (createMetrics as exported.ts builds it) lacks', async () => {
    const text = await (await fetch(`${(director as RunningDirector).base}/metrics`)).text();
    const served = [...text.matchAll(/^# TYPE (sluice_\w+) (\w+)$/gm)].map(([, name, type]) =>
      type === 'histogram' ? `${name}_bucket` : name,
    );
    expect(served.length).toBeGreaterThan(0);
    expect(served.filter((name) => !inventory.has(name))).toEqual([]);
  });

  it('runs every dashboard query without error or warning; those that do not filter return series', async () => {
    const p = prometheus as PrometheusServer;
    const d = loadDashboard();
    // What Grafana sends for this director with every service and real server selected.
    const values = allSelections(d, { instance: target, __rate_interval: '5s' });
    const empty: string[] = [];
    for (const q of dashboardQueries(d)) {
      const expr = expandVariables(q.expr, values);
      if (q.kind === 'variable') {
        const a = await p.labelValues(q.label as string, expr);
        expect(a.status, `${q.where}: ${a.error}`).toBe('success');
        if (a.data.length === 0) empty.push(q.where);
        continue;
      }
      const a = await p.query(expr);
      expect({ where: q.where, status: a.status, error: a.error, warnings: a.warnings }).toEqual({
        where: q.where,
        status: 'success',
        error: undefined,
        warnings: undefined,
      });
      if (a.data.result.length === 0 && !promqlShape(expr).filters) empty.push(q.where);
    }
    expect(empty).toEqual([]);
  });

  it('raises SluiceRealServerDown (pending its minute) for the real server whose check fails, and only it', async () => {
    const p = prometheus as PrometheusServer;
    const down = (await p.alerts()).filter((a) => a.labels.alertname === 'SluiceRealServerDown');
    expect(down.map((a) => ({ real: a.labels.real, service: a.labels.service, state: a.state }))).toEqual([
      { real: '10.42.0.12:80', service: 'web', state: 'pending' },
    ]);
    // And the recording rule sees each real server's threshold: 0 connections of 100 and of 50.
    const load = await p.query('service_real:sluice_real_server_load:ratio');
    expect(load.data.result.map((s) => [s.metric.real, s.value[1]]).sort()).toEqual([
      ['10.42.0.11:80', '0'],
      ['10.42.0.12:80', '0'],
    ]);
  });
});
