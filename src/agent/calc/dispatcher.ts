/**
 * Dispatcher with validation filter: turns a datastore update `{key, value|undefined, revision}`
 * into a typed, validated update for one kind and fans it out to the stages registered for that
 * kind. Each update is judged on its own (syncer contract, calico-notes §2.2): a value that does
 * not parse or validate is treated exactly like a delete, so a broken resource fails closed
 * (e.g. an endpoint's profile that is invalid becomes "missing" → deny).
 */
import { parseResourceKey, parseIpamBlockKey, IPAM_BLOCK_PREFIX } from '../../datastore/index.ts';
import { parseCIDR, formatCIDR, parseIP, formatIP } from '../../lib/ip.ts';
import {
  policyDef, profileDef, tierDef,
} from '../../policy/index.ts';
import type {
  FelixConfigurationSpec, HostEndpointSpec, IPAMBlockValue, IPPoolModel, IPPoolSpec, NetworkSetSpec,
  NodeSpec, PolicyDef, ProfileDef, Resource, TierDef, WorkloadEndpointSpec, EndpointPortSpec,
} from '../../policy/index.ts';
import type { NamedPort } from './ipsets.ts';

export interface WorkloadEndpointValue {
  id: string;
  name: string;
  namespace: string;
  node: string;
  iface: string;
  addrs: string[];
  mac?: string;
  allowSpoofedSourcePrefixes: string[];
  labels: Record<string, string>;
  orchestrator?: string;
  profiles: string[];
  ports: readonly NamedPort[];
}

export interface HostEndpointValue {
  id: string;
  node: string;
  iface: string;
  expectedIPs: string[];
  labels: Record<string, string>;
  profiles: string[];
  ports: readonly NamedPort[];
}

export interface NetworkSetValue {
  id: string;
  namespace?: string;
  nets: string[];
  labels: Record<string, string>;
}

export interface NodeValue {
  name: string;
  ipv4?: string;
  ipv6?: string;
}

export type CalcUpdate =
  | { kind: 'WorkloadEndpoint'; id: string; value?: WorkloadEndpointValue }
  | { kind: 'HostEndpoint'; id: string; value?: HostEndpointValue }
  | { kind: 'Profile'; id: string; value?: ProfileDef }
  | { kind: 'Policy'; id: string; value?: PolicyDef }
  | { kind: 'Tier'; id: string; value?: TierDef }
  | { kind: 'NetworkSet'; id: string; value?: NetworkSetValue }
  | { kind: 'IPPool'; id: string; value?: IPPoolModel }
  | { kind: 'Node'; id: string; value?: NodeValue }
  | { kind: 'FelixConfiguration'; id: string; value?: FelixConfigurationSpec }
  | { kind: 'IPAMBlock'; id: string; value?: { cidr: string; affinityHost?: string } };

export type CalcKind = CalcUpdate['kind'];
type Handler<K extends CalcKind> = (u: Extract<CalcUpdate, { kind: K }>) => void;

class Invalid extends Error {}

function fail(msg: string): never {
  throw new Invalid(msg);
}

/** Validates a label map; returns the parsed object itself (it is freshly parsed JSON, owned by us). */
function labelsOf(l: unknown): Record<string, string> {
  if (l === undefined || l === null) return {};
  if (typeof l !== 'object' || Array.isArray(l)) fail('labels must be a map');
  const o = l as Record<string, unknown>;
  for (const k in o) if (typeof o[k] !== 'string') fail(`label ${k} is not a string`);
  return o as Record<string, string>;
}

function strList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(`${what} must be a list of strings`);
  return v as string[];
}

/** Already-canonical IPv4 host prefix (the common case): no bigint round trip needed. */
const CANON_V4_HOST = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\/32$/;

function cidrList(v: unknown, what: string): string[] {
  const l = strList(v, what);
  if (l.length === 0 || (l.length === 1 && CANON_V4_HOST.test(l[0]))) return l;
  return [...new Set(l.map((s) => {
    const c = parseCIDR(s, { allowBare: true });
    if (!c) fail(`${what}: invalid CIDR ${s}`);
    return formatCIDR(c);
  }))];
}

function addrList(v: unknown, what: string): string[] {
  return [...new Set(strList(v, what).map((s) => {
    const ip = parseIP(s);
    if (!ip) fail(`${what}: invalid address ${s}`);
    return formatIP(ip.version, ip.value);
  }))];
}

function hostCidr(a: string): string {
  return `${a}/${a.includes(':') ? 128 : 32}`;
}

/**
 * Validated named-port lists are shared between endpoints that declare the same ports (most do):
 * they are never mutated, and sharing keeps 100k endpoints from each holding their own copies.
 */
