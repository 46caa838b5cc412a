/**
 * `weft docker-plugin` as a commander sub-command; `registerDockerPluginCommand(program)` is what
 * src/cli wires in. Runs the plugin in the foreground until SIGTERM/SIGINT.
 */
import type { Command } from 'commander';
import type { Backend } from '../../datastore/index.ts';
import {
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_IPAM_DRIVER_NAME,
  DEFAULT_NETWORK_DRIVER_NAME,
  DEFAULT_PLUGIN_DIR,
  DEFAULT_SOCKET_DIR,
} from './defaults.ts';

interface Flags {
  datastore?: string;
  name?: string;
  pluginDir: string;
  socketDir: string;
  dockerHost: string;
  networkDriver: string;
  ipamDriver: string;
  calicoAliases?: boolean;
  labelPrefix?: string;
  interfacePrefix: string;
  mtu?: string;
  netns?: string;
}

/** How the CLI hands a command its datastore (resolved from --datastore, env, config files). */
export type OpenDatastore = (cmd: Command) => Promise<{ backend: Backend; close(): Promise<void> }>;

export function registerDockerPluginCommand(program: Command, openDatastore: OpenDatastore): void {
  program
    .command('docker-plugin')
    .description('serve the Docker libnetwork network driver (weft) and IPAM driver (weft-ipam)')
    .option('--name <name>', 'node name (default: $NODENAME, then the hostname)')
    .option('--plugin-dir <dir>', 'where dockerd looks for .spec files (/etc/netns/<ns>/docker/plugins for a dockerd in a netns)', DEFAULT_PLUGIN_DIR)
    .option('--socket-dir <dir>', 'directory for the plugin sockets', DEFAULT_SOCKET_DIR)
    .option('--docker-host <path>', 'dockerd API socket (network names, container labels); "none" to disable', DEFAULT_DOCKER_SOCKET)
    .option('--network-driver <name>', 'network driver name', DEFAULT_NETWORK_DRIVER_NAME)
    .option('--ipam-driver <name>', 'IPAM driver name', DEFAULT_IPAM_DRIVER_NAME)
    .option('--calico-aliases', 'also register as "calico" and "calico-ipam"')
    .option('--label-prefix <prefix>', 'copy container labels with this prefix to the endpoint (e.g. org.projectcalico.label.)')
    .option('--interface-prefix <prefix>', 'host-side veth prefix', 'cali')
    .option('--mtu <n>', 'veth MTU')
    .option('--netns <name>', 'create veths in this named network namespace (dockerd\'s) instead of our own')
    .action(async (flags: Flags, cmd: Command) => {
      // The plugin (IPAM, netlink, HTTP) is loaded only when this command runs.
      const [{ startDockerPlugin }, { resolveNodeName }] = await Promise.all([import('./index.ts'), import('../../agent/node/index.ts')]);
      const ds = await openDatastore(cmd);
      const backend = ds.backend;
      const plugin = await startDockerPlugin({
        backend,
        host: resolveNodeName(flags.name),
        pluginDir: flags.pluginDir,
        socketDir: flags.socketDir,
        dockerSocket: flags.dockerHost === 'none' ? null : flags.dockerHost.replace(/^unix:\/\//, ''),
        networkDriverName: flags.networkDriver,
        ipamDriverName: flags.ipamDriver,
        calicoAliases: flags.calicoAliases === true,
        interfacePrefix: flags.interfacePrefix,
        ...(flags.labelPrefix === undefined ? {} : { labelPrefix: flags.labelPrefix }),
        ...(flags.mtu === undefined ? {} : { mtu: Number(flags.mtu) }),
        ...(flags.netns === undefined ? {} : { netns: flags.netns }),
      });
      process.stderr.write(`weft docker plugin serving ${plugin.specFiles.join(', ')}\n`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          plugin
            .close()
            .then(() => ds.close())
            .then(resolve, resolve);
        };
        process.once('SIGTERM', done);
        process.once('SIGINT', done);
      });
    });
}
