/**
 * Loc-RIB with per-peer Adj-RIB-In folded in (each prefix keeps the candidate paths of every peer,
 * best first) and a per-peer Adj-RIB-Out. Pure and synchronous: no sockets, no timers; the server
 * feeds UPDATEs in and drains `collect(peer)` out.
 *
 * Rules implemented here: RFC 4271 §9 (import, decision, export), iBGP split horizon (§9.2.1),
 * RFC 4456 route reflection (§6, §8 loop detection), eBGP AS_PATH/next-hop handling (§5.1),
 * RFC 6793 4-octet AS reconstruction, RFC 4724 stale routes (helper side).
 */
import { Afi, asPathContains, fromTwoOctet, prependAs } from '../packet/index.ts';
import type { CodecContext, PathAttributes, Prefix, UpdateMessage } from '../packet/index.ts';
import { selectBest, type BestReason } from './decision.ts';
import type { OutBatch, OutFamily, Path, RibPeer } from './types.ts';

export interface RibOptions {
  localAs: number;
  routerId: string;
  /** RFC 4456 §7 cluster ID; defaults to the router ID. */
  clusterId?: string;
  /** Called whenever the best path of a prefix changes (undefined = no route any more). */
  onBestChange?: (prefix: Prefix, best: Path | undefined, previous: Path | undefined) => void;
  /** Called when a peer has something new in its Adj-RIB-Out queue. */
  onDirty?: (peer: RibPeer) => void;
}

export interface RibPeerConfig {
  id: string;
  address: string;
  asn: number;
  rrClient?: boolean;
  nextHopSelf?: boolean;
  nextHop6?: string;
  exportPolicy?: (prefix: Prefix, attrs: PathAttributes) => boolean;
  /**
   * How many times our own AS may appear in an eBGP route's AS_PATH before it counts as a loop
   * (Calico `numAllowedLocalASNumbers`, BIRD `allow local as N`, FRR `allowas-in N`); default 0.
   */
  allowLocalAs?: number;
}

const LOCAL_PREF_DEFAULT = 100;

function familyOf(prefix: Prefix): number {
  return prefix.includes(':') ? Afi.IPV6 : Afi.IPV4;
}

function mapped(v4: string): string {
  return `::ffff:${v4}`;
}

export class Rib {
  readonly localAs: number;
  readonly routerId: string;
  readonly clusterId: string;
  readonly peers = new Map<string, RibPeer>();
  /**
   * prefix → the single candidate path, or all candidates best first. The common single-path case
   * stores the shared Path directly (no per-prefix array): this is most of the RIB's memory.
   */
  readonly loc = new Map<Prefix, Path | Path[]>();
  private readonly onBestChange: RibOptions['onBestChange'];
  private readonly onDirty: RibOptions['onDirty'];
  private readonly localPaths = new Map<string, Path>();
  /** Why the best path won, for prefixes with more than one candidate. */
  readonly reasons = new Map<Prefix, BestReason>();

  constructor(o: RibOptions) {
    this.localAs = o.localAs;
    this.routerId = o.routerId;
    this.clusterId = o.clusterId ?? o.routerId;
    this.onBestChange = o.onBestChange;
    this.onDirty = o.onDirty;
  }

  // ---------------------------------------------------------------- peers

  addPeer(c: RibPeerConfig): RibPeer {
    const p: RibPeer = {
      id: c.id, address: c.address, asn: c.asn, ebgp: c.asn !== this.localAs, rrClient: !!c.rrClient,
      nextHopSelf: !!c.nextHopSelf, exportPolicy: c.exportPolicy, allowLocalAs: Math.max(0, Math.floor(c.allowLocalAs ?? 0)), up: false, routerId: undefined,
      localAddress: undefined, nextHop6: c.nextHop6, families: new Set(), epoch: 0, staleCount: 0, received: 0,
      adjOut: new Map(), dirty: new Set(), fullSync: false, eorPending: false, exportCache: new WeakMap(),
    };
    this.peers.set(c.id, p);
    return p;
  }

  removePeer(id: string): void {
    this.peerDown(id);
    this.peers.delete(id);
  }

  /** Session Established: schedule a full Adj-RIB-Out sync followed by End-of-RIB. */
  peerUp(id: string, s: { routerId: string; localAddress: string; families: number[] }): void {
    const p = this.peers.get(id);
    if (!p) return;
    p.up = true;
    p.routerId = s.routerId;
    p.localAddress = s.localAddress;
    p.families = new Set(s.families);
    p.adjOut.clear();
    p.dirty.clear();
    p.fullSync = true;
    p.eorPending = true;
    this.onDirty?.(p);
  }

