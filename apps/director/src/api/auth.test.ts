import { describe, expect, it } from 'vitest';
import { bearerToken, tokenMatches } from './auth.ts';

describe('bearer tokens', () => {
  it('reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken('Basic YTpi')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
  });

  it('matches equal tokens only, whatever their lengths', () => {
    expect(tokenMatches('s3cret', 's3cret')).toBe(true);
    expect(tokenMatches('s3cret', 's3cre')).toBe(false);
    expect(tokenMatches('s3cret', 's3cretx')).toBe(false);
    expect(tokenMatches('s3cret', '')).toBe(false);
  });
});
