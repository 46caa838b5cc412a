import type { CompiledRule, EndpointTier, HostModel } from '../../policy/index.ts';

/**
 * The dataplane's input: a dataplane-neutral model of what one host should enforce.
 *
 * This is Weft's interim mirror of the policy-core `HostModel` (src/agent/calc), shaped like
 * felix's proto messages (calico-notes §2.3): IP sets, active policies/profiles with compiled
 * rules, local workload/host endpoints with their ordered tiers, routes, NAT pools and config.
 * An adapter (`fromHostModel`) maps the calc graph's output onto it once that lands; the renderer
 * only ever sees this type, so the two can evolve independently.
 */

/** Rules and tiers are the policy core's compiled forms, unchanged (src/policy model.ts). */
export type DpRule = CompiledRule;
export type DpTier = EndpointTier;

export interface DpPolicy {
  inbound: DpRule[];
  outbound: DpRule[];
}

export interface DpIpSet {
  /** `net`: CIDRs; `named-port`: `ip,proto:port` members. */
  type: 'net' | 'named-port';
  members: readonly string[];
}

export interface DpWorkloadEndpoint {
  /** Host-side interface name, e.g. `cali0123456789a`. */
  interfaceName: string;
  /** Addresses as CIDRs (normally /32 and /128). */
  ipv4Nets: string[];
  ipv6Nets: string[];
  tiers: DpTier[];
  profileIds: string[];
  /** Extra source prefixes the workload may send from (anti-spoofing exceptions). */
  allowSpoofedSourcePrefixes?: string[];
  mac?: string;
}

export interface DpHostEndpoint {
  /** `*` = every non-workload interface except lo. */
  interfaceName: string;
  expectedIPs?: string[];
  /** Normal policy: traffic to/from the host itself (input/output hooks). */
  tiers: DpTier[];
  profileIds: string[];
  /**
   * applyOnForward policy (not pre-DNAT, not untracked): traffic forwarded through the interface
   * (forward hook). No profiles; what no forward policy denies is allowed (felix `fhfw-`/`thfw-`).
   */
  forwardTiers?: DpTier[];
  /** preDNAT policy: ingress only, before DNAT, for everything arriving on the interface. */
  preDNATTiers?: DpTier[];
  /**
   * doNotTrack policy: before conntrack; ingress for everything arriving on the interface, egress
   * only for traffic the host itself sends. Ignored for `*` (felix does not support it there).
   */
  untrackedTiers?: DpTier[];
}

export type DpRouteType = 'local-workload' | 'local-block' | 'remote-block' | 'remote-workload';

export interface DpRoute {
  dst: string;
  type: DpRouteType;
  /** For local workloads: the host-side veth. */
  interfaceName?: string;
  /** For remote routes: the next hop (the owning host's address). */
  gateway?: string;
}

export interface DpIpPool {
  cidr: string;
  natOutgoing: boolean;
  disabled?: boolean;
}

export interface DpProtoPort {
  protocol: 'tcp' | 'udp';
  port: number;
  /** Optional remote net the exception is limited to. */
  net?: string;
}

export interface DpConfig {
  /** Workload interface prefixes (FelixConfiguration interfacePrefix, comma list). */
  interfacePrefixes: string[];
  defaultEndpointToHostAction: 'drop' | 'accept' | 'return';
  failsafeInboundHostPorts: DpProtoPort[];
  failsafeOutboundHostPorts: DpProtoPort[];
}

export interface DataplaneModel {
  config: DpConfig;
  /** IP set id → members (v4 and v6 mixed). */
  ipSets: ReadonlyMap<string, DpIpSet>;
  policies: ReadonlyMap<string, DpPolicy>;
  profiles: ReadonlyMap<string, DpPolicy>;
  /** Endpoint key (anything unique) → endpoint. */
  endpoints: ReadonlyMap<string, DpWorkloadEndpoint>;
  hostEndpoints: ReadonlyMap<string, DpHostEndpoint>;
  routes: readonly DpRoute[];
  ipPools: readonly DpIpPool[];
}