  /** Session gone without graceful restart: drop all its routes (RFC 4271 §9.1.1... §8). */
  peerDown(id: string): void {
    const p = this.peers.get(id);
    if (!p) return;
    p.up = false;
    p.adjOut.clear();
    p.dirty.clear();
    p.fullSync = false;
    p.staleCount = 0;
    this.removePaths(p, () => true);
    p.received = 0;
  }

  /** RFC 4724 §4.2 (helper): keep the peer's routes but mark them stale. */
  markStale(id: string): void {
    const p = this.peers.get(id);
    if (!p) return;
    p.up = false;
    p.adjOut.clear();
    p.dirty.clear();
    p.fullSync = false;
    p.epoch++;
    p.staleCount = p.received;
  }

  /** End-of-RIB received or restart timer expired: drop what the peer did not re-announce. */
  sweepStale(id: string, afi?: number): number {
    const p = this.peers.get(id);
    if (!p || p.staleCount === 0) return 0;
    const epoch = p.epoch;
    const n = this.removePaths(p, (path) => path.epoch < epoch && (afi === undefined || path.afi === afi));
    p.received -= n;
    p.staleCount = afi === undefined ? 0 : Math.max(0, p.staleCount - n);
    return n;
  }

  private removePaths(p: RibPeer, pred: (path: Path) => boolean): number {
    let n = 0;
    for (const [prefix, slot] of this.loc) {
      const path = Array.isArray(slot) ? slot.find((x) => x.peer === p) : slot.peer === p ? slot : undefined;
      if (path && pred(path)) {
        this.set(prefix, p, undefined);
        n++;
      }
    }
    return n;
  }

  // ---------------------------------------------------------------- import

  /** Applies one UPDATE from an Established peer (RFC 4271 §9.1, RFC 7606 treat-as-withdraw). */
  applyUpdate(id: string, m: UpdateMessage, ctx: CodecContext): void {
    const p = this.peers.get(id);
    if (!p) return;
    for (const w of m.withdrawn) this.withdrawFrom(p, w);
    if (m.attributes.mpUnreach) for (const w of m.attributes.mpUnreach.withdrawn) this.withdrawFrom(p, w);
    const reach = m.attributes.mpReach;
    if (m.treatAsWithdraw) {
      for (const w of m.nlri) this.withdrawFrom(p, w);
      if (reach) for (const w of reach.nlri) this.withdrawFrom(p, w);
      return;
    }
    if (m.nlri.length === 0 && !reach) return;
    const attrs = this.importAttrs(p, ctx.fourOctetAs ? m.attributes : fromTwoOctet(m.attributes));
    if (m.nlri.length > 0) {
      const path = attrs && attrs.nextHop ? this.mkPath(p, attrs, attrs.nextHop, Afi.IPV4) : undefined;
      for (const n of m.nlri) this.learn(p, n, path);
    }
    if (reach && reach.nlri.length > 0) {
      const nh = reach.nextHops[0];
      const path = attrs ? this.mkPath(p, reach.afi === Afi.IPV6 ? { ...attrs, nextHop: nh } : { ...attrs, nextHop: nh }, nh, reach.afi) : undefined;
      for (const n of reach.nlri) this.learn(p, n, path);
    }
  }

  private mkPath(p: RibPeer, attrs: PathAttributes, nextHop: string, afi: number): Path {
    return { peer: p, attrs, nextHop, afi, epoch: p.epoch };
  }

  /** Import checks; undefined = not eligible (loop), so any previous route is withdrawn. */
  private importAttrs(p: RibPeer, a: PathAttributes): PathAttributes | undefined {
    if (p.ebgp) {
      // RFC 4271 §9.1.2: a route whose AS_PATH contains our AS is a loop — unless this peer allows
      // up to N occurrences (hosts sharing one AS behind an eBGP top-of-rack router). Counted over
      // the merged AS_PATH (AS4_PATH folded in above), AS_SET members included, as BIRD does.
      if (asPathContains(a.asPath, this.localAs, p.allowLocalAs + 1)) return undefined;
    } else {
      // RFC 4456 §8: our own ORIGINATOR_ID or CLUSTER_ID means the route came back around.
      if (a.originatorId === this.routerId) return undefined;
      if (a.clusterList?.includes(this.clusterId)) return undefined;
    }
    const out: PathAttributes = { ...a };
    delete out.mpReach;
    delete out.mpUnreach;
    // RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored; ours is the default.
    if (p.ebgp) out.localPref = LOCAL_PREF_DEFAULT;
    return out;
  }

