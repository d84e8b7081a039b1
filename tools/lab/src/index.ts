export {
  type DirectorExit,
  DirectorFiles,
  DirectorProcess,
  type DirectorSpawnOptions,
  freeTcpPort,
  pinnedNode,
  REPO_ROOT,
  RunningDirector,
  tcpPortFree,
} from './director-process.ts';
export {
  LabCommandError,
  LabHttpError,
  LabOptionsError,
  LabSubnetInUseError,
  LabUnavailableError,
} from './errors.ts';
export { HOME_ROUTER_TABLE, type HomeRouterNat, homeRouterRuleset } from './home-router.ts';
export { createRealHttpServer, listenRealHttp, type RealHttpOptions } from './http-server.ts';
export {
  type DirectorConfigOptions,
  Lab,
  type LabDescription,
  type LabNode,
  type StartHttpOptions,
} from './lab.ts';
export {
  defaultSubnet,
  type LabOptions,
  type LabPlan,
  type NodePlan,
  type NodeRole,
  planLab,
} from './plan.ts';
export { checkLabPrerequisites, LAB_TOOLS, labNodeBinary } from './preflight.ts';
export { type ExecOptions, type ExecResult, exec, run } from './sh.ts';
