// The preflight's building blocks; the full check runs (as root) in namespaces.lab.test.ts's beforeAll.
import { describe, expect, it } from 'vitest';
import { LabUnavailableError } from './errors.ts';
import { LAB_TOOLS, labNodeBinary } from './preflight.ts';

describe('preflight', () => {
  it('LabUnavailableError carries the stable code and the precise reason', () => {
    const e = new LabUnavailableError('binary not found on PATH: ethtool');
    expect(e.code).toBe('SLUICE_ERR_LAB_UNAVAILABLE');
    expect(e.reason).toBe('binary not found on PATH: ethtool');
    expect(e.message).toContain('binary not found on PATH: ethtool');
  });

  it("takes the lab's tools from the one list, each with its Debian package", () => {
    const binaries = LAB_TOOLS.map((t) => t.binary);
    for (const b of ['ip', 'bridge', 'ethtool', 'curl', 'hping3', 'wrk', 'promtool'])
      expect(binaries).toContain(b);
    for (const t of LAB_TOOLS) expect(t.debianPackage).toMatch(/^[a-z0-9.+-]+$/);
  });

  it('finds a node that strips types for processes in namespaces', () => {
    expect(labNodeBinary()).toMatch(/node$/);
  });
});
