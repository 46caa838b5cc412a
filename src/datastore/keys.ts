/**
 * Typed keys ↔ datastore paths, in Calico's etcdv3 layout (libcalico-go `model/resource.go`,
 * `block.go`, `block_affinity.go`, `ipam_handle.go`, `ipam_config.go`, `statusreports.go`):
 *
 *   /calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>
 *   /calico/ipam/v2/assignment/ipv4|ipv6/block/<cidr with '/' as '-'>
 *   /calico/ipam/v2/host/<host>/ipv4|ipv6/block/<cidr with '/' as '-'>
 *   /calico/ipam/v2/handle/<handle id>
 *   /calico/ipam/v2/config
 *   /calico/felix/v2/no-region/host/<host>/status
 *
 * Pure: no I/O. Names and namespaces must not contain '/', so a path parses back unambiguously.
 */

export const RESOURCE_ROOT = '/calico/resources/v3/projectcalico.org/';
export const IPAM_ROOT = '/calico/ipam/v2/';
export const FELIX_STATUS_ROOT = '/calico/felix/v2/no-region/host/';

/** Resource kind → etcd plural and whether the kind is namespaced. */
export const RESOURCE_KINDS = {
  IPPool: { plural: 'ippools', namespaced: false },
  IPReservation: { plural: 'ipreservations', namespaced: false },
  Node: { plural: 'nodes', namespaced: false },
  BGPPeer: { plural: 'bgppeers', namespaced: false },
  BGPConfiguration: { plural: 'bgpconfigurations', namespaced: false },
  Profile: { plural: 'profiles', namespaced: false },
  NetworkPolicy: { plural: 'networkpolicies', namespaced: true },
  GlobalNetworkPolicy: { plural: 'globalnetworkpolicies', namespaced: false },
  NetworkSet: { plural: 'networksets', namespaced: true },
  GlobalNetworkSet: { plural: 'globalnetworksets', namespaced: false },
  WorkloadEndpoint: { plural: 'workloadendpoints', namespaced: true },
  HostEndpoint: { plural: 'hostendpoints', namespaced: false },
  FelixConfiguration: { plural: 'felixconfigurations', namespaced: false },
  ClusterInformation: { plural: 'clusterinformations', namespaced: false },
  Tier: { plural: 'tiers', namespaced: false },
  KubeControllersConfiguration: { plural: 'kubecontrollersconfigurations', namespaced: false },
  IPAMConfiguration: { plural: 'ipamconfigurations', namespaced: false },
} as const;

export type ResourceKind = keyof typeof RESOURCE_KINDS;

export const RESOURCE_KIND_NAMES = Object.keys(RESOURCE_KINDS) as ResourceKind[];

const KIND_BY_PLURAL: ReadonlyMap<string, ResourceKind> = new Map(
  RESOURCE_KIND_NAMES.map((k) => [RESOURCE_KINDS[k].plural, k]),
);

export interface ResourceKey {
  kind: ResourceKind;
  /** Required for namespaced kinds, forbidden for cluster-scoped ones. */
  namespace?: string;
  name: string;
}

export function isResourceKind(s: string): s is ResourceKind {
  return Object.hasOwn(RESOURCE_KINDS, s);
}

export function isNamespaced(kind: ResourceKind): boolean {
  return RESOURCE_KINDS[kind].namespaced;
}

function checkSegment(what: string, s: string): void {
  if (s.length === 0 || s.includes('/')) {
    throw new RangeError(`${what} must be non-empty and must not contain '/': ${JSON.stringify(s)}`);
  }
}

function kindInfo(kind: string): { plural: string; namespaced: boolean } {
  if (!isResourceKind(kind)) throw new RangeError(`unknown resource kind: ${kind}`);
  return RESOURCE_KINDS[kind];
}

/**
 * Path of one resource.
 * @example resourceKey({ kind: 'NetworkPolicy', namespace: 'default', name: 'allow-dns' })
 *   // '/calico/resources/v3/projectcalico.org/networkpolicies/default/allow-dns'
 */
export function resourceKey(k: ResourceKey): string {
  const info = kindInfo(k.kind);
  checkSegment('name', k.name);
  if (info.namespaced) {
    if (k.namespace === undefined) throw new RangeError(`${k.kind} is namespaced: namespace required`);
    checkSegment('namespace', k.namespace);
    return `${RESOURCE_ROOT}${info.plural}/${k.namespace}/${k.name}`;
  }
  if (k.namespace !== undefined && k.namespace !== '') {
    throw new RangeError(`${k.kind} is cluster-scoped: no namespace allowed`);
  }
  return `${RESOURCE_ROOT}${info.plural}/${k.name}`;
}

