/** Defaults of the Docker plugin, in a module of their own so the CLI can show them without loading the plugin. */
export const DEFAULT_NETWORK_DRIVER_NAME = 'weft';
export const DEFAULT_IPAM_DRIVER_NAME = 'weft-ipam';
/** Where dockerd looks for `.spec` files (docker `pkg/plugins` specsPaths). */
export const DEFAULT_PLUGIN_DIR = '/etc/docker/plugins';
export const DEFAULT_SOCKET_DIR = '/run/weft/docker';
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