const portsCache = new Map<string, readonly NamedPort[]>();
const NO_PORTS: readonly NamedPort[] = Object.freeze([]);

function portsOf(v: unknown): readonly NamedPort[] {
  if (v === undefined || v === null) return NO_PORTS;
  if (!Array.isArray(v)) fail('ports must be a list');
  if (v.length === 0) return NO_PORTS;
  let sig = '';
  const out = (v as EndpointPortSpec[]).map((p) => {
    if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      fail('ports entries need a name and a port 1-65535');
    }
    const proto = String(p.protocol ?? 'TCP').toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') fail(`port ${p.name}: protocol must be TCP, UDP or SCTP`);
    sig += `${p.name}\u0000${proto}\u0000${p.port}\u0000`;
    return { name: p.name, protocol: proto, port: p.port } as NamedPort;
  });
  const hit = portsCache.get(sig);
  if (hit) return hit;
  if (portsCache.size >= 10_000) portsCache.clear();
  for (const p of out) Object.freeze(p);
  const frozen = Object.freeze(out);
  portsCache.set(sig, frozen);
  return frozen;
}

function addrOf(s: unknown): string | undefined {
  if (typeof s !== 'string' || s === '') return undefined;
  const ip = parseIP(s.split('/')[0]);
  return ip ? formatIP(ip.version, ip.value) : undefined;
}

type Obj = Resource<string, unknown>;

function checkResource(o: unknown, kind: string | readonly string[]): Obj {
  if (typeof o !== 'object' || o === null) fail('value is not an object');
  const r = o as Obj;
  const kinds = typeof kind === 'string' ? [kind] : kind;
  if (!kinds.includes(r.kind)) fail(`kind ${String(r.kind)} does not match key`);
  if (typeof r.metadata !== 'object' || r.metadata === null) fail('metadata missing');
  if (r.spec !== undefined && (typeof r.spec !== 'object' || r.spec === null)) fail('spec must be an object');
  return r;
}

/**
 * Parses one datastore update; undefined when the key is not one the calc graph reads. An invalid
 * value yields the update without a value (= absent); `onInvalid` hears why.
 */
export function parseUpdate(key: string, value: string | undefined, onInvalid?: (reason: string) => void): CalcUpdate | undefined {
  const block = key.startsWith(IPAM_BLOCK_PREFIX) ? parseIpamBlockKey(key) : undefined;
  if (block) {
    const cidr = formatCIDR(parseCIDR(block.cidr) ?? fail('bad block key'));
    if (value === undefined) return { kind: 'IPAMBlock', id: cidr };
    try {
      const v = JSON.parse(value) as IPAMBlockValue;
      const aff = typeof v?.affinity === 'string' && v.affinity.startsWith('host:') ? v.affinity.slice(5) : undefined;
      return { kind: 'IPAMBlock', id: cidr, value: aff ? { cidr, affinityHost: aff } : { cidr } };
    } catch (err) {
      onInvalid?.(reasonOf(err));
      return { kind: 'IPAMBlock', id: cidr };
    }
  }
  const rk = parseResourceKey(key);
  if (!rk) return undefined;
  const ns = rk.namespace;
  // `<ns>/<name>` is the key's tail: slicing it shares the key's characters instead of building (and
  // retaining) a concatenation of the two parts for every namespaced resource.
  const nsId = ns !== undefined ? nsTail(key, ns, rk.name) : rk.name;
  const base = ((): Pick<CalcUpdate, 'kind' | 'id'> | undefined => {
    switch (rk.kind) {
      case 'WorkloadEndpoint': return { kind: 'WorkloadEndpoint', id: nsId };
      case 'HostEndpoint': return { kind: 'HostEndpoint', id: rk.name };
      case 'Profile': return { kind: 'Profile', id: rk.name };
      case 'NetworkPolicy': case 'GlobalNetworkPolicy': return { kind: 'Policy', id: nsId };
      case 'Tier': return { kind: 'Tier', id: rk.name };
      case 'NetworkSet': case 'GlobalNetworkSet': return { kind: 'NetworkSet', id: nsId };
      case 'IPPool': return { kind: 'IPPool', id: rk.name };
      case 'Node': return { kind: 'Node', id: rk.name };
      case 'FelixConfiguration': return { kind: 'FelixConfiguration', id: rk.name };
      default: return undefined;
    }
  })();
  if (!base) return undefined;
  if (value === undefined) return base as CalcUpdate;
  try {
    const raw: unknown = JSON.parse(value);
    const r = checkResource(raw, rk.kind);
    // Identity comes from the key; the object's own metadata must agree with it.
    r.metadata.name = rk.name;
    if (ns !== undefined) r.metadata.namespace = ns;
    else delete r.metadata.namespace;
    return { ...base, value: parseValue(rk.kind, r, nsId) } as CalcUpdate;
  } catch (err) {
    onInvalid?.(reasonOf(err));
    return base as CalcUpdate; // invalid ⇒ absent
  }
}

