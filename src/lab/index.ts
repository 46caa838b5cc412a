/** `weft lab`: topologies of hosts and workloads in network namespaces. */
export {
  parseTopology, loadTopology, loadTopologyText, TopologySchema, LAB_WORKLOAD_RANGES,
  LAB_UNDERLAY4, LAB_UNDERLAY6, LAB_GATEWAY4, LAB_GATEWAY6, LAB_DEFAULT_POOL4, LAB_DEFAULT_POOL6, hostAddress4, hostAddress6,
  type Topology, type LoadedTopology,
} from './topology.ts';
export {
  labUp, labDown, labStatus, labExec, execNamespace, readState, startAgent, stopAgent, waitProgrammed, stateDirFor, provision,
  isDualStack, labPools, manifestPoolCidrs,
  nsPrefix, hostNs, underlayNs, workloadNs, routerNs, DEFAULT_STATE_ROOT, LAB_ALLOW_PROFILE,
  type LabOptions, type LabState, type LabHostState, type LabWorkloadState, type LabRouterState, type LabStatus, type LabDownResult,
} from './lab.ts';
export { birdConfig, frrConfig, gobgpConfig, routerAddress, ROUTER_KINDS, type RouterKind, type RouterConfigInput } from './routers.ts';
export { registerLabCommands } from './cli.ts';
export {
  startDockerd, runDocker, dockerdUnavailableReason, pidsMentioning, DOCKER_CLI, BUSYBOX_IMAGE, DOCKERD_NETWORK_FLAGS,
  type Dockerd, type DockerdOptions, type DockerResult, type DockerRunOptions,
} from './dockerd.ts';
