/**
 * Handlers behind `weft ipam show|check|release|assign|configure`. They take an opened Ipam and
 * already-parsed options and return text (or a report); the CLI component does argument parsing,
 * file I/O and exit codes.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { cidrContains, cidrSize } from '../lib/ip.ts';
import * as B from './block.ts';
import { MANUAL_ATTR, checkIpam, formatCheckReport, type CheckInput, type CheckReport } from './check.ts';
import type { AssignedIP, Ipam, ReleaseResult } from './ipam.ts';
import { effectiveMaxBlocks, poolCIDR, poolForIP, type IpamConfig } from './model.ts';

export type OutputFormat = 'text' | 'json';

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd()).join('\n') + '\n';
}

function pct(n: bigint, of: bigint): string {
  if (of === 0n) return '0%';
  return `${Number((n * 1000n) / of) / 10}%`;
}

export interface ShowOptions {
  ip?: string;
  showBlocks?: boolean;
  showBorrowed?: boolean;
  showConfiguration?: boolean;
  output?: OutputFormat;
}

/** `weft ipam show`: usage per pool (and per block), one address's owner, borrowed addresses, config. */
export async function ipamShow(ipam: Ipam, opts: ShowOptions = {}): Promise<string> {
  const json = opts.output === 'json';
  if (opts.ip !== undefined) {
    const ip = B.canonical(opts.ip);
    const a = await ipam.getAssignment(ip);
    if (json) return JSON.stringify(a ?? { ip, allocated: false }, null, 2) + '\n';
    if (a === undefined) {
      const pool = poolForIP(await ipam.pools(), ip);
      return `IP ${ip} is not assigned${pool ? ` (it is in pool ${pool.name}, ${pool.cidr})` : ' and is not in any IP pool'}.\n`;
    }
    const lines = [`IP ${a.ip} is in use`, `  handle:     ${a.handle ?? '(none)'}`, `  block:      ${a.block}${a.host ? ` (affine to host ${a.host})` : ''}`];
    if (a.pool) lines.push(`  pool:       ${a.pool}`);
    lines.push(`  sequence:   ${a.sequenceNumber ?? '-'}`);
    const attrs = Object.entries(a.attrs);
    if (attrs.length > 0) {
      lines.push('  attributes:');
      for (const [k, v] of attrs) lines.push(`    ${k}: ${v}`);
    }
    return lines.join('\n') + '\n';
  }
  if (opts.showConfiguration) {
    const c = await ipam.getConfig();
    if (json) return JSON.stringify({ ...c, effectiveMaxBlocksPerHost: effectiveMaxBlocks(c) }, null, 2) + '\n';
    return table([
      ['PROPERTY', 'VALUE'],
      ['StrictAffinity', String(c.strictAffinity)],
      ['AutoAllocateBlocks', String(c.autoAllocateBlocks)],
      ['MaxBlocksPerHost', c.maxBlocksPerHost === 0 ? `0 (default ${effectiveMaxBlocks(c)})` : String(c.maxBlocksPerHost)],
    ]);
  }
  const [pools, blocks] = await Promise.all([ipam.pools(), ipam.listBlocks()]);
  if (opts.showBorrowed) {
    const rows: { ip: string; borrowingHost: string; block: string; blockOwner: string; handle: string }[] = [];
    for (const s of blocks) {
      const owner = B.affinityHost(s.block.affinity);
      for (const a of B.allocationsOf(s.block)) {
        const node = a.secondary?.node;
        if (node !== undefined && node !== owner) rows.push({ ip: a.ip, borrowingHost: node, block: s.block.cidr, blockOwner: owner ?? '(none)', handle: a.handle ?? '' });
      }
    }
    if (json) return JSON.stringify(rows, null, 2) + '\n';
    if (rows.length === 0) return 'No borrowed addresses.\n';
    return table([['IP', 'BORROWING-HOST', 'BLOCK', 'BLOCK OWNER', 'HANDLE'], ...rows.map((r) => [r.ip, r.borrowingHost, r.block, r.blockOwner, r.handle])]);
  }
  const out: { kind: 'pool' | 'block'; name: string; cidr: string; total: bigint; inUse: bigint; host?: string }[] = [];
  for (const p of pools) {
    const pc = poolCIDR(p);
    const mine = blocks.filter((s) => cidrContains(pc, B.blockCIDR(s.block)));
    const used = mine.reduce((a, s) => a + BigInt(B.inUse(s.block)), 0n);
    out.push({ kind: 'pool', name: p.name + (p.disabled ? ' (disabled)' : ''), cidr: p.cidr, total: cidrSize(pc), inUse: used });
    if (opts.showBlocks) {
      for (const s of mine.sort((a, b) => (B.blockCIDR(a.block).addr < B.blockCIDR(b.block).addr ? -1 : 1))) {
        out.push({ kind: 'block', name: '', cidr: s.block.cidr, total: BigInt(B.blockSize(s.block)), inUse: BigInt(B.inUse(s.block)), host: B.affinityHost(s.block.affinity) ?? '(none)' });
      }
    }
  }
  if (json) {
    return JSON.stringify(out.map((r) => ({ ...r, total: r.total.toString(), inUse: r.inUse.toString(), free: (r.total - r.inUse).toString() })), null, 2) + '\n';
  }
  if (pools.length === 0) return 'No IP pools configured.\n';
  const head = opts.showBlocks ? ['GROUPING', 'CIDR', 'AFFINITY', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'] : ['POOL', 'CIDR', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'];
  const rows = out.map((r) => {
    const cells = [r.total.toString(), `${r.inUse} (${pct(r.inUse, r.total)})`, `${r.total - r.inUse} (${pct(r.total - r.inUse, r.total)})`];
    if (opts.showBlocks) return [r.kind === 'pool' ? `IP Pool ${r.name}` : '  Block', r.cidr, r.host ?? '', ...cells];
    return [r.name, r.cidr, ...cells];
  });
  return table([head, ...rows]);
}

