// Figures and tables from evaluation results: per scenario, one SVG (the worst valid success over
// the seeds against attack rate, a line per strategy) and a markdown page of the worst cases. The
// SVG is written by hand (a few dozen elements), so the repository takes no plotting dependency
// and the output is plain text that diffs well when the figures are regenerated.
import { type AttackUnit, EVAL_STRATEGIES, type WorstCase } from './result.ts';

const STYLE: Record<string, { color: string; dash: string; width: number }> = {
  priority: { color: '#1b7f5f', dash: '', width: 3 },
  none: { color: '#d95f02', dash: '', width: 2 },
  'none-thresholds': { color: '#a6761d', dash: '4 2', width: 2 },
  drop_entry: { color: '#7570b3', dash: '6 3', width: 2 },
  drop_packet: { color: '#e7298a', dash: '2 3', width: 2 },
  secure_tcp: { color: '#66a61e', dash: '8 3 2 3', width: 2 },
};
const FALLBACK = { color: '#555555', dash: '4 4', width: 2 };

export const STRATEGY_ORDER: readonly string[] = EVAL_STRATEGIES;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 0, 1k, 10k, 1.5M … */
export function rateLabel(rate: number): string {
  if (rate >= 1_000_000) return `${+(rate / 1_000_000).toFixed(1)}M`;
  if (rate >= 1_000) return `${+(rate / 1_000).toFixed(1)}k`;
  return String(rate);
}

const UNIT_AXIS: Record<AttackUnit, string> = {
  pps: 'attack rate (packets/s)',
  connections: 'attack size (connections held)',
};
const UNIT_SHORT: Record<AttackUnit, string> = { pps: 'pps', connections: 'conns' };

function ordered<T>(values: Iterable<T>, order: readonly T[]): T[] {
  const set = [...new Set(values)];
  return set.sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
  });
}

