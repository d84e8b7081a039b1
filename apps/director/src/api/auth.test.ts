import { describe, expect, it } from 'vitest';
import { bearerToken } from './auth.ts';

describe('bearer tokens', () => {
  it('reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken('Basic YTpi')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
  });
});
