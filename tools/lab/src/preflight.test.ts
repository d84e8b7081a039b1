// The preflight's building blocks; the full check runs (as root) in lab.test.ts's beforeAll.
import { describe, expect, it } from 'vitest';
import { LabUnavailableError } from './errors.ts';
import { labNodeBinary, which } from './preflight.ts';

describe('preflight', () => {
  it('LabUnavailableError carries the stable code and the precise reason', () => {
    const e = new LabUnavailableError('binary not found on PATH: ethtool');
    expect(e.code).toBe('SLUICE_ERR_LAB_UNAVAILABLE');
    expect(e.reason).toBe('binary not found on PATH: ethtool');
    expect(e.message).toContain('binary not found on PATH: ethtool');
  });

  it('which finds binaries on PATH and not missing ones', () => {
    expect(which('sh')).toMatch(/\/sh$/);
    expect(which('sluice-no-such-binary')).toBeNull();
  });

  it('finds a node that strips types for processes in namespaces', () => {
    expect(labNodeBinary()).toMatch(/node$/);
  });
});
