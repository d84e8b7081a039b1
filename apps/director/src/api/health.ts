// Liveness, readiness and metrics, for probes and Prometheus; all open (see auth.ts).
// - /healthz: the process serves HTTP. Nothing else is asked of the director: a liveness probe
//   that fails on a busy dataplane gets a healthy director restarted.
// - /readyz: the director's own verdict (config published, sockets bound, ...), 503 with reasons.
// - /metrics: the exposition text as the director's registry renders it, with its content type.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { DirectorControl } from '../control.ts';
import { HealthSchema, ReadinessSchema } from './schemas.ts';

export const healthRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'Liveness', response: { 200: HealthSchema } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: 503 with the reasons while the director cannot serve',
        response: { 200: ReadinessSchema, 503: ReadinessSchema },
      },
    },
    async (_request, reply) => {
      const readiness = control.readiness();
      return reply.code(readiness.ready ? 200 : 503).send(readiness);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics',
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await control.metrics();
      // A string payload is sent as is, not through the JSON serializer.
      return reply.type(contentType).send(body);
    },
  );
};
