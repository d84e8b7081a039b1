// The day-to-day commands: drain and undrain a real server, read and change the defense, see who
// holds the connections, and reset one.
import type { LiveConfig } from '@sluice/config';
import type { SourceView } from '../control.ts';
import { type Command, type Context, json, table, usage } from './command.ts';
import { CliError, CliErrorCode } from './errors.ts';
import { canonicalIp, endpoint } from './net.ts';

/** The service a command names: its name, or VIP:PORT ([VIP]:PORT) when one service has it. */
function findService(config: LiveConfig, text: string) {
  const byName = config.services.find((s) => s.name === text);
  if (byName !== undefined) return byName;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const ip = m === null ? null : canonicalIp(m[1]);
  const matches =
    ip === null || m === null
      ? []
      : config.services.filter((s) => s.vip === ip.text && s.port === Number(m[2]));
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    throw new CliError(
      CliErrorCode.refused,
      `${text} is served by ${matches.map((s) => s.name).join(' and ')}: name one`,
    );
  }
  throw new CliError(CliErrorCode.refused, `no service named ${text} (nor one at that VIP:PORT)`);
}

function drainCommand(name: 'drain' | 'undrain'): Command {
  const state = name === 'drain' ? 'draining' : 'active';
  return {
    name,
    summary:
      name === 'drain'
        ? 'stop sending new connections to a real server; its connections carry on'
        : 'let a drained real server take new connections again',
    help: `usage: sluice ${name} SERVICE REAL

${
  name === 'drain'
    ? 'Drain a real server: it takes no new connections, the ones it has carry on (its weight is kept).'
    : 'Undrain a real server: it takes new connections again.'
}
SERVICE is a service's name, or its VIP:PORT; REAL is ADDRESS:PORT, or ADDRESS (the service's port).`,
    read: false,
    minArgs: 2,
    maxArgs: 2,
    options: {},
    async run(ctx) {
      const [svcText, realText] = ctx.positionals;
      const client = await ctx.client();
      const svc = findService((await client.get<LiveConfig>('/v1/config')).body, svcText);
      const bare = canonicalIp(realText);
      const m = /^\[([^\]]+)\]:(\d+)$/.exec(realText) ?? /^([^:]+):(\d+)$/.exec(realText);
      const ip = bare ?? (m === null ? null : canonicalIp(m[1]));
      if (ip === null) throw usage(`${realText}: give the real server as ADDRESS:PORT or ADDRESS`);
      const id = endpoint(ip.text, bare !== null || m === null ? svc.port : Number(m[2]));
      await client.request(
        'PATCH',
        `/v1/services/${encodeURIComponent(svc.name)}/reals/${encodeURIComponent(id)}`,
        {
          body: { state },
        },
      );
      ctx.io.err(`${svc.name} ${id}: ${state}\n`);
      return 0;
    },
  };
}

export const drain = drainCommand('drain');
export const undrain = drainCommand('undrain');

/** `a.b.c=value` as a nested patch; the value as JSON when it parses (numbers, true, null, ...). */
export function patchOf(assignments: string[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw usage(`defense set takes KEY=VALUE (got ${a})`);
    const keys = a.slice(0, eq).split('.');
    const raw = a.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // A bare word such as a strategy name is a string.
    }
    let at = patch;
    for (const k of keys.slice(0, -1)) {
      const next = at[k];
      if (next === undefined) at[k] = {};
      else if (typeof next !== 'object' || next === null) throw usage(`${a}: ${k} is set twice`);
      at = at[k] as Record<string, unknown>;
    }
    at[keys[keys.length - 1]] = value;
  }
  return patch;
}

interface Rule {
  id: string;
  cidr: string;
  priority: number;
  pool?: string[];
}

