/**
 * Allocation blocks: Calico's `AllocationBlock` JSON layout (libcalico-go `model/block.go`) and the
 * pure operations on it. No I/O: every function takes a block and returns a new one (the input is
 * never mutated), so the store loop can retry a CAS from the original value.
 *
 * Layout (calico-notes §5):
 *   cidr            the block's CIDR
 *   affinity        `host:<name>` | null (a block whose host affinity was released)
 *   allocations     ordinal → index into `attributes`, null = free
 *   unallocated     FIFO of free ordinals; released ordinals go to the back so the address that has
 *                   been free longest is reused first
 *   attributes      [{handle_id, secondary}] shared by allocations with identical attributes
 *   sequenceNumber  bumped for every allocation; `sequenceNumberForAllocation[ord]` records the value
 *                   an allocation got, so a release carrying an older number (ABA) is refused
 *   deleted         tombstone flag (kept for layout compatibility; Weft deletes keys instead)
 */
import { WeftError, ErrorCodes } from '../lib/errors.ts';
import { bits, cidrContainsIP, cidrSize, formatCIDR, formatIP, parseCIDR, parseIP, type CIDR } from '../lib/ip.ts';

export interface AllocationAttribute {
  handle_id: string | null;
  secondary: Record<string, string> | null;
}

export interface Block {
  cidr: string;
  affinity: string | null;
  affinityClaimTime?: string;
  strictAffinity: boolean;
  allocations: (number | null)[];
  unallocated: number[];
  attributes: AllocationAttribute[];
  deleted: boolean;
  sequenceNumber: number;
  sequenceNumberForAllocation: Record<string, number>;
}

/** Largest block Weft will materialise (ordinal arrays are dense): /116 IPv6 or /20 IPv4. */
export const MAX_BLOCK_ADDRESSES = 4096;

export function hostAffinity(host: string): string {
  return `host:${host}`;
}

/** `host:<name>` → name; undefined for null or other affinity types (`virtual:`). */
export function affinityHost(affinity: string | null): string | undefined {
  return affinity !== null && affinity.startsWith('host:') ? affinity.slice(5) : undefined;
}

export function blockCIDR(b: Block): CIDR {
  const c = parseCIDR(b.cidr, { strict: true });
  if (c === undefined) throw new WeftError(ErrorCodes.INTERNAL, `block has an invalid cidr: ${b.cidr}`);
  return c;
}

export function newBlock(cidr: CIDR, affinity: string | null, now: Date = new Date()): Block {
  const size = cidrSize(cidr);
  if (size > BigInt(MAX_BLOCK_ADDRESSES)) {
    throw new WeftError(ErrorCodes.VALIDATION, `block ${formatCIDR(cidr)} is too large (${size} addresses, max ${MAX_BLOCK_ADDRESSES})`);
  }
  const n = Number(size);
  return {
    cidr: formatCIDR(cidr),
    affinity,
    ...(affinity === null ? {} : { affinityClaimTime: now.toISOString() }),
    strictAffinity: false,
    allocations: new Array<number | null>(n).fill(null),
    unallocated: Array.from({ length: n }, (_, i) => i),
    attributes: [],
    deleted: false,
    sequenceNumber: 0,
    sequenceNumberForAllocation: {},
  };
}

function clone(b: Block): Block {
  return {
    ...b,
    allocations: b.allocations.slice(),
    unallocated: b.unallocated.slice(),
    attributes: b.attributes.map((a) => ({ handle_id: a.handle_id, secondary: a.secondary === null ? null : { ...a.secondary } })),
    sequenceNumberForAllocation: { ...b.sequenceNumberForAllocation },
  };
}

export function blockSize(b: Block): number {
  return b.allocations.length;
}

export function inUse(b: Block): number {
  let n = 0;
  for (const a of b.allocations) if (a !== null) n++;
  return n;
}

export function freeCount(b: Block): number {
  return b.unallocated.length;
}

export function isEmpty(b: Block): boolean {
  return b.unallocated.length === b.allocations.length;
}

