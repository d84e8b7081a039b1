// Verdicts and drop reasons: the small vocabulary a frame's fate is told in. Drop reasons 1..15
// are the wire parser's ParseStatus codes, so a parse failure is counted under its own name.
import { PARSE_STATUS_NAMES } from '@sluice/wire';

export const Verdict = { drop: 0, forward: 1, reply: 2 } as const;
export const VERDICT_NAMES: readonly string[] = ['drop', 'forward', 'reply'];

export const DropReason = {
  wrongVni: 16,
  noService: 17,
  noEntry: 18,
  tableFull: 19,
  contention: 20,
  noRealServer: 21,
  fragment: 22,
  unsupported: 23,
  icmpNoFlow: 24,
  notForUs: 25,
  realGone: 26,
  capacity: 27,
  sourceCheck: 28,
  frameTooLarge: 29,
  /** A port had no free batch: the workers are behind; dropped rather than queued without bound. */
  backpressure: 30,
  /** Frames arrived before any configuration was published. */
  noConfig: 31,
  /** LVS drop_packet: 1 in `rate` new connections refused. */
  dropPacket: 32,
  /** An RST that answered the director's challenge or probe (its source is now verified): consumed. */
  challengeAnswer: 33,
  /** The port could not hand a classified frame to the kernel (send buffer full, no IPv4 VTEP).
   * Counted beside the frame's verdict, which stays what the pipeline decided. */
  sendFailed: 34,
} as const;

export const DROP_REASON_COUNT = 40;

/** Stable names for metrics labels, indexed by reason code; empty strings are unused codes. */
export const DROP_REASON_NAMES: readonly string[] = (() => {
  const names = new Array<string>(DROP_REASON_COUNT).fill('');
  for (let i = 1; i < PARSE_STATUS_NAMES.length; i++) names[i] = PARSE_STATUS_NAMES[i];
  const own: Record<number, string> = {
    16: 'wrong-vni',
    17: 'no-service',
    18: 'no-entry',
    19: 'table-full',
    20: 'contention',
    21: 'no-real-server',
    22: 'fragment',
    23: 'unsupported',
    24: 'icmp-no-flow',
    25: 'not-for-us',
    26: 'real-gone',
    27: 'capacity',
    28: 'source-check',
    29: 'frame-too-large',
    30: 'backpressure',
    31: 'no-config',
    32: 'drop-packet',
    33: 'challenge-answer',
    34: 'send-failed',
  };
  for (const [code, name] of Object.entries(own)) names[Number(code)] = name;
  return names;
})();
