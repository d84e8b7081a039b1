// What one health-checked target looks like, and the checks a spec must pass before it gets a
// timer. The interface is structurally the config's HealthCheckConfig (packages/config) with the
// address and port already resolved; it is declared here so this package depends on nothing.

import { isIP } from 'node:net';
import { HealthCheckError, HealthErrorCode } from './errors.ts';

/**
 * One keepalived TCP_CHECK or HTTP_GET. The keepalived names, for operators who know them:
 * `intervalSeconds` is `delay_loop`, `timeoutSeconds` is `connect_timeout` (here it bounds the
 * whole probe: connect and, for HTTP, the response), `fall` is `retry + 1`, `startDown` is the
 * virtual server's `alpha`. `rise` has no keepalived counterpart (keepalived brings a server up on
 * its first success, which is `rise: 1`).
 */
export interface HealthCheckSpec {
  type: 'tcp' | 'http';
  /**
   * underlay (default): a socket of this host connects to `address`. overlay: the checker's
   * `overlayProbe` does the TCP handshake through the overlay (the director's VXLAN path).
   */
  via?: 'underlay' | 'overlay';
  /** An IP literal (v4 or v6): a host name would put a DNS lookup inside the timeout. */
  address: string;
  port: number;
  /** HTTP only; defaults to '/'. */
  path?: string;
  /** HTTP only; absent means any 2xx, keepalived's default when no status_code is given. */
  expectStatus?: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Consecutive successes that bring a down target up. */
  rise: number;
  /** Consecutive failures that take an up target down. */
  fall: number;
  /**
   * keepalived `alpha`: start the target down, so it takes traffic only after `rise` successes.
   * The default (false) is keepalived's: a real server is in the pool from the start and leaves it
   * after `fall` failures, so a director restart does not empty every service for a check round.
   */
  startDown?: boolean;
}

export interface HealthTarget {
  key: string;
  spec: HealthCheckSpec;
}

/** setTimeout's ceiling: a longer delay fires after 1 ms instead (with a warning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A path node:http will send as is: no spaces or control characters (it throws on those). */
const PATH = /^\/[\x21-\x7e]*$/;

export function validateSpec(key: string, spec: HealthCheckSpec): void {
  const bad = (what: string) => new HealthCheckError(HealthErrorCode.invalidSpec, key, what);
  if (spec === null || typeof spec !== 'object') throw bad('spec must be an object');
  if (spec.type !== 'tcp' && spec.type !== 'http') {
    throw bad(`type must be 'tcp' or 'http' (got ${String(spec.type)})`);
  }
  if (spec.via !== undefined && spec.via !== 'underlay' && spec.via !== 'overlay') {
    throw bad(`via must be 'underlay' or 'overlay' (got ${String(spec.via)})`);
  }
  if (spec.via === 'overlay' && spec.type !== 'tcp') throw bad('an overlay check is a tcp check');
  if (typeof spec.address !== 'string' || isIP(spec.address) === 0) {
    throw bad(`address must be an IPv4 or IPv6 literal (got ${String(spec.address)})`);
  }
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw bad(`port must be an integer 1..65535 (got ${spec.port})`);
  }
  if (spec.path !== undefined && (typeof spec.path !== 'string' || !PATH.test(spec.path))) {
    throw bad(`path must start with '/' and hold no spaces or control characters (got ${spec.path})`);
  }
  if (
    spec.expectStatus !== undefined &&
    (!Number.isInteger(spec.expectStatus) || spec.expectStatus < 100 || spec.expectStatus > 599)
  ) {
    throw bad(`expectStatus must be an integer 100..599 (got ${spec.expectStatus})`);
  }
  for (const name of ['intervalSeconds', 'timeoutSeconds'] as const) {
    const v = spec[name];
    if (typeof v !== 'number' || !(v > 0) || v * 1000 > MAX_TIMER_MS) {
      throw bad(`${name} must be above 0 and at most ${Math.floor(MAX_TIMER_MS / 1000)} (got ${v})`);
    }
  }
  for (const name of ['rise', 'fall'] as const) {
    const v = spec[name];
    if (!Number.isInteger(v) || v < 1) throw bad(`${name} must be an integer >= 1 (got ${v})`);
  }
  if (spec.startDown !== undefined && typeof spec.startDown !== 'boolean') {
    throw bad('startDown must be a boolean');
  }
}

/**
 * Whether two specs probe the same way. `startDown` is left out on purpose: it only chooses the
 * state a new target starts in, so changing it on a running target must not restart its timer.
 */
export function sameProbe(a: HealthCheckSpec, b: HealthCheckSpec): boolean {
  return (
    a.type === b.type &&
    (a.via ?? 'underlay') === (b.via ?? 'underlay') &&
    a.address === b.address &&
    a.port === b.port &&
    (a.path ?? '/') === (b.path ?? '/') &&
    a.expectStatus === b.expectStatus &&
    a.intervalSeconds === b.intervalSeconds &&
    a.timeoutSeconds === b.timeoutSeconds &&
    a.rise === b.rise &&
    a.fall === b.fall
  );
}
