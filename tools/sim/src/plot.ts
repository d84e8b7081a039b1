// Figures and tables from the simulator's JSON lines: one SVG per scenario (valid success against
// attack rate, one line per strategy) and a markdown page of tables. The SVG is written by hand
// (a few dozen elements) so the repository takes no plotting dependency and the output is plain
// text that diffs well when the figures are regenerated.

export interface ResultRow {
  mode: 'sim';
  scenario: string;
  strategy: string;
  attackPps: number;
  validSuccess: number;
  setupP50Ms: number | null;
  setupP99Ms: number | null;
  validFalselyReset: number;
  priority0Shed: number;
  attackerSlots: number;
  partnerSuccess?: number;
}

/** The `mode: "sim"` lines of a JSON-lines text; other lines (and blank ones) are skipped. */
export function parseResults(text: string): ResultRow[] {
  const out: ResultRow[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      continue;
    }
    const r = v as ResultRow;
    if (r !== null && typeof r === 'object' && r.mode === 'sim' && typeof r.validSuccess === 'number')
      out.push(r);
  }
  return out;
}

const STYLE: Record<string, { color: string; dash: string; width: number }> = {
  priority: { color: '#1b7f5f', dash: '', width: 3 },
  none: { color: '#d95f02', dash: '', width: 2 },
  drop_entry: { color: '#7570b3', dash: '6 3', width: 2 },
  drop_packet: { color: '#e7298a', dash: '2 3', width: 2 },
  secure_tcp: { color: '#66a61e', dash: '8 3 2 3', width: 2 },
};
const FALLBACK = { color: '#555555', dash: '4 4', width: 2 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 0, 1k, 10k, 1.5M … */
export function rateLabel(pps: number): string {
  if (pps >= 1_000_000) return `${+(pps / 1_000_000).toFixed(1)}M`;
  if (pps >= 1_000) return `${+(pps / 1_000).toFixed(1)}k`;
  return String(pps);
}

function ordered<T>(values: Iterable<T>, order: readonly T[]): T[] {
  const set = [...new Set(values)];
  return set.sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib);
  });
}

const STRATEGY_ORDER = ['priority', 'none', 'drop_entry', 'drop_packet', 'secure_tcp'];

/** Valid success against attack rate for one scenario; rates are evenly spaced (they span decades). */
export function renderSvg(rows: readonly ResultRow[], scenario: string): string {
  const mine = rows.filter((r) => r.scenario === scenario);
  const rates = [...new Set(mine.map((r) => r.attackPps))].sort((a, b) => a - b);
  const strategies = ordered(
    mine.map((r) => r.strategy),
    STRATEGY_ORDER,
  );
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
  out.push(`<title>${esc(scenario)}: valid clients served vs attack rate, per strategy</title>`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${L + pw / 2}" y="22" text-anchor="middle" font-size="15">${esc(scenario)}: valid clients served vs attack rate</text>`,
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
  out.push(
    `<text x="${L + pw / 2}" y="${H - 10}" text-anchor="middle">attack rate (packets/s, simulated)</text>`,
  );
  out.push(
    `<text x="16" y="${T + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${T + ph / 2})">validSuccess</text>`,
  );
  strategies.forEach((s, k) => {
    const st = STYLE[s] ?? FALLBACK;
    const pts = rates
      .map((rate, i) => {
        const r = mine.find((m) => m.strategy === s && m.attackPps === rate);
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

const fmt = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(digits);

/** The markdown page: per scenario the figure, valid success by strategy × rate, and every metric. */
export function renderMarkdown(rows: readonly ResultRow[], figureDir: string): string {
  const scenarios = ordered(
    rows.map((r) => r.scenario),
    ['syn-flood', 'syn-ack-spoof', 'botnet-idle', 'mixed'],
  );
  const out: string[] = [];
  out.push('<!-- generated by `npm run eval -- report`: edit the simulator, not this file -->');
  out.push('');
  out.push('| metric | meaning |');
  out.push('| --- | --- |');
  out.push(
    '| validSuccess | fraction of valid connection attempts that completed their request within 7 s |',
  );
  out.push('| setupP50Ms, setupP99Ms | SYN to established for valid clients, SYN retransmissions included |');
  out.push(
    '| validFalselyReset | fraction of valid attempts whose connection the director reset on its real server |',
  );
  out.push('| priority0Shed | priority-0 (partner subnet) connections reset by the director; must be 0 |');
  out.push(
    '| attackerSlots | mean fraction of real-server capacity held by attackers while the attack ran |',
  );
  for (const s of scenarios) {
    const mine = rows.filter((r) => r.scenario === s);
    const rates = [...new Set(mine.map((r) => r.attackPps))].sort((a, b) => a - b);
    const strategies = ordered(
      mine.map((r) => r.strategy),
      STRATEGY_ORDER,
    );
    out.push('');
    out.push(`## ${s}`);
    out.push('');
    out.push(`![${s}: valid success vs attack rate](${figureDir}/sim-${s}.svg)`);
    out.push('');
    out.push(`| validSuccess | ${rates.map((r) => `${rateLabel(r)} pps`).join(' | ')} |`);
    out.push(`| --- | ${rates.map(() => '---:').join(' | ')} |`);
    for (const st of strategies) {
      const cells = rates.map((rate) =>
        fmt(mine.find((m) => m.strategy === st && m.attackPps === rate)?.validSuccess),
      );
      out.push(`| ${st} | ${cells.join(' | ')} |`);
    }
    out.push('');
    out.push(
      '| strategy | attack pps | validSuccess | setupP50Ms | setupP99Ms | validFalselyReset | priority0Shed | partnerSuccess | attackerSlots |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const st of strategies) {
      for (const rate of rates) {
        const r = mine.find((m) => m.strategy === st && m.attackPps === rate);
        if (r === undefined) continue;
        out.push(
          `| ${st} | ${rate} | ${fmt(r.validSuccess)} | ${fmt(r.setupP50Ms)} | ${fmt(r.setupP99Ms)} | ${fmt(r.validFalselyReset)} | ${r.priority0Shed} | ${fmt(r.partnerSuccess)} | ${fmt(r.attackerSlots)} |`,
        );
      }
    }
  }
  return `${out.join('\n')}\n`;
}
