/** Workload plumbing: veth, addresses, gateway routes and sysctls for one workload. */
export {
  plumbWorkload, unplumbWorkload, configureHost, gatewayRouted, hostInterfaceName, primaryPrefix,
  HOST_SIDE_MAC, GATEWAY_V4, GATEWAY_V6, DEFAULT_INTERFACE_PREFIX,
  type PlumbSpec, type PlumbDeps, type PlumbResult,
} from './plumbing.ts';
