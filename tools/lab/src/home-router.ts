// The nft ruleset of a Linux home router in front of lab clients (table `ip sluicehome`), shared
// by the end-to-end test and the defense evaluation: source NAT out of the overlay (vx0), forward
// only what belongs to a connection opened from inside, and drop invalid packets arriving for the
// router itself, so it never answers the director's challenge on its clients' behalf (conntrack
// takes a challenge acknowledging more than the client sent for invalid; challenge.ts places the
// cookie where a router lets it through to the client).

/** One public address for every client behind it, or each private address its own (1:1). */
export type HomeRouterNat =
  | { publicAddress: string }
  | { privatePrefix: string; toPublic: ReadonlyMap<string, string> };

/** The table's name, for `nft delete table ip ${HOME_ROUTER_TABLE}`. */
export const HOME_ROUTER_TABLE = 'sluicehome';

/** The ruleset for `nft -f -` on the router; `inside` is its interface toward the clients. */
export function homeRouterRuleset(inside: string, nat: HomeRouterNat): string {
  const lines = [`table ip ${HOME_ROUTER_TABLE} {`];
  if ('publicAddress' in nat) {
    lines.push(
      `  chain post_home { type nat hook postrouting priority 100; oifname "vx0" snat to ${nat.publicAddress}; }`,
    );
  } else {
    const elements = [...nat.toPublic].map(([from, to]) => `${from} : ${to}`).join(', ');
    lines.push(
      `  map public { type ipv4_addr : ipv4_addr; elements = { ${elements} } }`,
      `  chain post_home { type nat hook postrouting priority 100; oifname "vx0" ip saddr ${nat.privatePrefix} snat ip to ip saddr map @public; }`,
    );
  }
  lines.push(
    `  chain forward_home { type filter hook forward priority 0; policy drop; ct state established,related accept; iifname "${inside}" accept; }`,
    '  chain input_home { type filter hook input priority 0; iifname "vx0" ct state invalid drop; }',
    '}',
    '',
  );
  return lines.join('\n');
}