/** Reads everything `checkIpam` needs. */
export async function gatherCheckInput(ipam: Ipam): Promise<CheckInput> {
  const [pools, blocks, affinities, handles, nodes, endpoints] = await Promise.all([
    ipam.pools(),
    ipam.listBlocks(),
    ipam.listAffinities(),
    ipam.listHandles(),
    ipam.sources.nodes.list(),
    ipam.sources.endpoints.list(),
  ]);
  return { pools, blocks: blocks.map((s) => s.block), affinities, handles, nodes, endpoints };
}

/** `weft ipam check [-o report.json]`: the report (write it to the file) and the printed summary. */
export async function ipamCheck(ipam: Ipam, opts: { showAllIps?: boolean; now?: Date } = {}): Promise<{ report: CheckReport; text: string }> {
  const report = checkIpam(await gatherCheckInput(ipam), opts);
  return { report, text: formatCheckReport(report) };
}

export interface ReleaseOptions {
  ip?: string | string[];
  handle?: string;
  /** Parsed `ipam check` reports; only leaks present in every report are released (as calicoctl). */
  reports?: (CheckReport | string)[];
}

function parseReport(r: CheckReport | string): CheckReport {
  const o = (typeof r === 'string' ? JSON.parse(r) : r) as CheckReport;
  if (o?.kind !== 'WeftIPAMCheckReport' || !Array.isArray(o.leakedIPs)) {
    throw new WeftError(ErrorCodes.VALIDATION, 'not a weft ipam check report (expected kind WeftIPAMCheckReport)');
  }
  return o;
}

/**
 * `weft ipam release --ip ADDR | --handle ID | --from-report FILE…`. Report releases carry the
 * handle and sequence number seen by the check, so an address re-used since is left alone.
 */
export async function ipamRelease(ipam: Ipam, opts: ReleaseOptions): Promise<{ result: ReleaseResult; text: string }> {
  const given = [opts.ip !== undefined, opts.handle !== undefined, opts.reports !== undefined].filter(Boolean).length;
  if (given !== 1) throw new WeftError(ErrorCodes.USAGE, 'give exactly one of --ip, --handle or --from-report');
  let result: ReleaseResult;
  if (opts.ip !== undefined) {
    result = await ipam.releaseIPs(Array.isArray(opts.ip) ? opts.ip : [opts.ip]);
  } else if (opts.handle !== undefined) {
    result = await ipam.releaseByHandle(opts.handle);
  } else {
    const reports = (opts.reports ?? []).map(parseReport);
    if (reports.length === 0) throw new WeftError(ErrorCodes.USAGE, '--from-report needs at least one report');
    const key = (x: { ip: string; handle: string | null; sequenceNumber: number | undefined }): string => `${x.ip}|${x.handle}|${x.sequenceNumber}`;
    let common = new Map(reports[0].leakedIPs.map((x) => [key(x), x]));
    for (const r of reports.slice(1)) {
      const keys = new Set(r.leakedIPs.map(key));
      common = new Map([...common].filter(([k]) => keys.has(k)));
    }
    result = await ipam.releaseIPs(
      [...common.values()].map((x) => ({ ip: x.ip, ...(x.handle === null ? {} : { handle: x.handle }), ...(x.sequenceNumber === undefined ? {} : { sequenceNumber: x.sequenceNumber }) })),
    );
  }
  const lines: string[] = [];
  lines.push(`Released ${result.released.length} address(es)${result.released.length > 0 ? ': ' + result.released.map((r) => r.ip).join(', ') : ''}.`);
  if (result.notAllocated.length > 0) lines.push(`Not allocated (nothing to do): ${result.notAllocated.join(', ')}`);
  for (const s of result.stale) lines.push(`Skipped ${s.ip}: ${s.reason}`);
  return { result, text: lines.join('\n') + '\n' };
}