  private learn(p: RibPeer, prefix: Prefix, path: Path | undefined): void {
    const old = this.set(prefix, p, path);
    if (old) {
      if (old.epoch < p.epoch) p.staleCount--;
      if (!path) p.received--;
    } else if (path) p.received++;
  }

  private withdrawFrom(p: RibPeer, prefix: Prefix): void {
    const old = this.set(prefix, p, undefined);
    if (!old) return;
    if (old.epoch < p.epoch) p.staleCount--;
    p.received--;
  }

  /**
   * Sets (or removes, when `path` is undefined) the candidate of `owner` (null = local) for
   * `prefix`, reruns the decision process and reports a best-path change. Returns the replaced path.
   */
  private set(prefix: Prefix, owner: RibPeer | null, path: Path | undefined): Path | undefined {
    const slot = this.loc.get(prefix);
    if (slot === undefined) {
      if (!path) return undefined;
      this.loc.set(prefix, path);
      this.bestChanged(prefix, path, undefined);
      return undefined;
    }
    if (!Array.isArray(slot)) {
      if (slot.peer === owner) {
        if (path) {
          this.loc.set(prefix, path);
          if (path !== slot) this.bestChanged(prefix, path, slot);
        } else {
          this.loc.delete(prefix);
          this.bestChanged(prefix, undefined, slot);
        }
        return slot;
      }
      if (!path) return undefined;
      const paths = [slot, path];
      this.loc.set(prefix, paths);
      this.reselect(prefix, paths, slot);
      return undefined;
    }
    const prevBest = slot[0];
    const i = slot.findIndex((x) => x.peer === owner);
    const old = i >= 0 ? slot[i] : undefined;
    if (path) {
      if (i >= 0) slot[i] = path;
      else slot.push(path);
    } else if (i >= 0) slot.splice(i, 1);
    else return undefined;
    if (slot.length === 1) {
      this.loc.set(prefix, slot[0]);
      this.reasons.delete(prefix);
      if (slot[0] !== prevBest) this.bestChanged(prefix, slot[0], prevBest);
      return old;
    }
    this.reselect(prefix, slot, prevBest);
    return old;
  }

  private reselect(prefix: Prefix, paths: Path[], prevBest: Path): void {
    const { best, reason } = selectBest(paths);
    const bi = paths.indexOf(best);
    if (bi > 0) {
      paths[bi] = paths[0];
      paths[0] = best;
    }
    this.reasons.set(prefix, reason);
    if (paths[0] !== prevBest) this.bestChanged(prefix, paths[0], prevBest);
  }

  private bestChanged(prefix: Prefix, best: Path | undefined, prev: Path | undefined): void {
    this.onBestChange?.(prefix, best, prev);
    const bp = best?.peer;
    const pp = prev?.peer;
    for (const peer of this.peers.values()) {
      if (!peer.up || peer.fullSync) continue;
      // A peer's own routes are never sent back to it: when both the old and the new best came from
      // this peer (or are absent) its Adj-RIB-Out cannot change. This keeps a full table received
      // from one feeder from also queueing a million no-op re-evaluations for that same feeder.
      if ((best === undefined || bp === peer) && (prev === undefined || pp === peer)) continue;
      const had = peer.dirty.size;
      peer.dirty.add(prefix);
      if (had === 0) this.onDirty?.(peer);
    }
  }

  // ---------------------------------------------------------------- local routes

  /** Originates `prefix` from this speaker (ORIGIN IGP, empty AS_PATH, next hop = self on export). */
  originate(prefix: Prefix, extra: Partial<PathAttributes> = {}): void {
    const afi = familyOf(prefix);
    const key = `${afi}|${JSON.stringify(extra)}`;
    let path = this.localPaths.get(key);
    if (!path) {
      path = { peer: null, attrs: { origin: 0, asPath: [], ...extra }, nextHop: '', afi, epoch: 0 };
      this.localPaths.set(key, path);
    }
    this.set(prefix, null, path);
  }

  withdrawLocal(prefix: Prefix): void {
    this.set(prefix, null, undefined);
  }

  // ---------------------------------------------------------------- export

  /**
   * The attributes to advertise `path` to `to` with, or null when it must not be advertised.
   * Cached per (peer, path) so every prefix sharing a Path shares one attribute object, which is
   * what lets the server pack them into the same UPDATEs.
   */
  exportAttrs(to: RibPeer, path: Path): PathAttributes | null {
    const cached = to.exportCache.get(path);
    if (cached !== undefined) return cached;
    const r = this.computeExport(to, path);
    to.exportCache.set(path, r);
    return r;
  }

