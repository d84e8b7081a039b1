// Just enough of the Prometheus text exposition format to read the director's /metrics: the demo
// shows the counters the operator's Prometheus would see, from the same endpoint, instead of
// reaching into the daemon. Comments (# HELP, # TYPE) are skipped; label values are unescaped
// (\\, \", \n) because real ids of IPv6 reals (`[fd3a::11]:80`) travel in them.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ',' || text[i] === ' ') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`bad labels in metrics line: ${line}`);
    const key = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        value += text[j] === 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.length) throw new Error(`unterminated label value in metrics line: ${line}`);
    labels[key] = value;
    i = j + 1;
  }
  return labels;
}

/** Every sample of an exposition text; throws on a line it cannot read. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (name === undefined) throw new Error(`bad metrics line: ${line}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      // The closing brace is the last one: label values may hold braces, sample values never do.
      const close = rest.lastIndexOf('}');
      if (close < 0) throw new Error(`bad metrics line: ${line}`);
      labels = parseLabels(rest.slice(1, close), line);
      rest = rest.slice(close + 1);
    }
    // `value [timestamp]`; +Inf, -Inf and NaN are spelt as Number() reads them, bar the case.
    const valueText = rest.trim().split(/\s+/)[0];
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    if (valueText === undefined || (Number.isNaN(value) && valueText !== 'NaN')) {
      throw new Error(`bad sample value in metrics line: ${line}`);
    }
    out.push({ name, labels, value });
  }
  return out;
}

/** Lookups over one scrape. */
export class Scrape {
  readonly samples: readonly Sample[];

  constructor(text: string) {
    this.samples = parseMetrics(text);
  }

  /** The samples of `name` whose labels include every one of `labels`. */
  select(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  }

  /** The sum of the selected samples; 0 when there are none (a series not yet reported). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.select(name, labels).reduce((acc, s) => acc + s.value, 0);
  }
}
