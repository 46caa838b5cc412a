/**
 * Syncer: turns a Backend into Calico-style syncer callbacks (libcalico-go `watchersyncer`):
 *
 *   wait-for-datastore → resync → snapshot updates → in-sync → streamed updates …
 *   on watch error / compaction / disconnect: resync → relist → diff (only changed keys + deletes
 *   for vanished ones) → in-sync → …
 *
 * Consistency with paged lists: each page is read at its own store revision; the watch starts at
 * the first page's revision + 1 and an event is dropped when the page that covered its key was
 * read at or after the event's revision (the snapshot already reflects it). Per key, an event older
 * than what was already delivered is dropped too, so consumers see each key's revisions increase.
 *
 * Callbacks never see exceptions from the syncer, and exceptions thrown by callbacks are logged and
 * swallowed so they cannot kill the loop.
 */
import { componentLogger, type Logger } from '../lib/log.ts';
import type { Backend, SyncStatus, SyncUpdate, SyncerCallbacks, Watch, WatchEvent } from './types.ts';
import { sleep, toErrorMessage } from './util.ts';

export interface SyncerOptions {
  /** Page size for the (re)list. Default 500. */
  pageSize?: number;
  /** Backoff while the datastore is unreachable: first and maximum delay. Defaults 100 ms / 5 s. */
  retryMinMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
}

interface Known {
  value: string;
  revision: number;
}

/** A page of a list: it reflects every change to keys in (previous page's last key, lastKey] up to `revision`. */
interface PageCover {
  prefix: string;
  /** Last key covered; undefined = the rest of the prefix. */
  lastKey: string | undefined;
  revision: number;
}

interface Snapshot {
  items: Map<string, Known>;
  covers: PageCover[];
  /** Watch from here + 1: the smallest page revision. */
  fromRevision: number;
}

export class Syncer {
  readonly #backend: Backend;
  readonly #prefixes: readonly string[];
  readonly #cb: SyncerCallbacks;
  readonly #pageSize: number;
  readonly #retryMin: number;
  readonly #retryMax: number;
  readonly #log: Logger;

