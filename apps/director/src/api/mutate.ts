// Read-modify-write of the live config for the resource routes (services, reals), so a change
// made by someone else between our read and our write is never lost silently.
//
// Every change is computed from a `getConfig()` view and applied with an If-Match: the client's,
// or else the ETag of the view it was computed from. The director compares that ETag with the
// running one atomically, so a concurrent change makes our apply fail (412) instead of being
// overwritten by a document built from the older config.
//
// A client that sent no If-Match (or `If-Match: *`) asked for "this change, on whatever is current", so on a 412
// the change is recomputed from the new config and applied again (a few times): the other
// change survives and so does this one. A client that sent If-Match gets its 412.
import { ConfigValidationError, type LiveConfig } from '@sluice/config';
import type { ConfigView, DirectorControl } from '../control.ts';

const ATTEMPTS_WITHOUT_IF_MATCH = 3;

/** An If-Match header: undefined when absent, '*' for "any", else the entity tags it lists. */
export type IfMatch = undefined | '*' | string[];

/** Splits `"a", W/"b"` into its entity tags (tags are quoted strings without `"` inside). */
export function parseIfMatch(header: string | string[] | undefined): IfMatch {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return '*';
  const tags = text.match(/(?:W\/)?"[^"]*"/g) ?? [];
  // An unquoted value is not an entity tag; passing it on as is makes it mismatch (412).
  return tags.length === 0 ? [text.trim()] : tags;
}

/**
 * The ETag to hand `applyConfig` for a change computed from `current`. A list that names the
 * running ETag resolves to it; one that does not resolves to its first tag, which the director
 * rejects (412). Weak tags never match: If-Match compares strongly (RFC 9110 §13.1.1).
 */
export function resolveIfMatch(ifMatch: IfMatch, currentEtag: string): string {
  if (ifMatch === undefined || ifMatch === '*') return currentEtag;
  return ifMatch.includes(currentEtag) ? currentEtag : ifMatch[0];
}

function isPreconditionFailure(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SLUICE_ERR_CONFIG_PRECONDITION';
}

/**
 * Applies `change(current)`. `change` may throw the typed config errors (NotFoundError,
 * ConflictError, ConfigValidationError): it is called again on every attempt, so it must check
 * against the config it is given, never one captured earlier.
 */
export async function mutateConfig(
  control: DirectorControl,
  ifMatchHeader: string | string[] | undefined,
  change: (current: LiveConfig) => LiveConfig,
): Promise<ConfigView> {
  const ifMatch = parseIfMatch(ifMatchHeader);
  const unconditional = ifMatch === undefined || ifMatch === '*';
  const attempts = unconditional ? ATTEMPTS_WITHOUT_IF_MATCH : 1;
  for (let attempt = 1; ; attempt++) {
    const current = control.getConfig();
    const next = change(structuredClone(current.config));
    try {
      return await control.applyConfig(next, resolveIfMatch(ifMatch, current.etag));
    } catch (err) {
      if (attempt < attempts && isPreconditionFailure(err)) continue;
      throw err;
    }
  }
}

/**
 * A 400 about config pointer `prefix` (but not under `except`) retold as one about the request
 * body: `/defense/lowWatermark` → `/lowWatermark`, `/defense/rules/3/pool/0` → `/pool/0`.
 * Anything else is passed on as it is.
 */
export function retold(err: unknown, prefix: string, except: string | null = null): unknown {
  const e = err as { code?: unknown; field?: unknown; message?: unknown } | null;
  if (e?.code !== 'SLUICE_ERR_CONFIG_INVALID' || typeof e.field !== 'string') return err;
  const field = e.field;
  const under = (p: string) => field === p || field.startsWith(`${p}/`);
  if (!under(prefix) || (except !== null && under(except))) return err;
  const text = typeof e.message === 'string' ? e.message : '';
  const why = text.startsWith(`${field}: `) ? text.slice(field.length + 2) : text;
  return new ConfigValidationError(field.slice(prefix.length), why);
}
