// The health checker: keepalived's real-server checking loop for a set of keyed targets. Each
// target probes on its own timer and walks keepalived's state machine; a change of state is an
// event the director turns into "real server available / unavailable" for the schedulers.
//
// Semantics, and where they follow keepalived (check_tcp.c, check_http.c, check_api.c):
// - A target starts UP (keepalived adds real servers to IPVS at start), or DOWN with
//   `startDown` (keepalived's `alpha`). No event is emitted for the initial state; read status().
// - UP: `fall` consecutive failures take it DOWN (keepalived: the failure plus `retry` retries).
// - DOWN: `rise` consecutive successes bring it UP (keepalived: the first success, i.e. rise 1).
// - Probes of one target never overlap: the next starts `intervalSeconds` (delay_loop) after the
//   previous one finished. keepalived spaces its retries by `delay_before_retry` instead; the
//   config has no such field, so retries use the interval too.
// - The first check of a new target waits a random delay below one interval (keepalived's
//   `warmup`, which defaults to delay_loop), so many targets do not probe all at once; the
//   `jitter: false` option makes it immediate, for tests and for callers that want a verdict now.
// - set() of a running key with the same probe spec keeps its state, counters and timer; with a
//   different spec it keeps its up/down state and totals, drops its streaks (they counted another
//   probe) and any probe in flight, and starts over on the new timer.
// - Listener errors are not swallowed: they are rethrown on a fresh tick (an uncaught exception,
//   as a throwing listener of any timer-driven emitter) after the checker has already scheduled
//   the target's next check, so a buggy listener cannot stall checking or cause a rejection.

import { EventEmitter } from 'node:events';
import { HealthCheckError, HealthErrorCode } from './errors.ts';
import { type ProbeResult, probeHttp, probeTcp } from './probe.ts';
import { type HealthCheckSpec, type HealthTarget, sameProbe, validateSpec } from './spec.ts';
import { collectSpecs, emitGuarded, reconcile } from './targets.ts';

export type HealthState = 'up' | 'down';

/** Emitted as `change` when a target goes up or down. */
export interface HealthChange {
  key: string;
  state: HealthState;
  /** The detail of the check that decided it, e.g. 'ECONNREFUSED' or 'status 200'. */
  detail: string;
  /** Date.now() when it was decided. */
  at: number;
}

/** Emitted as `check` after every completed probe (aborted probes are not reported). */
export interface HealthCheckResult {
  key: string;
  ok: boolean;
  detail: string;
  ms: number;
  at: number;
  /** The target's state after this check was counted. */
  state: HealthState;
}

export interface HealthStatus {
  state: HealthState;
  /** The detail of the last completed check; '' before the first. */
  lastDetail: string;
  /** Date.now() of the last completed check; null before the first. */
  lastCheckAt: number | null;
  consecutiveOk: number;
  consecutiveFail: number;
  /** Completed checks and failed ones among them, since the target was added. */
  checks: number;
  failures: number;
  /** Date.now() when the next probe is due; null while a probe is in flight. */
  nextCheckAt: number | null;
}

/** A TCP check through the overlay (spec.via 'overlay'); resolves, never rejects, like probeTcp. */
export type OverlayProbe = (
  key: string,
  address: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
) => Promise<ProbeResult>;

export interface HealthCheckerOptions {
  /** Spread each new target's first check over one interval (keepalived warmup). Default true. */
  jitter?: boolean;
  /** Runs the checks whose spec says `via: 'overlay'`; without it they fail, saying so. */
  overlayProbe?: OverlayProbe;
}

export type HealthCheckerEvents = {
  change: [HealthChange];
  check: [HealthCheckResult];
};

interface Flight {
  readonly controller: AbortController;
}

interface Target {
  readonly key: string;
  spec: HealthCheckSpec;
  /** What status() reports, kept as it is reported. */
  readonly status: HealthStatus;
  timer: NodeJS.Timeout | null;
  flight: Flight | null;
}

