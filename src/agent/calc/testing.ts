/**
 * Test helpers: build Calico v3 resources as datastore KVs. Used by the calc/policy tests and the
 * benchmark; not part of the public surface.
 */
import { resourceKey, ipamBlockKey } from '../../datastore/index.ts';
import type { ResourceKind } from '../../datastore/index.ts';
import type { PolicySpec, ProfileSpec, RuleSpec, EndpointPortSpec } from '../../policy/index.ts';

export interface KV { key: string; value: string }

const API = 'projectcalico.org/v3';

export function res(kind: ResourceKind, name: string, spec: unknown, opts: { namespace?: string; labels?: Record<string, string> } = {}): KV {
  const metadata: Record<string, unknown> = { name };
  if (opts.namespace !== undefined) metadata.namespace = opts.namespace;
  if (opts.labels !== undefined) metadata.labels = opts.labels;
  return {
    key: resourceKey({ kind, name, ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}) }),
    value: JSON.stringify({ apiVersion: API, kind, metadata, spec }),
  };
}

export interface WepOpts {
  ns?: string;
  node: string;
  ips: string[];
  labels?: Record<string, string>;
  profiles?: string[];
  ports?: EndpointPortSpec[];
  iface?: string;
  mac?: string;
  allowSpoofedSourcePrefixes?: string[];
}

export function wep(name: string, o: WepOpts): KV {
  const spec: Record<string, unknown> = {
    node: o.node, orchestrator: 'weft', workload: name, endpoint: 'eth0',
    interfaceName: o.iface ?? `cali${name.replace(/[^a-z0-9]/g, '').slice(0, 11)}`,
    ipNetworks: o.ips.map((ip) => (ip.includes('/') ? ip : `${ip}/${ip.includes(':') ? 128 : 32}`)),
    profiles: o.profiles ?? [],
  };
  if (o.ports) spec.ports = o.ports;
  if (o.mac) spec.mac = o.mac;
  if (o.allowSpoofedSourcePrefixes) spec.allowSpoofedSourcePrefixes = o.allowSpoofedSourcePrefixes;
  return res('WorkloadEndpoint', name, spec, { namespace: o.ns ?? 'default', labels: o.labels ?? {} });
}

export function hep(name: string, o: { node: string; iface?: string; expectedIPs?: string[]; labels?: Record<string, string>; profiles?: string[] }): KV {
  return res('HostEndpoint', name, {
    node: o.node, interfaceName: o.iface ?? 'eth0', expectedIPs: o.expectedIPs ?? [], profiles: o.profiles ?? [],
  }, { labels: o.labels ?? {} });
}

export function gnp(name: string, spec: PolicySpec): KV {
  return res('GlobalNetworkPolicy', name, spec);
}

export function np(ns: string, name: string, spec: PolicySpec): KV {
  return res('NetworkPolicy', name, spec, { namespace: ns });
}

export function profile(name: string, spec: ProfileSpec = {}): KV {
  return res('Profile', name, spec);
}

export function tier(name: string, order: number | undefined, defaultAction: 'Deny' | 'Pass' = 'Deny'): KV {
  return res('Tier', name, { ...(order !== undefined ? { order } : {}), defaultAction });
}

export function gns(name: string, nets: string[], labels: Record<string, string>): KV {
  return res('GlobalNetworkSet', name, { nets }, { labels });
}

export function netset(ns: string, name: string, nets: string[], labels: Record<string, string>): KV {
  return res('NetworkSet', name, { nets }, { namespace: ns, labels });
}

export function pool(name: string, cidr: string, natOutgoing = false): KV {
  return res('IPPool', name, { cidr, natOutgoing, blockSize: 26 });
}

export function nodeRes(name: string, ipv4?: string, ipv6?: string): KV {
  return res('Node', name, { bgp: { ...(ipv4 ? { ipv4Address: ipv4 } : {}), ...(ipv6 ? { ipv6Address: ipv6 } : {}) } });
}

export function felixConfig(name: string, spec: Record<string, unknown>): KV {
  return res('FelixConfiguration', name, spec);
}

export function block(cidr: string, host: string | null): KV {
  return { key: ipamBlockKey(cidr), value: JSON.stringify({ cidr, affinity: host === null ? null : `host:${host}`, allocations: [], unallocated: [] }) };
}

export const allowAll: RuleSpec = { action: 'Allow' };
