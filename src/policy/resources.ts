/**
 * The minimal shapes of the Calico v3 resources this component reads. They are deliberately
 * loose (every field optional): the calc graph's validation filter normalises them and treats a
 * value it cannot use as "absent", as Felix's ValidationFilter does (calico-notes §2.1).
 */

export type Labels = Readonly<Record<string, string>>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
}

export interface Resource<K extends string = string, S = unknown> {
  apiVersion?: string;
  kind: K;
  metadata: ObjectMeta;
  spec?: S;
}

/** `ports` entry of a WorkloadEndpoint or HostEndpoint: a named port. */
export interface EndpointPortSpec {
  name: string;
  protocol?: string | number;
  port: number;
}

export interface WorkloadEndpointSpec {
  node?: string;
  orchestrator?: string;
  workload?: string;
  endpoint?: string;
  interfaceName?: string;
  ipNetworks?: string[];
  profiles?: string[];
  ports?: EndpointPortSpec[];
  mac?: string;
  allowSpoofedSourcePrefixes?: string[];
}

export interface HostEndpointSpec {
  node?: string;
  interfaceName?: string;
  expectedIPs?: string[];
  profiles?: string[];
  ports?: EndpointPortSpec[];
}

export interface ICMPFieldsSpec {
  type?: number;
  code?: number;
}

export interface EntityRuleSpec {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: (number | string)[];
  notPorts?: (number | string)[];
}

export interface RuleSpec {
  action?: string;
  ipVersion?: number;
  protocol?: string | number;
  notProtocol?: string | number;
  icmp?: ICMPFieldsSpec;
  notICMP?: ICMPFieldsSpec;
  source?: EntityRuleSpec;
  destination?: EntityRuleSpec;
}

export interface PolicySpec {
  tier?: string;
  order?: number;
  selector?: string;
  namespaceSelector?: string;
  types?: string[];
  ingress?: RuleSpec[];
  egress?: RuleSpec[];
  applyOnForward?: boolean;
  preDNAT?: boolean;
  doNotTrack?: boolean;
}

export interface ProfileSpec {
  ingress?: RuleSpec[];
  egress?: RuleSpec[];
  labelsToApply?: Record<string, string>;
}

export interface TierSpec {
  order?: number;
  defaultAction?: string;
}

export interface NetworkSetSpec {
  nets?: string[];
}

export interface IPPoolSpec {
  cidr?: string;
  blockSize?: number;
  natOutgoing?: boolean;
  disabled?: boolean;
  ipipMode?: string;
  vxlanMode?: string;
}

export interface NodeSpec {
  bgp?: { ipv4Address?: string; ipv6Address?: string; asNumber?: number };
  ipv4VXLANTunnelAddr?: string;
}

/** Failsafe port entry as FelixConfiguration spells it: `{protocol, port, net?}`. */
export interface ProtoPortSpec {
  protocol?: string;
  port: number;
  net?: string;
}

export interface FelixConfigurationSpec {
  defaultEndpointToHostAction?: string;
  failsafeInboundHostPorts?: ProtoPortSpec[];
  failsafeOutboundHostPorts?: ProtoPortSpec[];
  [k: string]: unknown;
}

/** Value of an IPAM block key `/calico/ipam/v2/assignment/ipv4/block/<cidr with - for />`. */
export interface IPAMBlockValue {
  cidr?: string;
  affinity?: string | null;
}
