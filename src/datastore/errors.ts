/**
 * Datastore error constructors: every backend raises the same codes with the same wording, so
 * callers (api, ipam, CLI) can match on `code` regardless of the backend.
 */
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';

export function notFound(key: string): WeftError {
  return new WeftError(ErrorCodes.NOT_FOUND, `key not found: ${key}`, { details: { key } });
}

export function alreadyExists(key: string): WeftError {
  return new WeftError(ErrorCodes.ALREADY_EXISTS, `key already exists: ${key}`, { details: { key } });
}

export function revisionConflict(key: string, expected: number, actual: number | undefined): WeftError {
  return new WeftError(
    ErrorCodes.REVISION_CONFLICT,
    `revision conflict on ${key}: expected ${expected}, current ${actual ?? 'absent'}`,
    { details: { key, expected, actual }, hint: 'read the object again and retry the update' },
  );
}

export function compacted(requested: number, compactRevision: number): WeftError {
  return new WeftError(
    ErrorCodes.COMPACTED,
    `revision ${requested} has been compacted (oldest available ${compactRevision})`,
    { details: { requested, compactRevision } },
  );
}

export function closedError(address: string): WeftError {
  return new WeftError(ErrorCodes.DATASTORE, `datastore ${address} is closed`);
}

export function isRetryableDatastoreError(e: unknown): boolean {
  return isWeftError(e, ErrorCodes.DATASTORE_UNREACHABLE, ErrorCodes.DATASTORE, ErrorCodes.TIMEOUT);
}

export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
