// Real servers of a service (`ipvsadm -a/-e/-d`): list with live status, add, read, replace,
// patch (drain: `{ "state": "draining" }`; quiesce: `{ "weight": 0 }`), delete. A real server
// is named in the path by `address:port`, IPv6 `[address]:port`, URL-encoded by clients
// (`/v1/services/web/reals/%5B2001%3Adb8%3A%3A1%5D%3A80`), and matched in canonical form.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ConfigValidationError,
  ConflictError,
  type LiveConfig,
  NotFoundError,
  parseRealId,
  type RealServerConfig,
  RealServerSchema,
  type ServiceConfig,
} from '@sluice/config';
import type { Static } from 'typebox';
import Type from 'typebox';
import type { DirectorControl, RealStatusView } from '../control.ts';
import { checkPoolsResolve } from './defense.ts';
import { ApiError } from './errors.ts';
import { mutateConfig, retold } from './mutate.ts';
import { canonicalRealId, type RealAddress, sameReal } from './real-id.ts';
import {
  configChange,
  errorResponses,
  RealListSchema,
  RealParams,
  RealPatchSchema,
  RealReplaceSchema,
  RealViewSchema,
  ServiceParams,
} from './schemas.ts';
import { findService } from './services.ts';

type RealView = Static<typeof RealViewSchema>;

function parsePathReal(text: string): RealAddress {
  const parsed = parseRealId(text);
  if (parsed === null) {
    throw new ApiError('SLUICE_ERR_API_INVALID', 'real must be address:port, IPv6 as [address]:port', {
      field: 'real',
    });
  }
  return parsed;
}

function findRealIndex(service: ServiceConfig, wanted: RealAddress): number {
  const index = service.reals.findIndex((r) => sameReal(r, wanted));
  if (index < 0) {
    throw new NotFoundError(
      `service ${service.name} has no real server ${canonicalRealId(wanted.address, wanted.port)}`,
    );
  }
  return index;
}

/** The configured real server with the status the director reports for it (null if none yet). */
function realView(real: RealServerConfig, statuses: RealStatusView[] | null): RealView {
  const live = statuses?.find((s) => sameReal(s, real));
  return {
    id: canonicalRealId(real.address, real.port),
    ...real,
    status:
      live === undefined
        ? null
        : {
            health: live.health,
            mac: live.mac,
            macSource: live.macSource,
            neighbor: live.neighbor,
            activeConnections: live.activeConnections,
            inactiveConnections: live.inactiveConnections,
            load: live.load,
            agentHeld: live.agentHeld,
            agentQuiet: live.agentQuiet,
            agentSlow: live.agentSlow,
            overloaded: live.overloaded,
          },
  };
}

function realPath(service: string, real: RealServerConfig): string {
  return `/v1/services/${encodeURIComponent(service)}/reals/${encodeURIComponent(canonicalRealId(real.address, real.port))}`;
}

/** The config pointer of real `index` of `service` in `config` (`/services/0/reals/2`). */
function realPointer(config: LiveConfig, service: ServiceConfig, index: number): string {
  return `/services/${config.services.indexOf(service)}/reals/${index}`;
}

/**
 * `change` applied to the real `wanted` of service `name` inside `config` (for mutateConfig);
 * `at.pointer` is left naming that real in the config, so a 400 can be retold about the body.
 */
function withReal(
  config: LiveConfig,
  name: string,
  wanted: RealAddress,
  at: { pointer: string },
  change: (service: ServiceConfig, index: number) => void,
): LiveConfig {
  const service = findService(config, name);
  const index = findRealIndex(service, wanted);
  at.pointer = realPointer(config, service, index);
  change(service, index);
  return config;
}

