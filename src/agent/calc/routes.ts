/**
 * Route stage (Felix L3RouteResolver, reduced): per destination CIDR, at most one route —
 *   local workload ipNetwork → `local-workload` via its interface (lowest endpoint id wins a clash);
 *   IPAM block affine to this host → `blackhole` (more-specific workload routes take the traffic);
 *   IPAM block affine to another host → `remote-block` via that node's address of the same family;
 *   remote workload address NOT inside a block affine to its own node (a borrowed IP) →
 *   `remote-workload` /32 (/128) via its node's address.
 * A route whose node (or node address) is unknown is withheld until it is known. Precedence for one
 * destination: local workload > block > remote workload.
 *
 * To find a borrowed IP's covering block without scanning, remote workload addresses are indexed by
 * their prefix at each block length in use (blocks of a pool share one length, so there are few).
 */
import { parseIP, formatIP, parseCIDR, formatCIDR } from '../../lib/ip.ts';
import type { RouteModel } from '../../policy/index.ts';

export interface RouteCallbacks {
  onRouteUpdate(route: RouteModel): void;
  onRouteRemove(dst: string): void;
}

export interface NodeAddrs {
  ipv4?: string;
  ipv6?: string;
}

interface RemoteEntry { node: string; dsts: readonly string[] }
interface Owner { id: string; node: string }

export class RouteResolver {
  readonly #cb: RouteCallbacks;
  readonly #host: string;
  /** dst → endpoint id → iface. */
  readonly #local = new Map<string, Map<string, string>>();
  readonly #endpointDsts = new Map<string, readonly string[]>();
  /** Remote workloads: endpoint id → node + host-prefix dsts; dst → owners (almost always one). */
  readonly #remoteEps = new Map<string, RemoteEntry>();
  readonly #remote = new Map<string, Owner[]>();
  /** block cidr → affine host; and by length → block key (see `prefixOf`) → affine host. */
  readonly #blocks = new Map<string, string>();
  readonly #blocksByKey = new Map<string, Map<number | string, string>>();
  readonly #blocksByNode = new Map<string, Set<string>>();
  /** Block prefix lengths in use ("v4/26") → number of blocks, and → prefix → remote dsts inside. */
  readonly #blockLens = new Map<string, number>();
  readonly #remoteByPrefix = new Map<string, Map<number | string, Set<string>>>();
  readonly #remoteByNode = new Map<string, Set<string>>();
  readonly #nodes = new Map<string, NodeAddrs>();
  readonly #emitted = new Map<string, string>();

  constructor(host: string, cb: RouteCallbacks) {
    this.#host = host;
    this.#cb = cb;
  }

