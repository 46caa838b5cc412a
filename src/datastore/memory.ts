/**
 * In-process Backend for pure unit tests: same semantics as the real backends (one global revision,
 * CAS on mod revision, watch from a revision with history, compaction, TTL) without any I/O.
 *
 * Watch events are delivered asynchronously (microtask) in revision order, one batch per write, so a
 * handler never runs inside the write call that caused it.
 */
import { alreadyExists, closedError, compacted, notFound, revisionConflict } from './errors.ts';
import { Fanout } from './fanout.ts';
import type {
  Backend,
  CasOptions,
  KVPair,
  ListOptions,
  ListResult,
  TxnOp,
  Watch,
  WatchEvent,
  WatchHandlers,
  WatchOptions,
  WriteOptions,
} from './types.ts';
import { batchByRevision, normTtl, txnOpKind, validateTxn } from './util.ts';

interface Entry {
  value: string;
  revision: number;
  ttlSeconds?: number;
  /** Epoch ms. */
  expiresAt?: number;
}

export interface MemoryBackendOptions {
  /** Keep this many revisions of history for watches (older ones are compacted). Default 100 000. */
  historyRevisions?: number;
  /** Clock for TTL (epoch ms); default Date.now. */
  now?: () => number;
  /** How often expired keys are deleted (emitting delete events). Default 200 ms. */
  reapIntervalMs?: number;
}

export class MemoryBackend implements Backend {
  readonly type = 'sqlite' as const;
  readonly address: string;

