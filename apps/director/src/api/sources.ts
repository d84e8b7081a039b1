// Sources: the clients holding the most connections, from the director's per-source table (the
// history the defense scores SYNs with: concurrent connections, handshakes completed, mean
// priority, whether the address answered a challenge). The question an operator asks under a flood
// is "who holds my slots?", so this is a bounded top-N, not a listing of a table that may hold
// millions of spoofed sources. /v1/sources/verified lists the verified-source table itself (only
// hosts that answered a challenge are in it, so it is bounded by real clients).
// Not config: no ETag, no If-Match.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DirectorControl } from '../control.ts';
import { errorResponses, SourceListSchema, SourceQuery, VerifiedSourceListSchema } from './schemas.ts';

export const DEFAULT_SOURCE_LIMIT = 20;

export const sourceRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  app.get(
    '/v1/sources',
    {
      schema: {
        tags: ['sources'],
        summary: 'The client sources (/32, IPv6 /64) holding the most connections, most first',
        querystring: SourceQuery,
        response: { 200: SourceListSchema, ...errorResponses(400) },
      },
    },
    async (request) => ({ items: control.topSources(request.query.limit ?? DEFAULT_SOURCE_LIMIT) }),
  );

  app.get(
    '/v1/sources/verified',
    {
      schema: {
        tags: ['sources'],
        summary: "Sources that answered the director's challenge, most recently verified first",
        querystring: SourceQuery,
        response: { 200: VerifiedSourceListSchema, ...errorResponses(400) },
      },
    },
    async (request) => control.verifiedSources(request.query.limit ?? DEFAULT_SOURCE_LIMIT),
  );
};
