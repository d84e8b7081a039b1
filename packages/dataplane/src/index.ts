export {
  type AccountingTables,
  ConnectionAccounting,
  RESET_QUEUE_LENGTH,
  type ResetSink,
  ResetWord,
} from './accounting.ts';
export { Batch, BatchHeader, type BatchLimits, Desc } from './batch.ts';
export {
  BATCH_MIN,
  BatchedPort,
  BatchedPortError,
  type BatchedPortSettings,
  type DatagramChannel,
  NativeSocket,
  SLOT_BYTES,
} from './batched-port.ts';
export {
  CompiledConfig,
  ConfigError,
  DEFAULT_PRIORITY,
  PROTO_TCP,
  PROTO_UDP,
  Strategy,
  VerifyMode,
} from './compile.ts';
export {
  BATCH_LATENCY_BUCKETS,
  CounterBlock,
  CounterLayout,
  type CounterLimits,
  Defense,
  Per,
  Quic,
  REMOVE_REASON_COUNT,
  VERDICT_COUNT,
} from './counters.ts';
export {
  DATAPLANE_DEFAULTS,
  Dataplane,
  type DataplaneOptions,
  DataplaneOptionsError,
  type PreparedConfig,
  type ResolvedDataplaneOptions,
  type RingPair,
  resolveDataplaneOptions,
} from './dataplane.ts';
export {
  FrameRing,
  FrameRingError,
  type FrameRingOptions,
  RingChannel,
  type RingDatagram,
  RingKind,
} from './frame-ring.ts';
export { ConfigMailbox, MailboxFullError } from './mailbox.ts';
export {
  DEFAULT_PIPELINE_OPTIONS,
  Pipeline,
  type PipelineOptions,
  type PipelineTables,
  PROBE_FRAME_BYTES,
  PROBE_QUEUE_LENGTH,
} from './pipeline.ts';
export type { ServeEvent, ServeSpec, ServingWorkerData, WorkerInit } from './protocol.ts';
export { RST_DATAGRAM_MAX, writeQueuedReset, writeResetForRecord } from './reset.ts';
export {
  type ConfigSnapshot,
  type DefenseSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  type QuicSnapshot,
  type RealServerSnapshot,
  type ServiceSnapshot,
  type VerificationSnapshot,
} from './snapshot.ts';
export { DROP_REASON_COUNT, DROP_REASON_NAMES, DropReason, VERDICT_NAMES, Verdict } from './verdict.ts';
export {
  DEFAULT_VXLAN_PORT_SETTINGS,
  type PuntHandler,
  VxlanPort,
  type VxlanPortSettings,
} from './vxlan-port.ts';
