/**
 * `ipam check`: cross-checks the IPAM objects against each other and against the resources that
 * own addresses (WorkloadEndpoints, node tunnel addresses). Pure: the caller gathers the input.
 *
 * Problems found (calico-notes §5, §17 — leaks are the most common user pain):
 *   leakedIPs                 allocated, but no endpoint / node tunnel uses it and it is not manual
 *   unallocatedEndpointIPs    an endpoint uses an address IPAM does not have allocated
 *   blocksOfMissingHosts      block affine to a host that has no Node resource any more
 *   handleMismatches          a handle's count for a block differs from the block's allocations
 *   corruptBlocks             a block breaking its structural invariants
 *   blocksOutsidePools        a block in no configured pool (pool deleted without cleanup)
 *   danglingAffinities        an affinity whose block is missing or affine elsewhere
 */
import { cidrContains, cidrContainsIP, parseCIDR, parseIP } from '../lib/ip.ts';
import * as B from './block.ts';
import { handleTotal, poolCIDR, type BlockAffinity, type Handle, type PoolInfo } from './model.ts';
import type { EndpointInfo, NodeInfo } from './sources.ts';

/** Secondary attribute marking an address assigned by hand (`weft ipam assign`): never a leak. */
export const MANUAL_ATTR = 'weft.manual';

/** Calico's handle prefixes for node tunnel addresses (calico-notes §5). */
const TUNNEL_HANDLE = /^(ipip-tunnel-addr|vxlan-tunnel-addr|vxlan-v6-tunnel-addr|wireguard-tunnel-addr|wireguard-v6-tunnel-addr)-(.+)$/;

export interface CheckInput {
  pools: PoolInfo[];
  blocks: B.Block[];
  affinities: { host: string; cidr: string; affinity: BlockAffinity }[];
  handles: { id: string; handle: Handle }[];
  nodes: NodeInfo[];
  endpoints: EndpointInfo[];
}

export interface LeakedIP {
  ip: string;
  handle: string | null;
  block: string;
  host: string | undefined;
  sequenceNumber: number | undefined;
  attrs: Record<string, string>;
}

export interface CheckReport {
  kind: 'WeftIPAMCheckReport';
  version: 1;
  generatedAt: string;
  summary: {
    pools: number;
    poolAddresses: string;
    blocks: number;
    allocated: number;
    manual: number;
    endpoints: number;
    problems: number;
  };
  leakedIPs: LeakedIP[];
  unallocatedEndpointIPs: { ip: string; endpoint: string; node: string }[];
  blocksOfMissingHosts: { block: string; host: string; inUse: number }[];
  handleMismatches: { handle: string; block: string; recorded: number; actual: number }[];
  corruptBlocks: { block: string; problems: string[] }[];
  blocksOutsidePools: { block: string; inUse: number }[];
  danglingAffinities: { host: string; block: string; state: string; reason: string }[];
  /** Present when asked for: every allocation. */
  allIPs?: LeakedIP[];
}

