// The kernel's UDP counters from /proc/net/snmp (per network namespace): RcvbufErrors counts
// datagrams dropped because a socket's receive buffer was full, the loss a director must keep
// flat under a flood; InErrors includes them. Read at scrape time, never on the packet path.
import { readFileSync } from 'node:fs';

export interface UdpCounters {
  inDatagrams: number;
  noPorts: number;
  inErrors: number;
  outDatagrams: number;
  rcvbufErrors: number;
  sndbufErrors: number;
}

const FIELDS: Record<string, keyof UdpCounters> = {
  InDatagrams: 'inDatagrams',
  NoPorts: 'noPorts',
  InErrors: 'inErrors',
  OutDatagrams: 'outDatagrams',
  RcvbufErrors: 'rcvbufErrors',
  SndbufErrors: 'sndbufErrors',
};

/** Parses the two `Udp:` lines (names, then values); null when they are not there. */
export function parseUdpSnmp(text: string): UdpCounters | null {
  const lines = text.split('\n').filter((l) => l.startsWith('Udp: '));
  if (lines.length < 2) return null;
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1);
  const out: UdpCounters = {
    inDatagrams: 0,
    noPorts: 0,
    inErrors: 0,
    outDatagrams: 0,
    rcvbufErrors: 0,
    sndbufErrors: 0,
  };
  for (let i = 0; i < names.length; i++) {
    const key = FIELDS[names[i]];
    if (key !== undefined) out[key] = Number(values[i]);
  }
  return out;
}

/** This namespace's UDP counters; null where /proc/net/snmp is not readable (not Linux). */
export function readUdpCounters(file = '/proc/net/snmp'): UdpCounters | null {
  try {
    return parseUdpSnmp(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}
