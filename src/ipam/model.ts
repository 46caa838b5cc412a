/**
 * The other IPAM objects in Calico's stored layout (libcalico-go `model/block_affinity.go`,
 * `ipam_handle.go`, `ipam_config.go`) and pure helpers for pools. No I/O.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { bits, cidrContains, cidrContainsIP, cidrOverlaps, cidrSize, formatCIDR, parseCIDR, parseIP, type CIDR, type IPVersion } from '../lib/ip.ts';

// --- Block affinity: `/calico/ipam/v2/host/<host>/ipvN/block/<cidr>` ------------------------------

/** pending → confirmed on claim; pendingDeletion while a release is in progress. */
export type AffinityState = 'pending' | 'confirmed' | 'pendingDeletion';

export interface BlockAffinity {
  state: AffinityState;
  deleted: boolean;
}

export function decodeAffinity(json: string): BlockAffinity {
  const raw = JSON.parse(json) as { state?: unknown; deleted?: unknown };
  const state = raw.state === 'pending' || raw.state === 'pendingDeletion' ? raw.state : 'confirmed';
  // Calico has written `deleted` both as a bool and as the string "false".
  return { state, deleted: raw.deleted === true || raw.deleted === 'true' };
}

export function encodeAffinity(a: BlockAffinity): string {
  return JSON.stringify({ state: a.state, deleted: a.deleted });
}

// --- Handle: `/calico/ipam/v2/handle/<id>` ------------------------------------------------------

export interface Handle {
  /** Block CIDR → number of addresses this handle holds in it. */
  block: Record<string, number>;
  deleted: boolean;
}

export function decodeHandle(json: string): Handle {
  const raw = JSON.parse(json) as { block?: Record<string, number>; deleted?: boolean };
  return { block: { ...(raw.block ?? {}) }, deleted: raw.deleted ?? false };
}

export function encodeHandle(h: Handle): string {
  return JSON.stringify({ block: h.block, deleted: h.deleted });
}

/** Adds `delta` (may be negative) to the handle's count for `blockCidr`; entries at 0 disappear. */
export function adjustHandle(h: Handle | undefined, blockCidr: string, delta: number): Handle {
  const block = { ...(h?.block ?? {}) };
  const n = (block[blockCidr] ?? 0) + delta;
  if (n > 0) block[blockCidr] = n;
  else delete block[blockCidr];
  return { block, deleted: false };
}

export function handleTotal(h: Handle): number {
  return Object.values(h.block).reduce((a, b) => a + b, 0);
}

// --- IPAM configuration: `/calico/ipam/v2/config` -----------------------------------------------

export interface IpamConfig {
  /** Never borrow addresses from blocks affine to other hosts. */
  strictAffinity: boolean;
  /** Claim new blocks when a host's blocks are full. */
  autoAllocateBlocks: boolean;
  /** Blocks one host may claim per pool family; 0 means the default (20). */
  maxBlocksPerHost: number;
}

export const DEFAULT_MAX_BLOCKS_PER_HOST = 20;

export const DEFAULT_IPAM_CONFIG: IpamConfig = { strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 };

export function effectiveMaxBlocks(c: IpamConfig): number {
  return c.maxBlocksPerHost > 0 ? c.maxBlocksPerHost : DEFAULT_MAX_BLOCKS_PER_HOST;
}

/** Calico's stored field names (`strict_affinity`, `auto_allocate_blocks`, `maxBlocksPerHost`). */
export function decodeConfig(json: string): IpamConfig {
  const raw = JSON.parse(json) as { strict_affinity?: boolean; auto_allocate_blocks?: boolean; maxBlocksPerHost?: number };
  return {
    strictAffinity: raw.strict_affinity === true,
    // Absent means "on": Calico's default config has auto-allocation enabled.
    autoAllocateBlocks: raw.auto_allocate_blocks !== false,
    maxBlocksPerHost: typeof raw.maxBlocksPerHost === 'number' && raw.maxBlocksPerHost > 0 ? Math.floor(raw.maxBlocksPerHost) : 0,
  };
}

export function encodeConfig(c: IpamConfig): string {
  return JSON.stringify({ strict_affinity: c.strictAffinity, auto_allocate_blocks: c.autoAllocateBlocks, maxBlocksPerHost: c.maxBlocksPerHost });
}

// --- Pools ----------------------------------------------------------------------------------------

export const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;
export type AllowedUse = (typeof ALLOWED_USES)[number];

/** What IPAM needs from an IPPool resource. */
export interface PoolInfo {
  name: string;
  cidr: string;
  /** Block prefix length; default 26 (IPv4) / 122 (IPv6). */
  blockSize: number;
  /** Calico selector text; empty or `all()` = every node. */
  nodeSelector: string;
  disabled: boolean;
  allowedUses: AllowedUse[];
}

export function defaultBlockSize(v: IPVersion): number {
  return v === 4 ? 26 : 122;
}