export function checkIpam(input: CheckInput, opts: { now?: Date; showAllIps?: boolean } = {}): CheckReport {
  const nodes = new Map(input.nodes.map((n) => [n.name, n]));
  const tunnelIPs = new Set<string>();
  for (const n of input.nodes) for (const t of n.tunnelAddresses) tunnelIPs.add(B.canonical(t));
  const epByIP = new Map<string, EndpointInfo>();
  for (const ep of input.endpoints) {
    for (const ip of ep.ips) {
      const c = parseIP(ip);
      if (c !== undefined) epByIP.set(B.canonical(ip), ep);
    }
  }

  const report: CheckReport = {
    kind: 'WeftIPAMCheckReport',
    version: 1,
    generatedAt: (opts.now ?? new Date()).toISOString(),
    summary: { pools: input.pools.length, poolAddresses: '0', blocks: input.blocks.length, allocated: 0, manual: 0, endpoints: input.endpoints.length, problems: 0 },
    leakedIPs: [],
    unallocatedEndpointIPs: [],
    blocksOfMissingHosts: [],
    handleMismatches: [],
    corruptBlocks: [],
    blocksOutsidePools: [],
    danglingAffinities: [],
  };
  let poolAddrs = 0n;
  for (const p of input.pools) {
    const c = poolCIDR(p);
    poolAddrs += 1n << BigInt((c.version === 4 ? 32 : 128) - c.prefix);
  }
  report.summary.poolAddresses = poolAddrs.toString();
  if (opts.showAllIps) report.allIPs = [];

  const allocated = new Set<string>();
  /** handle → block → actual count */
  const actual = new Map<string, Map<string, number>>();
  const blocksByCidr = new Map<string, B.Block>();
  for (const b of input.blocks) {
    blocksByCidr.set(b.cidr, b);
    const problems = B.blockProblems(b);
    if (problems.length > 0) {
      report.corruptBlocks.push({ block: b.cidr, problems });
      continue;
    }
    const bc = B.blockCIDR(b);
    if (!input.pools.some((p) => cidrContains(poolCIDR(p), bc))) report.blocksOutsidePools.push({ block: b.cidr, inUse: B.inUse(b) });
    const host = B.affinityHost(b.affinity);
    if (host !== undefined && !nodes.has(host)) report.blocksOfMissingHosts.push({ block: b.cidr, host, inUse: B.inUse(b) });
    for (const a of B.allocationsOf(b)) {
      report.summary.allocated++;
      allocated.add(a.ip);
      if (a.handle !== null) {
        const m = actual.get(a.handle) ?? new Map<string, number>();
        m.set(b.cidr, (m.get(b.cidr) ?? 0) + 1);
        actual.set(a.handle, m);
      }
      const entry: LeakedIP = { ip: a.ip, handle: a.handle, block: b.cidr, host, sequenceNumber: a.sequenceNumber, attrs: a.secondary ?? {} };
      report.allIPs?.push(entry);
      if (a.secondary?.[MANUAL_ATTR] === 'true') {
        report.summary.manual++;
        continue;
      }
      if (epByIP.has(a.ip)) continue;
      const tun = a.handle === null ? null : TUNNEL_HANDLE.exec(a.handle);
      if (tunnelIPs.has(a.ip) || (tun !== null && nodes.has(tun[2]))) continue;
      report.leakedIPs.push(entry);
    }
  }

  const pools = input.pools.map((p) => poolCIDR(p));
  for (const ep of input.endpoints) {
    for (const raw of ep.ips) {
      const ip = parseIP(raw);
      if (ip === undefined) continue;
      const canon = B.canonical(raw);
      // Addresses outside every pool are not IPAM's business (static, externally managed).
      if (!pools.some((c) => cidrContainsIP(c, ip))) continue;
      if (!allocated.has(canon)) report.unallocatedEndpointIPs.push({ ip: canon, endpoint: ep.namespace === '' ? ep.name : `${ep.namespace}/${ep.name}`, node: ep.node });
    }
  }

  for (const { id, handle } of input.handles) {
    const a = actual.get(id) ?? new Map<string, number>();
    const cidrs = new Set([...Object.keys(handle.block), ...a.keys()]);
    for (const cidr of cidrs) {
      const recorded = handle.block[cidr] ?? 0;
      const got = a.get(cidr) ?? 0;
      if (recorded !== got) report.handleMismatches.push({ handle: id, block: cidr, recorded, actual: got });
    }
    if (handleTotal(handle) === 0 && a.size === 0) report.handleMismatches.push({ handle: id, block: '', recorded: 0, actual: 0 });
  }
  const handleIds = new Set(input.handles.map((h) => h.id));
  for (const [id, m] of actual) {
    if (handleIds.has(id)) continue;
    for (const [cidr, n] of m) report.handleMismatches.push({ handle: id, block: cidr, recorded: 0, actual: n });
  }

  for (const a of input.affinities) {
    const b = blocksByCidr.get(a.cidr);
    const c = parseCIDR(a.cidr);
    if (c === undefined) continue;
    if (b === undefined) report.danglingAffinities.push({ host: a.host, block: a.cidr, state: a.affinity.state, reason: 'block does not exist' });
    else if (b.affinity !== B.hostAffinity(a.host)) report.danglingAffinities.push({ host: a.host, block: a.cidr, state: a.affinity.state, reason: `block is affine to ${b.affinity ?? 'nobody'}` });
    else if (a.affinity.state !== 'confirmed') report.danglingAffinities.push({ host: a.host, block: a.cidr, state: a.affinity.state, reason: 'claim or release not finished' });
  }

  report.summary.problems =
    report.leakedIPs.length + report.unallocatedEndpointIPs.length + report.blocksOfMissingHosts.length + report.handleMismatches.length +
    report.corruptBlocks.length + report.blocksOutsidePools.length + report.danglingAffinities.length;
  return report;
}

export function isClean(r: CheckReport): boolean {
  return r.summary.problems === 0;
}

export function formatCheckReport(r: CheckReport): string {
  const lines: string[] = [];
  const s = r.summary;
  lines.push(`Checked ${s.pools} IP pool(s) (${s.poolAddresses} addresses), ${s.blocks} block(s), ${s.allocated} allocation(s), ${s.endpoints} workload endpoint(s).`);
  if (s.manual > 0) lines.push(`${s.manual} manually assigned address(es) (weft ipam assign) are not checked for owners.`);
  const section = <T>(title: string, items: T[], fmt: (x: T) => string): void => {
    lines.push(`${title}: ${items.length}`);
    for (const x of items.slice(0, 50)) lines.push(`  ${fmt(x)}`);
    if (items.length > 50) lines.push(`  … and ${items.length - 50} more (see the JSON report, -o FILE)`);
  };
  section('Leaked addresses (allocated, no owner)', r.leakedIPs, (x) => `${x.ip}  handle=${x.handle ?? '-'}  host=${x.host ?? '-'}  block=${x.block}`);
  section('Endpoint addresses not allocated in IPAM', r.unallocatedEndpointIPs, (x) => `${x.ip}  endpoint=${x.endpoint}  node=${x.node}`);
  section('Blocks affine to hosts that no longer exist', r.blocksOfMissingHosts, (x) => `${x.block}  host=${x.host}  in use=${x.inUse}`);
  section('Handle count mismatches', r.handleMismatches, (x) => `${x.handle}  block=${x.block || '-'}  recorded=${x.recorded}  actual=${x.actual}`);
  section('Corrupt blocks', r.corruptBlocks, (x) => `${x.block}: ${x.problems.join('; ')}`);
  section('Blocks outside every pool', r.blocksOutsidePools, (x) => `${x.block}  in use=${x.inUse}`);
  section('Dangling block affinities', r.danglingAffinities, (x) => `${x.block}  host=${x.host}  state=${x.state}: ${x.reason}`);
  lines.push(s.problems === 0 ? 'Check complete: no problems found.' : `Check complete: found ${s.problems} problem(s).`);
  return lines.join('\n') + '\n';
}
