// The simulator's contract: a run is a function of its parameters and seed; with no attack every
// strategy serves every valid client (otherwise the model, not the defense, is what fails); a
// SYN flood with no defense must cost valid clients (a full connection table, full thresholds
// refuse them — if it did not, the model would be wrong); the priority defense keeps valid
// clients served and never sheds the priority-0 partner; and what the defense counts (challenges,
// verified sources) is what the director did. Runs are the quick grid's shape.
import { describe, expect, it } from 'vitest';
import { STRATEGIES } from './director.ts';
import { QUICK_PARAMS, runSim, type SimResult } from './sim.ts';

const quick = (over: Partial<Parameters<typeof runSim>[0]>): SimResult =>
  runSim({ ...QUICK_PARAMS, scenario: 'syn-flood', strategy: 'priority', attackRate: 0, ...over });

const withoutWallTime = (r: SimResult) => ({ ...r, wallMs: 0 });

describe('simulator', () => {
  it('is deterministic for a seed, and a different seed gives a different run', () => {
    const a = quick({ scenario: 'mixed', attackRate: 3_000, seed: 7 });
    const b = quick({ scenario: 'mixed', attackRate: 3_000, seed: 7 });
    const c = quick({ scenario: 'mixed', attackRate: 3_000, seed: 8 });
    expect(withoutWallTime(a)).toEqual(withoutWallTime(b));
    expect(withoutWallTime(c)).not.toEqual(withoutWallTime(a));
  });

  it.each(STRATEGIES)('serves every valid client with no attack (%s)', (strategy) => {
    const r = quick({ strategy, attackRate: 0 });
    expect(r.validAttempts).toBeGreaterThan(100);
    expect(r.validSuccess).toBe(1);
    expect(r.partnerSuccess).toBe(1);
    expect(r.validFalselyReset).toBe(0);
    expect(r.attackerSlots).toBe(0);
    // With no pressure nobody is challenged, and every attempt got in on its first SYN.
    expect(r.challengesSent).toBe(0);
    expect(r.setupP99Ms).toBeLessThan(1_000);
  });

  it('a SYN flood with no defense costs valid clients (a full table, or full thresholds, refuse them)', () => {
    const none = quick({ strategy: 'none', attackRate: 20_000 });
    expect(none.validSuccess).toBeLessThan(0.8);
    expect(none.directorDrops['table-full']).toBeGreaterThan(0);
    const thresholds = quick({ strategy: 'none-thresholds', attackRate: 20_000 });
    expect(thresholds.validSuccess).toBeLessThan(0.5);
    expect(thresholds.directorDrops['no-real-server']).toBeGreaterThan(0);
  });

  it('the priority defense keeps valid clients served under a SYN flood and never sheds priority 0', () => {
    const r = quick({ strategy: 'priority', attackRate: 20_000 });
    expect(r.priority0Shed).toBe(0);
    expect(r.partnerSuccess).toBe(1);
    expect(r.validSuccess).toBeGreaterThanOrEqual(0.99);
    // the flood was challenged (and never answered); the valid clients answered
    expect(r.challengesSent).toBeGreaterThan(10_000);
    expect(r.sourcesVerified).toBeGreaterThan(0);
    expect(r.sourcesVerified).toBeLessThan(400);
  });

  it('clients behind a stealth NAT answer the challenge to their own SYN; behind a firewall that drops it, they cannot', () => {
    const stealth = quick({ strategy: 'priority', attackRate: 20_000, stealthShare: 1 });
    expect(stealth.validSuccess).toBeGreaterThanOrEqual(0.99);
    expect(stealth.sourcesVerified).toBeGreaterThan(0);
    const firewalled = quick({ strategy: 'priority', attackRate: 20_000, firewalledShare: 1 });
    expect(firewalled.validSuccess).toBeLessThan(0.5);
    expect(firewalled.validFailedHow['no-syn-ack']).toBeGreaterThan(0);
  });

  it('a spoofer using the addresses of clients behind stealth NATs gains nothing: each of their connections is challenged', () => {
    // Stealth NATs drop the probes that would reconfirm their clients and the servers' SYN-ACKs
    // for connections their clients never opened, so nobody resets the spoofs. Before each such
    // client was asked connection by connection, 5% of valid connections were reset here.
    for (const scenario of ['spoof-verified', 'spoof-walk'] as const) {
      const r = quick({ scenario, attackRate: 20_000, stealthShare: 1 });
      expect(r.validSuccess, scenario).toBeGreaterThanOrEqual(0.99);
      expect(r.validFalselyReset, scenario).toBeLessThanOrEqual(0.001);
      expect(r.attackerSlots, scenario).toBeLessThan(0.05);
    }
  });

  it("cookie guesses verify some of the attacker's addresses (once in 2^14), which buys its spoofs nothing", () => {
    const plain = quick({ scenario: 'spoof-kernel', attackRate: 20_000 });
    const guessing = quick({ scenario: 'spoof-guess', attackRate: 40_000 });
    // 20k guesses a second for 64 addresses: some come right, and those addresses are verified
    expect(guessing.sourcesVerified).toBeGreaterThan(plain.sourcesVerified);
    expect(guessing.directorDrops['no-entry']).toBeGreaterThan(200_000);
    // their spoofed connections get forwarded, and lose the verified band at their source's
    // reconfirmation: valid clients are served as under the same spoofer without guesses
    expect(guessing.validSuccess).toBeGreaterThanOrEqual(plain.validSuccess);
    expect(guessing.validFalselyReset).toBe(0);
  });

  it('ghost bots hold nothing on the real servers; the director, which cannot tell, still serves valid clients', () => {
    // Bots that forge their handshake and progress from real addresses (they answer the
    // director): the servers keep nothing, so with no defense every valid client is served.
    const over = { scenario: 'spread' as const, attackRate: 1_000, ghostBots: 1 };
    const none = quick({ ...over, strategy: 'none' });
    expect(none.attackerSlots).toBe(0);
    expect(none.validSuccess).toBe(1);
    const priority = quick(over);
    expect(priority.attackerSlots).toBe(0);
    expect(priority.sourcesVerified).toBeGreaterThan(400);
    // Their connections look served and verified, so nothing they outrank makes room; the valid
    // clients' SYNs go to the (idle) servers anyway instead of being refused.
    expect(priority.validSuccess).toBeGreaterThan(0.9);
  });

  it("with a load agent on each server the ghosts leave the director's count: every valid client served, none reset", () => {
    const over = {
      scenario: 'spread' as const,
      attackRate: 1_000,
      ghostBots: 1,
      strategy: 'priority' as const,
    };
    const without = quick(over);
    const withAgents = quick({ ...over, agentIntervalMs: 1000 });
    expect(withAgents.validSuccess).toBe(1);
    expect(withAgents.validFalselyReset).toBe(0);
    // Without agents the shedder acts on a count the ghosts fill, and resets more.
    expect(withAgents.resetsShed + withAgents.resetsDisplaced).toBeLessThan(
      without.resetsShed + without.resetsDisplaced,
    );
  });

  it("the renewing bot looks served to the director; with its servers' quiet lists valid clients are served and hardly any is reset before its answer", () => {
    const over = {
      scenario: 'spread' as const,
      strategy: 'priority' as const,
      attackRate: 1_000,
      botBareAckMs: 900,
      botForwardAck: 1,
      botRenewMs: 900,
      agentIntervalMs: 1000,
    };
    const countOnly = quick({ ...over, agentQuiet: 0 });
    const withQuiet = quick(over);
    expect(countOnly.validSuccess).toBeLessThan(0.9);
    expect(withQuiet.validSuccess).toBeGreaterThanOrEqual(0.99);
    // Reset before their answer: 15% of valid connections without the list, about 1% with it.
    const beforeAnswer = (r: SimResult) => r.validFalselyReset - (r.validResetIdle ?? 0);
    expect(beforeAnswer(countOnly)).toBeGreaterThan(0.1);
    expect(beforeAnswer(withQuiet)).toBeLessThan(0.02);
  });

  it("slow readers' zero windows are not progress: their connections stall and are shed; withholding acknowledgements is seen only between acknowledgements a second apart", () => {
    const over = { scenario: 'slow-read' as const, strategy: 'priority' as const, attackRate: 1_000 };
    const zero = quick(over);
    expect(zero.validSuccess).toBeGreaterThanOrEqual(0.97);
    expect(zero.resetsShed + zero.resetsDisplaced).toBeGreaterThan(0);
    // A reader that keeps its window open and acknowledges a segment every 1.9 s idles past
    // servedIdleMs between them: an idle keep-alive connection, below a new client.
    const open = quick({ ...over, slowReadOpenWindow: 1 });
    expect(open.validSuccess).toBeGreaterThanOrEqual(0.97);
    // One that acknowledges every 0.9 s looks served (the limit DEFENSE.md §6 names).
    const fast = quick({ ...over, slowReadOpenWindow: 1, botIntervalMs: 900 });
    expect(fast.validSuccess).toBeLessThan(open.validSuccess);
  });

  it("with its servers' slow lists the reader that acknowledges a segment every 0.9 s is marked and loses its slots; one just above the agent's floor is not", () => {
    const over = {
      scenario: 'slow-read' as const,
      strategy: 'priority' as const,
      attackRate: 1_000,
      slowReadOpenWindow: 1,
      botIntervalMs: 900,
      agentIntervalMs: 1000,
    };
    const noList = quick({ ...over, agentSlowBps: 0 });
    const withList = quick(over);
    expect(withList.validSuccess).toBeGreaterThan(noList.validSuccess);
    expect(withList.validSuccess).toBeGreaterThanOrEqual(0.95);
    // 1900 bytes every 0.9 s is 2111 bytes/s, over the 2048 floor: nothing listed, as without it.
    const above = quick({ ...over, slowReadBytes: 1900 });
    expect(above.validSuccess).toBe(quick({ ...over, slowReadBytes: 1900, agentSlowBps: 0 }).validSuccess);
  });

  it("valid clients' slow downloads alone are a few of each server's connections: the slow list marks none of them, and changes nothing", () => {
    const over = {
      scenario: 'spread' as const,
      strategy: 'priority' as const,
      attackRate: 4_000,
      agentIntervalMs: 1000,
      validSlowShare: 0.1,
    };
    const noList = quick({ ...over, agentSlowBps: 0 });
    const withList = quick(over);
    expect(withList.validSlowDownloads).toBeGreaterThan(0);
    expect([withList.validSuccess, withList.validSlowCut]).toEqual([
      noList.validSuccess,
      noList.validSlowCut,
    ]);
  });

  it('slow-header bots with real addresses are verified, and still lose their slots to valid clients', () => {
    const r = quick({ scenario: 'slow-header', strategy: 'priority', attackRate: 1_000 });
    expect(r.validSuccess).toBeGreaterThanOrEqual(0.99);
    expect(r.resetsShed + r.resetsDisplaced).toBeGreaterThan(0);
    expect(r.validFalselyReset).toBe(0);
  });

  it('bots that drop each head just under the stall grace for a fresh connection (churnMs) hold the servers with no defense, not with one', () => {
    const over = { scenario: 'slow-header' as const, attackRate: 1_000, churnMs: 4_900 };
    const none = quick({ ...over, strategy: 'none' });
    expect(none.validSuccess).toBeLessThan(0.5);
    expect(none.attackerSlots).toBeGreaterThan(0.9);
    const r = quick({ ...over, strategy: 'priority' });
    expect(r.validSuccess).toBeGreaterThanOrEqual(0.99);
    // Each head sinks by its idle time before it is dropped, and is shed.
    expect(r.resetsShed).toBeGreaterThan(0);
  });

  it('a SYN flood from one live host (floodSources) verifies it and is forwarded; its resets close what it opened', () => {
    const over = { scenario: 'syn-flood' as const, attackRate: 5_000, floodSources: 1 };
    const r = quick({ ...over, strategy: 'priority' });
    // the flooding host answered its challenges: its SYNs were forwarded, not challenged for ever
    expect(r.directorDrops['challenge-answer']).toBeGreaterThan(0);
    expect(r.challengesSent).toBeLessThan(5_000);
    expect(r.validSuccess).toBeGreaterThanOrEqual(0.99);
    expect(r.attackerSlots).toBe(0);
    // with no defense its closed entries (IPVS keeps them 10 s) fill the table (a small one here)
    const none = quick({ ...over, strategy: 'none', tableCapacity: 8192 });
    expect(none.directorDrops['table-full']).toBeGreaterThan(0);
  });
});
