// The defense over REST: its settings (`/v1/defense`: read, replace, patch) and its priority rules
// (`/v1/defense/rules`, one resource per CIDR). Both live in the live config's `defense` section,
// so every change is a read-modify-write of the config through `mutateConfig` (If-Match, ETag,
// one snapshot to the workers or nothing changed), as for services and real servers. A config
// without the section runs DEFAULT_DEFENSE, so that is what reads show and what changes start
// from; the first change writes the section.
//
// The director reports a bad value by its pointer into the config (`/defense/rules/3/pool/0`);
// the client sent a body, so such errors are retold as pointers into the body (`/pool/0`).
//
// A rule is named by its prefix: `/v1/defense/rules/10.1.0.0%2F16`. Any spelling of the same
// prefix names the same rule (`2001:DB8::/32` is `2001:db8::/32`), and two rules for one prefix
// are a 409, because the rule table matches by prefix and could not tell them apart.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ConfigValidationError,
  ConflictError,
  DEFAULT_DEFENSE,
  type DefenseConfig,
  type LiveConfig,
  NotFoundError,
  parseRealId,
  realId,
} from '@sluice/config';
import { type Cidr, formatCidr, parseCidr } from '@sluice/defense';
import type { Static } from 'typebox';
import Type from 'typebox';
import type { DirectorControl } from '../control.ts';
import { ApiError } from './errors.ts';
import { mutateConfig, retold } from './mutate.ts';
import {
  configChange,
  DefensePatchSchema,
  DefenseRuleListSchema,
  DefenseRuleParams,
  DefenseRuleReplaceSchema,
  DefenseRuleSchema,
  DefenseRuleViewSchema,
  DefenseSettingsSchema,
  errorResponses,
} from './schemas.ts';

type Settings = Static<typeof DefenseSettingsSchema>;
type Patch = Static<typeof DefensePatchSchema>;
type Rule = Static<typeof DefenseRuleSchema>;
type RuleView = Static<typeof DefenseRuleViewSchema>;

/** The defense the director runs with this config: its section, or the defaults. */
export function effectiveDefense(config: LiveConfig): DefenseConfig {
  return structuredClone(config.defense ?? DEFAULT_DEFENSE);
}

function settingsOf(d: DefenseConfig): Settings {
  return {
    strategy: d.strategy,
    highWatermark: d.highWatermark,
    lowWatermark: d.lowWatermark,
    verification: d.verification,
    countInactive: d.countInactive,
    lvs: d.lvs,
    weights: d.weights,
    sourceChecks: d.sourceChecks,
  };
}

/** `text` parsed, or null when it is not a CIDR. */
function tryCidr(text: string): Cidr | null {
  try {
    return parseCidr(text);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SLUICE_ERR_DEFENSE_CIDR') return null;
    throw err;
  }
}

/** One key per prefix in the 128-bit space the rule table matches in. */
function prefixKey(c: Cidr): string {
  return `${c.words.join(',')}/${c.length}`;
}

/** The CIDR of a body, or a 400 naming `/cidr`. */
function bodyCidr(text: string): Cidr {
  try {
    return parseCidr(text);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'SLUICE_ERR_DEFENSE_CIDR')
      throw new ConfigValidationError('/cidr', (err as Error).message);
    throw err;
  }
}

function pathCidr(text: string): Cidr {
  const c = tryCidr(text);
  if (c === null) {
    throw new ApiError('SLUICE_ERR_API_INVALID', 'cidr must be a CIDR such as 10.1.0.0/16 (URL-encoded)', {
      field: 'cidr',
    });
  }
  return c;
}

/**
 * What the rule compiler refuses and the config schema cannot say: an empty pool, or one real
 * server listed twice (in any spelling). Whether each real server exists is the director's check.
 */
function checkPool(rule: Rule): void {
  if (rule.pool === undefined) return;
  if (rule.pool.length === 0) throw new ConfigValidationError('/pool', 'must list at least one real server');
  const seen = new Set<string>();
  rule.pool.forEach((id, j) => {
    const parsed = parseRealId(id);
    if (parsed === null) {
      throw new ConfigValidationError(`/pool/${j}`, 'must be address:port, IPv6 as [address]:port');
    }
    const canonical = realId(parsed.address, parsed.port);
    if (seen.has(canonical)) throw new ConfigValidationError(`/pool/${j}`, `${canonical} is listed twice`);
    seen.add(canonical);
  });
}

function ruleView(rule: Rule): RuleView {
  const c = tryCidr(rule.cidr);
  return { id: c === null ? rule.cidr : formatCidr(c), ...rule };
}

function rulePath(c: Cidr): string {
  return `/v1/defense/rules/${encodeURIComponent(formatCidr(c))}`;
}

/** The index of the rule for prefix `c` in `rules`, or -1. */
function findRule(rules: readonly Rule[], c: Cidr): number {
  const key = prefixKey(c);
  return rules.findIndex((r) => {
    const other = tryCidr(r.cidr);
    return other !== null && prefixKey(other) === key;
  });
}

