import { describe, expect, it } from 'vitest';
import { type AgentArgs, parseAgentArgs } from './args.ts';
import { AgentError, AgentErrorCode } from './errors.ts';

/** The refusal's message; fails the test if the arguments are accepted. */
function refusal(argv: string[]): string {
  try {
    parseAgentArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe(AgentErrorCode.invalidArgument);
    return (err as AgentError).message;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

describe('parseAgentArgs', () => {
  it('takes a bare port as 0.0.0.0, and ports repeated, deduplicated and sorted', () => {
    expect(parseAgentArgs(['--listen', '5555', '--port', '443', '--port', '80', '--port', '443'])).toEqual({
      host: '0.0.0.0',
      port: 5555,
      ports: [80, 443],
      quietMs: 1000,
      slowBps: 2048,
      slowGraceMs: 2000,
    });
  });

  it('takes an IPv4 host, a bracketed IPv6 host, and port 0', () => {
    expect(parseAgentArgs(['--listen', '10.0.0.11:5555', '--port', '80'])).toEqual({
      host: '10.0.0.11',
      port: 5555,
      ports: [80],
      quietMs: 1000,
      slowBps: 2048,
      slowGraceMs: 2000,
    });
    expect(parseAgentArgs(['--listen=[::1]:0', '--port=80'])).toEqual({
      host: '::1',
      port: 0,
      ports: [80],
      quietMs: 1000,
      slowBps: 2048,
      slowGraceMs: 2000,
    });
  });

  it('takes --quiet-ms as whole milliseconds, 0 (no quiet report) up to the 32-bit lastsnd', () => {
    const quietMs = (v: string) =>
      (parseAgentArgs(['--listen', '5555', '--port', '80', '--quiet-ms', v]) as AgentArgs).quietMs;
    expect(quietMs('300')).toBe(300);
    expect(quietMs('0')).toBe(0);
    expect(quietMs('00250')).toBe(250);
    expect(quietMs('4294967295')).toBe(4294967295);
    expect(parseAgentArgs(['--listen', '5555', '--port', '80', '--quiet-ms=2000'])).toMatchObject({
      quietMs: 2000,
    });
  });

  it('takes --slow-bps (0: no slow report) and --slow-grace-ms as whole numbers up to 2^32-1', () => {
    const args = (...more: string[]) =>
      parseAgentArgs(['--listen', '5555', '--port', '80', ...more]) as AgentArgs;
    expect(args()).toMatchObject({ slowBps: 2048, slowGraceMs: 2000 });
    expect(args('--slow-bps', '0')).toMatchObject({ slowBps: 0, slowGraceMs: 2000 });
    expect(args('--slow-bps=8192', '--slow-grace-ms=0')).toMatchObject({ slowBps: 8192, slowGraceMs: 0 });
    expect(args('--slow-bps', '4294967295', '--slow-grace-ms', '4294967295')).toMatchObject({
      slowBps: 4294967295,
      slowGraceMs: 4294967295,
    });
    expect(args('--slow-grace-ms', '01000', '--quiet-ms', '0')).toMatchObject({
      quietMs: 0,
      slowGraceMs: 1000,
    });
  });

  it('answers help', () => {
    expect(parseAgentArgs(['--help'])).toBe('help');
    expect(parseAgentArgs(['-h', '--port', 'x'])).toBe('help');
  });

  it('names the argument it refuses', () => {
    expect(refusal(['--port', '80'])).toMatch(/^--listen: missing/);
    expect(refusal(['--listen', '5555'])).toMatch(/^--port: missing/);
    for (const p of ['abc', '0', '65536', '', '0x50', ' 80', '8e1', '-1']) {
      expect(refusal(['--listen', '5555', `--port=${p}`])).toMatch(/^--port: /);
    }
    for (const l of [
      'abc',
      '65536',
      '1.2.3:80',
      'localhost:80',
      '::1:80',
      '[10.0.0.1]:80',
      '[::1]',
      '10.0.0.1:',
    ]) {
      expect(refusal(['--listen', l, '--port', '80'])).toMatch(/^--listen: /);
    }
    expect(refusal(['--listen', '80', '--port', '80'])).toMatch(
      /^--port: 80 is the agent's own --listen port/,
    );
    expect(refusal(['--listen', '5555', '--port', '80', '--prot', '81'])).toContain('--prot');
    expect(refusal(['--listen', '5555', '--port', '80', 'extra'])).toContain('extra');
    expect(refusal(['--listen', '--port', '80'])).toContain('--listen');
    for (const q of ['abc', '-1', '1.5', '', ' 5', '0x10', '1e3', '4294967296', '99999999999', '1000ms']) {
      expect(refusal(['--listen', '5555', '--port', '80', `--quiet-ms=${q}`])).toMatch(/^--quiet-ms: /);
    }
    expect(refusal(['--listen', '5555', '--port', '80', '--quiet-ms'])).toContain('--quiet-ms');
    for (const flag of ['--slow-bps', '--slow-grace-ms']) {
      for (const v of ['abc', '-1', '1.5', '', ' 5', '0x10', '1e3', '4294967296', '99999999999', '2048B']) {
        expect(refusal(['--listen', '5555', '--port', '80', `${flag}=${v}`])).toMatch(
          new RegExp(`^${flag}: `),
        );
      }
      expect(refusal(['--listen', '5555', '--port', '80', flag])).toContain(flag);
    }
    expect(refusal(['--listen', '5555', '--port', '80', '--slow-bps=fast'])).toBe(
      '--slow-bps: "fast" is not a whole number of bytes/s in 0..4294967295',
    );
    expect(refusal(['--listen', '5555', '--port', '80', '--slow-grace-ms=-1'])).toBe(
      '--slow-grace-ms: "-1" is not a whole number of ms in 0..4294967295',
    );
  });
});
