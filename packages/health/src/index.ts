// @sluice/health: keepalived's real-server health checking (TCP_CHECK, HTTP_GET) for the director.
export {
  type HealthChange,
  HealthChecker,
  type HealthCheckerEvents,
  type HealthCheckerOptions,
  type HealthCheckResult,
  type HealthState,
  type HealthStatus,
  type OverlayProbe,
} from './checker.ts';
export { HealthCheckError, HealthErrorCode, type HealthErrorCodeValue } from './errors.ts';
export { HTTP_BODY_CAP, hostHeader, type ProbeResult, probeHttp, probeTcp } from './probe.ts';
export { type HealthCheckSpec, type HealthTarget, sameProbe, validateSpec } from './spec.ts';