function noRule(c: Cidr): NotFoundError {
  return new NotFoundError(`no priority rule for ${formatCidr(c)}`);
}

/**
 * For changes to services and real servers: a 409 when the changed config leaves a priority rule's
 * pool naming a real server no service has any more. Without it the director would refuse the
 * change with a 400 pointing into the rules, which the client did not send.
 */
export function checkPoolsResolve(config: LiveConfig): void {
  const rules = config.defense?.rules ?? [];
  if (!rules.some((r) => r.pool !== undefined)) return;
  const reals = new Set<string>();
  for (const svc of config.services) for (const r of svc.reals) reals.add(realId(r.address, r.port));
  for (const rule of rules) {
    for (const id of rule.pool ?? []) {
      const parsed = parseRealId(id);
      if (parsed === null || reals.has(realId(parsed.address, parsed.port))) continue;
      throw new ConflictError(
        `real server ${id} is in the pool of priority rule ${rule.cidr}: change the rule first`,
      );
    }
  }
}

/** `current` with a PATCH merged in, one level deep; null removes an optional member. */
export function patchDefense(current: DefenseConfig, patch: Patch): DefenseConfig {
  const next = structuredClone(current);
  if (patch.strategy !== undefined) next.strategy = patch.strategy;
  if (patch.highWatermark !== undefined) next.highWatermark = patch.highWatermark;
  if (patch.lowWatermark !== undefined) next.lowWatermark = patch.lowWatermark;
  if (patch.verification !== undefined) next.verification = { ...next.verification, ...patch.verification };
  if (patch.countInactive !== undefined) next.countInactive = patch.countInactive;
  if (patch.lvs !== undefined) next.lvs = { ...next.lvs, ...patch.lvs };
  if (patch.weights !== undefined) {
    const weights: Record<string, number> = {};
    const names = new Set([...Object.keys(next.weights), ...Object.keys(patch.weights)]);
    for (const name of names) {
      const value = Object.hasOwn(patch.weights, name) ? patch.weights[name] : next.weights[name];
      if (value !== null) weights[name] = value;
    }
    next.weights = weights;
  }
  if (patch.sourceChecks !== undefined) {
    const { enabled, action, prefixes, allow } = patch.sourceChecks;
    const checks = next.sourceChecks;
    const merged: DefenseConfig['sourceChecks'] = {
      enabled: enabled ?? checks.enabled,
      action: action ?? checks.action,
    };
    const p = prefixes === undefined ? checks.prefixes : prefixes;
    const a = allow === undefined ? checks.allow : allow;
    if (p !== undefined && p !== null) merged.prefixes = p;
    if (a !== undefined && a !== null) merged.allow = a;
    next.sourceChecks = merged;
  }
  return next;
}

