// Real servers named by `address:port` (IPv6 `[address]:port`). The spelling is @sluice/config's
// (`realId`, `parseRealId`, `canonicalAddress`), so URLs, connection filters and the director's
// keys agree; what this adds is comparison in canonical form that tolerates text no validator
// has seen yet: `2001:DB8:0::1` and `2001:db8::1` are one server, and an operator who types
// either must reach it (and must not be able to add it twice).
import { canonicalAddress, realId } from '@sluice/config';

export interface RealAddress {
  address: string;
  port: number;
}

/** The canonical text of an address; text that is not an address is compared as written. */
export function canonicalText(address: string): string {
  try {
    return canonicalAddress(address).text;
  } catch {
    return address;
  }
}

/** The id of a real server in canonical spelling: what its URL and its listing say. */
export function canonicalRealId(address: string, port: number): string {
  return realId(canonicalText(address), port);
}

export function sameReal(a: RealAddress, b: RealAddress): boolean {
  return a.port === b.port && canonicalText(a.address) === canonicalText(b.address);
}
