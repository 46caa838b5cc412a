/**
 * Where IPAM reads the v3 resources it depends on (pools, nodes, reservations, endpoints). Small
 * injected interfaces, so IPAM does not depend on the api component's validation; the defaults read
 * Calico's v3 keys straight from the Backend and skip malformed objects.
 */
import { resourcePrefix, type Backend, type ResourceKind } from '../datastore/index.ts';
import { poolFromResource, type PoolInfo } from './model.ts';

export interface PoolSource {
  list(): Promise<PoolInfo[]>;
}

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  /** Tunnel addresses IPAM allocated for the node (IPIP, VXLAN, WireGuard): owned, not leaks. */
  tunnelAddresses: string[];
}

export interface NodeSource {
  list(): Promise<NodeInfo[]>;
}

export interface ReservationSource {
  /** Every reserved CIDR of every IPReservation. */
  list(): Promise<string[]>;
}

export interface EndpointInfo {
  namespace: string;
  name: string;
  node: string;
  /** Addresses (CIDRs such as `192.0.2.5/32` are narrowed to the address). */
  ips: string[];
}

export interface EndpointSource {
  list(): Promise<EndpointInfo[]>;
}

export interface IpamSources {
  pools: PoolSource;
  nodes: NodeSource;
  reservations: ReservationSource;
  endpoints: EndpointSource;
}

async function listValues(backend: Backend, kind: ResourceKind): Promise<unknown[]> {
  const out: unknown[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await backend.list(resourcePrefix(kind), { limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) });
    for (const kv of page.items) {
      try {
        out.push(JSON.parse(kv.value));
      } catch {
        // A malformed object is skipped here; `weft get` reports it.
      }
    }
    if (!page.more || page.items.length === 0) return out;
    startAfter = page.items[page.items.length - 1].key;
  }
}

function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof v !== 'object' || v === null) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function bare(cidrOrIp: string): string {
  const i = cidrOrIp.indexOf('/');
  return i < 0 ? cidrOrIp : cidrOrIp.slice(0, i);
}

export function backendSources(backend: Backend): IpamSources {
  return {
    pools: {
      async list() {
        const out: PoolInfo[] = [];
        for (const o of await listValues(backend, 'IPPool')) {
          const p = poolFromResource(o);
          if (p !== undefined) out.push(p);
        }
        return out.sort((a, b) => a.name.localeCompare(b.name));
      },
    },
    nodes: {
      async list() {
        const out: NodeInfo[] = [];
        for (const o of await listValues(backend, 'Node')) {
          const r = o as { metadata?: { name?: unknown; labels?: unknown }; spec?: Record<string, unknown> };
          if (typeof r.metadata?.name !== 'string') continue;
          const spec = r.spec ?? {};
          const bgp = (spec.bgp ?? {}) as Record<string, unknown>;
          const wg = (spec.wireguard ?? {}) as Record<string, unknown>;
          const tunnels = [bgp.ipv4IPIPTunnelAddr, spec.ipv4VXLANTunnelAddr, spec.ipv6VXLANTunnelAddr, wg.interfaceIPv4Address, wg.interfaceIPv6Address]
            .filter((x): x is string => typeof x === 'string' && x !== '')
            .map(bare);
          out.push({ name: r.metadata.name, labels: strMap(r.metadata.labels), tunnelAddresses: tunnels });
        }
        return out;
      },
    },
    reservations: {
      async list() {
        const out: string[] = [];
        for (const o of await listValues(backend, 'IPReservation')) {
          const cidrs = (o as { spec?: { reservedCIDRs?: unknown } }).spec?.reservedCIDRs;
          if (Array.isArray(cidrs)) for (const c of cidrs) if (typeof c === 'string') out.push(c);
        }
        return out;
      },
    },
    endpoints: {
      async list() {
        const out: EndpointInfo[] = [];
        for (const o of await listValues(backend, 'WorkloadEndpoint')) {
          const r = o as { metadata?: { name?: unknown; namespace?: unknown }; spec?: { node?: unknown; ipNetworks?: unknown } };
          if (typeof r.metadata?.name !== 'string') continue;
          const nets = Array.isArray(r.spec?.ipNetworks) ? r.spec.ipNetworks.filter((x): x is string => typeof x === 'string') : [];
          out.push({
            namespace: typeof r.metadata.namespace === 'string' ? r.metadata.namespace : '',
            name: r.metadata.name,
            node: typeof r.spec?.node === 'string' ? r.spec.node : '',
            ips: nets.map(bare),
          });
        }
        return out;
      },
    },
  };
}
