// The defense: connection priorities, subnet rules, source checks, the background re-scorer and
// the victim index shedding reads; and the LVS baselines.
export { isIdleKeepAlive, isKeepAlive, PRIORITY_BEST_SCORED, PriorityAdjuster } from './adjust.ts';
export { Challenger, CookieKind, probePortFor } from './challenge.ts';
export { type Cidr, formatCidr, parseCidr, wordMask } from './cidr.ts';
export {
  DefenseLoop,
  type DefenseLoopOptions,
  type DefenseLoopParts,
  type DefenseTopology,
  LVS_EVERY_MS,
  SHED_EVERY_MS,
  VerifyModeCode,
} from './defense-loop.ts';
export { DefenseState, DefenseStateWord } from './defense-state.ts';
export { DefenseError, DefenseErrorCode } from './errors.ts';
export { explainPriority } from './explain.ts';
export * from './lvs-defense.ts';
export { PrefixTrie, type TriePrefix } from './prefix-trie.ts';
export {
  PRIORITY_HIGHEST,
  PRIORITY_LOWEST,
  type PriorityRule,
  PriorityRules,
} from './priority-rules.ts';
export {
  DEMOTED_POINTS,
  HOLDS_AFTER_PROVISIONAL,
  provisionalFor,
  Reconfirm,
  reconfirmVerdict,
} from './reconfirm.ts';
export { Rescorer, type RescorerTables } from './rescorer.ts';
export {
  RESCORER_WORKER_URL,
  type RescorerStats,
  RescorerThread,
  type RescorerThreadOptions,
} from './rescorer-thread.ts';
export {
  DefenseConnFlag,
  PriorityScorer,
  SCORE_DROP,
  ScoreReason,
  SOURCE_LOOKUP,
  SOURCE_NONE,
  StoredReason,
  storedReasons,
} from './scorer.ts';
export {
  ACK_LATE_MS,
  QUIET_KEY_WORDS,
  type QuietApplied,
  type QuietEntry,
  type ReportExtras,
  ServerQuietMarks,
  SLOW_SHARE_FREE,
  type SlowEntry,
  slowToMark,
} from './server-quiet.ts';
export {
  HalfOpenRelease,
  type ResetSender,
  Shedder,
  type ShedderParts,
  type ShedTopology,
} from './shedder.ts';
export {
  BogonAction,
  DEFAULT_BOGON_PREFIXES,
  type SourceCheckConfig,
  SourceChecks,
  SourceVerdict,
} from './source-checks.ts';
export { DEFAULT_SYN_SHAPES, inferInitialTtl, type SynShape, SynShapes } from './syn-shape.ts';
export { DEFAULT_VERIFICATION, type VerificationSettings } from './verification.ts';
export { VICTIM_GLOBAL, VictimHeader, VictimIndex } from './victim-index.ts';
export {
  DEFENSE_WEIGHTS,
  PRIORITY_UNVERIFIED_WORST,
  type PriorityWeights,
  resolveWeights,
} from './weights.ts';
