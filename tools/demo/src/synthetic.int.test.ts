// `npm run synthetic`: the embedded demo config through real serving worker threads fed from
// in-memory rings, for a second; it prints a listing, stops cleanly, and refuses bad arguments.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { syntheticMain } from './synthetic.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('npm run synthetic', () => {
  it('runs the demo config for a second through a serving worker and stops cleanly', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    expect(await syntheticMain(['--workers', '1', '--seconds', '1'])).toBe(0);
    const text = out.join('');
    expect(text).toContain('synthetic clients through 1 serving worker');
    expect(text).toContain('Sluice demo stopped.');
  });

  it('refuses a worker count that is not a positive integer, a negative duration and a mistyped flag', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await syntheticMain(['--workers', '0'])).toBe(2);
    expect(await syntheticMain(['--seconds=-1'])).toBe(2);
    expect(await syntheticMain(['--worker', '2'])).toBe(2);
    expect(String(err.mock.calls[0][0])).toContain('--workers must be a positive integer');
    expect(String(err.mock.calls[2][0])).toContain("Unknown option '--worker'");
  });
});
