// The real-kernel evaluation's --quick grid, run as the CLI runs it: root, the namespace lab, the
// real daemon with its default defense, worker-pool real servers with syncookies, Internet-like
// valid clients (mostly first-time sources, real TCP stacks) and the kernel-shaped blind spoofer
// (spoof_ack.py --mode kernel, 2000 connections/s: SYNs retransmitted like a kernel's, blind ACK,
// blind payload, blind ACK progress), priority against none (the IPVS default, no thresholds).
// Asserted: the shape of every line, and that the defense does what it exists for against this
// attacker, which earns every credit a blind spoofer can: valid clients are served (≥ 0.97) and
// their sources are verified through the director's challenge. How `none` fares is reported, not
// asserted (its real servers' syncookies decide it). A machine that cannot build the lab fails
// with the lab's own reason, never a silent skip. A second run puts ghost bots (ghost.py) against
// the director with a load agent (sluice-agent) on each real server; a third, slow readers; a
// fourth, the stock slow-HTTP tool (slowhttptest -B) from one address; a fifth, a UDP flood that
// fills the connection table; a sixth, hping3's SYN flood from its own (live) address.

import { isEvalResult } from '@sluice/eval-report';
import { describe, expect, it } from 'vitest';
import { type LabEvalResult, runLabEval } from './eval.ts';

const NUMBER_FIELDS = [
  'attackPps',
  'attackRate',
  'validSuccess',
  'validFalselyReset',
  'priority0Shed',
  'attackerSlots',
  'challengesSent',
  'sourcesVerified',
  'attackOfferedPps',
  'directorPps',
  'validAttempts',
] as const;

/** One --quick evaluation: its results (as the CLI prints them) and its progress lines. */
async function quickEval(
  opts: Omit<Parameters<typeof runLabEval>[0], 'quick' | 'log'>,
): Promise<{ results: LabEvalResult[]; lines: string[] }> {
  const results: LabEvalResult[] = [];
  const lines: string[] = [];
  for await (const r of runLabEval({ ...opts, quick: true, log: (l) => lines.push(l) })) {
    results.push(JSON.parse(JSON.stringify(r)) as LabEvalResult);
  }
  return { results, lines };
}

/**
 * One --quick run of `priority` alone: its result, the text to show with a failed expectation,
 * and the checks every such run makes (one line, and a lab that stayed healthy).
 */
async function priorityRun(
  opts: Omit<Parameters<typeof runLabEval>[0], 'quick' | 'log' | 'strategies'>,
): Promise<{ r: LabEvalResult; why: string }> {
  const { results, lines } = await quickEval({ ...opts, strategies: ['priority'] });
  expect(results).toHaveLength(1);
  const [r] = results;
  const why = `${JSON.stringify(r)}\n${lines.join('\n')}`;
  expect(r.labHealthy, why).toBe(true);
  return { r, why };
}

