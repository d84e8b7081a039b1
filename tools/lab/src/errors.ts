// Typed errors of the lab, with stable codes so the e2e suite (and a human reading CI output)
// can tell "this machine cannot run the lab" from "the lab broke while being built".
//
// SLUICE_ERR_LAB_UNAVAILABLE: a prerequisite is missing (not root, no netns, no vxlan, no binary);
// the e2e suite fails with this message instead of skipping, so a lab-less CI run is visible.
// SLUICE_ERR_LAB_OPTIONS: the options cannot describe a lab (bad name, too many nodes, bad address).
// SLUICE_ERR_LAB_SUBNET_IN_USE: another lab (or the host) already routes the chosen underlay subnet.
// SLUICE_ERR_LAB_COMMAND: a command building or inspecting the lab failed; carries argv and stderr.
// SLUICE_ERR_LAB_HTTP: a real server's HTTP process did not come up (or is not running).

export class LabUnavailableError extends Error {
  readonly code = 'SLUICE_ERR_LAB_UNAVAILABLE';
  /** The one precise reason, e.g. `not root (uid 1000)` or `binary not found: ethtool`. */
  readonly reason: string;
  constructor(reason: string) {
    super(`network-namespace lab unavailable: ${reason}`);
    this.reason = reason;
  }
}

export class LabOptionsError extends Error {
  readonly code = 'SLUICE_ERR_LAB_OPTIONS';
}

export class LabSubnetInUseError extends Error {
  readonly code = 'SLUICE_ERR_LAB_SUBNET_IN_USE';
}

export class LabCommandError extends Error {
  readonly code = 'SLUICE_ERR_LAB_COMMAND';
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number, stderr: string) {
    super(`command failed (exit ${exitCode}): ${argv.join(' ')}${stderr ? `: ${stderr.trim()}` : ''}`);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export class LabHttpError extends Error {
  readonly code = 'SLUICE_ERR_LAB_HTTP';
}
