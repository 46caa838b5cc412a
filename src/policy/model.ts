/**
 * The dataplane-neutral host model: what the calc graph produces for one host and what both the
 * Linux dataplane and the evaluator consume. Plain JSON-able data (no Maps, no bigint), sorted
 * where order carries no meaning, so two models can be compared with deepStrictEqual.
 */

export const Actions = { allow: 'allow', deny: 'deny', log: 'log', pass: 'pass' } as const;
export type Action = (typeof Actions)[keyof typeof Actions];

export type Direction = 'ingress' | 'egress';

/** Inclusive port range; a single port has first === last. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/**
 * One rule, compiled. Every present field must match (AND); list fields match if ANY entry
 * matches, `not*` list fields match if NO entry matches (Calico's `Rule` semantics, calico-notes §9).
 * Absent fields do not constrain. Nets are canonical CIDR text; `*IPSets` are IP-set ids.
 */
export interface CompiledRule {
  action: Action;
  ipVersion?: 4 | 6;
  protocol?: number;
  notProtocol?: number;
  icmpType?: number;
  icmpCode?: number;
  notICMPType?: number;
  notICMPCode?: number;
  srcNets?: string[];
  notSrcNets?: string[];
  dstNets?: string[];
  notDstNets?: string[];
  /** Source must be in every listed set (selector sets). */
  srcIPSets?: string[];
  notSrcIPSets?: string[];
  dstIPSets?: string[];
  notDstIPSets?: string[];
  /** Port match = numeric ranges OR (ip, proto, port) in a named-port set. */
  srcPorts?: PortRange[];
  srcNamedPortIPSets?: string[];
  notSrcPorts?: PortRange[];
  notSrcNamedPortIPSets?: string[];
  dstPorts?: PortRange[];
  dstNamedPortIPSets?: string[];
  notDstPorts?: PortRange[];
  notDstNamedPortIPSets?: string[];
}

export interface IPSetModel {
  /** `net`: members are canonical CIDRs. `named-port`: members are `ip,proto:port` (e.g. `192.0.2.1,tcp:80`). */
  type: 'net' | 'named-port';
  /** What the set stands for, for humans (selector text, scope, port name). */
  description: string;
  /** Sorted, deduplicated. */
  members: string[];
}

export interface PolicyModel {
  /** `<name>` for GlobalNetworkPolicy, `<namespace>/<name>` for NetworkPolicy. */
  id: string;
  tier: string;
  order?: number;
  namespace?: string;
  /** Rules for traffic towards the endpoint (Calico `ingress`). */
  inbound: CompiledRule[];
  /** Rules for traffic leaving the endpoint (Calico `egress`). */
  outbound: CompiledRule[];
  applyOnForward: boolean;
  preDNAT: boolean;
  doNotTrack: boolean;
}

export interface ProfileModel {
  id: string;
  inbound: CompiledRule[];
  outbound: CompiledRule[];
  /** True when an endpoint references a profile that does not exist: rules are a fail-closed deny. */
  missing?: true;
}

export type TierDefaultAction = 'deny' | 'pass';

/** One tier as it applies to one endpoint: only policies that select the endpoint, in order. */
export interface EndpointTier {
  name: string;
  defaultAction: TierDefaultAction;
  ingressPolicies: string[];
  egressPolicies: string[];
}

export interface WorkloadEndpointModel {
  /** `<namespace>/<name>` (or `<name>` when not namespaced). */
  id: string;
  name: string;
  namespace?: string;
  iface: string;
  /** Canonical CIDRs from `ipNetworks`. */
  addrs: string[];
  mac?: string;
  allowSpoofedSourcePrefixes: string[];
  /** Effective labels (own labels over inherited profile labels). */
  labels: Record<string, string>;
  tiers: EndpointTier[];
  profiles: string[];
}

export interface HostEndpointModel {
  id: string;
  /** `*` = all host interfaces. */
  iface: string;
  expectedIPs: string[];
  labels: Record<string, string>;
  /** Normal host policy (not preDNAT, not doNotTrack). */
  tiers: EndpointTier[];
  /** applyOnForward policies, for traffic forwarded through the host. */
  forwardTiers: EndpointTier[];
  preDNATTiers: EndpointTier[];
  untrackedTiers: EndpointTier[];
  profiles: string[];
}

export type RouteModel =
  | { dst: string; type: 'local-workload'; iface: string; endpoint: string }
  | { dst: string; type: 'blackhole' }
  | { dst: string; type: 'remote-block'; node: string; via: string }
  /** A remote workload's address outside its node's affine blocks (borrowed IP). */
  | { dst: string; type: 'remote-workload'; node: string; via: string; endpoint: string };

export interface IPPoolModel {
  cidr: string;
  natOutgoing: boolean;
  disabled: boolean;
  ipipMode?: string;
  vxlanMode?: string;
}

export interface ProtoPort {
  protocol: 'tcp' | 'udp';
  port: number;
  net?: string;
}

export type EndpointToHostAction = 'drop' | 'return' | 'accept';

export interface HostConfigModel {
  defaultEndpointToHostAction: EndpointToHostAction;
  failsafeInboundHostPorts: ProtoPort[];
  failsafeOutboundHostPorts: ProtoPort[];
  /** The merged FelixConfiguration spec (per-host over `default`), for other consumers. */
  raw: Record<string, unknown>;
}

export interface HostModel {
  host: string;
  /** This host's own addresses (Node spec.bgp addresses, without prefix length). */
  hostAddrs: string[];
  config: HostConfigModel;
  ipSets: Record<string, IPSetModel>;
  policies: Record<string, PolicyModel>;
  profiles: Record<string, ProfileModel>;
  endpoints: Record<string, WorkloadEndpointModel>;
  hostEndpoints: Record<string, HostEndpointModel>;
  /** Keyed by destination CIDR. */
  routes: Record<string, RouteModel>;
  /** All IP pools, keyed by pool name (natOutgoing marks the NAT pools; the dataplane needs all pools to exempt intra-pool traffic). */
  ipPools: Record<string, IPPoolModel>;
}

/** Calico's defaults (felix config_params.go, calico-notes §2.9). */
export const DEFAULT_FAILSAFE_INBOUND: readonly ProtoPort[] = [
  { protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 68 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];
export const DEFAULT_FAILSAFE_OUTBOUND: readonly ProtoPort[] = [
  { protocol: 'udp', port: 53 }, { protocol: 'udp', port: 67 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];

export function defaultHostConfig(): HostConfigModel {
  return {
    defaultEndpointToHostAction: 'drop',
    failsafeInboundHostPorts: DEFAULT_FAILSAFE_INBOUND.map((p) => ({ ...p })),
    failsafeOutboundHostPorts: DEFAULT_FAILSAFE_OUTBOUND.map((p) => ({ ...p })),
    raw: {},
  };
}

export function emptyHostModel(host: string): HostModel {
  return {
    host, hostAddrs: [], config: defaultHostConfig(),
    ipSets: {}, policies: {}, profiles: {}, endpoints: {}, hostEndpoints: {}, routes: {}, ipPools: {},
  };
}

/** The rules Felix substitutes for a missing profile (`DummyDropRules`): fail closed. */
export function missingProfile(id: string): ProfileModel {
  return { id, inbound: [{ action: 'deny' }], outbound: [{ action: 'deny' }], missing: true };
}