function nsTail(key: string, ns: string, name: string): string {
  const n = ns.length + 1 + name.length;
  const tail = key.slice(key.length - n);
  return tail.length === n && tail.charCodeAt(ns.length) === 47 /* '/' */ && tail.startsWith(ns) && tail.endsWith(name) ? tail : `${ns}/${name}`;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function parseValue(kind: string, r: Obj, id: string): unknown {
  const labels = labelsOf(r.metadata.labels);
  switch (kind) {
    case 'WorkloadEndpoint': {
      const s = (r.spec ?? {}) as WorkloadEndpointSpec;
      if (typeof s.node !== 'string' || s.node === '') fail('spec.node is required');
      const v: WorkloadEndpointValue = {
        id, name: r.metadata.name, namespace: r.metadata.namespace as string, node: s.node,
        iface: typeof s.interfaceName === 'string' ? s.interfaceName : '',
        addrs: cidrList(s.ipNetworks, 'ipNetworks'),
        allowSpoofedSourcePrefixes: cidrList(s.allowSpoofedSourcePrefixes, 'allowSpoofedSourcePrefixes'),
        labels, profiles: strList(s.profiles, 'profiles'), ports: portsOf(s.ports),
      };
      if (typeof s.mac === 'string' && s.mac !== '') v.mac = s.mac.toLowerCase();
      if (typeof s.orchestrator === 'string' && s.orchestrator !== '') v.orchestrator = s.orchestrator;
      return v;
    }
    case 'HostEndpoint': {
      const s = (r.spec ?? {}) as HostEndpointSpec;
      if (typeof s.node !== 'string' || s.node === '') fail('spec.node is required');
      const expectedIPs = addrList(s.expectedIPs, 'expectedIPs');
      const iface = typeof s.interfaceName === 'string' ? s.interfaceName : '';
      if (iface === '' && expectedIPs.length === 0) fail('interfaceName or expectedIPs is required');
      return { id, node: s.node, iface, expectedIPs, labels, profiles: strList(s.profiles, 'profiles'), ports: portsOf(s.ports) } satisfies HostEndpointValue;
    }
    case 'Profile': return profileDef(r as Resource<string, never>);
    case 'NetworkPolicy': case 'GlobalNetworkPolicy': return policyDef(r as Resource<string, never>);
    case 'Tier': return tierDef(r as Resource<string, never>);
    case 'NetworkSet': case 'GlobalNetworkSet': {
      const s = (r.spec ?? {}) as NetworkSetSpec;
      const v: NetworkSetValue = { id, nets: cidrList(s.nets, 'nets'), labels };
      if (r.metadata.namespace !== undefined) v.namespace = r.metadata.namespace;
      return v;
    }
    case 'IPPool': {
      const s = (r.spec ?? {}) as IPPoolSpec;
      const c = typeof s.cidr === 'string' ? parseCIDR(s.cidr) : undefined;
      if (!c) fail('spec.cidr is required');
      const p: IPPoolModel = { cidr: formatCIDR(c), natOutgoing: s.natOutgoing === true, disabled: s.disabled === true };
      if (typeof s.ipipMode === 'string') p.ipipMode = s.ipipMode;
      if (typeof s.vxlanMode === 'string') p.vxlanMode = s.vxlanMode;
      return p;
    }
    case 'Node': {
      const s = (r.spec ?? {}) as NodeSpec;
      const v: NodeValue = { name: r.metadata.name };
      const a4 = addrOf(s.bgp?.ipv4Address);
      const a6 = addrOf(s.bgp?.ipv6Address);
      if (a4) v.ipv4 = a4;
      if (a6) v.ipv6 = a6;
      return v;
    }
    case 'FelixConfiguration': return (r.spec ?? {}) as FelixConfigurationSpec;
  }
  return fail(`unsupported kind ${kind}`);
}

/** Routes typed updates to the handlers registered per kind, in registration order. */
export class Dispatcher {
  readonly #handlers = new Map<CalcKind, ((u: CalcUpdate) => void)[]>();

  register<K extends CalcKind>(kind: K, h: Handler<K>): void {
    let l = this.#handlers.get(kind);
    if (!l) { l = []; this.#handlers.set(kind, l); }
    l.push(h as (u: CalcUpdate) => void);
  }

  dispatch(u: CalcUpdate): void {
    for (const h of this.#handlers.get(u.kind) ?? []) h(u);
  }
}

export { hostCidr };
