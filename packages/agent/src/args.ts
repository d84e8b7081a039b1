// The agent's command line, parsed apart from main.ts so it can be tested without a process. Every
// refusal is an AgentError whose message starts with the argument it is about, because the
// operator reading it on a real server has only that line to go on.

import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { AgentError, AgentErrorCode } from './errors.ts';
import { QUIET_MS, QUIET_MS_MAX } from './quiet.ts';
import { SLOW_BPS, SLOW_BPS_MAX, SLOW_GRACE_MS, SLOW_GRACE_MS_MAX } from './slow.ts';

export const USAGE = `usage: sluice-agent --listen [HOST:]PORT --port N [--port M ...] [--quiet-ms MS]
                    [--slow-bps N] [--slow-grace-ms MS]

Answers each TCP connection on HOST:PORT with held:<count>, the number of sockets this host holds
(ESTABLISHED, CLOSE_WAIT) on the service ports N, M, ..., then the established connections on
those ports to which it has sent no data for MS ms or more, then those whose client is taking
the data it has waiting at under a floor rate (both read with one ss run), then closes.

  --listen [HOST:]PORT  where the agent listens; HOST an IP (IPv6 in brackets), default 0.0.0.0;
                        PORT 0 takes a free port (printed on start)
  --port N              a service port to count (repeat for more)
  --quiet-ms MS         the quiet floor in ms (default ${QUIET_MS}); 0 reports no quiet connections
  --slow-bps N          the slow floor in bytes/s (default ${SLOW_BPS}): a connection with data
                        written and not yet sent whose client took less than N bytes per second
                        of busy time is slow; 0 reports no slow connections
  --slow-grace-ms MS    the ms of busy time (data in flight or waiting) before a connection's
                        rate is judged (default ${SLOW_GRACE_MS})
  -h, --help            this text
`;

export interface AgentArgs {
  host: string;
  port: number;
  ports: number[];
  /** The quiet floor (AgentServerOptions.quietMs); 0 leaves the quiet block out. */
  quietMs: number;
  /** The slow floor in bytes/s (AgentServerOptions.slowBps); 0 leaves the slow block out. */
  slowBps: number;
  /** The busy time before a rate is judged (AgentServerOptions.slowGraceMs). */
  slowGraceMs: number;
}

const invalid = (message: string) => new AgentError(AgentErrorCode.invalidArgument, message);

/** The parsed arguments, or 'help'. Throws AgentError (invalidArgument) naming the bad argument. */
export function parseAgentArgs(argv: readonly string[]): AgentArgs | 'help' {
  let values: {
    listen?: string;
    port?: string[];
    'quiet-ms'?: string;
    'slow-bps'?: string;
    'slow-grace-ms'?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string' },
        port: { type: 'string', multiple: true },
        'quiet-ms': { type: 'string' },
        'slow-bps': { type: 'string' },
        'slow-grace-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    // parseArgs' own messages already name the option ("Unknown option '--prot'").
    throw invalid((err as Error).message);
  }
  if (values.help) return 'help';

  if (values.listen === undefined) throw invalid('--listen: missing; give [HOST:]PORT, e.g. --listen 5555');
  const { host, port } = parseListen(values.listen);

  if (values.port === undefined) throw invalid('--port: missing; give at least one service port to count');
  const ports: number[] = [];
  for (const p of values.port) {
    const n = parsePort(p, 1);
    if (n === null) throw invalid(`--port: ${JSON.stringify(p)} is not a port in 1..65535`);
    if (!ports.includes(n)) ports.push(n);
  }
  if (ports.includes(port)) {
    throw invalid(`--port: ${port} is the agent's own --listen port; its queries would count as load`);
  }
  const quietMs = parseWhole(values['quiet-ms'], QUIET_MS, QUIET_MS_MAX, '--quiet-ms', 'of ms');
  const slowBps = parseWhole(values['slow-bps'], SLOW_BPS, SLOW_BPS_MAX, '--slow-bps', 'of bytes/s');
  const slowGraceMs = parseWhole(
    values['slow-grace-ms'],
    SLOW_GRACE_MS,
    SLOW_GRACE_MS_MAX,
    '--slow-grace-ms',
    'of ms',
  );
  return { host, port, ports: ports.sort((a, b) => a - b), quietMs, slowBps, slowGraceMs };
}

/** A whole number from 0 to `max` given to `flag`, or `fallback` when it was not given. */
function parseWhole(
  s: string | undefined,
  fallback: number,
  max: number,
  flag: string,
  unit: string,
): number {
  if (s === undefined) return fallback;
  // Decimal digits only, for the reason parsePort gives; 10 digits reach the 32-bit ceiling.
  const n = /^\d{1,10}$/.test(s) ? Number(s) : Number.NaN;
  if (!(n <= max)) throw invalid(`${flag}: ${JSON.stringify(s)} is not a whole number ${unit} in 0..${max}`);
  return n;
}

function parseListen(s: string): { host: string; port: number } {
  let host = '0.0.0.0';
  let portText = s;
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(s);
  if (bracketed !== null) {
    [, host, portText] = bracketed;
    if (isIP(host) !== 6)
      throw invalid(`--listen: ${JSON.stringify(host)} in brackets is not an IPv6 address`);
  } else if (s.includes(':')) {
    const i = s.lastIndexOf(':');
    host = s.slice(0, i);
    portText = s.slice(i + 1);
    if (isIP(host) !== 4) {
      throw invalid(
        `--listen: ${JSON.stringify(host)} is not an IPv4 address (an IPv6 one goes in brackets: [::1]:5555)`,
      );
    }
  }
  const port = parsePort(portText, 0);
  if (port === null) throw invalid(`--listen: ${JSON.stringify(portText)} is not a port in 0..65535`);
  return { host, port };
}

/** A decimal port from `min` to 65535, or null. Number() alone would take '', ' 80', '0x50', '8e1'. */
function parsePort(s: string, min: number): number | null {
  if (!/^\d{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= 65535 ? n : null;
}