/** Ordinal of `ip` in the block, or undefined when the address is not inside it. */
export function ordinalOf(b: Block, ip: string): number | undefined {
  const addr = parseIP(ip);
  const c = blockCIDR(b);
  if (addr === undefined || !cidrContainsIP(c, addr)) return undefined;
  return Number(addr.value - c.addr);
}

export function ipOf(b: Block, ordinal: number): string {
  const c = blockCIDR(b);
  return formatIP(c.version, c.addr + BigInt(ordinal));
}

/** Canonical address text for `ip`; throws a validation error for garbage. */
export function canonical(ip: string): string {
  const a = parseIP(ip);
  if (a === undefined) throw new WeftError(ErrorCodes.VALIDATION, `not an IP address: ${JSON.stringify(ip)}`);
  return formatIP(a.version, a.value);
}

/** Block CIDR containing `ip` for a pool with prefix length `blockPrefix`. */
export function blockCIDRFor(ip: string, blockPrefix: number): CIDR {
  const a = parseIP(ip);
  if (a === undefined) throw new WeftError(ErrorCodes.VALIDATION, `not an IP address: ${JSON.stringify(ip)}`);
  const hostBits = BigInt(bits(a.version) - blockPrefix);
  return { version: a.version, addr: (a.value >> hostBits) << hostBits, prefix: blockPrefix };
}

