// The lab evaluation's grid and addresses, as data: which strategy arms and attacker scenarios run
// at which levels, where every population lives in the overlay, and the director config of each
// arm. Pure (no root, no lab), so it can be tested and read on its own; eval.ts runs it.
import type { ConfigFile, DefenseConfig } from '@sluice/config';
import { DEFENSE_WEIGHTS } from '@sluice/defense';
import { EVAL_STRATEGIES, type EvalStrategy, ipvsThresholdFor } from '@sluice/eval-report';

/**
 * The arms compared in one run of the grid. `priority` is the daemon's defaults (no tuning).
 * `none` is the IPVS default: no defense, no upper thresholds (the reals' own syncookies are all
 * there is). `none-thresholds` adds the upper thresholds. The LVS defenses run with thresholds, in
 * mode 3 (always on: each measured engaged) and `countInactive` (IPVS's ActiveConn + InActConn).
 */
export const STRATEGIES = EVAL_STRATEGIES;
export type Strategy = EvalStrategy;

/** The adversarial suite (README.md says what each one does and why). */
export const SCENARIOS = [
  'no-attack',
  'syn-flood',
  'syn-flood-real',
  'ack-flood',
  'rst-flood',
  'udp-flood',
  'spoof-kernel',
  'spoof-partner',
  'spoof-verified',
  'spoof-walk',
  'spoof-gone',
  'slow-header',
  'slow-forged',
  'idle-hold',
  'spread',
  'slow-read',
  'slow-read-reopen',
  'slow-read-under',
  'slow-link',
  'slow-link-above',
  'spread-renew',
  'header-churn',
  'slowhttptest-H',
  'slowhttptest-B',
  'slowhttptest-X',
  'http-flood',
  'mixed',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

/**
 * The attack's level: the hping3 floods: 'flood' (hping3 --flood) or µs between packets
 * (hping3 -i u<N>);
 * the spoofers: spoofed connections per second; the bots: connections held; 0: no attack.
 */
export type AttackLevel = 0 | 'flood' | number;

/** Scenarios whose attackers are real-address bots (they get BOT_LEAD_MS before the window). */
export const BOT_SCENARIOS: readonly Scenario[] = [
  'slow-header',
  'slowhttptest-H',
  'slowhttptest-B',
  'slowhttptest-X',
  'http-flood',
  'slow-forged',
  'idle-hold',
  'spread',
  'slow-read',
  'slow-read-reopen',
  'slow-read-under',
  'slow-link',
  'slow-link-above',
  'spread-renew',
  'header-churn',
  'mixed',
];

export const LAB_NAME = 'lev';
/** Fixed and outside 20..219 (the lab's default subnets) and away from the e2e suite's 231. */
export const SUBNET = 241;
export const REALS = 2;
/** Workers per real server: the most connections it serves at once, and its upperThreshold. */
export const WORKERS = 200;
export const VALID_RATE = 20;
export const PARTNER_RATE = 2;
/**
 * A connection's chance to come from an address used before. 0.45: the 256 addresses then last
 * the whole run (3 s + 20 s at 20/s ≈ 460 connections, ~253 first uses), so first-time and
 * returning sources are spread over the whole window alike; with fewer returning ones the fresh
 * addresses run out near its end and the late seconds are all returning.
 */
export const RETURN_PROB = 0.45;
export const DEADLINE_MS = 4000;
export const WARMUP_MS = 3000;
/**
 * Real-address bots start this long before the measured window: they ramp up, answer challenges
 * and settle (an idle-hold bot's stall shows only 5 s after its first trickled byte), so the window
 * measures the attack in its steady state. Spoofers are at full strength at once: no lead.
 */
export const BOT_LEAD_MS = 8000;
/** Scenarios whose bots run on the spread addresses (Addresses.spread, in spreadCidr). */
export const SPREAD_SCENARIOS: readonly Scenario[] = [
  'spread',
  'slow-read',
  'slow-read-reopen',
  'slow-read-under',
  'slow-link',
  'slow-link-above',
  'spread-renew',
  'header-churn',
];
/** Real-address bots: addresses × connections each = 400, the cluster's capacity (a level doubles it). */
export const BOT_ADDRESSES = 100;
export const BOTS_PER_ADDRESS = 4;
/**
 * spread: addresses over 64 /24s, each holding the fair share's floor: never over any share the
 * director can publish, however many sources hold connections. Enough for twice the capacity.
 */
export const SPREAD_PER_ADDRESS = DEFENSE_WEIGHTS.fairShareFloor;
export const SPREAD_ADDRESSES = Math.ceil(800 / SPREAD_PER_ADDRESS);
/** udp-flood: the UDP service's port (beside the web service, on the same VIP and reals). */
export const UDP_FLOOD_PORT = 443;
/** slowhttptest's -c and wrk's: the connections one tool keeps open from one address. */
export const ONE_ADDRESS_CONNECTIONS = 1000;
/** spoof-gone: addresses verified and then gone (the simulator uses 3000; the lab's attacker namespace holds 1000). */
export const GONE_ADDRESSES = 1000;

export interface RunSpec {
  scenario: Scenario;
  strategy: Strategy;
  attack: AttackLevel;
  durationS: number;
}

export interface PlanOptions {
  quick?: boolean;
  strategies?: readonly Strategy[];
  scenarios?: readonly Scenario[];
  durationS?: number;
  /** These attack levels instead of each scenario's own (levels()). */
  levels?: readonly AttackLevel[];
}

/** The levels each scenario runs at: from ~1k packets/s up to what the director ingests here. */
export function levels(scenario: Scenario, quick: boolean): AttackLevel[] {
  switch (scenario) {
    case 'no-attack':
      return [0];
    case 'syn-flood':
      return quick ? ['flood'] : [1000, 100, 'flood'];
    case 'syn-flood-real':
      return quick ? ['flood'] : [100, 'flood'];
    case 'ack-flood':
    case 'rst-flood':
    case 'udp-flood':
      return ['flood'];
    case 'spoof-kernel':
      // ~9 packets a connection: 120/s ≈ 1k pps, 2000/s ≈ 18k pps, 20000/s: as fast as it goes.
      return quick ? [2000] : [120, 2000, 20000];
    case 'spoof-partner':
    case 'spoof-verified':
    case 'spoof-walk':
    case 'spoof-gone':
      return [2000];
    case 'slow-header':
    case 'slow-forged':
    case 'idle-hold':
      // The cluster's capacity, then twice it (8 a source: still not above the fair-share floor).
      return quick
        ? [BOT_ADDRESSES * BOTS_PER_ADDRESS]
        : [BOT_ADDRESSES * BOTS_PER_ADDRESS, BOT_ADDRESSES * 8];
    case 'spread':
    case 'slow-read':
    case 'header-churn':
      return quick ? [400] : [400, 800];
    case 'slow-read-reopen':
    case 'slow-read-under':
    case 'slow-link':
    case 'slow-link-above':
    case 'spread-renew':
      return [400];
    case 'slowhttptest-H':
    case 'slowhttptest-B':
    case 'slowhttptest-X':
    case 'http-flood':
      // the tool's connections from one address: 2.5 times the cluster (wrk's each send a request
      // after the last response, as fast as one of the machine's two cores does)
      return [ONE_ADDRESS_CONNECTIONS];
    case 'mixed':
      return [1];
  }
}

/** The runs of a full evaluation or of --quick, in order. */
export function planRuns(opts: PlanOptions = {}): RunSpec[] {
  const quick = opts.quick ?? false;
  const durationS = opts.durationS ?? (quick ? 6 : 20);
  const strategies = opts.strategies ?? (quick ? (['priority', 'none'] as const) : STRATEGIES);
  const scenarios = opts.scenarios ?? (quick ? (['spoof-kernel'] as const) : SCENARIOS);
  const runs: RunSpec[] = [];
  for (const scenario of scenarios) {
    for (const attack of opts.levels ?? levels(scenario, quick)) {
      for (const strategy of strategies) runs.push({ scenario, strategy, attack, durationS });
    }
  }
  return runs;
}

// --- addresses -------------------------------------------------------------------------------

export interface Addresses {
  /** Valid Internet clients: 16 addresses in each of 16 /24s. */
  valid: string[];
  validCidr: string;
  /** The priority-0 rule's prefix, and the partner clients inside it. */
  partnerCidr: string;
  partners: string[];
  /** slow-header, slow-forged, idle-hold bots (one /24). */
  bots: string[];
  botCidr: string;
  /** spread and slow-read: addresses in 64 /24s (up to 7 in each). */
  spread: string[];
  spreadCidr: string;
  /**
   * spoof-gone: hosts on the attacker's side that answer the director (verified) just before the
   * attack and then leave the network; the spoofer then uses their addresses (4 /24s).
   */
  gone: string[];
  goneCidr: string;
  blackholeGw: string;
}

export function addresses(subnet: number): Addresses {
  const o = (x: number, h: number): string => `10.${subnet}.${x}.${h}`;
  const valid: string[] = [];
  for (let x = 16; x < 32; x++) for (let h = 1; h <= 16; h++) valid.push(o(x, h));
  return {
    valid,
    validCidr: `10.${subnet}.16.0/20`,
    partnerCidr: `10.${subnet}.200.0/24`,
    partners: Array.from({ length: 8 }, (_, i) => o(200, 1 + i)),
    bots: Array.from({ length: BOT_ADDRESSES }, (_, i) => o(40, 1 + i)),
    botCidr: `10.${subnet}.40.0/24`,
    spread: Array.from({ length: SPREAD_ADDRESSES }, (_, i) => o(64 + (i % 64), 9 + Math.floor(i / 64))),
    spreadCidr: `10.${subnet}.64.0/18`,
    gone: Array.from({ length: GONE_ADDRESSES }, (_, i) => o(136 + (i % 4), 1 + Math.floor(i / 4))),
    goneCidr: `10.${subnet}.136.0/22`,
    blackholeGw: o(0, 254),
  };
}

// --- director config ---------------------------------------------------------------------------

/** The defense section of an arm: priority with its defaults, or a baseline. */
export function defenseFor(strategy: Strategy, partnerCidr: string): Partial<DefenseConfig> {
  // The partner rule is part of the deployment (a priority-0 prefix); its `verify` is the default.
  const rules = [{ cidr: partnerCidr, priority: 0 }];
  // The lab's 10.x clients are in the default bogon list; the checks are off for every arm.
  const sourceChecks = { enabled: false, action: 'lowest' as const };
  if (strategy === 'priority') return { strategy: 'priority', rules, sourceChecks };
  const lvs = {
    dropEntry: strategy === 'drop_entry' ? 3 : 0,
    dropPacket: strategy === 'drop_packet' ? 3 : 0,
    secureTcp: strategy === 'secure_tcp' ? 3 : 0,
    amemthresh: 0,
    amDroprate: 10,
  };
  return {
    strategy: strategy === 'none-thresholds' ? 'none' : strategy,
    countInactive: true,
    lvs,
    rules,
    sourceChecks,
  };
}

/**
 * Each real server's upper threshold in an arm: `priority` counts what the servers hold, so its
 * threshold is their workers; the LVS baselines count IPVS's way (inactive entries too) and run
 * with the threshold an operator sizes for that (eval-report's ipvsThresholdFor, as the
 * simulator's baselines); `none` has none (the IPVS default), nor any arm with `noThresholds`.
 */
export function thresholdFor(strategy: Strategy, noThresholds = false): number {
  if (strategy === 'none' || noThresholds) return 0;
  if (strategy === 'priority') return WORKERS;
  return ipvsThresholdFor(WORKERS, VALID_RATE + PARTNER_RATE, REALS);
}

/** What the lab hands the config builder (Lab has more; these are what the config needs). */
export interface LabForConfig {
  directorUnderlay: string;
  directorConfig(opts: { healthCheck: null }): Pick<ConfigFile, 'overlay' | 'services'>;
}

export function directorConfig(
  lab: LabForConfig,
  spec: RunSpec,
  a: Addresses,
  apiPort: number,
  tokenFile: string,
  agentPort: number | null = null,
  noThresholds = false,
): ConfigFile {
  const live = lab.directorConfig({ healthCheck: null });
  if (spec.scenario === 'udp-flood') {
    // A UDP service on the same VIP and reals (a DNS or QUIC service beside the web one): what
    // the flood aims at, sharing the director's connection table with the web service.
    const [web] = live.services;
    live.services.push({
      ...web,
      name: `${web.name}-udp`,
      port: UDP_FLOOD_PORT,
      protocol: 'udp',
      reals: web.reals.map((r) => ({ ...r, port: UDP_FLOOD_PORT })),
    });
  }
  for (const s of live.services) {
    s.scheduler = 'wlc';
    for (const r of s.reals) {
      // udp-flood's UDP service has no thresholds (an operator's usual DNS or QUIC service): its
      // flows count toward nothing, and the flood meets only the table they share
      r.upperThreshold = s.protocol === 'udp' ? 0 : thresholdFor(spec.strategy, noThresholds);
      // The agent listens on the real's underlay address, the config's default (its VTEP).
      if (agentPort !== null) r.agent = { port: agentPort, intervalSeconds: 1, timeoutSeconds: 0.5 };
    }
  }
  return {
    daemon: {
      vxlan: { address: lab.directorUnderlay, port: 4789 },
      api: { address: '127.0.0.1', port: apiPort },
      workers: 2,
      connectionCapacity: 65536,
      tokenFile,
    },
    ...live,
    // Validation fills every default the section leaves out.
    defense: defenseFor(spec.strategy, a.partnerCidr) as DefenseConfig,
  };
}

/**
 * The home router's addresses (eval.ts homeRouter): `a` with the valid clients and partners on
 * private addresses (172.31.16.0/20, in order), and each private address's public one: its own
 * (1:1), or, with `cgnatAddresses` above 0, the valid clients spread over that many public
 * addresses (a carrier NAT) while the partners stay 1:1.
 */
export function natAddresses(
  a: Addresses,
  cgnatAddresses = 0,
): { inside: Addresses; toPublic: Map<string, string> } {
  const priv = (i: number): string => `172.31.${16 + Math.floor(i / 200)}.${(i % 200) + 1}`;
  const inside = {
    ...a,
    valid: a.valid.map((_, i) => priv(i)),
    partners: a.partners.map((_, i) => priv(4000 + i)),
  };
  const publicOf = (i: number): string => a.valid[cgnatAddresses > 0 ? i % cgnatAddresses : i];
  const toPublic = new Map<string, string>([
    ...inside.valid.map((x, i): [string, string] => [x, publicOf(i)]),
    ...inside.partners.map((x, i): [string, string] => [x, a.partners[i]]),
  ]);
  return { inside, toPublic };
}
