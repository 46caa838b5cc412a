/**
 * A structured picture of Weft's nftables table: what the renderer produces (desired) and what
 * the kernel listing is parsed back into (observed), so both can be diffed object by object.
 */
import { createHash } from 'node:crypto';
import { cidrContains, parseCIDR, formatIP, type CIDR } from '../../lib/ip.ts';

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'weft';

export interface BaseChainSpec {
  type: 'filter' | 'nat';
  hook: 'input' | 'forward' | 'output' | 'prerouting' | 'postrouting';
  priority: string;
  policy: 'accept' | 'drop';
}

export interface ChainDef {
  name: string;
  base?: BaseChainSpec;
  /** Rule bodies without the trailing ownership comment. */
  rules: string[];
}

/** A named set (`kind: set`, elements = canonical element strings) or verdict map. */
export interface SetDef {
  name: string;
  kind: 'set' | 'map';
  /** e.g. `ipv4_addr`, `ifname : verdict`. */
  type: string;
  flags: string[];
  /** set: element → itself; map: key → verdict text (`jump fw-cali1`). */
  elements: Map<string, string>;
}

export interface TableDef {
  family: string;
  name: string;
  chains: Map<string, ChainDef>;
  sets: Map<string, SetDef>;
}

export function emptyTable(): TableDef {
  return { family: TABLE_FAMILY, name: TABLE_NAME, chains: new Map(), sets: new Map() };
}

/**
 * Per-rule ownership hash, carried as the rule's comment (felix's `cali:<hash>` rule comments,
 * calico-notes §2.4). Chained with the previous rule's hash so the hash list of a chain also
 * pins the order; comparing hash lists detects edited, inserted, removed or reordered rules.
 */
export function ruleHashes(chain: ChainDef): string[] {
  // Chains are immutable once rendered and the render cache reuses them, so hash each once.
  const cached = hashCache.get(chain);
  if (cached !== undefined) return cached;
  const out: string[] = [];
  let prev = chain.name;
  for (const r of chain.rules) {
    prev = createHash('sha256').update(prev).update('\0').update(r).digest('base64url').slice(0, 16);
    out.push(prev);
  }
  hashCache.set(chain, out);
  return out;
}

const hashCache = new WeakMap<ChainDef, string[]>();

export const COMMENT_PREFIX = 'weft:';

/** Canonical element text for an address/CIDR: bare address for a host prefix, else `addr/len`. */
export function canonicalElement(s: string): string | undefined {
  const c = parseCIDR(s, { allowBare: true });
  if (c === undefined) return undefined;
  return elementOf(c);
}

function elementOf(c: CIDR): string {
  const full = c.version === 4 ? 32 : 128;
  return c.prefix === full ? formatIP(c.version, c.addr) : `${formatIP(c.version, c.addr)}/${c.prefix}`;
}

/**
 * Drops duplicates and CIDRs contained in another one of the list: nftables interval sets
 * reject overlapping elements ("conflicting intervals"), and the union is unchanged.
 */
export function collapseCidrs(list: readonly string[], version: 4 | 6): string[] {
  const cs: CIDR[] = [];
  for (const s of list) {
    const c = parseCIDR(s, { allowBare: true });
    if (c !== undefined && c.version === version) cs.push(c);
  }
  cs.sort((a, b) => a.prefix - b.prefix || (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const kept: CIDR[] = [];
  for (const c of cs) {
    if (!kept.some((k) => cidrContains(k, c))) kept.push(c);
  }
  return kept.map(elementOf).sort();
}
