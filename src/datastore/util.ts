/** Small helpers shared by the backends. */
import type { WatchEvent } from './types.ts';

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