export function poolCIDR(p: PoolInfo): CIDR {
  const c = parseCIDR(p.cidr, { strict: false });
  if (c === undefined) throw new WeftError(ErrorCodes.VALIDATION, `pool ${p.name} has an invalid cidr ${p.cidr}`);
  return c;
}

/** Checks the fields IPAM relies on; returns messages (empty = usable). */
export function poolProblems(p: PoolInfo): string[] {
  const c = parseCIDR(p.cidr, { strict: false });
  if (c === undefined) return [`pool ${p.name}: invalid cidr ${p.cidr}`];
  const out: string[] = [];
  const [lo, hi] = c.version === 4 ? [20, 32] : [116, 128];
  if (!Number.isInteger(p.blockSize) || p.blockSize < lo || p.blockSize > hi) out.push(`pool ${p.name}: blockSize ${p.blockSize} outside ${lo}-${hi}`);
  if (p.blockSize < c.prefix) out.push(`pool ${p.name}: blockSize /${p.blockSize} is larger than the pool /${c.prefix}`);
  return out;
}

/** Converts the JSON of a Calico v3 IPPool into PoolInfo (defaults as Calico's defaulting). */
export function poolFromResource(obj: unknown): PoolInfo | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const o = obj as { metadata?: { name?: unknown }; spec?: Record<string, unknown> };
  const spec = o.spec ?? {};
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : undefined;
  const cidrText = typeof spec.cidr === 'string' ? spec.cidr : undefined;
  if (name === undefined || cidrText === undefined) return undefined;
  const c = parseCIDR(cidrText, { strict: false });
  if (c === undefined) return undefined;
  const uses = Array.isArray(spec.allowedUses)
    ? (spec.allowedUses.filter((u) => (ALLOWED_USES as readonly unknown[]).includes(u)) as AllowedUse[])
    : [];
  return {
    name,
    cidr: formatCIDR(c),
    blockSize: typeof spec.blockSize === 'number' && spec.blockSize > 0 ? spec.blockSize : defaultBlockSize(c.version),
    nodeSelector: typeof spec.nodeSelector === 'string' ? spec.nodeSelector : '',
    disabled: spec.disabled === true,
    // Calico defaults allowedUses to [Workload, Tunnel].
    allowedUses: uses.length > 0 ? uses : ['Workload', 'Tunnel'],
  };
}

/** The block CIDRs of a pool, in address order. */
export function* poolBlocks(p: PoolInfo): Generator<CIDR> {
  const c = poolCIDR(p);
  const step = 1n << BigInt(bits(c.version) - p.blockSize);
  const end = c.addr + cidrSize(c);
  for (let a = c.addr; a < end; a += step) yield { version: c.version, addr: a, prefix: p.blockSize };
}

export function poolBlockCount(p: PoolInfo): bigint {
  const c = poolCIDR(p);
  return p.blockSize >= c.prefix ? 1n << BigInt(p.blockSize - c.prefix) : 0n;
}

/** The pool whose CIDR contains `ip` (most specific first), or undefined. */
export function poolForIP(pools: readonly PoolInfo[], ip: string): PoolInfo | undefined {
  const a = parseIP(ip);
  if (a === undefined) return undefined;
  let best: PoolInfo | undefined;
  for (const p of pools) {
    const c = parseCIDR(p.cidr, { strict: false });
    if (c === undefined || !cidrContainsIP(c, a)) continue;
    if (best === undefined || c.prefix > poolCIDR(best).prefix) best = p;
  }
  return best;
}

export function poolForBlock(pools: readonly PoolInfo[], blockCidr: string): PoolInfo | undefined {
  const b = parseCIDR(blockCidr, { strict: false });
  if (b === undefined) return undefined;
  return pools.find((p) => {
    const c = parseCIDR(p.cidr, { strict: false });
    return c !== undefined && cidrContains(c, b);
  });
}

/** Reserved CIDRs (IPReservation `spec.reservedCIDRs`), pre-parsed for fast membership tests. */
export class Reservations {
  readonly cidrs: readonly CIDR[];
  constructor(cidrs: readonly string[]) {
    const parsed: CIDR[] = [];
    for (const s of cidrs) {
      const c = parseCIDR(s, { strict: false, allowBare: true });
      if (c !== undefined) parsed.push(c);
    }
    this.cidrs = parsed;
  }
  get empty(): boolean {
    return this.cidrs.length === 0;
  }
  contains(ip: string): boolean {
    if (this.cidrs.length === 0) return false;
    const a = parseIP(ip);
    return a !== undefined && this.cidrs.some((c) => cidrContainsIP(c, a));
  }
  overlaps(c: CIDR): boolean {
    return this.cidrs.some((r) => cidrOverlaps(r, c));
  }
  covering(ip: string): string | undefined {
    const a = parseIP(ip);
    const c = a === undefined ? undefined : this.cidrs.find((r) => cidrContainsIP(r, a));
    return c === undefined ? undefined : formatCIDR(c);
  }
}
