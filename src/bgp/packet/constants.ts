/**
 * BGP-4 wire constants: message types (RFC 4271 §4.1), path attribute type codes, capability codes,
 * and NOTIFICATION codes/subcodes (RFC 4271 §4.5, §6; RFC 4486 Cease subcodes; RFC 7313).
 */

export const BGP_PORT = 179;
export const BGP_VERSION = 4;
export const BGP_HEADER_LEN = 19;
/** RFC 4271 §4: maximum message size (no RFC 8654 extended messages). */
export const BGP_MAX_MESSAGE_LEN = 4096;
/** RFC 6793 §9: AS_TRANS, placed in 2-octet fields when the real AS does not fit. */
export const AS_TRANS = 23456;

export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;

export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
} as const;

export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

export const Origin = { IGP: 0, EGP: 1, INCOMPLETE: 2 } as const;

export const AsPathSegmentType = {
  AS_SET: 1,
  AS_SEQUENCE: 2,
  AS_CONFED_SEQUENCE: 3,
  AS_CONFED_SET: 4,
} as const;

export const CapabilityCode = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  GRACEFUL_RESTART: 64,
  FOUR_OCTET_AS: 65,
} as const;

export const Afi = { IPV4: 1, IPV6: 2 } as const;
export const Safi = { UNICAST: 1 } as const;

/** RFC 4271 §4.5 error codes. */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

/** RFC 4271 §6.1 */
export const HeaderSubcode = {
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

/** RFC 4271 §6.2, RFC 5492 §5 (7 = Unsupported Capability). */
export const OpenSubcode = {
  UNSUPPORTED_VERSION_NUMBER: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
} as const;

/** RFC 4271 §6.3 */
export const UpdateSubcode = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN_ATTRIBUTE: 6,
  INVALID_NEXT_HOP_ATTRIBUTE: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** RFC 6608 FSM error subcodes. */
export const FsmSubcode = {
  UNSPECIFIED: 0,
  UNEXPECTED_MESSAGE_IN_OPENSENT: 1,
  UNEXPECTED_MESSAGE_IN_OPENCONFIRM: 2,
  UNEXPECTED_MESSAGE_IN_ESTABLISHED: 3,
} as const;

/** RFC 4486 Cease subcodes. */
export const CeaseSubcode = {
  MAX_PREFIXES: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
} as const;

/** RFC 7313 §5: ROUTE-REFRESH message error. */
export const RouteRefreshSubcode = { INVALID_MESSAGE_LENGTH: 1 } as const;

const codeNames: Record<number, string> = {
  1: 'message-header-error',
  2: 'open-message-error',
  3: 'update-message-error',
  4: 'hold-timer-expired',
  5: 'fsm-error',
  6: 'cease',
  7: 'route-refresh-message-error',
};

const subcodeNames: Record<number, Record<number, string>> = {
  1: { 1: 'connection-not-synchronized', 2: 'bad-message-length', 3: 'bad-message-type' },
  2: {
    1: 'unsupported-version-number', 2: 'bad-peer-as', 3: 'bad-bgp-identifier',
    4: 'unsupported-optional-parameter', 6: 'unacceptable-hold-time', 7: 'unsupported-capability',
  },
  3: {
    1: 'malformed-attribute-list', 2: 'unrecognized-well-known-attribute', 3: 'missing-well-known-attribute',
    4: 'attribute-flags-error', 5: 'attribute-length-error', 6: 'invalid-origin-attribute',
    8: 'invalid-next-hop-attribute', 9: 'optional-attribute-error', 10: 'invalid-network-field',
    11: 'malformed-as-path',
  },
  6: {
    1: 'maximum-prefixes-reached', 2: 'administrative-shutdown', 3: 'peer-deconfigured',
    4: 'administrative-reset', 5: 'connection-rejected', 6: 'other-configuration-change',
    7: 'connection-collision-resolution', 8: 'out-of-resources',
  },
};

/** Human-readable `code/subcode` text for logs and `peerStates().info`. */
export function notificationName(code: number, subcode: number): string {
  const c = codeNames[code] ?? `code-${code}`;
  const s = subcodeNames[code]?.[subcode];
  return s ? `${c}/${s}` : subcode === 0 ? c : `${c}/${subcode}`;
}