  #known = new Map<string, Known>();
  #status: SyncStatus | undefined;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(backend: Backend, prefixes: readonly string[], callbacks: SyncerCallbacks, opts: SyncerOptions = {}) {
    this.#backend = backend;
    this.#prefixes = [...prefixes];
    this.#cb = callbacks;
    this.#pageSize = opts.pageSize ?? 500;
    this.#retryMin = opts.retryMinMs ?? 100;
    this.#retryMax = opts.retryMaxMs ?? 5000;
    this.#log = opts.logger ?? componentLogger('syncer', { address: backend.address });
  }

  /** Current status (undefined before start). */
  get status(): SyncStatus | undefined {
    return this.#status;
  }

  start(): void {
    if (this.#loop !== undefined) return;
    const ac = new AbortController();
    this.#abort = ac;
    this.#loop = this.#run(ac.signal).catch((e: unknown) => {
      // #run handles its own errors; this is a last resort so the promise never floats rejected.
      this.#log.error({ err: toErrorMessage(e) }, 'syncer loop crashed');
    });
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    const loop = this.#loop;
    this.#loop = undefined;
    if (loop !== undefined) await loop;
  }

  #setStatus(s: SyncStatus): void {
    if (this.#status === s) return;
    this.#status = s;
    this.#log.info({ status: s }, 'syncer status');
    try {
      this.#cb.onStatus(s);
    } catch (e) {
      this.#log.error({ err: toErrorMessage(e) }, 'onStatus callback threw');
    }
  }

  #deliver(updates: SyncUpdate[]): void {
    if (updates.length === 0) return;
    try {
      this.#cb.onUpdates(updates);
    } catch (e) {
      this.#log.error({ err: toErrorMessage(e) }, 'onUpdates callback threw');
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    this.#setStatus('wait-for-datastore');
    while (!signal.aborted) {
      let snap: Snapshot;
      try {
        // Cheap health check first so an unreachable store reports wait-for-datastore, not resync.
        await this.#backend.revision();
        this.#setStatus('resync');
        snap = await this.#listAll(signal);
      } catch (e) {
        if (signal.aborted) break;
        this.#setStatus('wait-for-datastore');
        const delay = Math.min(this.#retryMax, this.#retryMin * 2 ** Math.min(failures, 16));
        failures++;
        this.#log.warn({ err: toErrorMessage(e), retryInMs: delay }, 'datastore not available; retrying');
        await sleep(delay, signal);
        continue;
      }
      if (signal.aborted) break;
      failures = 0;
      this.#applySnapshot(snap);
      this.#setStatus('in-sync');
      const reason = await this.#watchUntilError(snap, signal);
      if (signal.aborted) break;
      this.#log.warn({ reason }, 'watch ended; resyncing');
      this.#setStatus('resync');
    }
  }

  async #listAll(signal: AbortSignal): Promise<Snapshot> {
    const items = new Map<string, Known>();
    const covers: PageCover[] = [];
    let fromRevision = Number.POSITIVE_INFINITY;
    for (const prefix of this.#prefixes) {
      let startAfter: string | undefined;
      for (;;) {
        if (signal.aborted) throw new Error('stopped');
        const page = await this.#backend.list(prefix, { limit: this.#pageSize, startAfter });
        for (const kv of page.items) items.set(kv.key, { value: kv.value, revision: kv.revision });
        const last = page.items.length > 0 ? page.items[page.items.length - 1].key : undefined;
        covers.push({ prefix, lastKey: page.more ? last : undefined, revision: page.revision });
        fromRevision = Math.min(fromRevision, page.revision);
        if (!page.more || last === undefined) break;
        startAfter = last;
      }
    }
    if (!Number.isFinite(fromRevision)) fromRevision = await this.#backend.revision();
    return { items, covers, fromRevision };
  }

  /** Delivers the snapshot as a diff against what consumers already have. */
  #applySnapshot(snap: Snapshot): void {
    const updates: SyncUpdate[] = [];
    for (const key of this.#known.keys()) {
      if (!snap.items.has(key)) updates.push({ key, value: undefined, revision: snap.fromRevision });
    }
    for (const [key, kv] of snap.items) {
      const old = this.#known.get(key);
      if (old === undefined || old.revision !== kv.revision || old.value !== kv.value) {
        updates.push({ key, value: kv.value, revision: kv.revision });
      }
    }
    this.#known = new Map(snap.items);
    for (let i = 0; i < updates.length; i += this.#pageSize) this.#deliver(updates.slice(i, i + this.#pageSize));
  }

  /** Revision at which the list already reflected `key`, or 0. */
  static #coveredAt(covers: PageCover[], prefix: string, key: string): number {
    for (const c of covers) {
      if (c.prefix !== prefix) continue;
      if (c.lastKey === undefined || key <= c.lastKey) return c.revision;
    }
    return 0;
  }

  #watchUntilError(snap: Snapshot, signal: AbortSignal): Promise<string> {
    return new Promise<string>((resolve) => {
      const watches: Watch[] = [];
      let done = false;
      const finish = (reason: string): void => {
        if (done) return;
        done = true;
        signal.removeEventListener('abort', onAbort);
        for (const w of watches) {
          try {
            w.cancel();
          } catch {
            // cancelling a broken watch may fail; it is gone either way
          }
        }
        resolve(reason);
      };
      const onAbort = (): void => finish('stopped');
      signal.addEventListener('abort', onAbort, { once: true });
      for (const prefix of this.#prefixes) {
        if (done) break;
        try {
          watches.push(
            this.#backend.watch(
              prefix,
              { fromRevision: snap.fromRevision + 1 },
              {
                onEvents: (events) => {
                  if (!done) this.#onEvents(snap, prefix, events);
                },
                onError: (reason, err) => finish(`${reason}: ${err.message}`),
              },
            ),
          );
        } catch (e) {
          finish(`watch failed: ${toErrorMessage(e)}`);
        }
      }
    });
  }

  #onEvents(snap: Snapshot, prefix: string, events: WatchEvent[]): void {
    const updates: SyncUpdate[] = [];
    for (const ev of events) {
      if (ev.revision <= Syncer.#coveredAt(snap.covers, prefix, ev.key)) continue;
      const old = this.#known.get(ev.key);
      if (old !== undefined && ev.revision <= old.revision) continue;
      if (ev.type === 'put') {
        this.#known.set(ev.key, { value: ev.value, revision: ev.revision });
        updates.push({ key: ev.key, value: ev.value, revision: ev.revision });
      } else {
        if (old === undefined) continue;
        this.#known.delete(ev.key);
        updates.push({ key: ev.key, value: undefined, revision: ev.revision });
      }
    }
    this.#deliver(updates);
  }
}
