import type { PathAttributes, Prefix } from '../packet/index.ts';

export type { Prefix };

/** RIB-side view of a configured peer. */
export interface RibPeer {
  readonly id: string;
  readonly address: string;
  readonly asn: number;
  readonly ebgp: boolean;
  /** RFC 4456 route-reflector client of this speaker. */
  rrClient: boolean;
  nextHopSelf: boolean;
  /** Export filter; true = advertise. Default: everything the RFC rules allow. */
  exportPolicy?: (prefix: Prefix, attrs: PathAttributes) => boolean;
  /** Occurrences of our AS tolerated in an eBGP AS_PATH (0 = RFC 4271 §9.1.2 loop check). */
  readonly allowLocalAs: number;
  /** Set while Established. */
  up: boolean;
  routerId: string | undefined;
  localAddress: string | undefined;
  /** Our IPv6 next hop towards this peer (defaults to the session address when IPv6). */
  nextHop6: string | undefined;
  families: Set<number>;
  /** Graceful-restart generation: paths with an older epoch are stale (RFC 4724 §4.2). */
  epoch: number;
  staleCount: number;
  /** Prefixes accepted into the RIB from this peer. */
  received: number;
  /** Adj-RIB-Out: what we last advertised to this peer. */
  readonly adjOut: Map<Prefix, PathAttributes>;
  /** Prefixes whose advertisement must be re-evaluated. */
  readonly dirty: Set<Prefix>;
  /** Re-evaluate everything (session came up, policy changed). */
  fullSync: boolean;
  /** End-of-RIB owed after the first full sync (RFC 4724 §2). */
  eorPending: boolean;
  readonly exportCache: WeakMap<Path, PathAttributes | null>;
}

/**
 * One candidate route. A Path is shared by all prefixes of one UPDATE (same peer, attributes, next
 * hop), which keeps memory per prefix to one array slot.
 */
export interface Path {
  readonly peer: RibPeer | null;
  readonly attrs: PathAttributes;
  readonly nextHop: string;
  readonly afi: number;
  readonly epoch: number;
}

export interface OutFamily {
  /** Announcements grouped by identical attribute object (one UPDATE stream per group). */
  groups: Map<PathAttributes, Prefix[]>;
  withdraw: Prefix[];
}

export interface OutBatch {
  v4: OutFamily;
  v6: OutFamily;
  /** Families for which End-of-RIB should follow this batch. */
  endOfRib: number[];
}
