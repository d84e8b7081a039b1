// @sluice/health: keepalived's real-server health checking (TCP_CHECK, HTTP_GET) for the director,
// and the poller of the real servers' load agents (what each says it holds, as HAProxy's agent-check,
// and which connections it has sent nothing on for a while).
export {
  AgentPoller,
  type AgentPollerEvents,
  type AgentReport,
  type AgentSpec,
  type AgentTarget,
  validateAgentSpec,
} from './agents.ts';
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
export {
  AGENT_REPLY_CAP,
  type AgentQuiet,
  type AgentSlow,
  HTTP_BODY_CAP,
  hostHeader,
  type ProbeResult,
  parseAgentReply,
  parseQuietBlock,
  parseSlowBlock,
  probeAgent,
  probeHttp,
  probeTcp,
} from './probe.ts';
export { type HealthCheckSpec, type HealthTarget, sameProbe, validateSpec } from './spec.ts';
