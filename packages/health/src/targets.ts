// What the health checker and the agent poller share: a keyed set of timer-driven targets replaced
// as a whole (validated first, so a bad set changes nothing), and listener calls that must not
// break the timer loop that makes them.

import { HealthCheckError, HealthErrorCode } from './errors.ts';

/**
 * The specs of `targets` by key, each validated and copied (the caller may mutate its objects
 * later, and a comparison with the running spec must see a snapshot). Throws before returning
 * anything on an empty or duplicate key, or a spec `validate` refuses.
 */
export function collectSpecs<S extends object>(
  targets: readonly { key: string; spec: S }[],
  validate: (key: string, spec: S) => void,
): Map<string, S> {
  const next = new Map<string, S>();
  for (const { key, spec } of targets) {
    if (typeof key !== 'string' || key === '') {
      throw new HealthCheckError(
        HealthErrorCode.invalidSpec,
        null,
        'a target key must be a non-empty string',
      );
    }
    if (next.has(key)) throw new HealthCheckError(HealthErrorCode.duplicateKey, key, 'key given twice');
    validate(key, spec);
    next.set(key, { ...spec });
  }
  return next;
}

/** How a set of running targets follows a new set of specs (reconcile). */
export interface TargetOps<S, T> {
  /** A key that left: stop its timer and probe. */
  remove(target: T): void;
  /** A new key: make and start a target. */
  add(key: string, spec: S): T;
  /** The running spec of a target. */
  specOf(target: T): S;
  same(a: S, b: S): boolean;
  /** A key whose spec changed: start it over on the new spec. */
  respec(target: T, spec: S): void;
  /** A key whose spec is the same as far as `same` says (fields it ignores may differ). */
  keep?(target: T, spec: S): void;
}

/** Brings `running` in line with `next` (from collectSpecs), keeping the targets whose spec is the same. */
export function reconcile<S, T>(running: Map<string, T>, next: Map<string, S>, ops: TargetOps<S, T>): void {
  for (const [key, t] of running) {
    if (!next.has(key)) {
      ops.remove(t);
      running.delete(key);
    }
  }
  for (const [key, spec] of next) {
    const t = running.get(key);
    if (t === undefined) running.set(key, ops.add(key, spec));
    else if (!ops.same(ops.specOf(t), spec)) ops.respec(t, spec);
    else ops.keep?.(t, spec);
  }
}

/** Runs an emit; a listener's throw is rethrown on its own tick, out of the timer or promise chain. */
export function emitGuarded(emit: () => void): void {
  try {
    emit();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}
