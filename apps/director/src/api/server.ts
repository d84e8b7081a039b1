// The control plane: a fastify app over a DirectorControl, one plugin per resource, schema first
// (TypeBox), with one error handler, bearer auth on mutations and the OpenAPI document at
// /openapi.json. `buildControlPlane` only builds; whoever owns the process listens, on the
// configured address (loopback unless the operator says otherwise: see auth.ts for why reads
// are open). Tests use `inject`.
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { DirectorControl } from '../control.ts';
import { MUTATING_METHODS, requireBearer } from './auth.ts';
import { configRoutes } from './config.ts';
import { connectionRoutes } from './connections.ts';
import { defenseRoutes } from './defense.ts';
import { ApiError, toErrorReply } from './errors.ts';
import { healthRoutes } from './health.ts';
import { realRoutes } from './reals.ts';
import { serviceRoutes } from './services.ts';
import { sourceRoutes } from './sources.ts';
import { statsRoutes } from './stats.ts';
import { typeboxValidatorCompiler } from './validator.ts';

export interface ControlPlaneOptions {
  /** Bearer token every mutation must present; must not be empty. */
  token: string;
  /** fastify's logger option: false (default), true, or pino options. */
  logger?: boolean | object;
}

/** A whole live config with thousands of real servers is a few MiB of JSON; fastify's 1 MiB
 * default would refuse a config this director is built to run. */
const BODY_LIMIT = 16 * 1024 * 1024;

export function buildControlPlane(control: DirectorControl, opts: ControlPlaneOptions): FastifyInstance {
  const auth = requireBearer(opts.token);
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: BODY_LIMIT,
    // Errors the router raises before any route runs (a malformed URL, a path parameter over
    // fastify's 100 characters): answered in the same shape and codes as every other error.
    frameworkErrors: (err, _request, reply) => {
      const { status, body, headers } = toErrorReply(err);
      (reply as FastifyReply).code(status).headers(headers).send(body);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(typeboxValidatorCompiler);

  app.setErrorHandler((err, request, reply) => {
    const { status, body, headers } = toErrorReply(err);
    if (status >= 500) request.log.error({ err }, 'control plane request failed');
    return reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request) => {
    throw new ApiError('SLUICE_ERR_API_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
  });

  // Runs before body parsing and validation, for every route including unknown ones.
  app.addHook('onRequest', auth);

  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Sluice director control plane',
        version: '1',
        description:
          'Services, real servers, the defense (settings and priority rules), connections, client ' +
          'sources and the live config of a Sluice director. ' +
          'Reads are open; mutations need a bearer token. Config mutations answer with the ' +
          "config's new ETag and honour If-Match (412 when stale).",
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Missing: 401 with WWW-Authenticate: Bearer. Wrong: 403.',
          },
        },
      },
    },
  });
  // Every mutation is documented as needing the token, by the same rule the auth hook applies.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((m) => MUTATING_METHODS.has(m))) return;
    route.schema = { ...route.schema, security: [{ bearer: [] }] };
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const plugin = { control };
  app.register(configRoutes, plugin);
  app.register(serviceRoutes, plugin);
  app.register(realRoutes, plugin);
  app.register(defenseRoutes, plugin);
  app.register(connectionRoutes, plugin);
  app.register(sourceRoutes, plugin);
  app.register(statsRoutes, plugin);
  app.register(healthRoutes, plugin);
  return app;
}
