// Connections: one page of the director's connection table (filtered by service, real server,
// client and state), one entry, and reset (a TCP RST to the real server with the tracked sequence
// number, then the entry is removed). Connections are not config: no ETag, no If-Match.

import { isIP } from 'node:net';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { parseRealId, realId } from '@sluice/config';
import Type from 'typebox';
import type { ConnectionFilter, DirectorControl } from '../control.ts';
import { ApiError } from './errors.ts';
import {
  ConnectionPageSchema,
  ConnectionParams,
  ConnectionQuery,
  ConnectionViewSchema,
  errorResponses,
} from './schemas.ts';

/** `10.0.0.0/8`, `2001:db8::/32` or a bare address. */
function validClient(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return isIP(text) !== 0;
  const family = isIP(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (family === 0 || !/^[0-9]{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function noConnection(id: string): ApiError {
  return new ApiError('SLUICE_ERR_API_NOT_FOUND', `no connection ${id}`);
}

export const connectionRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  app.get(
    '/v1/connections',
    {
      schema: {
        tags: ['connections'],
        summary: 'A page of the connection table; follow nextCursor for the next one',
        querystring: ConnectionQuery,
        response: { 200: ConnectionPageSchema, ...errorResponses(400) },
      },
    },
    async (request) => {
      const q = request.query;
      const filter: ConnectionFilter = { limit: q.limit ?? 100 };
      if (q.service !== undefined) filter.service = q.service;
      if (q.state !== undefined) filter.state = q.state;
      if (q.cursor !== undefined) filter.cursor = q.cursor;
      if (q.real !== undefined) {
        const real = parseRealId(q.real);
        if (real === null) {
          throw new ApiError('SLUICE_ERR_API_INVALID', 'real must be address:port, IPv6 as [address]:port', {
            field: 'real',
          });
        }
        // parseRealId answers the canonical address: the spelling the director keys reals by.
        filter.real = realId(real.address, real.port);
      }
      if (q.client !== undefined) {
        if (!validClient(q.client)) {
          throw new ApiError('SLUICE_ERR_API_INVALID', 'client must be an address or a CIDR', {
            field: 'client',
          });
        }
        filter.client = q.client;
      }
      return control.listConnections(filter);
    },
  );

  app.get(
    '/v1/connections/:id',
    {
      schema: {
        tags: ['connections'],
        summary: 'One connection',
        params: ConnectionParams,
        response: { 200: ConnectionViewSchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      const connection = control.getConnection(request.params.id);
      if (connection === null) throw noConnection(request.params.id);
      return connection;
    },
  );

  app.delete(
    '/v1/connections/:id',
    {
      schema: {
        tags: ['connections'],
        summary:
          'Reset a connection by hand: a TCP RST from the client, with the sequence number tracked, ' +
          'goes to its real server, then the entry is removed',
        params: ConnectionParams,
        response: { 204: Type.Null({ description: 'Reset and removed' }), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      if (!(await control.resetConnection(request.params.id))) throw noConnection(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
