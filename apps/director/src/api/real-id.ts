// Real-server identifiers in URLs: `address:port`, IPv6 as `[address]:port` (the RFC 3986 host
// form, so the last colon always separates the port). Private stand-ins for `realId` and
// `parseRealId`, which @sluice/config is about to export; when it does, these should go and the
// plugins import those instead, so URLs, filters and listings share one spelling.
//
// Addresses are compared in canonical form: `2001:DB8:0::1` and `2001:db8::1` are one server, and
// an operator who types either must reach it (and must not be able to add it twice).
import { isIP } from 'node:net';

export interface RealAddress {
  address: string;
  port: number;
}

/** `10.0.0.1:80`, `[2001:db8::1]:80`. */
export function realId(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The address and port named by an id, or null when it is not `address:port` with a valid port. */
export function parseRealId(id: string): RealAddress | null {
  let address: string;
  let portText: string;
  if (id.startsWith('[')) {
    const close = id.indexOf(']');
    if (close < 0 || id[close + 1] !== ':') return null;
    address = id.slice(1, close);
    portText = id.slice(close + 2);
    if (isIP(address) !== 6) return null;
  } else {
    const colon = id.lastIndexOf(':');
    if (colon < 0) return null;
    address = id.slice(0, colon);
    portText = id.slice(colon + 1);
    // A bare IPv6 address would split at its own last colon: demand the brackets instead of
    // guessing which colon was meant.
    if (address.includes(':') || address === '') return null;
  }
  // One spelling per port: no sign, no leading zero.
  if (!/^[1-9][0-9]{0,4}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  return { address, port };
}

/** The canonical text of an address (lowercase, shortest IPv6 form); non-IP text unchanged. */
export function canonicalAddress(address: string): string {
  const family = isIP(address);
  if (family === 0) return address;
  // WHATWG URL host parsing is the platform's canonicaliser for both families (RFC 5952 for v6).
  // A zone (`fe80::1%eth0`) is not a URL host: such an address is compared as written.
  try {
    const host = new URL(`http://${family === 6 ? `[${address}]` : address}/`).hostname;
    return family === 6 ? host.slice(1, -1) : host;
  } catch {
    return address;
  }
}

export function sameReal(a: RealAddress, b: RealAddress): boolean {
  return a.port === b.port && canonicalAddress(a.address) === canonicalAddress(b.address);
}
