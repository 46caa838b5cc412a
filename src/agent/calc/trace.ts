/**
 * `traceInCluster`: what `weft policy trace` needs from a full datastore listing — the models of
 * the hosts that hold the source and destination, then `tracePolicy` over them.
 */
import { parseIP, parseCIDR, cidrContainsIP } from '../../lib/ip.ts';
import { tracePolicy } from '../../policy/index.ts';
import type { EndpointSpec, TracePacket, TraceResult } from '../../policy/index.ts';
import { parseUpdate } from './dispatcher.ts';
import { computeFromScratch } from './graph.ts';

function specText(s: EndpointSpec): string {
  return typeof s === 'string' ? s : 'address' in s ? s.address : s.endpoint;
}

/**
 * Traces a packet using the models of the hosts owning `from` and `to` (endpoint id `ns/name`,
 * unique endpoint name, host-endpoint name, node name, or address).
 *
 * @example
 *   const kvs = (await backend.list('/calico/')).items;
 *   const r = traceInCluster(kvs, 'prod/web', 'prod/db', { protocol: 'TCP', dstPort: 5432 });
 */
export function traceInCluster(
  kvs: readonly { key: string; value: string }[], from: EndpointSpec, to: EndpointSpec, packet: TracePacket = {},
): TraceResult {
  const wanted = [specText(from), specText(to)];
  const hosts = new Set<string>();
  for (const kv of kvs) {
    const u = parseUpdate(kv.key, kv.value);
    if (!u || !u.value) continue;
    for (const w of wanted) {
      const ip = parseIP(w);
      if (u.kind === 'WorkloadEndpoint') {
        const v = u.value;
        if (v.id === w || v.name === w || (ip && v.addrs.some((a) => { const c = parseCIDR(a); return c !== undefined && cidrContainsIP(c, ip); }))) hosts.add(v.node);
      } else if (u.kind === 'HostEndpoint') {
        if (u.value.id === w || (ip && u.value.expectedIPs.includes(w))) hosts.add(u.value.node);
      } else if (u.kind === 'Node') {
        if (u.value.name === w || u.value.ipv4 === w || u.value.ipv6 === w) hosts.add(u.value.name);
      }
    }
  }
  const models = [...hosts].sort().map((h) => computeFromScratch(kvs, h));
  // A node name as --from/--to means "that host": trace from/to its address.
  const asAddr = (s: EndpointSpec): EndpointSpec => {
    const t = specText(s);
    const m = models.find((x) => x.host === t);
    return m && m.hostAddrs.length > 0 && !Object.values(m.endpoints).some((e) => e.id === t || e.name === t)
      ? { address: m.hostAddrs[0] } : s;
  };
  return tracePolicy(models, asAddr(from), asAddr(to), packet);
}
