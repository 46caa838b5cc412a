/**
 * Names the Docker plugin derives: interfaces, WorkloadEndpoint names, IPAM handles, the Profile of
 * a Docker network and the label that marks its members. Pure: no I/O.
 */
import { createHash, randomBytes } from 'node:crypto';
import { convertName, workloadEndpointName } from '../../api/names.ts';

/** Namespace and orchestrator of every WorkloadEndpoint the plugin writes (Calico's libnetwork plugin). */
export const WEP_NAMESPACE = 'libnetwork';
export const ORCHESTRATOR = 'libnetwork';

/** Label carrying the Docker network a workload is a member of; the network's Profile selects on it. */
export const NETWORK_LABEL = 'weft.io/docker-network';
export const ANNOTATION_NETWORK_ID = 'weft.io/docker-network-id';
export const ANNOTATION_NETWORK_NAME = 'weft.io/docker-network-name';
export const ANNOTATION_SANDBOX = 'weft.io/docker-sandbox';

/** Linux IFNAMSIZ-1. */
const MAX_IFNAME = 15;

/** Host side of the veth: `cali` + first 11 characters of the endpoint ID (Calico's libnetwork scheme). */
export function hostInterfaceName(endpointId: string, prefix = 'cali'): string {
  return (prefix + endpointId.slice(0, 11)).slice(0, MAX_IFNAME);
}

/** Container side before Docker moves it into the sandbox and renames it `eth<n>`. */
export function tempInterfaceName(endpointId: string): string {
  return 'tmp' + endpointId.slice(0, 11);
}

export function endpointName(host: string, endpointId: string): string {
  return workloadEndpointName({ node: host, orchestrator: ORCHESTRATOR, endpoint: endpointId });
}

/** Handle prefix of every address the plugin on `host` assigns; ReleaseAddress only frees those. */
export function handlePrefix(host: string): string {
  return `libnetwork.${host}.`;
}

/**
 * One handle per address. RequestAddress happens before Docker tells the driver which endpoint the
 * address is for, so the handle cannot name the endpoint; a random suffix keeps handles unique.
 */
export function newHandle(host: string, random: () => string = () => randomBytes(8).toString('hex')): string {
  return handlePrefix(host) + random();
}

/**
 * Profile of a Docker network: the network's name made a valid resource name (Calico's v1→v3
 * `convertName`: unchanged when already valid, else normalised plus a hash so distinct names stay
 * distinct). The name, not the host-local network ID, so that networks created under the same name
 * on several hosts are one Weft network.
 */
export function profileName(networkName: string): string {
  const n = convertName(networkName);
  return n.length > 0 ? n : 'docker-' + sha1(networkName).slice(0, 16);
}

/** Value of NETWORK_LABEL: the profile name when it is a valid label value (≤63), else a hash of it. */
export function networkLabelValue(profile: string): string {
  return profile.length <= 63 ? profile : 'net-' + sha1(profile).slice(0, 40);
}

/** Fallback Weft network name when Docker cannot tell the network's name (host-local!). */
export function fallbackNetworkName(networkId: string): string {
  return 'docker-' + networkId.slice(0, 12);
}

function sha1(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}
