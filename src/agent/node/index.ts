/** The per-host agent daemon: `runNode` (calico/node start-up + Felix loop) and its CLI. */
export { runNode, resolveNodeName, type NodeOptions, type RunningNode } from './node.ts';
export { parseAutodetectMethod, selectAddress, autodetectAddress, DEFAULT_EXCLUDED_INTERFACES, type AutodetectMethod } from './autodetect.ts';
export { registerNodeCommands, type DatastoreFor } from './cli.ts';
