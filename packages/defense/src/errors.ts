// Typed errors of the defense package. Everything that throws here does so while compiling
// configuration (rules, source checks, weights, index layout), never on the packet path, and
// every error carries a stable `code` so the control plane can map it to a 400 with a pointer.

export const DefenseErrorCode = {
  /** a CIDR string that does not parse, or has host bits set */
  cidr: 'SLUICE_ERR_DEFENSE_CIDR',
  /** a priority rule with a bad priority or pool, or two rules for the same prefix */
  rule: 'SLUICE_ERR_DEFENSE_RULE',
  /** a bad source-check configuration */
  checks: 'SLUICE_ERR_DEFENSE_CHECKS',
  /** a weight that is missing its meaning: negative, not finite, or not an integer where one is needed */
  weights: 'SLUICE_ERR_DEFENSE_WEIGHTS',
  /** a victim index or re-scorer buffer that does not have the expected layout */
  layout: 'SLUICE_ERR_DEFENSE_LAYOUT',
} as const;
export type DefenseErrorCode = (typeof DefenseErrorCode)[keyof typeof DefenseErrorCode];

export class DefenseError extends Error {
  readonly code: DefenseErrorCode;
  /** Index of the offending entry in the list the caller passed (rule, prefix), or -1. */
  readonly index: number;
  /** Name of the offending field, or ''. */
  readonly field: string;

  constructor(code: DefenseErrorCode, message: string, index = -1, field = '') {
    super(message);
    this.name = 'DefenseError';
    this.code = code;
    this.index = index;
    this.field = field;
  }
}