describe('lab evaluation --quick (needs root, hping3, tcpdump, python3)', () => {
  it('prints one well-formed line per run; priority serves valid clients through a kernel-shaped spoof flood', async () => {
    // Its own lab name and subnet: a CLI evaluation running at the same time keeps its lab.
    const { results, lines } = await quickEval({ labName: 'levt', subnet: 242 });
    expect(results.map((r) => `${r.strategy}/${r.scenario}`)).toEqual([
      'priority/spoof-kernel',
      'none/spoof-kernel',
    ]);
    for (const r of results) {
      expect(r.mode).toBe('lab');
      // the line both evaluations print, which the report reads
      expect(isEvalResult(r), JSON.stringify(r)).toBe(true);
      expect(r.attackUnit).toBe('pps');
      for (const f of NUMBER_FIELDS) expect(typeof r[f], `${f} of ${JSON.stringify(r)}`).toBe('number');
      for (const f of ['validSuccess', 'validFalselyReset'] as const) {
        expect(r[f]).toBeGreaterThanOrEqual(0);
        expect(r[f]).toBeLessThanOrEqual(1);
      }
      // Entries beyond the valid clients' over Σ upperThreshold: above 1 once a flood fills a
      // table that nothing bounds (none).
      expect(r.attackerSlots).toBeGreaterThanOrEqual(0);
      for (const f of [
        'validSuccessNew',
        'validSuccessReturning',
        'setupP50Ms',
        'setupP99Ms',
        'setupP99NewMs',
      ] as const) {
        expect(r[f] === null || typeof r[f] === 'number', `${f}: ${r[f]}`).toBe(true);
      }
      expect(r.labHealthy, JSON.stringify(r)).toBe(true);
      expect(r.validAttempts).toBeGreaterThan(0);
      // The spoofer ran: the director saw far more than the valid clients' frames.
      expect(r.attackPps, JSON.stringify(r)).toBeGreaterThan(1000);
    }
    const [priority, none] = results;
    const why = `${JSON.stringify(priority)}\n${lines.join('\n')}`;
    expect(priority.validSuccess, why).toBeGreaterThanOrEqual(0.97);
    // It got there by verifying sources: challenges went out and real stacks answered them.
    expect(priority.challengesSent, why).toBeGreaterThan(0);
    expect(priority.sourcesVerified, why).toBeGreaterThan(0);
    expect(none.challengesSent).toBe(0);
  }, 300_000);

  it('ghost bots (forged handshakes from real addresses) hold nothing on the servers; the load agents take them out of the count', async () => {
    const { r, why } = await priorityRun({
      scenarios: ['spread'],
      agent: true,
      ghostBots: true,
      labName: 'levg',
      subnet: 243,
    });
    expect([r.agent, r.ghostBots], why).toEqual([true, true]);
    // The ghosts ran (400 connections, the cluster's capacity) and the director counted them
    // held: what made it refuse valid clients before admission over capacity and the agents.
    expect(r.botsOpenMean as number, why).toBeGreaterThan(300);
    expect(r.heldMean as number, why).toBeGreaterThan(300);
    // The servers said they held far less: most of Held came out of the count.
    expect(r.unheldMean as number, why).toBeGreaterThan((r.botsOpenMean as number) / 2);
    expect(r.validSuccess, why).toBeGreaterThanOrEqual(0.97);
    expect(r.validFalselyReset, why).toBe(0);
  }, 300_000);

  it("slow readers' zero windows (real kernels, the smallest receive buffer) are not progress: their connections stall", async () => {
    const { r, why } = await priorityRun({ scenarios: ['slow-read'], labName: 'levr', subnet: 244 });
    // The readers ran (400 connections, the cluster's capacity) and hold the servers' workers.
    expect(r.botsOpenMean as number, why).toBeGreaterThan(300);
    // At the director their connections rank stalled (7), not served (2): before the rule, a
    // third sat at 2, out of the shedder's reach, and valid success fell to 0.64-0.82 (DEFENSE.md §5).
    const byPriority = (r.atDirector as { bots: { byPriority: Record<string, number> } }).bots.byPriority;
    const total = Object.values(byPriority).reduce((a, b) => a + b, 0);
    const sunk = Object.entries(byPriority).reduce((a, [p, n]) => (Number(p) >= 7 ? a + n : a), 0);
    expect(total, why).toBeGreaterThan(300);
    expect(sunk / total, why).toBeGreaterThan(0.8);
    expect(r.validSuccess, why).toBeGreaterThanOrEqual(0.97);
  }, 300_000);

  it('the stock slow-body attacker (slowhttptest -B, 1000 connections from one address) holds every worker with no defense, and valid clients are served with one', async () => {
    const { results, lines } = await quickEval({
      strategies: ['priority', 'none'],
      scenarios: ['slowhttptest-B'],
      labName: 'levs',
      subnet: 245,
    });
    expect(results.map((r) => r.strategy)).toEqual(['priority', 'none']);
    const [priority, none] = results;
    const why = `${JSON.stringify(results)}\n${lines.join('\n')}`;
    for (const r of results) expect(r.labHealthy, why).toBe(true);
    // The tool ran and its bodies held the servers' workers: with no defense nobody else got one.
    expect(none.realWorkersBusyMean as number[], why).toEqual([200, 200]);
    expect(none.validSuccess, why).toBeLessThan(0.5);
    expect(priority.validSuccess, why).toBeGreaterThanOrEqual(0.97);
    expect(priority.validFalselyReset, why).toBe(0);
  }, 300_000);

  it('a random-source UDP flood at a service without thresholds fills the shared table; first-time TCP clients are verified and get in', async () => {
    const { r, why } = await priorityRun({ scenarios: ['udp-flood'], labName: 'levu', subnet: 247 });
    // the flood's entries filled the table (64Ki) while no service neared its capacity
    expect(r.otherEntriesMean as number, why).toBeGreaterThan(40_000);
    // the table's share switched verification on: first-time clients were challenged, answered,
    // and outranked the flood's entries (before, 0.84-0.97 of them got in: DEFENSE.md §5)
    expect(r.challengesSent, why).toBeGreaterThan(0);
    expect(r.validSuccessNew, why).toBeGreaterThanOrEqual(0.97);
    expect(r.validSuccess, why).toBeGreaterThanOrEqual(0.97);
  }, 300_000);

  it("hping3 from a live address, --flood and paced: its half-open entries take no server's slot at the onset; paced below the director's ingest, every valid client is served and none is shed", async () => {
    // --flood, then -i u10 (some 57k SYNs a second here, a third of what the director ingests
    // beside a --flood on a 2-vCPU VM).
    const { results, lines } = await quickEval({
      scenarios: ['syn-flood-real'],
      strategies: ['priority'],
      levels: ['flood', 10],
      labName: 'levh',
      subnet: 248,
    });
    expect(results.map((r) => r.attackLevel)).toEqual(['flood', 10]);
    for (const r of results) {
      const why = `${JSON.stringify(r)}\n${lines.join('\n')}`;
      expect(r.labHealthy, why).toBe(true);
      // verified at once (a live host), its SYNs forwarded; the resets its kernel sends reach the
      // director late or not at all, and its entries used to be counted as held past their
      // provisional time: 150-812 on average in 10 of 16 runs before (capacity 400), valid
      // connections shed in 6 (DEFENSE.md §5, "The real-address flood's onset"); after, 0-64 in 44
      // runs (58: the director read the flood host's probe answer late, and the server stayed at
      // its threshold for the onset's unverified SYNs' second, their half-open entries released to 190).
      // At --flood on a VM whose kernel drops half the flood (2026-12-08's Xeon, CI at c06c9b5: 100)
      // the director also misses half the flood host's resets and probe answers; under 150 still
      // tells the fixed onset from the old one.
      expect(r.heldMean as number, why).toBeLessThan(r.attackLevel === 'flood' ? 150 : 100);
    }
    // At --flood what valid clients get is the director's ingest as much as the defense: at its
    // ceiling the kernel drops their segments with the flood's, a lost challenge or answer costs
    // a client its 1 s timeout, and a request lost after its handshake leaves a silent connection
    // the shedder may take (CI at 7f62050 on an EPYC VM, 10 877 frames a second dropped: 0.967,
    // nothing reset; on 2026-12-08's Xeon VM half the flood dropped: 0.58-0.79, one valid
    // connection in 124 shed, the code before that day's change alike: DEFENSE.md §5). Paced,
    // nothing is dropped, and the defense alone decides.
    const paced = results[1];
    const why = `${JSON.stringify(paced)}\n${lines.join('\n')}`;
    expect(paced.validSuccess, why).toBeGreaterThanOrEqual(0.97);
    expect(paced.validFalselyReset, why).toBe(0);
  }, 300_000);
});
