// @sluice/preflight: what the machine needs for Sluice's suites and lab, and getting it.
export {
  applyPreflight,
  machineProbe,
  missingPackages,
  type PreflightPlan,
  type Probe,
  planPreflight,
  preflight,
  type RunCommand,
  runCommand,
  type ToolDecision,
  type ToolStatus,
  unrunnableTests,
  which,
} from './preflight.ts';
export {
  LAB_TESTS,
  type LayerName,
  QUIC_LAB_TEST,
  SYSTEM_TOOLS,
  type SystemTool,
  TEST_LAYERS,
  type TestLayer,
} from './requirements.ts';
