// The whole live config: `GET /v1/config` (with its ETag) and `PUT /v1/config` (replace,
// optionally conditional on If-Match). The body is checked against LiveConfigSchema before the
// handler runs; the director then checks semantics and the precondition and publishes the new
// config to every worker as one snapshot, or changes nothing.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { LiveConfigSchema } from '@sluice/config';
import type { DirectorControl } from '../control.ts';
import { parseIfMatch, resolveIfMatch } from './mutate.ts';
import { configChange } from './schemas.ts';

export const configRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  // The reads of every plugin are declared like this one (schema first, then the running config
  // answered with its ETag): parallel route declarations on purpose, sharing two lines, not logic.
  app.get(
    '/v1/config',
    {
      schema: {
        tags: ['config'],
        summary: 'The running live config; its ETag is the version to send back as If-Match',
        response: { 200: LiveConfigSchema },
      },
    },
    async (_request, reply) => {
      const view = control.getConfig();
      reply.header('etag', view.etag);
      return view.config;
    },
  );

  app.put(
    '/v1/config',
    {
      schema: {
        tags: ['config'],
        summary: 'Replace the live config; with If-Match, only if it is still that version',
        body: LiveConfigSchema,
        ...configChange({ 200: LiveConfigSchema }, 400),
      },
    },
    async (request, reply) => {
      const ifMatch = parseIfMatch(request.headers['if-match']);
      // Without If-Match (or with `*`) the replacement is unconditional: the client sends the
      // whole document, so there is nothing of someone else's to merge with.
      const expected =
        ifMatch === undefined || ifMatch === '*'
          ? undefined
          : resolveIfMatch(ifMatch, control.getConfig().etag);
      const view = await control.applyConfig(request.body, expected);
      reply.header('etag', view.etag);
      return view.config;
    },
  );
};
