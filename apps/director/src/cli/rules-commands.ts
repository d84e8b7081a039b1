// `sluice save`, `sluice restore` and `sluice import-keepalived`: the director's services in and
// out of the formats LVS operators already keep them in.
//
// restore is one atomic change: GET /v1/config (and its ETag), every line applied to that copy in
// memory, then one PUT with If-Match. A bad line, or a config the director refuses, changes
// nothing; the error names the line (a refusal of the director is traced back through the JSON
// pointer it names to the line that made that service or real server).
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import type { LiveConfig } from '@sluice/config';
import { type DirectorError, directorCode, isInvalidCode } from './client.ts';
import { type Command, type Context, json, pairs, usage } from './command.ts';
import { CliError, CliErrorCode } from './errors.ts';
import { applyRules, lineOfPointer, type RealDefaults, saveRules } from './ipvsadm-rules.ts';
import { convertKeepalived } from './keepalived.ts';
import { canonicalIp } from './net.ts';

const REAL_OPTIONS_HELP = `  --vtep ADDRESS              VTEP of every new real server (default: its own address, IPv4)
  --vtep-for REAL=ADDRESS     VTEP of the real server REAL (repeatable)
  --mac-for REAL=MAC          MAC of the real server REAL (repeatable; default: learned by ARP/ND)`;

export const saveCommand: Command = {
  name: 'save',
  summary: 'print the services as ipvsadm-save -n does, with -x/-y',
  help: `usage: sluice save [-n] [--json]

Print the director's services and real servers as \`ipvsadm-save -n\` does (-A and -a lines, in
ipvsadm's sort order), plus -x/-y thresholds when set, which ipvsadm 1.31 leaves out. Every real
server is -g (direct routing). \`sluice restore\` reads it back.

  -n, --numeric   accepted for ipvsadm's sake: output is always numeric
  --json          the lines as a JSON array`,
  read: true,
  minArgs: 0,
  maxArgs: 0,
  options: { numeric: { type: 'boolean', short: 'n' } },
  async run(ctx) {
    const client = await ctx.client();
    const text = saveRules((await client.get<LiveConfig>('/v1/config')).body);
    ctx.io.out(ctx.values.json === true ? json(text.split('\n').filter((l) => l !== '')) : text);
    return 0;
  },
};

function realDefaults(ctx: Context): RealDefaults {
  const canonical = (k: string) => canonicalIp(k)?.text ?? null;
  const vtep = ctx.values.vtep as string | undefined;
  if (vtep !== undefined && canonicalIp(vtep) === null) throw usage(`--vtep ${vtep} is not an IP address`);
  return {
    defaultVtep: vtep === undefined ? null : (canonicalIp(vtep)?.text ?? null),
    vtepFor: pairs(ctx.values['vtep-for'] as string[] | undefined, 'vtep-for', canonical),
    macFor: pairs(ctx.values['mac-for'] as string[] | undefined, 'mac-for', canonical),
  };
}

