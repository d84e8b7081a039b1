// The CLI's exit codes and its one error type. Scripts branch on the exit code; people read the
// message; tests and callers branch on `code` (SLUICE_ERR_CLI_*).
//
//   0  done
//   1  refused: the director, or the CLI on its behalf, refused the request or its input (a bad
//      value, a bad line in a restore file, no such service), or the director failed
//   2  usage: the command line itself is wrong (unknown command or option, missing argument)
//   3  unreachable: no director answered at the address used (or no address could be found)
//   4  conflict: the config changed under the command (412 on If-Match) or the change clashes
//      with what exists (409); nothing was changed, run it again on the current config
//   5  unauthorized: the change needs the API token and none was found, or it was refused
export const Exit = {
  ok: 0,
  refused: 1,
  usage: 2,
  unreachable: 3,
  conflict: 4,
  unauthorized: 5,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];

export const CliErrorCode = {
  usage: 'SLUICE_ERR_CLI_USAGE',
  input: 'SLUICE_ERR_CLI_INPUT',
  unreachable: 'SLUICE_ERR_CLI_UNREACHABLE',
  refused: 'SLUICE_ERR_CLI_REFUSED',
  conflict: 'SLUICE_ERR_CLI_CONFLICT',
  unauthorized: 'SLUICE_ERR_CLI_UNAUTHORIZED',
  token: 'SLUICE_ERR_CLI_TOKEN',
} as const;

export type CliErrorCodeName = (typeof CliErrorCode)[keyof typeof CliErrorCode];

const EXIT_OF: Record<CliErrorCodeName, ExitCode> = {
  SLUICE_ERR_CLI_USAGE: Exit.usage,
  SLUICE_ERR_CLI_INPUT: Exit.refused,
  SLUICE_ERR_CLI_UNREACHABLE: Exit.unreachable,
  SLUICE_ERR_CLI_REFUSED: Exit.refused,
  SLUICE_ERR_CLI_CONFLICT: Exit.conflict,
  SLUICE_ERR_CLI_UNAUTHORIZED: Exit.unauthorized,
  SLUICE_ERR_CLI_TOKEN: Exit.unauthorized,
};

export class CliError extends Error {
  readonly code: CliErrorCodeName;
  readonly exitCode: ExitCode;
  constructor(code: CliErrorCodeName, message: string) {
    super(message);
    this.code = code;
    this.exitCode = EXIT_OF[code];
  }
}

/** Whether `e` is the CLI's own error, by its code (SLUICE_ERR_CLI_*), not its prototype. */
export function isCliError(e: unknown): e is CliError {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && Object.hasOwn(EXIT_OF, code);
}

/** A bad line of an input file (ipvsadm rules, keepalived.conf): `line N: <text>: <why>`. */
export class InputLineError extends CliError {
  readonly line: number;
  constructor(line: number, text: string, why: string) {
    super(CliErrorCode.input, `line ${line}: ${text}: ${why}`);
    this.line = line;
  }
}