/** Worst valid success against attack rate for one scenario; rates evenly spaced (they span decades). */
export function renderSvg(rows: readonly WorstCase[], scenario: string): string {
  const mine = rows.filter((r) => r.scenario === scenario);
  const rates = [...new Set(mine.map((r) => r.attackRate))].sort((a, b) => a - b);
  const strategies = ordered(
    mine.map((r) => r.strategy),
    STRATEGY_ORDER,
  );
  const unit = mine[0]?.attackUnit ?? 'pps';
  const runs = Math.max(0, ...mine.map((r) => r.runs));
  const W = 720;
  const H = 400;
  const L = 60;
  const R = 150;
  const T = 40;
  const B = 50;
  const pw = W - L - R;
  const ph = H - T - B;
  const x = (i: number) => L + (rates.length <= 1 ? pw / 2 : (i * pw) / (rates.length - 1));
  const y = (v: number) => T + ph - v * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  // A title element: screen readers (and Biome's a11y lint) need the plot named.
  out.push(`<title>${esc(scenario)}: valid clients served (worst of ${runs} runs) per strategy</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${L + pw / 2}" y="22" text-anchor="middle" font-size="15">${esc(scenario)}: valid clients served, worst of ${runs}</text>`,
  );
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${L}" y1="${y(v)}" x2="${L + pw}" y2="${y(v)}" stroke="#dddddd"/>`);
    out.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  rates.forEach((rate, i) => {
    out.push(`<line x1="${x(i)}" y1="${T + ph}" x2="${x(i)}" y2="${T + ph + 5}" stroke="#333333"/>`);
    out.push(`<text x="${x(i)}" y="${T + ph + 18}" text-anchor="middle">${rateLabel(rate)}</text>`);
  });
  out.push(`<line x1="${L}" y1="${T + ph}" x2="${L + pw}" y2="${T + ph}" stroke="#333333"/>`);
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="#333333"/>`);
  out.push(`<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle">${UNIT_AXIS[unit]}</text>`);
  out.push(
    `<text x="16" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${T + ph / 2})">validSuccess</text>`,
  );
  strategies.forEach((s, k) => {
    const st = STYLE[s] ?? FALLBACK;
    const pts = rates
      .map((rate, i) => {
        const r = mine.find((m) => m.strategy === s && m.attackRate === rate);
        return r === undefined ? null : `${x(i).toFixed(1)},${y(r.validSuccess).toFixed(1)}`;
      })
      .filter((p): p is string => p !== null);
    const dash = st.dash === '' ? '' : ` stroke-dasharray="${st.dash}"`;
    out.push(
      `<polyline data-strategy="${esc(s)}" points="${pts.join(' ')}" fill="none" stroke="${st.color}" stroke-width="${st.width}"${dash}/>`,
    );
    for (const p of pts) {
      const [px, py] = p.split(',');
      out.push(`<circle cx="${px}" cy="${py}" r="3" fill="${st.color}"/>`);
    }
    const ly = T + 10 + k * 20;
    out.push(
      `<line x1="${L + pw + 15}" y1="${ly}" x2="${L + pw + 45}" y2="${ly}" stroke="${st.color}" stroke-width="${st.width}"${dash}/>`,
    );
    out.push(`<text x="${L + pw + 50}" y="${ly + 4}">${esc(s)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** The file a scenario's figure is written to: `sim-syn-flood.svg`, `lab-slow-header.svg`. */
export function figureName(r: Pick<WorstCase, 'mode' | 'scenario'>): string {
  return `${r.mode}-${r.scenario}.svg`;
}

const fmt = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(digits);

/**
 * The markdown page: what each figure means; per scenario the figure, the worst valid success by
 * strategy × rate, and the priority defense's every worst-case figure.
 */
export function renderMarkdown(
  rows: readonly WorstCase[],
  figureDir: string,
  scenarioOrder: readonly string[],
): string {
  const scenarios = ordered(
    rows.map((r) => r.scenario),
    scenarioOrder,
  );
  const out: string[] = [];
  out.push('<!-- generated by `npm run eval -- report`: edit the evaluation, not this file -->');
  out.push('');
  out.push('Every cell is the worst over the runs (seeds) of that case: lowest success, highest latency,');
  out.push('most resets; each may come from a different seed.');
  out.push('');
  out.push('| metric | meaning |');
  out.push('| --- | --- |');
  out.push('| validSuccess | fraction of valid attempts answered within 4 s of their first SYN |');
  out.push(
    '| new, returning | the same for addresses connecting for the first time in the run, and for returning ones |',
  );
  out.push(
    '| p99 setup, p99 new | SYN to established for valid clients (challenge and SYN retransmissions included) |',
  );
  out.push(
    '| falsely reset | fraction of valid attempts whose connection the director reset on its real server before their response was done |',
  );
  out.push(
    '| idle closed | fraction of valid attempts whose connection the director reset after their response, idle since: a keep-alive connection closed at capacity (weights.servedIdle) |',
  );
  out.push('| p0 shed | priority-0 (partner subnet) connections the director reset; must be 0 |');
  out.push(
    "| attacker slots | mean share of the real servers' workers held by attackers while the attack ran |",
  );
  out.push('| challenges, verified | challenges the director sent; sources that answered one (or a probe) |');
  for (const s of scenarios) {
    const mine = rows.filter((r) => r.scenario === s);
    const rates = [...new Set(mine.map((r) => r.attackRate))].sort((a, b) => a - b);
    const unit = UNIT_SHORT[mine[0]?.attackUnit ?? 'pps'];
    const strategies = ordered(
      mine.map((r) => r.strategy),
      STRATEGY_ORDER,
    );
    out.push('');
    out.push(`## ${s}`);
    out.push('');
    out.push(`![${s}: valid success vs attack rate](${figureDir}/${figureName(mine[0])})`);
    out.push('');
    out.push(`| validSuccess | ${rates.map((r) => `${rateLabel(r)} ${unit}`).join(' | ')} |`);
    out.push(`| --- | ${rates.map(() => '---:').join(' | ')} |`);
    for (const st of strategies) {
      const cells = rates.map((rate) =>
        fmt(mine.find((m) => m.strategy === st && m.attackRate === rate)?.validSuccess),
      );
      out.push(`| ${st} | ${cells.join(' | ')} |`);
    }
    const priority = mine
      .filter((m) => m.strategy === 'priority')
      .sort((a, b) => a.attackRate - b.attackRate);
    if (priority.length === 0) continue;
    out.push('');
    out.push(
      `| priority, ${unit} | runs | validSuccess | new | returning | p99 setup ms | p99 new ms | falsely reset | idle closed | p0 shed | partner | attacker slots | challenges | verified | worst seed |`,
    );
    out.push(
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of priority) {
      out.push(
        `| ${rateLabel(r.attackRate)} | ${r.runs} | ${fmt(r.validSuccess)} | ${fmt(r.validSuccessNew)} | ${fmt(r.validSuccessReturning)} | ${fmt(r.setupP99Ms, 0)} | ${fmt(r.setupP99NewMs, 0)} | ${fmt(r.validFalselyReset)} | ${fmt(r.validResetIdle)} | ${r.priority0Shed} | ${fmt(r.partnerSuccess)} | ${fmt(r.attackerSlots)} | ${r.challengesSent} | ${r.sourcesVerified} | ${r.worstSeed} |`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}