  private computeExport(to: RibPeer, path: Path): PathAttributes | null {
    const from = path.peer;
    if (from === to) return null; // never back to where it came from
    const a = path.attrs;
    const fromIbgp = from !== null && !from.ebgp;
    let out: PathAttributes;
    if (!to.ebgp) {
      if (fromIbgp) {
        // RFC 4271 §9.2.1 split horizon; RFC 4456 §6: a reflector passes client routes to everyone
        // and non-client routes to clients only.
        if (!from.rrClient && !to.rrClient) return null;
        const originator = a.originatorId ?? from.routerId ?? from.address;
        if (to.routerId === originator) return null;
        out = { ...a, originatorId: originator, clusterList: [this.clusterId, ...(a.clusterList ?? [])] };
      } else {
        out = { ...a, localPref: a.localPref ?? LOCAL_PREF_DEFAULT };
      }
      if (from === null || to.nextHopSelf) out.nextHop = this.selfNextHop(to, path.afi);
      else out.nextHop = path.nextHop;
    } else {
      // RFC 4271 §5.1.2/§5.1.3: prepend our AS, next hop = our address on the shared link.
      out = { ...a, asPath: prependAs(a.asPath, this.localAs), nextHop: this.selfNextHop(to, path.afi) };
      delete out.localPref;
      delete out.originatorId;
      delete out.clusterList;
      // §5.1.4: a MED received from a neighbouring AS is not passed to other ASes.
      if (from !== null) delete out.med;
    }
    delete out.as4Path;
    delete out.as4Aggregator;
    return out;
  }

  private selfNextHop(to: RibPeer, afi: number): string {
    const local = to.localAddress ?? '0.0.0.0';
    if (afi === Afi.IPV4) return local.includes(':') ? '0.0.0.0' : local;
    if (to.nextHop6) return to.nextHop6;
    // No IPv6 address on an IPv4 session: the IPv4-mapped form (RFC 4291 §2.5.5.2), as BIRD/FRR do.
    return local.includes(':') ? local : mapped(local);
  }

  /**
   * Drains the Adj-RIB-Out changes owed to `id` (RFC 4271 §9.2): re-evaluates dirty prefixes (or
   * everything after session start) and returns what to announce and withdraw, updating adjOut.
   */
  collect(id: string, limit = Infinity): OutBatch | undefined {
    const p = this.peers.get(id);
    if (!p || !p.up) return undefined;
    const fam = (): OutFamily => ({ groups: new Map(), withdraw: [] });
    const batch: OutBatch = { v4: fam(), v6: fam(), endOfRib: [] };
    let n = 0;
    const visit = (prefix: Prefix): void => {
      const afi = familyOf(prefix);
      if (!p.families.has(afi)) return;
      const best = this.best(prefix);
      let attrs = best ? this.exportAttrs(p, best) : null;
      if (attrs && p.exportPolicy && !p.exportPolicy(prefix, attrs)) attrs = null;
      const prev = p.adjOut.get(prefix);
      const f = afi === Afi.IPV4 ? batch.v4 : batch.v6;
      if (attrs) {
        if (prev === attrs) return;
        p.adjOut.set(prefix, attrs);
        let g = f.groups.get(attrs);
        if (!g) f.groups.set(attrs, (g = []));
        g.push(prefix);
        n++;
      } else if (prev) {
        p.adjOut.delete(prefix);
        f.withdraw.push(prefix);
        n++;
      }
    };
    if (p.fullSync) {
      p.fullSync = false;
      p.dirty.clear();
      for (const prefix of this.loc.keys()) visit(prefix);
    } else {
      for (const prefix of p.dirty) {
        p.dirty.delete(prefix);
        visit(prefix);
        if (n >= limit) break;
      }
    }
    if (p.eorPending && p.dirty.size === 0) {
      p.eorPending = false;
      batch.endOfRib = [...p.families];
    }
    return batch;
  }

  /** Re-evaluate everything for a peer (route refresh request, policy change). */
  resync(id: string): void {
    const p = this.peers.get(id);
    if (!p || !p.up) return;
    // RFC 2918 §4: re-advertise the whole Adj-RIB-Out, so forget what was sent.
    p.adjOut.clear();
    p.fullSync = true;
    this.onDirty?.(p);
  }

  best(prefix: Prefix): Path | undefined {
    const s = this.loc.get(prefix);
    return Array.isArray(s) ? s[0] : s;
  }

  /** All candidate paths of `prefix`, best first. */
  paths(prefix: Prefix): Path[] {
    const s = this.loc.get(prefix);
    return s === undefined ? [] : Array.isArray(s) ? s : [s];
  }

  advertisedCount(id: string): number {
    return this.peers.get(id)?.adjOut.size ?? 0;
  }
}
