// `sluice list`: ipvsadm -L -n over the REST API. The services, schedulers, persistence, weights
// and thresholds come from GET /v1/config; connections, totals and rates from GET /v1/stats
// (matched by service name and real server); `-c` pages through GET /v1/connections.
import type { LiveConfig } from '@sluice/config';
import type { ConnectionPage, StatsView } from '../control.ts';
import { type Command, type Context, json, usage } from './command.ts';
import { CliError, CliErrorCode } from './errors.ts';
import {
  formatConnections,
  formatListing,
  type ListedConnection,
  type ListedService,
  type ListFormat,
} from './ipvsadm-list.ts';
import { canonicalIp, endpoint } from './net.ts';

const HELP = `usage: sluice list [SERVICE | -t|-u VIP:PORT] [-n] [--stats | --rate | --thresholds |
                   --persistent-conn] [--exact] [--nosort] [--json]
       sluice list -c [-n] [--persistent-conn] [--json]

List the virtual services and their real servers in the layout of \`ipvsadm -L -n\`, byte for byte
where the data is the same; with a service (its name, or -t/-u VIP:PORT) only that one, without
ipvsadm's version line.

  -n, --numeric       accepted for ipvsadm's sake: addresses and ports are always numeric
  --stats             Conns InPkts OutPkts InBytes OutBytes since the service was added
  --rate              CPS InPPS OutPPS InBPS OutBPS: IPVS's estimator (2 s samples, EWMA 1/4)
  --thresholds        Uthreshold Lthreshold ActiveConn InActConn
  --persistent-conn   Weight PersistConn ActiveConn InActConn (live persistence templates)
  -X, --exact         whole numbers instead of K, M, G (--stats, --rate)
  --nosort            configuration order instead of ipvsadm's sort
  -c, --connection    the connection table: ipvsadm's columns, then Sluice's: priority (0 highest,
                      15 lowest: what shedding goes by), id (for sluice reset), reasons
  --json              the same data as JSON

Direct routing: the director sees only the client's packets, so OutPkts, OutBytes, OutPPS and
OutBPS are always 0 (replies go from the real servers straight to the clients). InBytes counts
the forwarded Ethernet frames. The version line reads "IP Virtual Server version 1.2.1", the
IPVS whose behaviour Sluice follows, and size= is the connection table's capacity.`;

export const listCommand: Command = {
  name: 'list',
  summary: 'services and real servers, or connections (-c), as ipvsadm -L -n shows them',
  help: HELP,
  read: true,
  minArgs: 0,
  maxArgs: 1,
  options: {
    numeric: { type: 'boolean', short: 'n' },
    'tcp-service': { type: 'string', short: 't' },
    'udp-service': { type: 'string', short: 'u' },
    stats: { type: 'boolean' },
    rate: { type: 'boolean' },
    thresholds: { type: 'boolean' },
    'persistent-conn': { type: 'boolean' },
    exact: { type: 'boolean', short: 'X' },
    nosort: { type: 'boolean' },
    sort: { type: 'boolean' },
    connection: { type: 'boolean', short: 'c' },
  },
  run: list,
};

type ServiceChoice = { name: string } | { protocol: 'tcp' | 'udp'; vip: string; port: number } | null;

function serviceChoice(ctx: Context): ServiceChoice {
  const v = ctx.values;
  const given = [ctx.positionals[0], v['tcp-service'], v['udp-service']].filter((x) => x !== undefined);
  if (given.length > 1) throw usage('name one service: SERVICE, -t VIP:PORT or -u VIP:PORT');
  if (ctx.positionals[0] !== undefined) return { name: ctx.positionals[0] };
  const text = (v['tcp-service'] ?? v['udp-service']) as string | undefined;
  if (text === undefined) return null;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const ip = m === null ? null : canonicalIp(m[1]);
  if (m === null || ip === null) throw usage(`${text}: give the service as VIP:PORT ([VIP]:PORT for IPv6)`);
  return { protocol: v['tcp-service'] !== undefined ? 'tcp' : 'udp', vip: ip.text, port: Number(m[2]) };
}

