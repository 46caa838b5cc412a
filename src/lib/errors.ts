/**
 * Weft's error type: one class, stable codes, a cause and a hint for the user.
 * Boundaries (CLI, plugins, BGP) match on `code`, never on `instanceof` alone.
 */

export const ErrorCodes = {
  // usage / input
  USAGE: 'ERR_USAGE',
  VALIDATION: 'ERR_VALIDATION',
  PARSE: 'ERR_PARSE',
  SELECTOR: 'ERR_SELECTOR',
  // datastore
  NOT_FOUND: 'ERR_NOT_FOUND',
  ALREADY_EXISTS: 'ERR_ALREADY_EXISTS',
  REVISION_CONFLICT: 'ERR_REVISION_CONFLICT',
  COMPACTED: 'ERR_COMPACTED',
  DATASTORE_UNREACHABLE: 'ERR_DATASTORE_UNREACHABLE',
  DATASTORE_CONFIG: 'ERR_DATASTORE_CONFIG',
  DATASTORE: 'ERR_DATASTORE',
  // ipam
  IPAM_EXHAUSTED: 'ERR_IPAM_POOL_EXHAUSTED',
  IPAM_IN_USE: 'ERR_IPAM_IN_USE',
  IPAM_NO_POOL: 'ERR_IPAM_NO_POOL',
  IPAM_RESERVED: 'ERR_IPAM_RESERVED',
  IPAM_RETRIES: 'ERR_IPAM_RETRIES',
  IPAM_BAD_SEQUENCE: 'ERR_IPAM_BAD_SEQUENCE',
  // generic
  INTERNAL: 'ERR_INTERNAL',
  UNSUPPORTED: 'ERR_UNSUPPORTED',
  TIMEOUT: 'ERR_TIMEOUT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface WeftErrorOptions {
  cause?: unknown;
  /** What the user can do about it, printed by the CLI under the message. */
  hint?: string;
  /** Structured details (field path, key, revision, …) for logs and `-o json`. */
  details?: Record<string, unknown>;
}

export class WeftError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: WeftErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WeftError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

/** True when `e` is a WeftError with (one of) the given code(s). Works across duplicate module copies. */
export function isWeftError(e: unknown, ...codes: ErrorCode[]): e is WeftError {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if ((e as { name?: unknown }).name !== 'WeftError' || typeof code !== 'string') return false;
  return codes.length === 0 || (codes as string[]).includes(code);
}

/** CLI exit codes: 0 success, 1 refused operation, 2 usage error. */
export function exitCodeFor(e: unknown): number {
  return isWeftError(e, ErrorCodes.USAGE) ? 2 : 1;
}
