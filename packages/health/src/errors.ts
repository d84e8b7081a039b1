// Typed errors of the health checker, with stable codes. Only set() and the constructor throw:
// a probe never throws or rejects, because a real server that misbehaves is a failed check, not
// an error of the director.

export const HealthErrorCode = {
  /** A target's spec is out of range (interval, timeout, rise, fall, port, address, path). */
  invalidSpec: 'SLUICE_ERR_HEALTH_INVALID_SPEC',
  /** Two targets in one set() share a key: which one's state to keep would be ambiguous. */
  duplicateKey: 'SLUICE_ERR_HEALTH_DUPLICATE_KEY',
  /** set() after stop(): a stopped checker would otherwise restart timers nobody will stop. */
  stopped: 'SLUICE_ERR_HEALTH_STOPPED',
} as const;

export type HealthErrorCodeValue = (typeof HealthErrorCode)[keyof typeof HealthErrorCode];

export class HealthCheckError extends Error {
  readonly code: HealthErrorCodeValue;
  /** The target the error is about, or null when it concerns the checker itself. */
  readonly key: string | null;
  constructor(code: HealthErrorCodeValue, key: string | null, message: string) {
    super(key === null ? message : `${key}: ${message}`);
    this.code = code;
    this.key = key;
  }
}
