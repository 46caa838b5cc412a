/**
 * Public surface of the Docker libnetwork plugin: `startDockerPlugin(opts)` serves the `weft`
 * network driver and the `weft-ipam` IPAM driver (optionally also as `calico`/`calico-ipam`).
 * See DESIGN.md.
 */
import type { Server } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../../datastore/index.ts';
import { Ipam } from '../../ipam/index.ts';
import { ExecRunner, IpLinkOps } from '../../agent/netlink/index.ts';
import { componentLogger, type Logger } from '../../lib/log.ts';
import { DockerApi, type DockerInfo } from './docker-api.ts';
import { IpamDriver, type PluginIpam } from './ipam-driver.ts';
import { NetworkDriver } from './network-driver.ts';
import { LinkPlumbing, type WorkloadPlumbing } from './plumbing.ts';
import { ResourceStore } from './resources.ts';
import { closeServer, ipamRoutes, listenUnix, networkRoutes, removeSpec, writeSpec } from './server.ts';

export { IpamDriver, type PluginIpam, type PluginPool } from './ipam-driver.ts';
export { NetworkDriver, type NetworkDriverOptions } from './network-driver.ts';
export { LinkPlumbing, GATEWAY_V6, type WorkloadPlumbing, type VethRequest } from './plumbing.ts';
export { DockerApi, type DockerInfo } from './docker-api.ts';
export { ResourceStore, networkProfile } from './resources.ts';
export { dispatch, networkRoutes, ipamRoutes } from './server.ts';
export * from './naming.ts';
export * from './protocol.ts';
export { registerDockerPluginCommand } from './cli.ts';

export {
  DEFAULT_DOCKER_SOCKET, DEFAULT_IPAM_DRIVER_NAME, DEFAULT_NETWORK_DRIVER_NAME, DEFAULT_PLUGIN_DIR, DEFAULT_SOCKET_DIR,
} from './defaults.ts';
import { DEFAULT_DOCKER_SOCKET, DEFAULT_IPAM_DRIVER_NAME, DEFAULT_NETWORK_DRIVER_NAME, DEFAULT_PLUGIN_DIR, DEFAULT_SOCKET_DIR } from './defaults.ts';

export interface DockerPluginOptions {
  backend: Backend;
  /** This host's node name (WorkloadEndpoint spec.node, IPAM host affinity). */
  host: string;
  /** Weft IPAM; default `new Ipam(backend)`. */
  ipam?: PluginIpam;
  /** Directory for the two unix sockets. */
  socketDir?: string;
  /**
   * Directory the `.spec` files go to: `/etc/docker/plugins`, or `/etc/netns/<ns>/docker/plugins`
   * for a dockerd run with `ip netns exec <ns>` (that dir appears as its /etc/docker/plugins).
   */
  pluginDir?: string;
  networkDriverName?: string;
  ipamDriverName?: string;
  /** Also register as `calico` and `calico-ipam`, so Calico's commands run verbatim. */
  calicoAliases?: boolean;
  /** dockerd's API socket (network names, container labels); `null` disables the lookups. */
  dockerSocket?: string | null;
  /** Run link/route commands inside this named netns (dockerd's); default: our own namespace. */
  netns?: string;
  /** Replaces the veth plumbing (tests). */
  plumbing?: WorkloadPlumbing;
  /** Replaces the dockerd client (tests). */
  docker?: DockerInfo;
  interfacePrefix?: string;
  containerInterfacePrefix?: string;
  mtu?: number;
  /** Container labels with this prefix become endpoint labels (e.g. `org.projectcalico.label.`). */
  labelPrefix?: string;
  log?: Logger;
}

export interface DockerPlugin {
  readonly networkSocket: string;
  readonly ipamSocket: string;
  readonly specFiles: readonly string[];
  readonly network: NetworkDriver;
  readonly ipam: IpamDriver;
  /** Stops serving, removes sockets and spec files. Workloads keep running. */
  close(): Promise<void>;
}

export async function startDockerPlugin(opts: DockerPluginOptions): Promise<DockerPlugin> {
  const log = opts.log ?? componentLogger('docker-plugin', { host: opts.host });
  const netName = opts.networkDriverName ?? DEFAULT_NETWORK_DRIVER_NAME;
  const ipamName = opts.ipamDriverName ?? DEFAULT_IPAM_DRIVER_NAME;
  const socketDir = opts.socketDir ?? DEFAULT_SOCKET_DIR;
  const pluginDir = opts.pluginDir ?? DEFAULT_PLUGIN_DIR;
  await mkdir(socketDir, { recursive: true, mode: 0o750 });
  const networkSocket = join(socketDir, `${netName}.sock`);
  const ipamSocket = join(socketDir, `${ipamName}.sock`);

  // Shorter than Docker's plugin call timeout (30 s): an allocation must not complete after
  // Docker has given up on the request (it would leak).
  const ipam = new IpamDriver({ ipam: opts.ipam ?? new Ipam(opts.backend, { unreachableTimeoutMs: 15_000 }), host: opts.host });
  const dockerSocket = opts.dockerSocket === undefined ? DEFAULT_DOCKER_SOCKET : opts.dockerSocket;
  const docker = opts.docker ?? (dockerSocket === null ? undefined : new DockerApi(dockerSocket));
  const network = new NetworkDriver({
    host: opts.host,
    store: new ResourceStore(opts.backend),
    plumbing: opts.plumbing ?? new LinkPlumbing(new IpLinkOps(new ExecRunner(opts.netns))),
    ipam,
    ...(docker === undefined ? {} : { docker }),
    ...(opts.interfacePrefix === undefined ? {} : { interfacePrefix: opts.interfacePrefix }),
    ...(opts.containerInterfacePrefix === undefined ? {} : { containerInterfacePrefix: opts.containerInterfacePrefix }),
    ...(opts.mtu === undefined ? {} : { mtu: opts.mtu }),
    ...(opts.labelPrefix === undefined ? {} : { labelPrefix: opts.labelPrefix }),
    log,
  });

  const servers: Server[] = [];
  const specs: { file: string; socket: string }[] = [];
  const cleanup = async (): Promise<void> => {
    await network.close();
    for (const s of specs) await removeSpec(s.file, s.socket).catch(() => undefined);
    for (const s of servers) await closeServer(s);
  };
  try {
    servers.push(await listenUnix(networkSocket, networkRoutes(network), log));
    servers.push(await listenUnix(ipamSocket, ipamRoutes(ipam), log));
    const names: [string, string][] = [[netName, networkSocket], [ipamName, ipamSocket]];
    if (opts.calicoAliases === true) names.push(['calico', networkSocket], ['calico-ipam', ipamSocket]);
    for (const [name, socket] of names) specs.push({ file: await writeSpec(pluginDir, name, socket), socket });
  } catch (e) {
    await cleanup();
    throw e;
  }
  log.info({ networkSocket, ipamSocket, specs: specs.map((s) => s.file) }, 'docker plugin listening');
  return {
    networkSocket,
    ipamSocket,
    specFiles: specs.map((s) => s.file),
    network,
    ipam,
    close: cleanup,
  };
}