export const realRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  const one = (name: string, wanted: RealAddress, config: LiveConfig): RealView => {
    const service = findService(config, name);
    return realView(service.reals[findRealIndex(service, wanted)], control.realStatus(name));
  };

  /** PUT and PATCH: the real server `wanted` replaced by `edit` of it (404 if there is none), a
   * 400 retold about the body, and the answer with the config's new ETag. */
  const changeReal = async (
    ifMatch: string | string[] | undefined,
    reply: { header(name: string, value: string): unknown },
    name: string,
    wanted: RealAddress,
    edit: (current: RealServerConfig) => RealServerConfig,
  ): Promise<RealView> => {
    const at = { pointer: '' };
    const view = await mutateConfig(control, ifMatch, (config) =>
      withReal(config, name, wanted, at, (service, index) => {
        service.reals[index] = edit(service.reals[index]);
      }),
    ).catch((err) => {
      throw at.pointer === '' ? err : retold(err, at.pointer);
    });
    reply.header('etag', view.etag);
    return one(name, wanted, view.config);
  };

  // One declaration per route, schema first, as in every plugin: the routes are alike in shape on
  // purpose; what they share in logic has one home (configChange, errorResponses, mutateConfig).
  app.get(
    '/v1/services/:name/reals',
    {
      schema: {
        tags: ['reals'],
        summary: 'The real servers of a service, with health, MAC and connection counts',
        params: ServiceParams,
        response: { 200: RealListSchema, ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const view = control.getConfig();
      const service = findService(view.config, name);
      const statuses = control.realStatus(name);
      reply.header('etag', view.etag);
      return { items: service.reals.map((r) => realView(r, statuses)) };
    },
  );

  app.post(
    '/v1/services/:name/reals',
    {
      schema: {
        tags: ['reals'],
        summary: 'Add a real server (409 when the service has one at that address:port)',
        params: ServiceParams,
        body: RealServerSchema,
        ...configChange({ 201: RealViewSchema }, 400, 404, 409),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const real = request.body;
      let at = '';
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        const service = findService(config, name);
        at = realPointer(config, service, service.reals.length);
        if (service.reals.some((r) => sameReal(r, real))) {
          throw new ConflictError(
            `service ${name} already has real server ${canonicalRealId(real.address, real.port)}`,
          );
        }
        service.reals.push(real);
        return config;
      }).catch((err) => {
        throw at === '' ? err : retold(err, at);
      });
      reply.code(201).header('etag', view.etag).header('location', realPath(name, real));
      return one(name, real, view.config);
    },
  );

  app.get(
    '/v1/services/:name/reals/:real',
    {
      schema: {
        tags: ['reals'],
        summary: 'One real server with its live status',
        params: RealParams,
        response: { 200: RealViewSchema, ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const wanted = parsePathReal(request.params.real);
      const view = control.getConfig();
      const result = one(request.params.name, wanted, view.config);
      reply.header('etag', view.etag);
      return result;
    },
  );

  app.put(
    '/v1/services/:name/reals/:real',
    {
      schema: {
        tags: ['reals'],
        summary: 'Replace a real server (address and port may be left out: the path names them)',
        params: RealParams,
        body: RealReplaceSchema,
        ...configChange({ 200: RealViewSchema }, 400, 404),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const wanted = parsePathReal(request.params.real);
      const body = request.body;
      // Moving a real server to another address:port is delete + add, not a replacement.
      if (body.port !== undefined && body.port !== wanted.port) {
        throw new ConfigValidationError('/port', `must be ${wanted.port}, the port in the path, or absent`);
      }
      if (body.address !== undefined && !sameReal({ address: body.address, port: wanted.port }, wanted)) {
        throw new ConfigValidationError(
          '/address',
          `must be ${wanted.address}, the address in the path, or absent`,
        );
      }
      return changeReal(request.headers['if-match'], reply, name, wanted, (current) => ({
        ...body,
        address: current.address,
        port: current.port,
      }));
    },
  );

  app.patch(
    '/v1/services/:name/reals/:real',
    {
      schema: {
        tags: ['reals'],
        summary: 'Change some fields of a real server, e.g. { "state": "draining" } or { "weight": 0 }',
        params: RealParams,
        body: RealPatchSchema,
        ...configChange({ 200: RealViewSchema }, 400, 404),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const wanted = parsePathReal(request.params.real);
      const patch = request.body;
      return changeReal(request.headers['if-match'], reply, name, wanted, (current) => ({
        ...current,
        ...patch,
      }));
    },
  );

  app.delete(
    '/v1/services/:name/reals/:real',
    {
      schema: {
        tags: ['reals'],
        summary:
          'Remove a real server (drain it first to let its connections finish; 409 while a priority rule pools it)',
        params: RealParams,
        ...configChange({ 204: Type.Null({ description: 'Removed' }) }, 400, 404, 409),
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const wanted = parsePathReal(request.params.real);
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        withReal(config, name, wanted, { pointer: '' }, (service, index) => {
          service.reals.splice(index, 1);
        });
        checkPoolsResolve(config);
        return config;
      });
      return reply.code(204).header('etag', view.etag).send(null);
    },
  );
};
