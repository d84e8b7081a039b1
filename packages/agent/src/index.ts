// @sluice/agent: the real-server load agent. It reports, HAProxy agent-check style, how many
// connections the real server itself holds on its service ports, and which of those its server
// has sent nothing on for a while, so the director can tell connections a server really serves
// from the ones only the director believes in.
export { type AgentArgs, parseAgentArgs, USAGE } from './args.ts';
export { AgentError, AgentErrorCode, type AgentErrorCodeValue } from './errors.ts';
export { countHeld, HELD_STATES, readHeld } from './held.ts';
export {
  formatQuiet,
  parseQuiet,
  QUIET_MAX,
  QUIET_MS,
  QUIET_MS_MAX,
  type QuietConnection,
  readQuiet,
  runSs,
  SS_MAX_BUFFER,
  SS_TIMEOUT_MS,
  type SsRunner,
  ssArgs,
} from './quiet.ts';
export { AgentServer, type AgentServerOptions, CACHE_MS, hostPort, SOCKET_TIMEOUT_MS } from './server.ts';