  updateLocalEndpoint(id: string, iface: string | undefined, addrs: readonly string[]): void {
    const old = this.#endpointDsts.get(id) ?? [];
    const next = iface === undefined ? [] : [...new Set(addrs)];
    for (const d of old) unlink(this.#local, d, id);
    for (const d of next) link(this.#local, d, id, iface as string);
    if (next.length > 0) this.#endpointDsts.set(id, next);
    else this.#endpointDsts.delete(id);
    for (const d of new Set([...old, ...next])) this.#recalc(d);
  }

  /** A workload on another host (`node` undefined = deleted or now local). */
  updateRemoteEndpoint(id: string, node: string | undefined, addrs: readonly string[]): void {
    const old = this.#remoteEps.get(id);
    const dsts = node === undefined ? NONE : hostPrefixes(addrs);
    if (old === undefined && dsts.length === 0) return;
    if (old && old.node === node && sameList(old.dsts, dsts)) return;
    if (old) {
      const byNode = this.#remoteByNode.get(old.node);
      for (const d of old.dsts) {
        const owners = this.#remote.get(d)?.filter((o) => o.id !== id) ?? [];
        if (owners.length > 0) this.#remote.set(d, owners);
        else { this.#remote.delete(d); this.#unindexRemote(d); byNode?.delete(d); }
      }
    }
    if (node !== undefined && dsts.length > 0) {
      this.#remoteEps.set(id, { node, dsts });
      let byNode = this.#remoteByNode.get(node);
      if (!byNode) { byNode = new Set(); this.#remoteByNode.set(node, byNode); }
      for (const d of dsts) {
        const owners = this.#remote.get(d);
        if (owners) owners.push({ id, node });
        else { this.#remote.set(d, [{ id, node }]); this.#indexRemote(d); }
        byNode.add(d);
      }
    } else {
      this.#remoteEps.delete(id);
    }
    if (old) for (const d of old.dsts) this.#recalc(d);
    for (const d of dsts) this.#recalc(d);
  }

  /** `affinityHost` undefined = block deleted or not affine to a host. */
  updateBlock(cidr: string, affinityHost: string | undefined): void {
    const old = this.#blocks.get(cidr);
    if (old === affinityHost) return;
    const lenKey = lengthKey(cidr);
    const bkey = blockKey(cidr);
    const inside = [...(this.#remoteByPrefix.get(lenKey)?.get(bkey) ?? [])];
    if (old !== undefined) {
      this.#blocksByNode.get(old)?.delete(cidr);
      this.#blocksByKey.get(lenKey)?.delete(bkey);
      const n = (this.#blockLens.get(lenKey) ?? 1) - 1;
      if (n > 0) this.#blockLens.set(lenKey, n);
      else { this.#blockLens.delete(lenKey); this.#remoteByPrefix.delete(lenKey); this.#blocksByKey.delete(lenKey); }
    }
    if (affinityHost === undefined) this.#blocks.delete(cidr);
    else {
      this.#blocks.set(cidr, affinityHost);
      let byKey = this.#blocksByKey.get(lenKey);
      if (!byKey) { byKey = new Map(); this.#blocksByKey.set(lenKey, byKey); }
      byKey.set(bkey, affinityHost);
      let s = this.#blocksByNode.get(affinityHost);
      if (!s) { s = new Set(); this.#blocksByNode.set(affinityHost, s); }
      s.add(cidr);
      const n = (this.#blockLens.get(lenKey) ?? 0) + 1;
      this.#blockLens.set(lenKey, n);
      if (n === 1) this.#buildPrefixIndex(lenKey);
    }
    this.#recalc(cidr);
    // Borrowed-IP routes inside this block may appear or disappear.
    for (const d of new Set([...inside, ...(this.#remoteByPrefix.get(lenKey)?.get(bkey) ?? [])])) this.#recalc(d);
  }

  updateNode(name: string, addrs: NodeAddrs | undefined): void {
    const old = this.#nodes.get(name);
    if (addrs) this.#nodes.set(name, addrs);
    else this.#nodes.delete(name);
    if (old?.ipv4 === addrs?.ipv4 && old?.ipv6 === addrs?.ipv6) return;
    for (const b of this.#blocksByNode.get(name) ?? []) this.#recalc(b);
    for (const d of this.#remoteByNode.get(name) ?? []) this.#recalc(d);
  }

  #indexRemote(dst: string): void {
    for (const lenKey of this.#blockLens.keys()) {
      const p = prefixOf(dst, lenKey);
      if (p === undefined) continue;
      let byP = this.#remoteByPrefix.get(lenKey);
      if (!byP) { byP = new Map(); this.#remoteByPrefix.set(lenKey, byP); }
      let s = byP.get(p);
      if (!s) { s = new Set(); byP.set(p, s); }
      s.add(dst);
    }
  }

  #unindexRemote(dst: string): void {
    for (const lenKey of this.#blockLens.keys()) {
      const p = prefixOf(dst, lenKey);
      const s = p !== undefined ? this.#remoteByPrefix.get(lenKey)?.get(p) : undefined;
      if (!s || p === undefined) continue;
      s.delete(dst);
      if (s.size === 0) this.#remoteByPrefix.get(lenKey)?.delete(p);
    }
  }

  /** First block of a new length: index every remote address under that length (rare). */
  #buildPrefixIndex(lenKey: string): void {
    const byP = new Map<number | string, Set<string>>();
    for (const dst of this.#remote.keys()) {
      const p = prefixOf(dst, lenKey);
      if (p === undefined) continue;
      let s = byP.get(p);
      if (!s) { s = new Set(); byP.set(p, s); }
      s.add(dst);
    }
    this.#remoteByPrefix.set(lenKey, byP);
  }

  #coveringBlockOwner(dst: string): string | undefined {
    for (const lenKey of this.#blockLens.keys()) {
      const p = prefixOf(dst, lenKey);
      if (p === undefined) continue;
      const owner = this.#blocksByKey.get(lenKey)?.get(p);
      if (owner !== undefined) return owner;
    }
    return undefined;
  }

  #via(node: string, dst: string): string | undefined {
    const n = this.#nodes.get(node);
    return dst.includes(':') ? n?.ipv6 : n?.ipv4;
  }

  #desired(dst: string): RouteModel | undefined {
    const local = this.#local.get(dst);
    if (local && local.size > 0) {
      const id = [...local.keys()].sort()[0];
      return { dst, type: 'local-workload', iface: local.get(id) as string, endpoint: id };
    }
    const owner = this.#blocks.get(dst);
    if (owner !== undefined) {
      if (owner === this.#host) return { dst, type: 'blackhole' };
      const via = this.#via(owner, dst);
      return via ? { dst, type: 'remote-block', node: owner, via } : undefined;
    }
    const remote = this.#remote.get(dst);
    if (remote && remote.length > 0) {
      const { id, node } = remote.length === 1 ? remote[0] : [...remote].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0];
      // Inside a block affine to its own node: the block route already covers it.
      if (this.#coveringBlockOwner(dst) === node) return undefined;
      const via = this.#via(node, dst);
      return via ? { dst, type: 'remote-workload', node, via, endpoint: id } : undefined;
    }
    return undefined;
  }

  #recalc(dst: string): void {
    const r = this.#desired(dst);
    const key = r ? JSON.stringify(r) : undefined;
    const prev = this.#emitted.get(dst);
    if (key === prev) return;
    if (r && key) { this.#emitted.set(dst, key); this.#cb.onRouteUpdate(r); }
    else { this.#emitted.delete(dst); this.#cb.onRouteRemove(dst); }
  }
}

function link(m: Map<string, Map<string, string>>, k: string, id: string, v: string): void {
  let inner = m.get(k);
  if (!inner) { inner = new Map(); m.set(k, inner); }
  inner.set(id, v);
}

function unlink(m: Map<string, Map<string, string>>, k: string, id: string): void {
  const inner = m.get(k);
  if (!inner) return;
  inner.delete(id);
  if (inner.size === 0) m.delete(k);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const NONE: readonly string[] = [];

function isHostPrefix(cidr: string): boolean {
  return cidr.endsWith(cidr.includes(':') ? '/128' : '/32');
}

function hostPrefixes(addrs: readonly string[]): readonly string[] {
  if (addrs.length === 1) return isHostPrefix(addrs[0]) ? addrs : NONE;
  return [...new Set(addrs.filter(isHostPrefix))];
}

/** `v4/26` for a v4 /26 block. */
function lengthKey(cidr: string): string {
  return `${cidr.includes(':') ? 'v6' : 'v4'}/${cidr.slice(cidr.lastIndexOf('/') + 1)}`;
}

/**
 * Key of the prefix of length `lenKey` containing host-prefix `dst`; undefined across families.
 * IPv4 keys are numbers (masked address; the hot path for every remote workload address), IPv6
 * keys canonical CIDR text. `blockKey` gives the same key for a block CIDR.
 */
function prefixOf(dst: string, lenKey: string): number | string | undefined {
  const v6 = dst.includes(':');
  if (v6 !== (lenKey.charCodeAt(1) === 54 /* '6' */)) return undefined;
  const len = lenOf(lenKey);
  const slash = dst.lastIndexOf('/');
  if (!v6) {
    const n = v4num(dst, slash);
    return len === 0 ? 0 : (n & (-1 << (32 - len))) >>> 0;
  }
  const c = parseCIDR(`${dst.slice(0, slash)}/${len}`);
  return c ? formatCIDR(c) : undefined;
}

function blockKey(cidr: string): number | string {
  const slash = cidr.lastIndexOf('/');
  return cidr.includes(':') ? cidr : v4num(cidr, slash);
}

const lenCache = new Map<string, number>();
function lenOf(lenKey: string): number {
  let n = lenCache.get(lenKey);
  if (n === undefined) { n = Number(lenKey.slice(3)); lenCache.set(lenKey, n); }
  return n;
}

/** Dotted quad before `end` → unsigned 32-bit number, without allocating. */
function v4num(s: string, end: number): number {
  let n = 0;
  let octet = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) { n = (n << 8) | octet; octet = 0; } else octet = octet * 10 + (c - 48);
  }
  return ((n << 8) | octet) >>> 0;
}

/** `192.0.2.1/24` or `192.0.2.1` → `192.0.2.1`; undefined if not an address. */
export function addrOf(s: string | undefined): string | undefined {
  if (typeof s !== 'string' || s === '') return undefined;
  const ip = parseIP(s.split('/')[0]);
  return ip ? formatIP(ip.version, ip.value) : undefined;
}