/**
 * Prefix under which all resources of a kind (optionally of one namespace) live, ending in '/'.
 * For a namespaced kind without namespace, this covers every namespace.
 */
export function resourcePrefix(kind: ResourceKind, namespace?: string): string {
  const info = kindInfo(kind);
  if (namespace !== undefined) {
    if (!info.namespaced) throw new RangeError(`${kind} is cluster-scoped: no namespace allowed`);
    checkSegment('namespace', namespace);
    return `${RESOURCE_ROOT}${info.plural}/${namespace}/`;
  }
  return `${RESOURCE_ROOT}${info.plural}/`;
}

/** Inverse of resourceKey; undefined for anything that is not a well-formed resource path. */
export function parseResourceKey(path: string): ResourceKey | undefined {
  if (!path.startsWith(RESOURCE_ROOT)) return undefined;
  const parts = path.slice(RESOURCE_ROOT.length).split('/');
  const kind = KIND_BY_PLURAL.get(parts[0]);
  if (kind === undefined) return undefined;
  if (parts.some((p) => p.length === 0)) return undefined;
  if (RESOURCE_KINDS[kind].namespaced) {
    if (parts.length !== 3) return undefined;
    return { kind, namespace: parts[1], name: parts[2] };
  }
  if (parts.length !== 2) return undefined;
  return { kind, name: parts[1] };
}

// ---------------------------------------------------------------------------------------------
// IPAM

export type IPFamily = 'ipv4' | 'ipv6';

function familyOf(cidr: string): IPFamily {
  return cidr.includes(':') ? 'ipv6' : 'ipv4';
}

/** Calico writes a CIDR in a key with '/' replaced by '-': `192.0.2.0/26` → `192.0.2.0-26`. */
export function cidrToSegment(cidr: string): string {
  const i = cidr.lastIndexOf('/');
  if (i < 0 || cidr.indexOf('/') !== i) throw new RangeError(`not a CIDR: ${cidr}`);
  return `${cidr.slice(0, i)}-${cidr.slice(i + 1)}`;
}

export function segmentToCidr(seg: string): string | undefined {
  const i = seg.lastIndexOf('-');
  if (i <= 0 || i === seg.length - 1) return undefined;
  const len = seg.slice(i + 1);
  if (!/^\d{1,3}$/.test(len)) return undefined;
  return `${seg.slice(0, i)}/${len}`;
}

export const IPAM_BLOCK_PREFIX = `${IPAM_ROOT}assignment/`;
export const IPAM_HOST_PREFIX = `${IPAM_ROOT}host/`;
export const IPAM_HANDLE_PREFIX = `${IPAM_ROOT}handle/`;
export const IPAM_CONFIG_KEY = `${IPAM_ROOT}config`;

/** Allocation block: `/calico/ipam/v2/assignment/ipv4/block/192.0.2.0-26`. */
export function ipamBlockKey(cidr: string): string {
  return `${IPAM_BLOCK_PREFIX}${familyOf(cidr)}/block/${cidrToSegment(cidr)}`;
}

export function ipamBlockPrefix(family?: IPFamily): string {
  return family === undefined ? IPAM_BLOCK_PREFIX : `${IPAM_BLOCK_PREFIX}${family}/block/`;
}

export function parseIpamBlockKey(path: string): { cidr: string; family: IPFamily } | undefined {
  const m = /^\/calico\/ipam\/v2\/assignment\/(ipv4|ipv6)\/block\/([^/]+)$/.exec(path);
  if (m === null) return undefined;
  const cidr = segmentToCidr(m[2]);
  if (cidr === undefined || familyOf(cidr) !== m[1]) return undefined;
  return { cidr, family: m[1] as IPFamily };
}

/** Block affinity of a host: `/calico/ipam/v2/host/<host>/ipv4/block/192.0.2.0-26`. */
export function ipamAffinityKey(host: string, cidr: string): string {
  checkSegment('host', host);
  return `${IPAM_HOST_PREFIX}${host}/${familyOf(cidr)}/block/${cidrToSegment(cidr)}`;
}

