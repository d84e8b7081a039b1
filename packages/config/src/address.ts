// Address text as the configuration keeps it: one canonical spelling per address (dotted quad
// for IPv4, RFC 5952 for IPv6, v4-mapped IPv6 folded into IPv4 as the dataplane folds it), so
// uniqueness checks, real-server keys, URLs and ETags never see two spellings of one server.
// Real-server ids (`address:port`, `[address]:port`) live here too, for the same reason.
import { AddressError, formatAddress, isV4Mapped, parseAddress } from '@sluice/wire';

export interface CanonicalAddress {
  text: string;
  v4: boolean;
}

/** The canonical form of an address literal; throws AddressError when it is not one. */
export function canonicalAddress(text: string): CanonicalAddress {
  // parseAddress would quietly drop a zone (`fe80::1%eth0`); a zone names a local interface,
  // which means nothing on the overlay or in a VXLAN destination.
  if (text.includes('%')) throw new AddressError(`an address with a zone index is not allowed: ${text}`);
  const [a0, a1, a2, a3] = parseAddress(text);
  return { text: formatAddress(a0, a1, a2, a3), v4: isV4Mapped(a0, a1, a2) };
}

/** `10.0.0.1:80`, `[2001:db8::1]:80`: the form real servers take in URLs and keys. */
export function realId(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The address (canonical) and port an id names, or null when it is not `IPv4:port` or
 * `[IPv6]:port` with a port of 1..65535. Brackets are demanded for IPv6 rather than guessing
 * which colon separates the port.
 */
export function parseRealId(id: string): { address: string; port: number } | null {
  let address: string;
  let portText: string;
  if (id.startsWith('[')) {
    const close = id.indexOf(']');
    if (close < 0 || id[close + 1] !== ':') return null;
    address = id.slice(1, close);
    portText = id.slice(close + 2);
    if (!address.includes(':')) return null;
  } else {
    const colon = id.lastIndexOf(':');
    if (colon < 0) return null;
    address = id.slice(0, colon);
    portText = id.slice(colon + 1);
    if (address.includes(':')) return null;
  }
  if (!/^[1-9][0-9]{0,4}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  try {
    return { address: canonicalAddress(address).text, port };
  } catch {
    return null;
  }
}

/** The allocator's and snapshot's key of a real server: `web/10.0.0.2:80`, `web/[2001:db8::2]:80`. */
export function realKey(service: string, address: string, port: number): string {
  return `${service}/${realId(address, port)}`;
}
