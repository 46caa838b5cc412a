/** Kernel shims: every command Weft runs against Linux networking goes through these interfaces. */
export { ExecRunner, RecordingRunner, runArgv, type CommandRunner, type RunOptions, type RunResult } from './exec.ts';
export { NftCli, FakeNft, parseNftJson, type NftRunner, type NftJsonObject } from './nft.ts';
export {
  IpRouteTable, FakeRouteTable, WEFT_ROUTE_PROTO, parseIpRoutes, routeArgs, routeKey, routeFamily,
  type KernelRoute, type RouteTable, type RouteType,
} from './routes.ts';
export { IpLinkOps, FakeLinkOps, checkIfName, parseIpAddr, type LinkInfo, type LinkOps } from './links.ts';
export { monitorLinks, type LinkMonitor } from './monitor.ts';