export interface AssignOptions {
  host: string;
  ip?: string;
  handle?: string;
  ipv4?: number;
  ipv6?: number;
  attrs?: Record<string, string>;
  output?: OutputFormat;
}

/**
 * `weft ipam assign`: addresses reserved by hand for bare-metal hosts and static VMs. They are
 * marked manual, so `ipam check` does not report them as leaks.
 */
export async function ipamAssign(ipam: Ipam, opts: AssignOptions): Promise<{ assigned: AssignedIP[]; handle: string; text: string }> {
  const handle = opts.handle ?? `manual.${opts.host}.${randomBytes(4).toString('hex')}`;
  const attrs = { ...(opts.attrs ?? {}), [MANUAL_ATTR]: 'true' };
  let assigned: AssignedIP[];
  if (opts.ip !== undefined) {
    if ((opts.ipv4 ?? 0) > 0 || (opts.ipv6 ?? 0) > 0) throw new WeftError(ErrorCodes.USAGE, '--ip cannot be combined with --ipv4/--ipv6');
    assigned = [await ipam.assignIP({ ip: opts.ip, host: opts.host, handle, attrs })];
  } else {
    const num4 = opts.ipv4 ?? (opts.ipv6 === undefined ? 1 : 0);
    const r = await ipam.autoAssign({ host: opts.host, handle, num4, num6: opts.ipv6 ?? 0, attrs });
    assigned = [...r.ipv4, ...r.ipv6];
  }
  const text = opts.output === 'json'
    ? JSON.stringify({ handle, host: opts.host, addresses: assigned }, null, 2) + '\n'
    : `Assigned to handle ${handle} on host ${opts.host}:\n` + assigned.map((a) => `  ${a.ip}  (block ${a.block}, pool ${a.pool}${a.borrowed ? ', borrowed' : ''})`).join('\n') + '\n';
  return { assigned, handle, text };
}

function parseBool(what: string, v: boolean | string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new WeftError(ErrorCodes.USAGE, `${what} must be true or false, got ${JSON.stringify(v)}`);
}

export interface ConfigureOptions {
  strictAffinity?: boolean | string;
  autoAllocateBlocks?: boolean | string;
  maxBlocksPerHost?: number | string;
}

/** `weft ipam configure --strictaffinity=true|false --max-blocks-per-host=N`. */
export async function ipamConfigure(ipam: Ipam, opts: ConfigureOptions): Promise<{ config: IpamConfig; text: string }> {
  const patch: Partial<IpamConfig> = {};
  if (opts.strictAffinity !== undefined) patch.strictAffinity = parseBool('--strictaffinity', opts.strictAffinity);
  if (opts.autoAllocateBlocks !== undefined) patch.autoAllocateBlocks = parseBool('--auto-allocate-blocks', opts.autoAllocateBlocks);
  if (opts.maxBlocksPerHost !== undefined) {
    const n = typeof opts.maxBlocksPerHost === 'number' ? opts.maxBlocksPerHost : /^\d+$/.test(opts.maxBlocksPerHost) ? Number(opts.maxBlocksPerHost) : NaN;
    if (!Number.isInteger(n) || n < 0) throw new WeftError(ErrorCodes.USAGE, `--max-blocks-per-host must be a non-negative integer, got ${JSON.stringify(opts.maxBlocksPerHost)}`);
    patch.maxBlocksPerHost = n;
  }
  if (Object.keys(patch).length === 0) throw new WeftError(ErrorCodes.USAGE, 'nothing to configure: give --strictaffinity and/or --max-blocks-per-host');
  const config = await ipam.setConfig(patch);
  const text = `IPAM configuration: StrictAffinity=${config.strictAffinity} AutoAllocateBlocks=${config.autoAllocateBlocks} MaxBlocksPerHost=${config.maxBlocksPerHost === 0 ? `0 (default ${effectiveMaxBlocks(config)})` : config.maxBlocksPerHost}\n`;
  return { config, text };
}
