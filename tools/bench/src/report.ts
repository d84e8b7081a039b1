// One JSON object per line on stdout: the benchmark's only output format.
export function emit(figure: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(figure)}\n`);
}

export function note(text: string): void {
  process.stderr.write(`# ${text}\n`);
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The q-quantile of xs (nearest rank, lower): what p50 and p99 mean in every figure here. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