export const defenseRoutes: FastifyPluginAsyncTypebox<{ control: DirectorControl }> = async (
  app,
  { control },
) => {
  /** PUT and PATCH: the settings `next` makes of the config (the rules stay as they are), a 400
   * retold about the body, and the answer with the config's new ETag. */
  const changeSettings = async (
    ifMatch: string | string[] | undefined,
    reply: { header(name: string, value: string): unknown },
    next: (config: LiveConfig) => DefenseConfig,
  ): Promise<Settings> => {
    const view = await mutateConfig(control, ifMatch, (config) => {
      config.defense = next(config);
      return config;
    }).catch((err) => {
      throw retold(err, '/defense', '/defense/rules');
    });
    reply.header('etag', view.etag);
    return settingsOf(effectiveDefense(view.config));
  };

  // One declaration per route, schema first, as in every plugin: the routes are alike in shape on
  // purpose; what they share in logic has one home (configChange, errorResponses, mutateConfig).
  app.get(
    '/v1/defense',
    {
      schema: {
        tags: ['defense'],
        summary: 'The defense settings in force (the defaults when the config has no defense section)',
        response: { 200: DefenseSettingsSchema },
      },
    },
    async (_request, reply) => {
      const view = control.getConfig();
      reply.header('etag', view.etag);
      return settingsOf(effectiveDefense(view.config));
    },
  );

  app.put(
    '/v1/defense',
    {
      schema: {
        tags: ['defense'],
        summary: 'Replace the defense settings; fields left out take their defaults, the rules stay',
        body: DefenseSettingsSchema,
        ...configChange({ 200: DefenseSettingsSchema }, 400),
      },
    },
    async (request, reply) => {
      const body = request.body;
      return changeSettings(request.headers['if-match'], reply, (config) => ({
        ...structuredClone(body),
        rules: config.defense?.rules ?? [],
      }));
    },
  );

  app.patch(
    '/v1/defense',
    {
      schema: {
        tags: ['defense'],
        summary:
          'Change some defense settings, e.g. { "strategy": "drop_entry" } or { "lvs": { "dropEntry": 3 } } ' +
          '(lvs, sourceChecks and weights merge member by member; null removes an optional one)',
        body: DefensePatchSchema,
        ...configChange({ 200: DefenseSettingsSchema }, 400),
      },
    },
    async (request, reply) => {
      const patch = request.body;
      return changeSettings(request.headers['if-match'], reply, (config) =>
        patchDefense(effectiveDefense(config), patch),
      );
    },
  );

  app.get(
    '/v1/defense/rules',
    {
      schema: {
        tags: ['defense'],
        summary: 'The priority rules: source prefix → fixed priority (0 = never shed) and optional pool',
        response: { 200: DefenseRuleListSchema },
      },
    },
    async (_request, reply) => {
      const view = control.getConfig();
      reply.header('etag', view.etag);
      return { items: effectiveDefense(view.config).rules.map(ruleView) };
    },
  );

  app.post(
    '/v1/defense/rules',
    {
      schema: {
        tags: ['defense'],
        summary: 'Add a priority rule (409 when a rule for the same prefix exists)',
        body: DefenseRuleSchema,
        ...configChange({ 201: DefenseRuleViewSchema }, 400, 409),
      },
    },
    async (request, reply) => {
      const c = bodyCidr(request.body.cidr);
      const rule: Rule = { ...request.body, cidr: formatCidr(c) };
      checkPool(rule);
      // The rule's index is known only inside the change (the last attempt's is the one applied).
      let index = -1;
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        const defense = effectiveDefense(config);
        if (findRule(defense.rules, c) >= 0) {
          throw new ConflictError(`a priority rule for ${formatCidr(c)} exists`);
        }
        index = defense.rules.push(rule) - 1;
        config.defense = defense;
        return config;
      }).catch((err) => {
        throw index < 0 ? err : retold(err, `/defense/rules/${index}`);
      });
      reply.code(201).header('etag', view.etag).header('location', rulePath(c));
      const defense = effectiveDefense(view.config);
      return ruleView(defense.rules[findRule(defense.rules, c)]);
    },
  );

  app.get(
    '/v1/defense/rules/:cidr',
    {
      schema: {
        tags: ['defense'],
        summary: 'One priority rule, named by its prefix',
        params: DefenseRuleParams,
        response: { 200: DefenseRuleViewSchema, ...errorResponses(400, 404) },
      },
    },
    async (request, reply) => {
      const c = pathCidr(request.params.cidr);
      const view = control.getConfig();
      const rules = effectiveDefense(view.config).rules;
      const index = findRule(rules, c);
      if (index < 0) throw noRule(c);
      reply.header('etag', view.etag);
      return ruleView(rules[index]);
    },
  );

  app.put(
    '/v1/defense/rules/:cidr',
    {
      schema: {
        tags: ['defense'],
        summary: 'Replace a priority rule (the CIDR may be left out: the path names it)',
        params: DefenseRuleParams,
        body: DefenseRuleReplaceSchema,
        ...configChange({ 200: DefenseRuleViewSchema }, 400, 404),
      },
    },
    async (request, reply) => {
      const c = pathCidr(request.params.cidr);
      const body = request.body;
      // Moving a rule to another prefix is delete + add, not a replacement.
      if (body.cidr !== undefined) {
        const named = bodyCidr(body.cidr);
        if (prefixKey(named) !== prefixKey(c)) {
          throw new ConfigValidationError(
            '/cidr',
            `must be ${formatCidr(c)}, the prefix in the path, or absent`,
          );
        }
      }
      const rule: Rule = { ...body, cidr: formatCidr(c) };
      checkPool(rule);
      let index = -1;
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        const defense = effectiveDefense(config);
        index = findRule(defense.rules, c);
        if (index < 0) throw noRule(c);
        defense.rules[index] = rule;
        config.defense = defense;
        return config;
      }).catch((err) => {
        throw index < 0 ? err : retold(err, `/defense/rules/${index}`);
      });
      reply.header('etag', view.etag);
      const rules = effectiveDefense(view.config).rules;
      return ruleView(rules[findRule(rules, c)]);
    },
  );

  app.delete(
    '/v1/defense/rules/:cidr',
    {
      schema: {
        tags: ['defense'],
        summary: 'Remove a priority rule: its sources are scored like any other from then on',
        params: DefenseRuleParams,
        ...configChange({ 204: Type.Null({ description: 'Removed' }) }, 400, 404),
      },
    },
    async (request, reply) => {
      const c = pathCidr(request.params.cidr);
      const view = await mutateConfig(control, request.headers['if-match'], (config) => {
        const defense = effectiveDefense(config);
        const index = findRule(defense.rules, c);
        if (index < 0) throw noRule(c);
        defense.rules.splice(index, 1);
        config.defense = defense;
        return config;
      });
      return reply.code(204).header('etag', view.etag).send(null);
    },
  );
};