function sameSecondary(a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  if (a === null || b === null) return a === b;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** Index of an attribute equal to (handle, secondary), appending one when there is none. */
function attrIndex(b: Block, handle: string | null, secondary: Record<string, string> | null): number {
  const i = b.attributes.findIndex((a) => a.handle_id === handle && sameSecondary(a.secondary, secondary));
  if (i >= 0) return i;
  b.attributes.push({ handle_id: handle, secondary: secondary === null ? null : { ...secondary } });
  return b.attributes.length - 1;
}

/** Drops attributes no allocation points at and renumbers the rest (Calico does the same on release). */
function compactAttributes(b: Block): void {
  const used = new Set<number>();
  for (const a of b.allocations) if (a !== null) used.add(a);
  if (used.size === b.attributes.length) return;
  const remap = new Map<number, number>();
  const attrs: AllocationAttribute[] = [];
  b.attributes.forEach((a, i) => {
    if (used.has(i)) {
      remap.set(i, attrs.length);
      attrs.push(a);
    }
  });
  b.attributes = attrs;
  b.allocations = b.allocations.map((a) => (a === null ? null : remap.get(a) ?? null));
}

export interface Allocation {
  ordinal: number;
  ip: string;
  sequenceNumber: number;
}

function allocate(b: Block, ordinal: number, attr: number): Allocation {
  b.allocations[ordinal] = attr;
  b.sequenceNumber += 1;
  b.sequenceNumberForAllocation[String(ordinal)] = b.sequenceNumber;
  return { ordinal, ip: ipOf(b, ordinal), sequenceNumber: b.sequenceNumber };
}

/**
 * Takes up to `n` addresses from the front of the free list for `handle`. Ordinals for which
 * `skip(ip)` is true (reserved addresses) stay where they are in the free list. Returns fewer than
 * `n` when the block runs out.
 */
export function autoAssign(
  block: Block,
  n: number,
  handle: string | null,
  secondary: Record<string, string> | null,
  skip?: (ip: string) => boolean,
): { block: Block; allocations: Allocation[] } {
  if (n <= 0 || block.unallocated.length === 0) return { block, allocations: [] };
  const b = clone(block);
  const attr = attrIndex(b, handle, secondary);
  const out: Allocation[] = [];
  const keep: number[] = [];
  let i = 0;
  for (; i < b.unallocated.length && out.length < n; i++) {
    const ord = b.unallocated[i];
    if (skip !== undefined && skip(ipOf(b, ord))) keep.push(ord);
    else out.push(allocate(b, ord, attr));
  }
  b.unallocated = [...keep, ...b.unallocated.slice(i)];
  if (out.length === 0) return { block, allocations: [] };
  return { block: b, allocations: out };
}

/** Count of free addresses `autoAssign` could hand out (free minus reserved). */
export function assignableCount(b: Block, skip?: (ip: string) => boolean): number {
  if (skip === undefined) return b.unallocated.length;
  let n = 0;
  for (const ord of b.unallocated) if (!skip(ipOf(b, ord))) n++;
  return n;
}

/**
 * Assigns exactly `ip`. Refuses with IPAM_IN_USE (naming the holder's handle) when it is taken.
 */
export function assignOrdinal(
  block: Block,
  ip: string,
  handle: string | null,
  secondary: Record<string, string> | null,
): { block: Block; allocation: Allocation } {
  const ord = ordinalOf(block, ip);
  if (ord === undefined) throw new WeftError(ErrorCodes.INTERNAL, `${ip} is not in block ${block.cidr}`);
  const cur = block.allocations[ord];
  if (cur !== null) {
    const holder = block.attributes[cur]?.handle_id ?? null;
    throw new WeftError(ErrorCodes.IPAM_IN_USE, `address ${canonical(ip)} is already assigned${holder === null ? '' : ` to handle ${holder}`}`, {
      details: { ip: canonical(ip), handle: holder, block: block.cidr },
      hint: `release it first (weft ipam release --ip ${canonical(ip)}) or pick another address`,
    });
  }
  const b = clone(block);
  const pos = b.unallocated.indexOf(ord);
  if (pos >= 0) b.unallocated.splice(pos, 1);
  const allocation = allocate(b, ord, attrIndex(b, handle, secondary));
  return { block: b, allocation };
}

export interface ReleaseRequest {
  ip: string;
  /** When set, release only if the allocation still carries this sequence number. */
  sequenceNumber?: number;
  /** When set, release only if the allocation belongs to this handle. */
  handle?: string;
}

export interface ReleaseOutcome {
  block: Block;
  /** Released allocations, with the handle each belonged to. */
  released: { ip: string; ordinal: number; handle: string | null }[];
  /** Addresses that were already free (idempotent release). */
  notAllocated: string[];
  /** Addresses whose allocation no longer matches the given sequence number or handle. */
  stale: { ip: string; reason: string }[];
}

/** Releases addresses; released ordinals go to the back of the free list. */
export function release(block: Block, reqs: ReleaseRequest[]): ReleaseOutcome {
  const b = clone(block);
  const out: ReleaseOutcome = { block: b, released: [], notAllocated: [], stale: [] };
  for (const r of reqs) {
    const ord = ordinalOf(b, r.ip);
    if (ord === undefined) throw new WeftError(ErrorCodes.INTERNAL, `${r.ip} is not in block ${b.cidr}`);
    const ip = ipOf(b, ord);
    const attr = b.allocations[ord];
    if (attr === null) {
      out.notAllocated.push(ip);
      continue;
    }
    const seq = b.sequenceNumberForAllocation[String(ord)];
    if (r.sequenceNumber !== undefined && seq !== r.sequenceNumber) {
      out.stale.push({ ip, reason: `sequence number ${r.sequenceNumber} does not match current allocation (${seq ?? 'none'})` });
      continue;
    }
    const handle = b.attributes[attr]?.handle_id ?? null;
    if (r.handle !== undefined && handle !== r.handle) {
      out.stale.push({ ip, reason: `held by handle ${handle ?? '(none)'}, not ${r.handle}` });
      continue;
    }
    b.allocations[ord] = null;
    delete b.sequenceNumberForAllocation[String(ord)];
    b.unallocated.push(ord);
    out.released.push({ ip, ordinal: ord, handle });
  }
  if (out.released.length === 0) return { ...out, block };
  compactAttributes(b);
  return out;
}

/** Ordinals (as addresses) held by `handle` in this block. */
export function ipsForHandle(b: Block, handle: string): string[] {
  const out: string[] = [];
  b.allocations.forEach((a, ord) => {
    if (a !== null && b.attributes[a]?.handle_id === handle) out.push(ipOf(b, ord));
  });
  return out;
}

export function releaseByHandle(block: Block, handle: string): ReleaseOutcome {
  return release(block, ipsForHandle(block, handle).map((ip) => ({ ip, handle })));
}

export interface AllocationInfo {
  ip: string;
  ordinal: number;
  handle: string | null;
  secondary: Record<string, string> | null;
  sequenceNumber: number | undefined;
}

export function allocationAt(b: Block, ip: string): AllocationInfo | undefined {
  const ord = ordinalOf(b, ip);
  if (ord === undefined) return undefined;
  const a = b.allocations[ord];
  if (a === null) return undefined;
  const attr = b.attributes[a];
  return {
    ip: ipOf(b, ord),
    ordinal: ord,
    handle: attr?.handle_id ?? null,
    secondary: attr?.secondary ?? null,
    sequenceNumber: b.sequenceNumberForAllocation[String(ord)],
  };
}

export function allocationsOf(b: Block): AllocationInfo[] {
  const out: AllocationInfo[] = [];
  b.allocations.forEach((a, ord) => {
    if (a === null) return;
    const attr = b.attributes[a];
    out.push({
      ip: ipOf(b, ord),
      ordinal: ord,
      handle: attr?.handle_id ?? null,
      secondary: attr?.secondary ?? null,
      sequenceNumber: b.sequenceNumberForAllocation[String(ord)],
    });
  });
  return out;
}

/** Handle → number of addresses it holds in this block. */
export function handleCounts(b: Block): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of b.allocations) {
    if (a === null) continue;
    const h = b.attributes[a]?.handle_id;
    if (h === null || h === undefined) continue;
    m.set(h, (m.get(h) ?? 0) + 1);
  }
  return m;
}