export const defenseCommand: Command = {
  name: 'defense',
  summary: 'read or change the flood defense and its priority rules',
  help: `usage: sluice defense get
       sluice defense set KEY=VALUE...
       sluice defense rules
       sluice defense rule add CIDR PRIORITY [--pool REAL,REAL...]
       sluice defense rule rm CIDR

  get    the defense settings (strategy, watermarks, unproven share, LVS modes, weights, source
         checks) as JSON
  set    change some of them (PATCH /v1/defense), e.g. strategy=drop_entry highWatermark=0.97
         lvs.dropEntry=3 weights.silent=0 sourceChecks.enabled=false; values are JSON when they
         parse, else strings; null removes a weight override
  rules  the priority rules: source CIDR, fixed priority (0 = never shed), dedicated pool
  rule add / rule rm   add or remove the rule of a CIDR`,
  read: true,
  minArgs: 1,
  maxArgs: 64,
  options: { pool: { type: 'string' } },
  async run(ctx) {
    const [sub, ...rest] = ctx.positionals;
    const client = await ctx.client();
    if (sub === 'get' && rest.length === 0) {
      ctx.io.out(json((await client.get('/v1/defense')).body));
      return 0;
    }
    if (sub === 'set') {
      if (rest.length === 0) throw usage('defense set needs KEY=VALUE');
      const reply = await client.request('PATCH', '/v1/defense', { body: patchOf(rest) });
      ctx.io.out(json(reply.body));
      return 0;
    }
    if (sub === 'rules' && rest.length === 0) {
      const rules = (await client.get<{ items: Rule[] }>('/v1/defense/rules')).body.items;
      if (ctx.values.json === true) ctx.io.out(json(rules));
      else {
        ctx.io.out(
          table(
            ['CIDR', 'PRIORITY', 'POOL'],
            rules.map((r) => [r.id, String(r.priority), r.pool === undefined ? '-' : r.pool.join(',')]),
          ),
        );
      }
      return 0;
    }
    if (sub === 'rule' && rest[0] === 'add' && rest.length === 3) {
      const priority = Number(rest[2]);
      if (!Number.isInteger(priority)) throw usage(`PRIORITY must be an integer 0..15 (got ${rest[2]})`);
      const pool = ctx.values.pool as string | undefined;
      await client.request('POST', '/v1/defense/rules', {
        body: { cidr: rest[1], priority, ...(pool === undefined ? {} : { pool: pool.split(',') }) },
      });
      ctx.io.err(`rule ${rest[1]}: priority ${priority}\n`);
      return 0;
    }
    if (sub === 'rule' && rest[0] === 'rm' && rest.length === 2) {
      await client.request('DELETE', `/v1/defense/rules/${encodeURIComponent(rest[1])}`);
      ctx.io.err(`rule ${rest[1]}: removed\n`);
      return 0;
    }
    throw usage(`defense ${ctx.positionals.join(' ')}: see sluice defense --help`);
  },
};

export const sourcesCommand: Command = {
  name: 'sources',
  summary: 'the client sources holding the most connections',
  help: `usage: sluice sources [--limit N] [--json]

The client sources (an IPv4 address, or an IPv6 /64) holding the most connections, most first,
with the handshakes they completed, their connections in all and the mean priority of their live
connections (0 highest .. 15 lowest). --limit: how many (default 20, at most 1000).`,
  read: true,
  minArgs: 0,
  maxArgs: 0,
  options: { limit: { type: 'string' } },
  async run(ctx: Context) {
    const limit = ctx.values.limit === undefined ? undefined : Number(ctx.values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) {
      throw usage('--limit must be an integer 1..1000');
    }
    const client = await ctx.client();
    const items = (await client.get<{ items: SourceView[] }>('/v1/sources', { limit })).body.items;
    if (ctx.values.json === true) {
      ctx.io.out(json(items));
      return 0;
    }
    ctx.io.out(
      table(
        ['SOURCE', 'CONNS', 'HANDSHAKES', 'TOTAL', 'AVG-PRIO', 'IDLE-S'],
        items.map((s) => [
          s.source,
          String(s.concurrentConnections),
          String(s.handshakesCompleted),
          String(s.connectionsTotal),
          s.averagePriority === null ? '-' : s.averagePriority.toFixed(2),
          s.idleSeconds.toFixed(1),
        ]),
      ),
    );
    return 0;
  },
};

export const resetCommand: Command = {
  name: 'reset',
  summary: 'reset one connection on its real server (a TCP RST) and forget it',
  help: `usage: sluice reset CONNECTION

Reset a connection by hand: the director sends its real server a TCP RST from the client's
address with the sequence number it tracked, and removes the entry. CONNECTION is the id
\`sluice list -c\` shows.`,
  read: false,
  minArgs: 1,
  maxArgs: 1,
  options: {},
  async run(ctx) {
    const id = ctx.positionals[0];
    const client = await ctx.client();
    await client.request('DELETE', `/v1/connections/${encodeURIComponent(id)}`);
    ctx.io.err(`connection ${id}: reset\n`);
    return 0;
  },
};