async function input(ctx: Context, file: string | undefined): Promise<string> {
  if (file === undefined || file === '-') return ctx.io.readStdin();
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(CliErrorCode.input, `cannot read ${file}: ${(e as Error).message}`);
  }
}

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'apply ipvsadm rules (ipvsadm-save format) as one atomic config change',
  help: `usage: sluice restore [FILE | -] [--clear] [--vtep ADDRESS] [--vtep-for REAL=ADDRESS]...
                      [--mac-for REAL=MAC]... [--dry-run]

Read ipvsadm rules (ipvsadm-save output, or \`ipvsadm -R\` input) from FILE or standard input and
apply them to the running config as ONE change: all of them or none. The first bad line stops it,
is named by its number, and nothing changes.

Lines: -A/-E -t|-u VIP:PORT [-s SCHED] [-p [TIMEOUT]] [-M NETMASK] [-b FLAGS]; -D -t|-u VIP:PORT;
-a/-e -t|-u VIP:PORT -r REAL[:PORT] [-g] [-w WEIGHT] [-x UPPER] [-y LOWER]; -d ... -r REAL; -C.
Schedulers: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos (the director says which it
runs). Flags (-b): sh-fallback, sh-port, mh-fallback, mh-port (flag-1, flag-2 for sh and mh).
-m (NAT) and -i (tunneling) are refused: Sluice forwards by direct routing over VXLAN.

Real servers need a VTEP, which ipvsadm lines do not carry. One that exists already keeps its VTEP,
MAC, health check and drain state (so save then restore changes nothing); a new one gets:
${REAL_OPTIONS_HELP}

  --clear       start from no services, as if the file began with -C
  --dry-run     print the config that would be applied, apply nothing

Exit status: 0 applied (or nothing to change), 1 a bad line or a refused config, 4 the config
changed meanwhile (nothing applied; run again).`,
  read: false,
  minArgs: 0,
  maxArgs: 1,
  options: {
    clear: { type: 'boolean' },
    vtep: { type: 'string' },
    'vtep-for': { type: 'string', multiple: true },
    'mac-for': { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
  },
  async run(ctx) {
    const defaults = realDefaults(ctx);
    const text = await input(ctx, ctx.positionals[0]);
    const client = await ctx.client();
    const current = await client.get<LiveConfig>('/v1/config');
    const result = applyRules(current.body, text, defaults, ctx.values.clear === true);
    if (ctx.values['dry-run'] === true) {
      ctx.io.out(json(result.config));
      return 0;
    }
    // The director's JSON may order keys otherwise than the copy (its serializer follows the schema).
    if (isDeepStrictEqual(result.config, current.body)) {
      ctx.io.err(`sluice restore: ${result.rules} rules, nothing to change\n`);
      return 0;
    }
    try {
      const put = await client.request('PUT', '/v1/config', {
        body: result.config,
        ifMatch: current.etag ?? undefined,
      });
      ctx.io.err(`sluice restore: ${result.rules} rules applied as one change (ETag ${put.etag})\n`);
      return 0;
    } catch (e) {
      if (!isInvalidCode(directorCode(e)) || (e as DirectorError).field === null) throw e;
      const refused = e as DirectorError & { field: string };
      const from = lineOfPointer(result.provenance, refused.field);
      if (from === null) {
        throw new CliError(
          CliErrorCode.refused,
          `the director refused the restored config, nothing changed: ${refused.field}: ${refused.detail}`,
        );
      }
      throw new CliError(
        CliErrorCode.input,
        `line ${from.line}: ${from.text}: the director refused it (${refused.field}: ${refused.detail}); nothing changed`,
      );
    }
  },
};

export const importKeepalivedCommand: Command = {
  name: 'import-keepalived',
  summary: "print keepalived's virtual_server blocks as Sluice services (JSON)",
  help: `usage: sluice import-keepalived FILE|- [--as-dr] [--vtep ADDRESS] [--vtep-for REAL=ADDRESS]...
                                [--mac-for REAL=MAC]...

Convert the virtual_server blocks of a keepalived.conf to Sluice services and print
{ "services": [...] } on standard output; what has no counterpart in Sluice is reported on
standard error, line by line. Nothing is sent to the director: merge the services into the config
with \`sluice config edit\` or PUT them. See the README's keepalived section for the mapping.

  --as-dr      convert lb_kind NAT and TUN services too, as direct routing (the real servers
               must then hold the VIP on lo and answer clients directly)
${REAL_OPTIONS_HELP}`,
  read: true,
  minArgs: 1,
  maxArgs: 1,
  options: {
    'as-dr': { type: 'boolean' },
    vtep: { type: 'string' },
    'vtep-for': { type: 'string', multiple: true },
    'mac-for': { type: 'string', multiple: true },
  },
  async run(ctx) {
    const defaults = realDefaults(ctx);
    const text = await input(ctx, ctx.positionals[0]);
    const { services, warnings } = convertKeepalived(text, {
      ...defaults,
      asDr: ctx.values['as-dr'] === true,
    });
    for (const w of warnings) ctx.io.err(`sluice import-keepalived: ${w}\n`);
    ctx.io.out(json({ services }));
    return 0;
  },
};