async function list(ctx: Context): Promise<number> {
  const v = ctx.values;
  const format: ListFormat = {
    stats: v.stats === true,
    rate: v.rate === true,
    thresholds: v.thresholds === true,
    persistentConn: v['persistent-conn'] === true,
    exact: v.exact === true,
    noSort: v.nosort === true,
  };
  const choice = serviceChoice(ctx);
  if (v.connection === true) {
    // ipvsadm's list checks: -c goes with neither a service nor --stats/--rate/--thresholds.
    if (choice !== null) throw usage("the option 'connection' conflicts with the 'service-address' option");
    if (format.stats || format.rate || format.thresholds)
      throw usage('options conflicts in the list command');
    return listConnections(ctx, format.persistentConn);
  }
  const client = await ctx.client();
  const [config, stats] = await Promise.all([
    client.get<LiveConfig>('/v1/config'),
    client.get<StatsView>('/v1/stats'),
  ]);
  let services = listed(config.body, stats.body);
  if (choice !== null) {
    services = services.filter((s) =>
      'name' in choice
        ? s.name === choice.name
        : s.protocol === choice.protocol && s.vip === choice.vip && s.port === choice.port,
    );
    if (services.length === 0) throw new CliError(CliErrorCode.refused, 'No such service');
  }
  if (v.json === true) {
    ctx.io.out(json({ size: stats.body.connectionCapacity, services }));
    return 0;
  }
  ctx.io.out(formatListing(services, format, choice === null ? stats.body.connectionCapacity : null));
  return 0;
}

/** The listing model: the config's services with the statistics of each (zeros if none yet). */
export function listed(config: LiveConfig, stats: StatsView): (ListedService & { name: string })[] {
  const zero = { conns: 0, inPkts: 0, outPkts: 0, inBytes: 0, outBytes: 0 };
  const still = { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
  return config.services.map((svc) => {
    const st = stats.services.find((s) => s.name === svc.name);
    return {
      name: svc.name,
      protocol: svc.protocol,
      vip: svc.vip,
      port: svc.port,
      scheduler: svc.scheduler,
      schedulerFlags: svc.schedulerFlags ?? [],
      persistence: svc.persistence,
      stats: st?.stats ?? zero,
      rates: st?.rates ?? still,
      reals: svc.reals.map((r) => {
        const rs = st?.reals.find((x) => x.address === r.address && x.port === r.port);
        return {
          address: r.address,
          port: r.port,
          weight: r.weight,
          upperThreshold: r.upperThreshold,
          lowerThreshold: r.lowerThreshold,
          active: rs?.activeConnections ?? 0,
          inactive: rs?.inactiveConnections ?? 0,
          persistent: rs?.persistentConnections ?? 0,
          stats: rs?.stats ?? zero,
          rates: rs?.rates ?? still,
        };
      }),
    };
  });
}

const PAGE = 1000;

async function listConnections(ctx: Context, persistentConn: boolean): Promise<number> {
  const client = await ctx.client();
  const config = await client.get<LiveConfig>('/v1/config');
  const vips = new Map(config.body.services.map((s) => [s.name, endpoint(s.vip, s.port)]));
  const all: ConnectionPage['items'] = [];
  let cursor: string | undefined;
  do {
    const page = await client.get<ConnectionPage>('/v1/connections', { limit: PAGE, cursor });
    all.push(...page.body.items);
    cursor = page.body.nextCursor ?? undefined;
  } while (cursor !== undefined);
  if (ctx.values.json === true) {
    ctx.io.out(json(all));
    return 0;
  }
  const rows: ListedConnection[] = all.map((c) => ({
    id: c.id,
    protocol: c.protocol,
    client: endpoint(c.client.address, c.client.port),
    virtual: vips.get(c.service) ?? '?',
    destination: c.real === null ? null : endpoint(c.real.address, c.real.port),
    state: c.state,
    expiresInSeconds: c.expiresInSeconds,
    priority: c.priority,
    reasons: c.priorityReasons,
  }));
  ctx.io.out(formatConnections(rows, persistentConn));
  return 0;
}