export function withAffinity(block: Block, affinity: string | null, now: Date = new Date()): Block {
  const b = clone(block);
  b.affinity = affinity;
  if (affinity === null) delete b.affinityClaimTime;
  else b.affinityClaimTime = now.toISOString();
  return b;
}

/** Structural invariants; returns a list of violations (empty = consistent). */
export function blockProblems(b: Block): string[] {
  const p: string[] = [];
  const c = parseCIDR(b.cidr, { strict: true });
  if (c === undefined) return [`invalid cidr ${b.cidr}`];
  const n = Number(cidrSize(c));
  if (b.allocations.length !== n) p.push(`allocations has ${b.allocations.length} entries, block has ${n} addresses`);
  const seen = new Set<number>();
  for (const o of b.unallocated) {
    if (!Number.isInteger(o) || o < 0 || o >= n) p.push(`unallocated ordinal ${o} out of range`);
    else if (seen.has(o)) p.push(`ordinal ${o} listed twice in unallocated`);
    else if (b.allocations[o] !== null) p.push(`ordinal ${o} is both allocated and unallocated`);
    seen.add(o);
  }
  b.allocations.forEach((a, o) => {
    if (a === null) {
      if (!seen.has(o)) p.push(`ordinal ${o} is neither allocated nor in unallocated`);
      return;
    }
    if (!Number.isInteger(a) || a < 0 || a >= b.attributes.length) p.push(`ordinal ${o} points at missing attribute ${a}`);
    if (b.sequenceNumberForAllocation[String(o)] === undefined) p.push(`ordinal ${o} has no sequence number`);
  });
  return p;
}

/** Parses a stored block; accepts Calico-written blocks (missing optional fields get defaults). */
export function decodeBlock(json: string): Block {
  const raw = JSON.parse(json) as Partial<Block> & { cidr?: unknown };
  if (typeof raw.cidr !== 'string' || !Array.isArray(raw.allocations)) {
    throw new WeftError(ErrorCodes.PARSE, 'stored IPAM block is malformed (no cidr/allocations)');
  }
  return {
    cidr: raw.cidr,
    affinity: raw.affinity ?? null,
    ...(raw.affinityClaimTime === undefined ? {} : { affinityClaimTime: raw.affinityClaimTime }),
    strictAffinity: raw.strictAffinity ?? false,
    allocations: raw.allocations,
    unallocated: raw.unallocated ?? [],
    attributes: (raw.attributes ?? []).map((a) => ({ handle_id: a.handle_id ?? null, secondary: a.secondary ?? null })),
    deleted: raw.deleted ?? false,
    sequenceNumber: raw.sequenceNumber ?? 0,
    sequenceNumberForAllocation: raw.sequenceNumberForAllocation ?? {},
  };
}

export function encodeBlock(b: Block): string {
  return JSON.stringify(b);
}
