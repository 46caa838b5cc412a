/**
 * What this node originates into BGP (calico-notes §3, bird_aggr.cfg + calico_export_to_bgp_peers):
 *   - every IPAM block affine to this host, as the block (aggregated; the /32s inside a local
 *     block are never exported — the calc graph's `blackhole` route is exactly that set);
 *   - borrowed addresses: a local workload address that no local block covers, as its /32 (/128);
 *   - nothing inside an IP pool with `disableBGPExport: true`.
 * Pure: no I/O.
 */
import { cidrContains, parseCIDR, type CIDR } from '../../lib/ip.ts';
import type { RouteModel } from '../../policy/index.ts';

export interface ExportPool {
  cidr: string;
  disableBGPExport: boolean;
}

export function computeExports(routes: Iterable<RouteModel>, pools: Iterable<ExportPool>): Set<string> {
  const blocks: { text: string; c: CIDR }[] = [];
  const workloads: { text: string; c: CIDR }[] = [];
  for (const r of routes) {
    const c = parseCIDR(r.dst, { allowBare: true });
    if (c === undefined) continue;
    if (r.type === 'blackhole') blocks.push({ text: r.dst, c });
    else if (r.type === 'local-workload') workloads.push({ text: r.dst, c });
  }
  const noExport: CIDR[] = [];
  for (const p of pools) {
    if (!p.disableBGPExport) continue;
    const c = parseCIDR(p.cidr, { allowBare: true });
    if (c !== undefined) noExport.push(c);
  }
  const allowed = (c: CIDR): boolean => !noExport.some((p) => cidrContains(p, c));
  const out = new Set<string>();
  for (const b of blocks) if (allowed(b.c)) out.add(b.text);
  for (const w of workloads) {
    if (blocks.some((b) => cidrContains(b.c, w.c))) continue;
    if (allowed(w.c)) out.add(w.text);
  }
  return out;
}
