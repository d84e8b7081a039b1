// Bearer-token auth for mutations. Reads (config, listings, /metrics, /healthz, /readyz) are open:
// the control plane listens on loopback unless the operator says otherwise, so anyone who can read it already has a shell on the director, and
// Prometheus and probes need no secret. Anything that changes the director needs the token.
//
// Missing or non-Bearer credentials are a 401 with `WWW-Authenticate: Bearer` (RFC 6750: "tell me
// who you are"); a token that does not match is a 403 ("you are not allowed"), as the brief for
// this API asks, rather than RFC 6750's 401 `invalid_token`.
import { tokenMatches } from '@sluice/config';
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/** Methods that change something and so need the token. */
export const MUTATING_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const WWW_AUTHENTICATE = 'Bearer realm="sluice"';

/** The token of an `Authorization: Bearer <token>` header, or null (scheme is case-insensitive). */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
  return match === null ? null : match[1];
}

/** An `onRequest` hook: runs before the body is parsed, so an unauthenticated client cannot make
 * the director parse or validate a document. */
export function requireBearer(token: string): (request: FastifyRequest) => Promise<void> {
  if (token.length === 0) throw new Error('the control plane token must not be empty');
  return async (request) => {
    if (!MUTATING_METHODS.has(request.method)) return;
    const presented = bearerToken(request.headers.authorization);
    if (presented === null) {
      throw new ApiError('SLUICE_ERR_API_UNAUTHORIZED', 'this request needs Authorization: Bearer <token>', {
        headers: { 'www-authenticate': WWW_AUTHENTICATE },
      });
    }
    // Constant time, whatever the lengths (@sluice/config hashes both sides first).
    if (!tokenMatches(token, presented)) {
      throw new ApiError('SLUICE_ERR_API_FORBIDDEN', 'the bearer token does not match');
    }
  };
}
