/**
 * The one wire error: NOTIFICATION code/subcode/data plus the RFC 7606 handling level.
 * The FSM turns a `session-reset` error into a NOTIFICATION; weaker ones are applied to the UPDATE.
 */
import { AttrType, ErrorCode, UpdateSubcode, notificationName } from './constants.ts';

/** RFC 7606 §2 error-handling approaches, weakest first (the ladder). */
export const ErrorHandling = {
  ATTRIBUTE_DISCARD: 'attribute-discard',
  TREAT_AS_WITHDRAW: 'treat-as-withdraw',
  AFISAFI_DISABLE: 'afisafi-disable',
  SESSION_RESET: 'session-reset',
} as const;
export type ErrorHandling = (typeof ErrorHandling)[keyof typeof ErrorHandling];

const rank: Record<ErrorHandling, number> = {
  'attribute-discard': 1,
  'treat-as-withdraw': 2,
  'afisafi-disable': 3,
  'session-reset': 4,
};

export function handlingRank(h: ErrorHandling): number {
  return rank[h];
}

export class BgpMessageError extends Error {
  readonly code: number;
  readonly subcode: number;
  /** NOTIFICATION data field (RFC 4271 §6: e.g. the erroneous attribute, or the bad length). */
  readonly data: Uint8Array;
  readonly handling: ErrorHandling;
  /** Attribute type code when the error is tied to one path attribute. */
  readonly attrType: number | undefined;

  constructor(
    code: number,
    subcode: number,
    message: string,
    opts: { data?: Uint8Array; handling?: ErrorHandling; attrType?: number } = {},
  ) {
    super(`${notificationName(code, subcode)}: ${message}`);
    this.name = 'BgpMessageError';
    this.code = code;
    this.subcode = subcode;
    this.data = opts.data ?? new Uint8Array(0);
    this.handling = opts.handling ?? 'session-reset';
    this.attrType = opts.attrType;
  }

  /** True when this error demands a stronger reaction than `other` (gobgp `Stronger`). */
  stronger(other: BgpMessageError | undefined): boolean {
    return other === undefined || rank[this.handling] > rank[other.handling];
  }
}

export function isBgpMessageError(e: unknown): e is BgpMessageError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'BgpMessageError';
}

/**
 * RFC 7606 §7: how a malformed instance of each attribute is handled. Data, not code, so the table
 * can be reviewed against the RFC in one place. Unknown/unlisted optional attributes: discard.
 */
export const attributeErrorHandling: Readonly<Record<number, ErrorHandling>> = {
  [AttrType.ORIGIN]: 'treat-as-withdraw', // §7.1
  [AttrType.AS_PATH]: 'treat-as-withdraw', // §7.2
  [AttrType.NEXT_HOP]: 'treat-as-withdraw', // §7.3
  [AttrType.MULTI_EXIT_DISC]: 'treat-as-withdraw', // §7.4
  [AttrType.LOCAL_PREF]: 'treat-as-withdraw', // §7.5 (iBGP; eBGP peers should not send it)
  [AttrType.ATOMIC_AGGREGATE]: 'attribute-discard', // §7.6
  [AttrType.AGGREGATOR]: 'attribute-discard', // §7.7
  [AttrType.COMMUNITIES]: 'treat-as-withdraw', // §7.8
  [AttrType.ORIGINATOR_ID]: 'treat-as-withdraw', // §7.9
  [AttrType.CLUSTER_LIST]: 'treat-as-withdraw', // §7.10
  [AttrType.MP_REACH_NLRI]: 'session-reset', // §7.11: NLRI cannot be located reliably
  [AttrType.MP_UNREACH_NLRI]: 'session-reset',
  [AttrType.AS4_PATH]: 'attribute-discard', // RFC 6793 §6
  [AttrType.AS4_AGGREGATOR]: 'attribute-discard', // RFC 6793 §6
};

export function updateError(
  subcode: number,
  message: string,
  attrType: number | undefined,
  data?: Uint8Array,
  handling?: ErrorHandling,
): BgpMessageError {
  const h = handling ?? (attrType === undefined ? 'session-reset' : (attributeErrorHandling[attrType] ?? 'attribute-discard'));
  return new BgpMessageError(ErrorCode.UPDATE_MESSAGE, subcode, message, { data, handling: h, attrType });
}

export { UpdateSubcode };