  #data = new Map<string, Entry>();
  #rev = 0;
  /** Events in revision order; all events of one revision are contiguous. */
  #history: WatchEvent[] = [];
  /** Revisions < this are no longer in #history. */
  #compactRev = 0;
  #historyRevisions: number;
  #now: () => number;
  readonly #fanout = new Fanout();
  #reaper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: MemoryBackendOptions = {}) {
    this.address = 'memory:';
    this.#historyRevisions = opts.historyRevisions ?? 100_000;
    this.#now = opts.now ?? Date.now;
    this.#reaper = setInterval(() => this.reapExpired(), opts.reapIntervalMs ?? 200);
    this.#reaper.unref();
  }

  #check(): void {
    if (this.#closed) throw closedError(this.address);
  }

  /** Live entry (TTL-expired entries are invisible immediately, before the reaper deletes them). */
  #live(key: string): Entry | undefined {
    const e = this.#data.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= this.#now()) return undefined;
    return e;
  }

  #pair(key: string, e: Entry): KVPair {
    const kv: KVPair = { key, value: e.value, revision: e.revision };
    if (e.ttlSeconds !== undefined) kv.ttlSeconds = e.ttlSeconds;
    return kv;
  }

  /** Commits one transaction: bumps the revision once, records and dispatches its events. */
  #commit(events: WatchEvent[]): void {
    if (events.length === 0) return;
    this.#history.push(...events);
    // Trim history beyond the configured window (auto-compaction).
    const minKeep = this.#rev - this.#historyRevisions + 1;
    if (minKeep > this.#compactRev) this.#compactTo(minKeep);
    this.#fanout.offerAll(events);
  }

  #compactTo(rev: number): void {
    if (rev <= this.#compactRev) return;
    this.#compactRev = rev;
    let i = 0;
    while (i < this.#history.length && this.#history[i].revision < rev) i++;
    if (i > 0) this.#history.splice(0, i);
  }

  #newEntry(value: string, ttl: number | undefined): Entry {
    const e: Entry = { value, revision: ++this.#rev };
    if (ttl !== undefined) {
      e.ttlSeconds = ttl;
      e.expiresAt = this.#now() + ttl * 1000;
    }
    return e;
  }

  #write(key: string, value: string, ttlSeconds: number | undefined): KVPair {
    const ttl = normTtl(ttlSeconds);
    const created = this.#live(key) === undefined;
    this.#expireOne(key);
    const e = this.#newEntry(value, ttl);
    this.#data.set(key, e);
    this.#commit([{ type: 'put', key, value, revision: e.revision, created }]);
    return this.#pair(key, e);
  }

  /** If `key` holds an expired entry, delete it now (with its own delete event). */
  #expireOne(key: string): void {
    const e = this.#data.get(key);
    if (e?.expiresAt !== undefined && e.expiresAt <= this.#now()) {
      this.#data.delete(key);
      const revision = ++this.#rev;
      this.#commit([{ type: 'delete', key, revision, prevValue: e.value }]);
    }
  }

  /** Deletes every expired key, emitting delete events. Runs periodically; public for tests. */
  reapExpired(): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const [key, e] of this.#data) {
      if (e.expiresAt !== undefined && e.expiresAt <= now) this.#expireOne(key);
    }
  }

  async get(key: string): Promise<KVPair | undefined> {
    this.#check();
    const e = this.#live(key);
    return e === undefined ? undefined : this.#pair(key, e);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    this.#check();
    const keys = [...this.#data.keys()]
      .filter((k) => k.startsWith(prefix) && (opts.startAfter === undefined || k > opts.startAfter))
      .sort();
    const items: KVPair[] = [];
    let more = false;
    for (const k of keys) {
      const e = this.#live(k);
      if (e === undefined) continue;
      if (opts.limit !== undefined && opts.limit > 0 && items.length >= opts.limit) {
        more = true;
        break;
      }
      items.push(this.#pair(k, e));
    }
    return { items, revision: this.#rev, more };
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KVPair> {
    this.#check();
    if (this.#live(key) !== undefined) throw alreadyExists(key);
    return this.#write(key, value, opts.ttlSeconds);
  }

  async update(key: string, value: string, opts: CasOptions): Promise<KVPair> {
    this.#check();
    const cur = this.#live(key);
    if (cur === undefined) throw notFound(key);
    if (cur.revision !== opts.revision) throw revisionConflict(key, opts.revision, cur.revision);
    return this.#write(key, value, opts.ttlSeconds);
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KVPair> {
    this.#check();
    return this.#write(key, value, opts.ttlSeconds);
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KVPair> {
    this.#check();
    const cur = this.#live(key);
    if (cur === undefined) throw notFound(key);
    if (opts.revision !== undefined && cur.revision !== opts.revision) {
      throw revisionConflict(key, opts.revision, cur.revision);
    }
    this.#data.delete(key);
    const revision = ++this.#rev;
    this.#commit([{ type: 'delete', key, revision, prevValue: cur.value }]);
    return this.#pair(key, { ...cur, revision });
  }

  async txn(ops: TxnOp[]): Promise<KVPair[]> {
    this.#check();
    validateTxn(ops);
    if (ops.length === 0) return [];
    // Every compare first: a failing one leaves the store untouched.
    for (const op of ops) {
      const cur = this.#live(op.key);
      const kind = txnOpKind(op);
      if (kind === 'create') {
        if (cur !== undefined) throw alreadyExists(op.key);
      } else if (cur === undefined) {
        throw notFound(op.key);
      } else if (op.revision !== undefined && cur.revision !== op.revision) {
        throw revisionConflict(op.key, op.revision, cur.revision);
      }
    }
    // Expired entries overwritten by the txn get their own delete first (as #write does).
    for (const op of ops) this.#expireOne(op.key);
    const revision = ++this.#rev;
    const events: WatchEvent[] = [];
    const out: KVPair[] = [];
    for (const op of ops) {
      if (op.delete === true) {
        const cur = this.#data.get(op.key)!;
        this.#data.delete(op.key);
        events.push({ type: 'delete', key: op.key, revision, prevValue: cur.value });
        out.push(this.#pair(op.key, { ...cur, revision }));
        continue;
      }
      const created = op.create === true;
      const ttl = normTtl(op.ttlSeconds);
      const e: Entry = { value: op.value, revision };
      if (ttl !== undefined) {
        e.ttlSeconds = ttl;
        e.expiresAt = this.#now() + ttl * 1000;
      }
      this.#data.set(op.key, e);
      events.push({ type: 'put', key: op.key, value: op.value, revision, created });
      out.push(this.#pair(op.key, e));
    }
    this.#commit(events);
    return out;
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.#check();
    const keys = [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort();
    const live = keys.filter((k) => this.#live(k) !== undefined);
    for (const k of keys) if (this.#live(k) === undefined) this.#expireOne(k);
    if (live.length === 0) return 0;
    // One transaction: all deletes share one revision (as etcd DeleteRange).
    const revision = ++this.#rev;
    const events: WatchEvent[] = [];
    for (const k of live) {
      const e = this.#data.get(k)!;
      this.#data.delete(k);
      events.push({ type: 'delete', key: k, revision, prevValue: e.value });
    }
    this.#commit(events);
    return live.length;
  }

  async revision(): Promise<number> {
    this.#check();
    return this.#rev;
  }

  async compact(revision: number): Promise<void> {
    this.#check();
    if (revision > this.#rev) throw new RangeError(`cannot compact to future revision ${revision} (current ${this.#rev})`);
    this.#compactTo(revision);
  }

  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watch {
    const from = opts.fromRevision > 0 ? opts.fromRevision : this.#rev + 1;
    const w = this.#fanout.add(prefix, handlers, from);
    const cancel = (): void => this.#fanout.remove(w);
    if (opts.signal?.aborted) {
      cancel();
      return { cancel };
    }
    opts.signal?.addEventListener('abort', cancel, { once: true });
    if (this.#closed) {
      this.#fanout.fail(w, 'error', closedError(this.address));
    } else if (from < this.#compactRev) {
      this.#fanout.fail(w, 'compacted', compacted(from, this.#compactRev));
    } else {
      const past = this.#history.filter((ev) => ev.revision >= from);
      for (const batch of batchByRevision(past)) this.#fanout.offer(w, batch);
      if (w.next <= this.#rev) w.next = this.#rev + 1;
    }
    return { cancel };
  }

  /** Test hook: fail every open watch with `reason` (as a lost connection would). */
  failWatches(reason: 'compacted' | 'error' = 'error'): void {
    this.#fanout.failAll(reason, new Error(`watch failed (${reason}) by test hook`));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reaper !== undefined) clearInterval(this.#reaper);
    for (const w of [...this.#fanout.watchers]) this.#fanout.remove(w);
  }
}
