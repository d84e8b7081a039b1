export { AnsweredPort, AnsweredPortTable, CHALLENGE_ACK_SPAN } from './answered-port-table.ts';
export { clockNow, elapsed, timeReached } from './clock.ts';
export {
  AcquireFail,
  CONN_KEY_WORDS,
  CONN_RECORD_BYTES,
  Conn,
  ConnBit,
  type ConnectionRemovalListener,
  ConnectionTable,
  ConnFlag,
  EditOutcome,
  EvictLowestPriority,
  type FullTablePolicy,
  packStatePrio,
  REMOVE_REASON_NAMES,
  type RecordEditor,
  RefuseWhenFull,
  RemoveReason,
  SYN_COUNT_MAX,
  statePrioInitial,
  statePrioPriority,
  statePrioReasons,
  statePrioState,
  statePrioWithPriority,
} from './connection-table.ts';
export { fmix32, hash5, hashWords } from './hash.ts';
export { Persist, PersistenceTable, prefixWordMask } from './persistence-table.ts';
export { Header, Rec, SharedHashTable, SLOTS_PER_BUCKET, TableLayoutError } from './shared-table.ts';
export { SourceTable, Src } from './source-table.ts';
export {
  DEFAULT_TCP_TIMEOUTS_MS,
  DEFAULT_UDP_TIMEOUT_MS,
  nextTcpState,
  TCP_STATE_COUNT,
  TCP_STATE_NAMES,
  TcpEvent,
  TcpState,
  tcpEventOf,
} from './tcp-state.ts';
export {
  AnswerKind,
  PORT_ANSWER_MS,
  PORT_SLOTS,
  roundTripOf,
  VERIFY_CROWDED,
  Verification,
  Verified,
  VerifiedMark,
  VerifiedSourceTable,
} from './verified-source-table.ts';
