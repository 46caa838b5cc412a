/** Decoded BGP message shapes. Plain data: no classes, so tests compare with deepStrictEqual. */
import type { BgpMessageError } from './errors.ts';

/** Canonical prefix text: `192.0.2.0/24`, `2001:db8::/32` (RFC 5952, host bits zero). */
export type Prefix = string;

export interface AsPathSegment {
  /** 1 AS_SET, 2 AS_SEQUENCE, 3 AS_CONFED_SEQUENCE, 4 AS_CONFED_SET */
  type: 1 | 2 | 3 | 4;
  asns: number[];
}

export interface Aggregator {
  asn: number;
  address: string;
}

/** RFC 4760 MP_REACH_NLRI for IPv4/IPv6 unicast (other families stay in `unknown`). */
export interface MpReach {
  afi: number;
  safi: number;
  /** One address, or for IPv6 global + link-local (RFC 2545 §3). */
  nextHops: string[];
  nlri: Prefix[];
}

export interface MpUnreach {
  afi: number;
  safi: number;
  withdrawn: Prefix[];
}

export interface UnknownAttribute {
  flags: number;
  type: number;
  value: Uint8Array;
}

export interface PathAttributes {
  origin?: number;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: true;
  aggregator?: Aggregator;
  /** RFC 1997, each a 32-bit value (AS << 16 | value). */
  communities?: number[];
  originatorId?: string;
  clusterList?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  as4Path?: AsPathSegment[];
  as4Aggregator?: Aggregator;
  /** Unrecognised optional attributes, kept for transitive re-advertisement (RFC 4271 §5). */
  unknown?: UnknownAttribute[];
}

export type Capability =
  | { code: 1; afi: number; safi: number }
  | { code: 2 }
  | { code: 64; restartState: boolean; restartTime: number; families: { afi: number; safi: number; forwardingPreserved: boolean }[] }
  | { code: 65; asn: number }
  | { code: number; value: Uint8Array; unknown: true };

export interface OpenMessage {
  type: 'open';
  version: number;
  /** The 2-octet My Autonomous System field (AS_TRANS when the real AS is 4-octet). */
  myAs: number;
  holdTime: number;
  bgpId: string;
  capabilities: Capability[];
}

export interface UpdateMessage {
  type: 'update';
  withdrawn: Prefix[];
  attributes: PathAttributes;
  nlri: Prefix[];
  /** RFC 7606: set when the UPDATE must be handled as a withdrawal of all its NLRI. */
  treatAsWithdraw?: true;
  /** RFC 7606 errors found and tolerated (attribute-discard / treat-as-withdraw), for logging. */
  errors?: BgpMessageError[];
}

export interface NotificationMessage {
  type: 'notification';
  code: number;
  subcode: number;
  data: Uint8Array;
}

export interface KeepaliveMessage {
  type: 'keepalive';
}

export interface RouteRefreshMessage {
  type: 'route-refresh';
  afi: number;
  safi: number;
  /** RFC 7313 message subtype (0 = normal request); "reserved" in RFC 2918. */
  subtype: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/**
 * Negotiated session state that changes the wire format (gobgp MarshallingOption).
 * `fourOctetAs`: both sides sent the RFC 6793 capability, so AS_PATH/AGGREGATOR carry 4-octet ASNs.
 */
export interface CodecContext {
  fourOctetAs: boolean;
}

export const DEFAULT_CONTEXT: CodecContext = { fourOctetAs: true };