export class HealthChecker extends EventEmitter<HealthCheckerEvents> {
  readonly #jitter: boolean;
  readonly #overlayProbe: OverlayProbe | null;
  readonly #targets = new Map<string, Target>();
  /** Probes still running (aborted ones included), so stop() can wait for their sockets. */
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: HealthCheckerOptions = {}) {
    super();
    this.#jitter = options.jitter ?? true;
    this.#overlayProbe = options.overlayProbe ?? null;
  }

  /**
   * Replace the set of checked targets. Every spec is validated before anything changes, so a
   * bad set leaves the running one untouched.
   */
  set(targets: readonly HealthTarget[]): void {
    if (this.#stopped) throw new HealthCheckError(HealthErrorCode.stopped, null, 'set() after stop()');
    reconcile(this.#targets, collectSpecs(targets, validateSpec), {
      remove: (t) => this.#halt(t),
      add: (key, spec) => {
        const fresh = this.#create(key, spec);
        this.#schedule(fresh, this.#firstDelay(spec));
        return fresh;
      },
      specOf: (t) => t.spec,
      same: sameProbe,
      respec: (t, spec) => {
        this.#halt(t);
        t.spec = spec;
        t.status.consecutiveOk = 0;
        t.status.consecutiveFail = 0;
        this.#schedule(t, this.#firstDelay(spec));
      },
      keep: (t, spec) => {
        t.spec = spec; // only startDown can differ, and it no longer matters
      },
    });
  }

  /** The state of one target, or undefined if it is not (or no longer) checked. */
  status(key: string): HealthStatus | undefined {
    const t = this.#targets.get(key);
    if (t === undefined) return undefined;
    return { ...t.status };
  }

  /** The keys being checked, in the order they were added. */
  keys(): string[] {
    return [...this.#targets.keys()];
  }

  /**
   * Stop every timer and abort every probe in flight; resolves once their sockets are closed, so
   * nothing of the checker keeps the process alive. No event is emitted after this is called.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#targets.values()) this.#halt(t);
    this.#targets.clear();
    await Promise.all([...this.#running]);
  }

  #create(key: string, spec: HealthCheckSpec): Target {
    return {
      key,
      spec,
      status: {
        state: spec.startDown === true ? 'down' : 'up',
        lastDetail: '',
        lastCheckAt: null,
        consecutiveOk: 0,
        consecutiveFail: 0,
        checks: 0,
        failures: 0,
        nextCheckAt: null,
      },
      timer: null,
      flight: null,
    };
  }

  #firstDelay(spec: HealthCheckSpec): number {
    return this.#jitter ? Math.floor(Math.random() * spec.intervalSeconds * 1000) : 0;
  }

  /** Cancel the target's timer and probe; a result of that probe will find itself orphaned. */
  #halt(t: Target): void {
    if (t.timer !== null) clearTimeout(t.timer);
    t.timer = null;
    t.status.nextCheckAt = null;
    t.flight?.controller.abort();
    t.flight = null;
  }

  #schedule(t: Target, delayMs: number): void {
    t.status.nextCheckAt = Date.now() + delayMs;
    t.timer = setTimeout(() => this.#probe(t), delayMs);
  }

  #probe(t: Target): void {
    t.timer = null;
    t.status.nextCheckAt = null;
    const flight: Flight = { controller: new AbortController() };
    t.flight = flight;
    const { spec } = t;
    const timeoutMs = spec.timeoutSeconds * 1000;
    const signal = flight.controller.signal;
    let probe: Promise<ProbeResult>;
    try {
      if (spec.via === 'overlay') {
        const overlay = this.#overlayProbe;
        probe =
          overlay === null
            ? Promise.resolve({ ok: false, detail: 'no overlay prober', ms: 0 })
            : overlay(t.key, spec.address, spec.port, timeoutMs, signal);
      } else {
        probe =
          spec.type === 'tcp'
            ? probeTcp(spec.address, spec.port, timeoutMs, signal)
            : probeHttp(spec.address, spec.port, spec.path ?? '/', spec.expectStatus, timeoutMs, signal);
      }
    } catch (err) {
      probe = Promise.reject(err);
    }
    // The probes never reject; this catch is the guarantee that a bug in one still counts as a
    // failed check rather than an unhandled rejection.
    const done = probe
      .catch((err: unknown): ProbeResult => ({ ok: false, detail: `probe error: ${String(err)}`, ms: 0 }))
      .then((result) => {
        // Orphaned: the target was removed, respecified or stopped while this probe ran.
        if (t.flight !== flight || this.#targets.get(t.key) !== t) return;
        t.flight = null;
        this.#count(t, result);
      });
    this.#running.add(done);
    void done.finally(() => this.#running.delete(done));
  }

  #count(t: Target, result: ProbeResult): void {
    const at = Date.now();
    const s = t.status;
    s.checks++;
    s.lastCheckAt = at;
    s.lastDetail = result.detail;
    let changed = false;
    if (result.ok) {
      s.consecutiveOk++;
      s.consecutiveFail = 0;
      if (s.state === 'down' && s.consecutiveOk >= t.spec.rise) {
        s.state = 'up';
        changed = true;
      }
    } else {
      s.failures++;
      s.consecutiveFail++;
      s.consecutiveOk = 0;
      if (s.state === 'up' && s.consecutiveFail >= t.spec.fall) {
        s.state = 'down';
        changed = true;
      }
    }
    // Next check first, so a throwing listener cannot stop this target's loop.
    this.#schedule(t, t.spec.intervalSeconds * 1000);
    const check: HealthCheckResult = {
      key: t.key,
      ok: result.ok,
      detail: result.detail,
      ms: result.ms,
      at,
      state: s.state,
    };
    emitGuarded(() => this.emit('check', check));
    // A 'check' listener may have stopped the checker or removed this target: then stay silent.
    if (changed && this.#targets.get(t.key) === t) {
      const change: HealthChange = { key: t.key, state: s.state, detail: result.detail, at };
      emitGuarded(() => this.emit('change', change));
    }
  }
}