export function ipamAffinityPrefix(host?: string, family?: IPFamily): string {
  if (host === undefined) return IPAM_HOST_PREFIX;
  checkSegment('host', host);
  return family === undefined ? `${IPAM_HOST_PREFIX}${host}/` : `${IPAM_HOST_PREFIX}${host}/${family}/block/`;
}

export function parseIpamAffinityKey(path: string): { host: string; cidr: string; family: IPFamily } | undefined {
  const m = /^\/calico\/ipam\/v2\/host\/([^/]+)\/(ipv4|ipv6)\/block\/([^/]+)$/.exec(path);
  if (m === null) return undefined;
  const cidr = segmentToCidr(m[3]);
  if (cidr === undefined || familyOf(cidr) !== m[2]) return undefined;
  return { host: m[1], cidr, family: m[2] as IPFamily };
}

/** IPAM handle: `/calico/ipam/v2/handle/<id>`. */
export function ipamHandleKey(handleId: string): string {
  checkSegment('handle id', handleId);
  return `${IPAM_HANDLE_PREFIX}${handleId}`;
}

export function parseIpamHandleKey(path: string): { handleId: string } | undefined {
  if (!path.startsWith(IPAM_HANDLE_PREFIX)) return undefined;
  const id = path.slice(IPAM_HANDLE_PREFIX.length);
  if (id.length === 0 || id.includes('/')) return undefined;
  return { handleId: id };
}

// ---------------------------------------------------------------------------------------------
// Felix status

/** Per-host agent status report: `/calico/felix/v2/no-region/host/<host>/status`. */
export function felixStatusKey(host: string): string {
  checkSegment('host', host);
  return `${FELIX_STATUS_ROOT}${host}/status`;
}

export function parseFelixStatusKey(path: string): { host: string } | undefined {
  const m = /^\/calico\/felix\/v2\/no-region\/host\/([^/]+)\/status$/.exec(path);
  return m === null ? undefined : { host: m[1] };
}

/** Everything the agent on `host` reports: process status and endpoint status keys. */
export function felixHostPrefix(host: string): string {
  checkSegment('host', host);
  return `${FELIX_STATUS_ROOT}${host}/`;
}

/**
 * libcalico-go escapes `/` in workload and endpoint ids (`<namespace>/<pod>` for Kubernetes) as
 * `%2f`, so the id stays one key segment.
 */
function escapeId(s: string): string {
  if (s.length === 0) throw new RangeError('endpoint id segments must be non-empty');
  return s.replace(/%/g, '%25').replace(/\//g, '%2f');
}

function unescapeId(s: string): string {
  return s.replace(/%2f/gi, '/').replace(/%25/g, '%');
}

/**
 * Workload endpoint status (felix statusrep, calico-notes §2.8):
 * `/calico/felix/v2/no-region/host/<host>/workload/<orchestrator>/<workload>/endpoint/<endpoint>`,
 * value `{"status":"up"|"down"|"error"}`.
 */
export function workloadEndpointStatusKey(host: string, orchestrator: string, workload: string, endpoint: string): string {
  return `${felixHostPrefix(host)}workload/${escapeId(orchestrator)}/${escapeId(workload)}/endpoint/${escapeId(endpoint)}`;
}

/** Host endpoint status: `/calico/felix/v2/no-region/host/<host>/endpoint/<endpoint>`. */
export function hostEndpointStatusKey(host: string, endpoint: string): string {
  return `${felixHostPrefix(host)}endpoint/${escapeId(endpoint)}`;
}

export type EndpointStatusKey =
  | { kind: 'workload'; host: string; orchestrator: string; workload: string; endpoint: string }
  | { kind: 'host'; host: string; endpoint: string };

export function parseEndpointStatusKey(path: string): EndpointStatusKey | undefined {
  const w = /^\/calico\/felix\/v2\/no-region\/host\/([^/]+)\/workload\/([^/]+)\/([^/]+)\/endpoint\/([^/]+)$/.exec(path);
  if (w !== null) return { kind: 'workload', host: w[1]!, orchestrator: unescapeId(w[2]!), workload: unescapeId(w[3]!), endpoint: unescapeId(w[4]!) };
  const h = /^\/calico\/felix\/v2\/no-region\/host\/([^/]+)\/endpoint\/([^/]+)$/.exec(path);
  if (h !== null) return { kind: 'host', host: h[1]!, endpoint: unescapeId(h[2]!) };
  return undefined;
}
