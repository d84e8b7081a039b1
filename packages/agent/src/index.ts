// @sluice/agent: the real-server load agent. It reports, HAProxy agent-check style, how many
// connections the real server itself holds on its service ports, which of those its server has
// sent nothing on for a while, and which its client is draining at under a floor rate, so the
// director can tell connections a server really serves from the ones only the director believes
// in, and a slow reader holding a worker from a client being served.
export { type AgentArgs, parseAgentArgs, USAGE } from './args.ts';
export { AgentError, AgentErrorCode, type AgentErrorCodeValue } from './errors.ts';
export { countHeld, HELD_STATES, readHeld } from './held.ts';
export {
  formatEvidence,
  formatQuiet,
  parseQuiet,
  parseSockets,
  QUIET_MAX,
  QUIET_MS,
  QUIET_MS_MAX,
  type QuietConnection,
  readQuiet,
  readSockets,
  runSs,
  type SocketEvidence,
  SS_MAX_BUFFER,
  SS_TIMEOUT_MS,
  type SsRunner,
  ssArgs,
} from './quiet.ts';
export { AgentServer, type AgentServerOptions, CACHE_MS, hostPort, SOCKET_TIMEOUT_MS } from './server.ts';
export {
  formatSlow,
  SLOW_BPS,
  SLOW_BPS_MAX,
  SLOW_GRACE_MS,
  SLOW_GRACE_MS_MAX,
  type SlowConnection,
  type SlowFloor,
  slowRate,
} from './slow.ts';
