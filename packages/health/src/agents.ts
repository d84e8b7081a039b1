// The load-agent poller: asks each real server's agent (@sluice/agent) what the server holds, and
// which connections it has sent no data on for a while, on a timer per target, as HAProxy polls
// its `agent-check`. It keeps no up/down state: an agent that cannot be reached takes no server
// out of service (the health check decides that, as in HAProxy, where a failed agent connection
// is not a failed check); it only means no report is in force.
//
// Each probe is announced (`probe`, before its connection opens) and answered (`report`), so the
// caller can compare the server's count with its own at both ends of the exchange. Probes of one
// target never overlap; the next starts `intervalSeconds` after the previous one finished.

import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { HealthCheckError, HealthErrorCode } from './errors.ts';
import { type AgentQuiet, type AgentSlow, type ProbeResult, probeAgent } from './probe.ts';
import { collectSpecs, emitGuarded, reconcile } from './targets.ts';

export interface AgentSpec {
  /** An IP literal: the agent's address (the director's config defaults it to the VTEP). */
  address: string;
  port: number;
  intervalSeconds: number;
  timeoutSeconds: number;
}

export interface AgentTarget {
  key: string;
  spec: AgentSpec;
}

/** Emitted as `report` after every completed probe (aborted ones are not reported). */
export interface AgentReport {
  key: string;
  /** The connections the server says it holds; null when the probe failed. */
  held: number | null;
  /**
   * The connections whose server says it has sent them no data for at least the agent's floor,
   * the quietest first; null when there is no such evidence (the probe failed, the agent sent no
   * quiet block, or a malformed one), which is not the same as an empty list.
   */
  quiet: AgentQuiet[] | null;
  /**
   * The connections its server is answering slower than the agent's floor, the slowest first;
   * null when there is no such evidence (as for `quiet`).
   */
  slow: AgentSlow[] | null;
  /**
   * 'held 12, quiet 3', 'held 12, no quiet report', 'held 12, bad quiet block: quiet:3 but 2
   * lines', 'ECONNREFUSED', 'timeout after 500 ms', 'no held:N in "up"'.
   */
  detail: string;
  at: number;
}

export type AgentPollerEvents = {
  probe: [string];
  report: [AgentReport];
};

interface Poll {
  readonly key: string;
  spec: AgentSpec;
  timer: NodeJS.Timeout | null;
  controller: AbortController | null;
  last: AgentReport | null;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export function validateAgentSpec(key: string, spec: AgentSpec): void {
  const bad = (what: string) => new HealthCheckError(HealthErrorCode.invalidSpec, key, `agent: ${what}`);
  if (typeof spec.address !== 'string' || isIP(spec.address) === 0) {
    throw bad(`address must be an IPv4 or IPv6 literal (got ${String(spec.address)})`);
  }
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw bad(`port must be an integer 1..65535 (got ${spec.port})`);
  }
  for (const name of ['intervalSeconds', 'timeoutSeconds'] as const) {
    const v = spec[name];
    if (typeof v !== 'number' || !(v > 0) || v * 1000 > MAX_TIMER_MS) {
      throw bad(`${name} must be above 0 and at most ${Math.floor(MAX_TIMER_MS / 1000)} (got ${v})`);
    }
  }
}

function sameAgent(a: AgentSpec, b: AgentSpec): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.intervalSeconds === b.intervalSeconds &&
    a.timeoutSeconds === b.timeoutSeconds
  );
}

export class AgentPoller extends EventEmitter<AgentPollerEvents> {
  readonly #polls = new Map<string, Poll>();
  readonly #running = new Set<Promise<void>>();
  #stopped = false;

  /** Replace the set of polled agents; every spec is validated before anything changes. */
  set(targets: readonly AgentTarget[]): void {
    if (this.#stopped) throw new HealthCheckError(HealthErrorCode.stopped, null, 'set() after stop()');
    reconcile(this.#polls, collectSpecs(targets, validateAgentSpec), {
      remove: (p) => this.#halt(p),
      add: (key, spec) => {
        const fresh: Poll = { key, spec, timer: null, controller: null, last: null };
        this.#schedule(fresh, 0);
        return fresh;
      },
      specOf: (p) => p.spec,
      same: sameAgent,
      respec: (p, spec) => {
        this.#halt(p);
        p.spec = spec;
        p.last = null;
        this.#schedule(p, 0);
      },
    });
  }

  /** The keys polled, in the order they were added. */
  keys(): string[] {
    return [...this.#polls.keys()];
  }

  /** The last completed report of `key`, or null (none yet, or not polled). */
  last(key: string): AgentReport | null {
    return this.#polls.get(key)?.last ?? null;
  }

  /** Stops every timer and probe; resolves once their sockets are closed. No event after this. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const p of this.#polls.values()) this.#halt(p);
    this.#polls.clear();
    await Promise.all([...this.#running]);
  }

  #halt(p: Poll): void {
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    p.controller?.abort();
    p.controller = null;
  }

  #schedule(p: Poll, delayMs: number): void {
    p.timer = setTimeout(() => this.#probe(p), delayMs);
  }

  #probe(p: Poll): void {
    p.timer = null;
    const controller = new AbortController();
    p.controller = controller;
    emitGuarded(() => this.emit('probe', p.key));
    if (this.#polls.get(p.key) !== p || p.controller !== controller) return;
    const { spec } = p;
    const done = probeAgent(spec.address, spec.port, spec.timeoutSeconds * 1000, controller.signal)
      .catch((err: unknown): ProbeResult => ({ ok: false, detail: `probe error: ${String(err)}`, ms: 0 }))
      .then((result) => {
        if (p.controller !== controller || this.#polls.get(p.key) !== p) return;
        p.controller = null;
        const report: AgentReport = {
          key: p.key,
          held: result.ok && result.held !== undefined ? result.held : null,
          quiet: result.ok && result.quiet !== undefined ? result.quiet : null,
          slow: result.ok && result.slow !== undefined ? result.slow : null,
          detail: result.detail,
          at: Date.now(),
        };
        p.last = report;
        this.#schedule(p, spec.intervalSeconds * 1000);
        emitGuarded(() => this.emit('report', report));
      });
    this.#running.add(done);
    void done.finally(() => this.#running.delete(done));
  }
}
