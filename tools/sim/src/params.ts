// The command lines' `--param name=value` (a SimParams field over the defaults) and `--weight
// name=value` (a priority weight over the defaults) pairs, shared by one run (main.ts) and the grid
// (eval.ts). A bad pair calls the caller's usage(), which exits.
import { DEFAULT_PARAMS, type SimParams } from './sim.ts';

/** `--param name=value` pairs: numeric SimParams fields over the defaults. */
export function parseParamOverrides(args: readonly string[], usage: () => never): Partial<SimParams> {
  const out: Record<string, number> = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--param') continue;
    const [k, v] = (args[i + 1] ?? '').split('=');
    if (!(k in DEFAULT_PARAMS) || !Number.isFinite(Number(v))) usage();
    out[k] = Number(v);
  }
  return out as Partial<SimParams>;
}

/** `--weight name=value` pairs: priority weights over the defaults (resolveWeights validates them). */
export function parseWeightOverrides(args: readonly string[], usage: () => never): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--weight') continue;
    const [k, v] = (args[i + 1] ?? '').split('=');
    if (!k || !Number.isFinite(Number(v))) usage();
    out[k] = Number(v);
  }
  return out;
}
