/** `weft lab`: topologies of hosts and workloads in network namespaces. */
export { parseTopology, loadTopology, loadTopologyText, TopologySchema, LAB_WORKLOAD_RANGES, type Topology, type LoadedTopology } from './topology.ts';
export {
  labUp, labDown, labStatus, labExec, execNamespace, readState, startAgent, stopAgent, waitProgrammed, stateDirFor, provision,
  nsPrefix, hostNs, underlayNs, workloadNs, DEFAULT_STATE_ROOT, LAB_ALLOW_PROFILE,
  type LabOptions, type LabState, type LabHostState, type LabWorkloadState, type LabStatus, type LabDownResult,
} from './lab.ts';
export { registerLabCommands } from './cli.ts';
