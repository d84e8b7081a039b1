// The ETag of the running live config, for `GET/PUT /v1/config` with If-Match: the version
// (which the director bumps per applied change) and a hash of the content, so a tag taken before
// a restart, or from another director at the same version number, does not match a different
// config.
import { createHash } from 'node:crypto';
import type { LiveConfig } from './schema.ts';

/** JSON with every object's keys sorted, so equal data gives equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A strong, quoted ETag: `"v7-3f2a9c1b0d4e"` (version, then 48 bits of SHA-256 of the content). */
export function configEtag(live: LiveConfig, version: number): string {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`version must be a non-negative integer (got ${version})`);
  }
  const hash = createHash('sha256').update(canonicalJson(live)).digest('hex').slice(0, 12);
  return `"v${version}-${hash}"`;
}
