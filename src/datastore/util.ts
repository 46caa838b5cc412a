/** Small helpers shared by the backends. */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { TxnOp, WatchEvent } from './types.ts';

/** Groups events (already in revision order) into one batch per revision = per store transaction. */
export function batchByRevision(events: WatchEvent[]): WatchEvent[][] {
  const out: WatchEvent[][] = [];
  let cur: WatchEvent[] = [];
  for (const ev of events) {
    if (cur.length > 0 && cur[0].revision !== ev.revision) {
      out.push(cur);
      cur = [];
    }
    cur.push(ev);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Validates a TTL: a positive number of seconds (fractions are rounded up, as etcd leases are whole seconds). */
export function normTtl(ttlSeconds: number | undefined): number | undefined {
  if (ttlSeconds === undefined) return undefined;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) throw new RangeError(`ttlSeconds must be > 0, got ${ttlSeconds}`);
  return Math.ceil(ttlSeconds);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function toErrorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What a txn op does (see TxnOp). */
export function txnOpKind(op: TxnOp): 'create' | 'update' | 'delete' {
  if (op.delete === true) return 'delete';
  if (op.create === true) return 'create';
  return 'update';
}

/** Rejects malformed transactions before anything is read or written (same rules on every backend). */
export function validateTxn(ops: TxnOp[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    if (typeof op.key !== 'string' || op.key === '') {
      throw new WeftError(ErrorCodes.VALIDATION, 'txn: every op needs a non-empty key');
    }
    if (seen.has(op.key)) {
      throw new WeftError(ErrorCodes.VALIDATION, `txn: key ${op.key} appears more than once`, { details: { key: op.key } });
    }
    seen.add(op.key);
    const kind = txnOpKind(op);
    if (kind !== 'delete' && typeof op.value !== 'string') {
      throw new WeftError(ErrorCodes.VALIDATION, `txn: ${kind} of ${op.key} needs a string value`, { details: { key: op.key } });
    }
    if (kind === 'update' && !Number.isInteger(op.revision)) {
      throw new WeftError(ErrorCodes.VALIDATION, `txn: update of ${op.key} needs the expected revision`, { details: { key: op.key } });
    }
  }
}