/** Felix defaults (calico-notes §2.9). */
export const DEFAULT_FAILSAFE_IN: readonly DpProtoPort[] = [
  { protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 68 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];

export const DEFAULT_FAILSAFE_OUT: readonly DpProtoPort[] = [
  { protocol: 'udp', port: 53 }, { protocol: 'udp', port: 67 }, { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 }, { protocol: 'tcp', port: 2380 }, { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 }, { protocol: 'tcp', port: 6666 }, { protocol: 'tcp', port: 6667 },
];

export function defaultDpConfig(): DpConfig {
  return {
    interfacePrefixes: ['cali'],
    defaultEndpointToHostAction: 'drop',
    failsafeInboundHostPorts: [...DEFAULT_FAILSAFE_IN],
    failsafeOutboundHostPorts: [...DEFAULT_FAILSAFE_OUT],
  };
}

export function emptyModel(config: DpConfig = defaultDpConfig()): DataplaneModel {
  return { config, ipSets: new Map(), policies: new Map(), profiles: new Map(), endpoints: new Map(), hostEndpoints: new Map(), routes: [], ipPools: [] };
}

/**
 * Adapter: the calc graph's `HostModel` (plain records) → the dataplane's model (maps, interface
 * prefixes resolved from the merged FelixConfiguration's `interfacePrefix`).
 */
export function fromHostModel(hm: HostModel): DataplaneModel {
  const raw = hm.config.raw as { interfacePrefix?: unknown };
  const prefixes = typeof raw.interfacePrefix === 'string'
    ? raw.interfacePrefix.split(',').map((p) => p.trim()).filter((p) => p !== '')
    : ['cali'];
  const config: DpConfig = {
    interfacePrefixes: prefixes.length > 0 ? prefixes : ['cali'],
    defaultEndpointToHostAction: hm.config.defaultEndpointToHostAction,
    failsafeInboundHostPorts: hm.config.failsafeInboundHostPorts.map((p) => ({ ...p })),
    failsafeOutboundHostPorts: hm.config.failsafeOutboundHostPorts.map((p) => ({ ...p })),
  };
  const ipSets = new Map<string, DpIpSet>();
  for (const [id, s] of Object.entries(hm.ipSets)) ipSets.set(id, { type: s.type, members: s.members });
  const policies = new Map<string, DpPolicy>();
  for (const [id, p] of Object.entries(hm.policies)) policies.set(id, { inbound: p.inbound, outbound: p.outbound });
  const profiles = new Map<string, DpPolicy>();
  for (const [id, p] of Object.entries(hm.profiles)) profiles.set(id, { inbound: p.inbound, outbound: p.outbound });
  const endpoints = new Map<string, DpWorkloadEndpoint>();
  for (const [id, e] of Object.entries(hm.endpoints)) {
    const ep: DpWorkloadEndpoint = {
      interfaceName: e.iface,
      ipv4Nets: e.addrs.filter((a) => !a.includes(':')),
      ipv6Nets: e.addrs.filter((a) => a.includes(':')),
      tiers: e.tiers,
      profileIds: e.profiles,
      allowSpoofedSourcePrefixes: e.allowSpoofedSourcePrefixes,
    };
    if (e.mac !== undefined) ep.mac = e.mac;
    endpoints.set(id, ep);
  }
  const hostEndpoints = new Map<string, DpHostEndpoint>();
  for (const [id, h] of Object.entries(hm.hostEndpoints)) {
    hostEndpoints.set(id, {
      interfaceName: h.iface, expectedIPs: h.expectedIPs, tiers: h.tiers, profileIds: h.profiles,
      forwardTiers: h.forwardTiers, preDNATTiers: h.preDNATTiers, untrackedTiers: h.untrackedTiers,
    });
  }
  const routes: DpRoute[] = [];
  for (const r of Object.values(hm.routes)) {
    if (r.type === 'local-workload') routes.push({ dst: r.dst, type: 'local-workload', interfaceName: r.iface });
    else if (r.type === 'blackhole') routes.push({ dst: r.dst, type: 'local-block' });
    else routes.push({ dst: r.dst, type: 'remote-block', gateway: r.via });
  }
  const ipPools = Object.values(hm.ipPools).map((p) => ({ cidr: p.cidr, natOutgoing: p.natOutgoing, disabled: p.disabled }));
  return { config, ipSets, policies, profiles, endpoints, hostEndpoints, routes, ipPools };
}
