// Services (virtual services, `ipvsadm -A`): list, add, read, replace, delete. Each change is a
// read-modify-write of the live config through `mutateConfig`, answered with the service as
// the director now runs it and the config's new ETag.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ConfigValidationError,
  ConflictError,
  type LiveConfig,
  NotFoundError,
  type ServiceConfig,
  ServiceSchema,
} from '@sluice/config';
import Type from 'typebox';
import type { DirectorControl } from '../control.ts';
import { checkPoolsResolve } from './defense.ts';
import { mutateConfig, retold } from './mutate.ts';
import { canonicalText } from './real-id.ts';
import {
  configChange,
  errorResponses,
  QuicServiceViewSchema,
  ServiceListSchema,
  ServiceParams,
  ServiceReplaceSchema,
} from './schemas.ts';

/** The service named `name` in `config`, or NotFoundError. */
export function findService(config: LiveConfig, name: string): ServiceConfig {
  const service = config.services.find((s) => s.name === name);
  if (service === undefined) throw new NotFoundError(`no service named ${name}`);
  return service;
}

/** A service other than `except` already listening on the same VIP, port and protocol. */
function listenerTaken(
  config: LiveConfig,
  candidate: ServiceConfig,
  except: string | null,
): ServiceConfig | undefined {
  const vip = canonicalText(candidate.vip);
  return config.services.find(
    (s) =>
      s.name !== except &&
      s.port === candidate.port &&
      s.protocol === candidate.protocol &&
      canonicalText(s.vip) === vip,
  );
}

function servicePath(name: string): string {
  return `/v1/services/${encodeURIComponent(name)}`;
}

export const serviceRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  // One declaration per route, schema first, as in every plugin: the routes are alike in shape on
  // purpose; what they share in logic has one home (configChange, errorResponses, mutateConfig).
  app.get(
    '/v1/services',
    { schema: { tags: ['services'], summary: 'Every service', response: { 200: ServiceListSchema } } },
    async (_request, reply) => {
      const view = control.getConfig();
      reply.header('etag', view.etag);
      return { items: view.config.services };
    },
  );

  app.post(
    '/v1/services',
    {
      schema: {
        tags: ['services'],
        summary: 'Add a service (409 when its name or its VIP:port/protocol is taken)',
        body: ServiceSchema,
        ...configChange({ 201: ServiceSchema }, 400, 409),
      },
    },
    async (request, reply) => {
      const service = request.body;
      // The director's checks name config pointers (/services/2/vip); the client sent /vip.
      let at = '';
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        at = `/services/${config.services.length}`;
        if (config.services.some((s) => s.name === service.name)) {
          throw new ConflictError(`a service named ${service.name} exists`);
        }
        const taken = listenerTaken(config, service, null);
        if (taken !== undefined) {
          throw new ConflictError(
            `service ${taken.name} already serves ${service.protocol} ${service.vip} port ${service.port}`,
          );
        }
        config.services.push(service);
        return config;
      }).catch((err) => {
        throw retold(err, at);
      });
      reply.code(201).header('etag', view.etag).header('location', servicePath(service.name));
      return findService(view.config, service.name);
    },
  );

  app.get(
    '/v1/services/:name',
    {
      schema: {
        tags: ['services'],
        summary: 'One service',
        params: ServiceParams,
        response: { 200: ServiceSchema, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const view = control.getConfig();
      const service = findService(view.config, request.params.name);
      reply.header('etag', view.etag);
      return service;
    },
  );

  app.get(
    '/v1/services/:name/quic',
    {
      schema: {
        tags: ['services'],
        summary:
          "A QUIC service's connection-ID routing: the server ID layout, which real server owns which ID, " +
          'and how its datagrams were routed since it was added (404 when the service does not route QUIC)',
        params: ServiceParams,
        response: { 200: QuicServiceViewSchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      const { name } = request.params;
      const view = control.quicService(name);
      if (view !== null) return view;
      findService(control.getConfig().config, name);
      throw new NotFoundError(`service ${name} does not route QUIC by connection ID (it has no \`quic\`)`);
    },
  );

  app.put(
    '/v1/services/:name',
    {
      schema: {
        tags: ['services'],
        summary: 'Replace a service; without `reals` its real servers stay as they are',
        params: ServiceParams,
        body: ServiceReplaceSchema,
        ...configChange({ 200: ServiceSchema }, 400, 404, 409),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const body = request.body;
      // Renaming is delete + add: a PUT naming another service is a mistake to report.
      if (body.name !== undefined && body.name !== name) {
        throw new ConfigValidationError('/name', `must be ${name}, the service in the path, or absent`);
      }
      let at = '';
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        const index = config.services.findIndex((s) => s.name === name);
        if (index < 0) throw new NotFoundError(`no service named ${name}`);
        at = `/services/${index}`;
        const next: ServiceConfig = { ...body, name, reals: body.reals ?? config.services[index].reals };
        const taken = listenerTaken(config, next, name);
        if (taken !== undefined) {
          throw new ConflictError(
            `service ${taken.name} already serves ${next.protocol} ${next.vip} port ${next.port}`,
          );
        }
        config.services[index] = next;
        checkPoolsResolve(config);
        return config;
      }).catch((err) => {
        throw at === '' ? err : retold(err, at);
      });
      reply.header('etag', view.etag);
      return findService(view.config, name);
    },
  );

  app.delete(
    '/v1/services/:name',
    {
      schema: {
        tags: ['services'],
        summary: 'Remove a service (409 while a priority rule pools one of its real servers)',
        params: ServiceParams,
        ...configChange({ 204: Type.Null({ description: 'Removed' }) }, 404, 409),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        findService(config, name);
        config.services = config.services.filter((s) => s.name !== name);
        checkPoolsResolve(config);
        return config;
      });
      return reply.code(204).header('etag', view.etag).send(null);
    },
  );
};
