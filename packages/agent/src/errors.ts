// Typed errors of the load agent, with stable codes. A query never throws at its client: a count
// that cannot be read is answered `unknown`, and quiet and slow connections that cannot be listed
// leave their blocks out, so these reach only whoever starts the agent (bad arguments, a port that
// cannot be bound), its onError (ss failing), or calls readHeld(), readQuiet() or readSockets()
// directly.

export const AgentErrorCode = {
  /** A command-line argument or a listen() option is missing or out of range. */
  invalidArgument: 'SLUICE_ERR_AGENT_INVALID_ARGUMENT',
  /** /proc/net/tcp is missing or unreadable: no /proc mounted, or not Linux. */
  procUnreadable: 'SLUICE_ERR_AGENT_PROC_UNREADABLE',
  /** The agent's own port could not be bound (in use, or an address this host does not have). */
  listenFailed: 'SLUICE_ERR_AGENT_LISTEN_FAILED',
  /** `ss` (iproute2) is missing, failed, timed out or printed too much: no quiet or slow connections known. */
  ssFailed: 'SLUICE_ERR_AGENT_SS_FAILED',
} as const;

export type AgentErrorCodeValue = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

export class AgentError extends Error {
  readonly code: AgentErrorCodeValue;
  constructor(code: AgentErrorCodeValue, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
