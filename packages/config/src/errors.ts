// Typed errors of the configuration layer, with stable codes the REST layer maps to statuses:
// SLUICE_ERR_CONFIG_INVALID → 400, SLUICE_ERR_CONFIG_PRECONDITION → 412,
// SLUICE_ERR_CONFIG_NOT_FOUND → 404, SLUICE_ERR_CONFIG_CONFLICT → 409, SLUICE_ERR_CONFIG_FILE → (startup stops),
// SLUICE_ERR_CONFIG_FILE_MISSING → (the daemon may seed a default). The one table of every code is
// apps/director/src/api/error-codes.ts.

export class ConfigValidationError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_INVALID';
  /** JSON pointer of the offending field, e.g. `/services/0/reals/1/vtep`; '' for the whole document. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(field === '' ? message : `${field}: ${message}`);
    this.field = field;
  }
}

/** If-Match named a version other than the running one. */
export class PreconditionFailedError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_PRECONDITION';
}

export class NotFoundError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_NOT_FOUND';
}

/** The change collides with what exists (a service name or VIP:port taken, a real server twice). */
export class ConflictError extends Error {
  readonly code = 'SLUICE_ERR_CONFIG_CONFLICT';
}

/** A config or token file that cannot be read, parsed or validated: names the file and the line. */
export class ConfigFileError extends Error {
  readonly code: 'SLUICE_ERR_CONFIG_FILE' | 'SLUICE_ERR_CONFIG_FILE_MISSING';
  readonly file: string;
  readonly line: number | null;
  constructor(
    file: string,
    line: number | null,
    message: string,
    code: ConfigFileError['code'] = 'SLUICE_ERR_CONFIG_FILE',
  ) {
    super(`${file}${line === null ? '' : `:${line}`}: ${message}`);
    this.code = code;
    this.file = file;
    this.line = line;
  }
}

/** The config file is not there at all: the daemon may choose to start from a default instead. */
export class ConfigFileMissingError extends ConfigFileError {
  constructor(file: string) {
    super(file, null, 'does not exist', 'SLUICE_ERR_CONFIG_FILE_MISSING');
  }
}
