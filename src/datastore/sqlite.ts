/**
 * Embedded datastore on SQLite (`node:sqlite`, one file), shared by several processes on one host
 * (CLI, agent, CNI/libnetwork plugins).
 *
 * - One global revision counter (`meta.revision`), bumped once per write transaction; every row in
 *   `kv` carries the revision of its last write (= etcd mod_revision).
 * - Every transaction appends its events to `changes(revision, seq, …)`. Watchers in any process
 *   poll `meta.revision` every ~10 ms (one indexed point read) and, when it moved, read the new
 *   change rows. That is the cross-process notification channel; no other IPC.
 * - Writes run in `BEGIN IMMEDIATE` so the read-check-write of a CAS happens under the write lock;
 *   concurrent writers in other processes wait up to busy_timeout. `txn(ops)` runs all its compares
 *   and writes in one such transaction (one revision, one commit).
 * - `synchronous`: FULL by default (fsync per commit); NORMAL on request (DESIGN.md, Durability).
 * - Compaction deletes change rows below a revision (`meta.compact_revision`); a watch from an
 *   older revision fails with onError('compacted'). The log is trimmed automatically beyond
 *   `historyRevisions` revisions.
 * - TTL: `expires_at` (epoch ms). Expired rows are invisible to reads at once; a reaper in every
 *   process deletes them (emitting delete events) — whichever process gets there first.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';
import { componentLogger, type Logger } from '../lib/log.ts';
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

export { DEFAULT_SQLITE_PATH } from '../lib/defaults.ts';
import { DEFAULT_SQLITE_PATH } from '../lib/defaults.ts';

export interface SqliteBackendOptions {
  /** Database file; default /var/lib/weft/weft.db (the directory is created). */
  path?: string;
  /** Watch poll interval. Default 10 ms. */
  pollIntervalMs?: number;
  /** Expired-key reaper interval. Default 250 ms. */
  reapIntervalMs?: number;
  /** Keep this many revisions in the change log. Default 10 000. */
  historyRevisions?: number;
  /** How long a writer waits for another process's write lock. Default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * PRAGMA synchronous (WAL mode). `full` (default) fsyncs the WAL on every commit: an acknowledged
   * write survives power loss. `normal` fsyncs only at checkpoints: still never corrupt, but the last
   * commits before a power loss / kernel crash may be lost (not on a process crash). See DESIGN.md.
   * Upper case is accepted too.
   */
  synchronous?: 'full' | 'normal' | 'FULL' | 'NORMAL';
  /** Clock (epoch ms) for TTL; default Date.now. Must agree across processes sharing the file. */
  now?: () => number;
  logger?: Logger;
}

interface KvRow {
  key: string;
  value: string;
  revision: number;
  ttl: number | null;
  expires_at: number | null;
}

interface ChangeRow {
  revision: number;
  key: string;
  type: string;
  value: string | null;
  prev: string | null;
  created: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (k, v) VALUES ('revision', 0), ('compact_revision', 0), ('schema', 1);
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  revision INTEGER NOT NULL,
  ttl INTEGER,
  expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS changes (
  revision INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  key TEXT NOT NULL,
  type TEXT NOT NULL,
  value TEXT,
  prev TEXT,
  created INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
`;

/** Upper bound for a prefix range scan: every key starting with `prefix` sorts below this. */
const MAX_CHAR = String.fromCodePoint(0x10ffff);

export class SqliteBackend implements Backend {
  readonly type = 'sqlite' as const;
  readonly address: string;
  readonly path: string;
  /** The fsync policy in force (PRAGMA synchronous). */
  readonly synchronous: 'full' | 'normal';

  readonly #db: DatabaseSync;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #historyRevisions: number;
  readonly #pollIntervalMs: number;
  readonly #fanout = new Fanout();
  #poller: NodeJS.Timeout | undefined;
  #reaper: NodeJS.Timeout | undefined;
  /** Highest revision whose change rows the poller has dispatched. */
  #polled = 0;
  #closed = false;
  #inTxn = false;
  readonly #st: Record<
    | 'rev'
    | 'compactRev'
    | 'bumpRev'
    | 'get'
    | 'getAny'
    | 'upsert'
    | 'del'
    | 'change'
    | 'changesSince'
    | 'list'
    | 'listAfter'
    | 'listLimit'
    | 'listAfterLimit'
    | 'prefixKeys'
    | 'expired'
    | 'trim'
    | 'setCompact',
    StatementSync
  >;

  constructor(opts: SqliteBackendOptions = {}) {
    this.path = resolvePath(opts.path ?? DEFAULT_SQLITE_PATH);
    this.address = `sqlite:${this.path}`;
    this.#log = opts.logger ?? componentLogger('datastore', { backend: 'sqlite', path: this.path });
    this.#now = opts.now ?? Date.now;
    this.#historyRevisions = opts.historyRevisions ?? 10_000;
    this.#pollIntervalMs = opts.pollIntervalMs ?? 10;
    const busy = opts.busyTimeoutMs ?? 5000;
    const sync = syncPragma(opts.synchronous);
    this.synchronous = sync === 'FULL' ? 'full' : 'normal';
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      this.#db = new DatabaseSync(this.path, { timeout: busy });
      this.#db.exec(`PRAGMA busy_timeout = ${Math.floor(busy)}`);
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec(`PRAGMA synchronous = ${sync}`);
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        this.#db.exec(SCHEMA);
        this.#db.exec('COMMIT');
      } catch (e) {
        this.#db.exec('ROLLBACK');
        throw e;
      }
    } catch (e) {
      throw new WeftError(ErrorCodes.DATASTORE_UNREACHABLE, `cannot open SQLite datastore ${this.path}: ${(e as Error).message}`, {
        cause: e,
        hint: 'check that the directory is writable (or choose another file with --datastore-path)',
        details: { path: this.path },
      });
    }
    const db = this.#db;
    const live = '(expires_at IS NULL OR expires_at > $now)';
    const range = `key >= $prefix AND key <= $prefix || '${MAX_CHAR}' AND substr(key, 1, length($prefix)) = $prefix`;
    const cols = 'key, value, revision, ttl, expires_at';
    this.#st = {
      rev: db.prepare(`SELECT v FROM meta WHERE k = 'revision'`),
      compactRev: db.prepare(`SELECT v FROM meta WHERE k = 'compact_revision'`),
      bumpRev: db.prepare(`UPDATE meta SET v = v + 1 WHERE k = 'revision' RETURNING v`),
      get: db.prepare(`SELECT ${cols} FROM kv WHERE key = $key AND ${live}`),
      getAny: db.prepare(`SELECT ${cols} FROM kv WHERE key = $key`),
      upsert: db.prepare(
        `INSERT INTO kv (key, value, revision, ttl, expires_at) VALUES ($key, $value, $revision, $ttl, $expires)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, revision = excluded.revision,
           ttl = excluded.ttl, expires_at = excluded.expires_at`,
      ),
      del: db.prepare(`DELETE FROM kv WHERE key = $key`),
      change: db.prepare(
        `INSERT INTO changes (revision, seq, key, type, value, prev, created) VALUES ($revision, $seq, $key, $type, $value, $prev, $created)`,
      ),
      changesSince: db.prepare(
        `SELECT revision, key, type, value, prev, created FROM changes WHERE revision >= $from ORDER BY revision, seq`,
      ),
      list: db.prepare(`SELECT ${cols} FROM kv WHERE ${range} AND ${live} ORDER BY key`),
      listAfter: db.prepare(`SELECT ${cols} FROM kv WHERE ${range} AND key > $after AND ${live} ORDER BY key`),
      listLimit: db.prepare(`SELECT ${cols} FROM kv WHERE ${range} AND ${live} ORDER BY key LIMIT $limit`),
      listAfterLimit: db.prepare(
        `SELECT ${cols} FROM kv WHERE ${range} AND key > $after AND ${live} ORDER BY key LIMIT $limit`,
      ),
      prefixKeys: db.prepare(`SELECT ${cols} FROM kv WHERE ${range} ORDER BY key`),
      expired: db.prepare(`SELECT ${cols} FROM kv WHERE expires_at IS NOT NULL AND expires_at <= $now ORDER BY key LIMIT 1000`),
      trim: db.prepare(`DELETE FROM changes WHERE revision < $rev`),
      setCompact: db.prepare(`UPDATE meta SET v = max(v, $rev) WHERE k = 'compact_revision'`),
    };
    this.#reaper = setInterval(() => this.#reapTick(), opts.reapIntervalMs ?? 250);
    this.#reaper.unref();
  }

  // -------------------------------------------------------------------------------------------
  // plumbing

  #check(): void {
    if (this.#closed) throw closedError(this.address);
  }

  /** Maps driver errors to WeftError (SQLITE_BUSY after busy_timeout, I/O errors, …). */
  #wrap(e: unknown): unknown {
    if (isWeftError(e) || e instanceof RangeError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new WeftError(ErrorCodes.DATASTORE, `SQLite datastore ${this.path}: ${msg}`, { cause: e, details: { path: this.path } });
  }

  #read<T>(fn: () => T): T {
    this.#check();
    try {
      return fn();
    } catch (e) {
      throw this.#wrap(e);
    }
  }

  /**
   * Runs `fn` in a write transaction. `fn` gets `nextRev()` which bumps the global revision once
   * per transaction (lazily: a transaction that changes nothing keeps the revision).
   * Events emitted are appended to the change log in the same transaction and dispatched to local
   * watchers after commit.
   */
  #write<T>(fn: (tx: Tx) => T): T {
    this.#check();
    if (this.#inTxn) throw new WeftError(ErrorCodes.INTERNAL, 'nested SQLite transaction');
    const events: WatchEvent[] = [];
    let rev = 0;
    let seq = 0;
    const tx: Tx = {
      now: this.#now(),
      rev: () => {
        if (rev === 0) rev = (this.#st.bumpRev.get() as { v: number }).v;
        return rev;
      },
      emit: (ev: WatchEvent) => {
        events.push(ev);
        this.#st.change.run({
          revision: ev.revision,
          seq: seq++,
          key: ev.key,
          type: ev.type,
          value: ev.type === 'put' ? ev.value : null,
          prev: ev.type === 'delete' ? (ev.prevValue ?? null) : null,
          created: ev.type === 'put' && ev.created ? 1 : 0,
        });
      },
    };
    let result: T;
    try {
      this.#db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      throw this.#wrap(e);
    }
    this.#inTxn = true;
    try {
      result = fn(tx);
      if (rev > 0 && rev % 256 === 0) this.#trimLog(rev);
      this.#db.exec('COMMIT');
    } catch (e) {
      try {
        this.#db.exec('ROLLBACK');
      } catch {
        // already rolled back by SQLite
      }
      throw this.#wrap(e);
    } finally {
      this.#inTxn = false;
    }
    // Local watchers get the events now, through the same ordered path as other processes'
    // changes (a direct hand-off could overtake another process's earlier commit).
    if (events.length > 0 && this.#fanout.size > 0) this.#poll();
    return result;
  }

  #trimLog(rev: number): void {
    const keepFrom = rev - this.#historyRevisions + 1;
    if (keepFrom <= 1) return;
    this.#st.trim.run({ rev: keepFrom });
    this.#st.setCompact.run({ rev: keepFrom });
  }

  static #pair(r: KvRow): KVPair {
    const kv: KVPair = { key: r.key, value: r.value, revision: r.revision };
    if (r.ttl !== null) kv.ttlSeconds = r.ttl;
    return kv;
  }

  /** Inside a write transaction: the live row for `key`, deleting an expired one (with its event) first. */
  #liveInTx(tx: Tx, key: string): KvRow | undefined {
    const row = this.#st.getAny.get({ key }) as KvRow | undefined;
    if (row === undefined) return undefined;
    if (row.expires_at !== null && row.expires_at <= tx.now) {
      this.#st.del.run({ key });
      tx.emit({ type: 'delete', key, revision: tx.rev(), prevValue: row.value });
      return undefined;
    }
    return row;
  }

  #putInTx(tx: Tx, key: string, value: string, ttlSeconds: number | undefined, existed: boolean): KVPair {
    const ttl = normTtl(ttlSeconds);
    const revision = tx.rev();
    const expires = ttl === undefined ? null : tx.now + ttl * 1000;
    this.#st.upsert.run({ key, value, revision, ttl: ttl ?? null, expires });
    tx.emit({ type: 'put', key, value, revision, created: !existed });
    const kv: KVPair = { key, value, revision };
    if (ttl !== undefined) kv.ttlSeconds = ttl;
    return kv;
  }

  // -------------------------------------------------------------------------------------------
  // Backend

  async get(key: string): Promise<KVPair | undefined> {
    return this.#read(() => {
      const r = this.#st.get.get({ key, now: this.#now() }) as KvRow | undefined;
      return r === undefined ? undefined : SqliteBackend.#pair(r);
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.#read(() => {
      const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : 0;
      const p: Record<string, string | number> = { prefix, now: this.#now() };
      let st: StatementSync;
      if (opts.startAfter !== undefined) p.after = opts.startAfter;
      if (limit > 0) p.limit = limit + 1;
      if (opts.startAfter !== undefined) st = limit > 0 ? this.#st.listAfterLimit : this.#st.listAfter;
      else st = limit > 0 ? this.#st.listLimit : this.#st.list;
      // Revision and rows from one read snapshot.
      this.#db.exec('BEGIN');
      try {
        const revision = (this.#st.rev.get() as { v: number }).v;
        const rows = st.all(p) as unknown as KvRow[];
        const more = limit > 0 && rows.length > limit;
        if (more) rows.length = limit;
        return { items: rows.map((r) => SqliteBackend.#pair(r)), revision, more };
      } finally {
        this.#db.exec('COMMIT');
      }
    });
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KVPair> {
    return this.#write((tx) => {
      if (this.#liveInTx(tx, key) !== undefined) throw alreadyExists(key);
      return this.#putInTx(tx, key, value, opts.ttlSeconds, false);
    });
  }

  async update(key: string, value: string, opts: CasOptions): Promise<KVPair> {
    return this.#write((tx) => {
      const cur = this.#liveInTx(tx, key);
      if (cur === undefined) throw notFound(key);
      if (cur.revision !== opts.revision) throw revisionConflict(key, opts.revision, cur.revision);
      return this.#putInTx(tx, key, value, opts.ttlSeconds, true);
    });
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KVPair> {
    return this.#write((tx) => {
      const cur = this.#liveInTx(tx, key);
      return this.#putInTx(tx, key, value, opts.ttlSeconds, cur !== undefined);
    });
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KVPair> {
    return this.#write((tx) => {
      const cur = this.#liveInTx(tx, key);
      if (cur === undefined) throw notFound(key);
      if (opts.revision !== undefined && cur.revision !== opts.revision) {
        throw revisionConflict(key, opts.revision, cur.revision);
      }
      this.#st.del.run({ key });
      const revision = tx.rev();
      tx.emit({ type: 'delete', key, revision, prevValue: cur.value });
      const kv: KVPair = { key, value: cur.value, revision };
      if (cur.ttl !== null) kv.ttlSeconds = cur.ttl;
      return kv;
    });
  }

  async txn(ops: TxnOp[]): Promise<KVPair[]> {
    validateTxn(ops);
    if (ops.length === 0) {
      this.#check();
      return [];
    }
    // One BEGIN IMMEDIATE transaction: every compare and every write under the write lock, one
    // revision, one commit (= one WAL fsync with synchronous=FULL). A throw rolls everything back.
    return this.#write((tx) => {
      const rows: (KvRow | undefined)[] = [];
      for (const op of ops) {
        const cur = this.#liveInTx(tx, op.key);
        const kind = txnOpKind(op);
        if (kind === 'create') {
          if (cur !== undefined) throw alreadyExists(op.key);
        } else if (cur === undefined) {
          throw notFound(op.key);
        } else if (op.revision !== undefined && cur.revision !== op.revision) {
          throw revisionConflict(op.key, op.revision, cur.revision);
        }
        rows.push(cur);
      }
      return ops.map((op, i) => {
        if (op.delete === true) {
          const cur = rows[i]!;
          this.#st.del.run({ key: op.key });
          const revision = tx.rev();
          tx.emit({ type: 'delete', key: op.key, revision, prevValue: cur.value });
          const kv: KVPair = { key: op.key, value: cur.value, revision };
          if (cur.ttl !== null) kv.ttlSeconds = cur.ttl;
          return kv;
        }
        return this.#putInTx(tx, op.key, op.value, op.ttlSeconds, rows[i] !== undefined);
      });
    });
  }

  async deletePrefix(prefix: string): Promise<number> {
    return this.#write((tx) => {
      const rows = this.#st.prefixKeys.all({ prefix }) as unknown as KvRow[];
      let n = 0;
      for (const r of rows) {
        this.#st.del.run({ key: r.key });
        // Expired rows are removed too, but were already invisible: not counted as deleted by the caller.
        if (r.expires_at === null || r.expires_at > tx.now) n++;
        tx.emit({ type: 'delete', key: r.key, revision: tx.rev(), prevValue: r.value });
      }
      return n;
    });
  }

  async revision(): Promise<number> {
    return this.#read(() => (this.#st.rev.get() as { v: number }).v);
  }

  async compact(revision: number): Promise<void> {
    this.#write(() => {
      const cur = (this.#st.rev.get() as { v: number }).v;
      if (revision > cur) throw new RangeError(`cannot compact to future revision ${revision} (current ${cur})`);
      this.#st.trim.run({ rev: revision });
      this.#st.setCompact.run({ rev: revision });
    });
    // Local watchers that still need compacted revisions are told at the next poll.
    this.#ensurePoller();
  }

  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watch {
    const w = this.#fanout.add(prefix, handlers, 0);
    const cancel = (): void => {
      this.#fanout.remove(w);
      this.#maybeStopPoller();
    };
    if (opts.signal?.aborted) {
      cancel();
      return { cancel };
    }
    opts.signal?.addEventListener('abort', cancel, { once: true });
    try {
      this.#check();
      const cur = (this.#st.rev.get() as { v: number }).v;
      const from = opts.fromRevision > 0 ? opts.fromRevision : cur + 1;
      w.next = from;
      if (from <= cur) {
        // Catch up from the log, in one read snapshot with the compaction mark.
        this.#db.exec('BEGIN');
        let rows: ChangeRow[];
        let compactRev: number;
        try {
          compactRev = (this.#st.compactRev.get() as { v: number }).v;
          rows = from < compactRev ? [] : (this.#st.changesSince.all({ from }) as unknown as ChangeRow[]);
        } finally {
          this.#db.exec('COMMIT');
        }
        if (from < compactRev) {
          this.#fanout.fail(w, 'compacted', compacted(from, compactRev));
          return { cancel };
        }
        for (const batch of batchByRevision(rows.map(toEvent))) this.#fanout.offer(w, batch);
        if (w.next <= cur) w.next = cur + 1;
      }
      this.#ensurePoller();
    } catch (e) {
      this.#fanout.fail(w, 'error', this.#wrap(e) as Error);
    }
    return { cancel };
  }

  #ensurePoller(): void {
    if (this.#poller !== undefined || this.#closed || this.#fanout.size === 0) return;
    // The poll timer keeps the process alive while someone watches (a pure watcher would exit otherwise).
    this.#poller = setInterval(() => this.#poll(), this.#pollIntervalMs);
  }

  #maybeStopPoller(): void {
    if (this.#fanout.size === 0 && this.#poller !== undefined) {
      clearInterval(this.#poller);
      this.#poller = undefined;
    }
  }

  /** One poll: a point read of the revision; only when it moved, read the new change rows. */
  #poll(): void {
    if (this.#closed || this.#inTxn) return;
    try {
      const cur = (this.#st.rev.get() as { v: number }).v;
      const minNext = Math.min(...[...this.#fanout.watchers].map((w) => w.next));
      const from = Math.min(this.#polled + 1, minNext);
      if (cur >= from) {
        this.#db.exec('BEGIN');
        let rows: ChangeRow[];
        let compactRev: number;
        try {
          compactRev = (this.#st.compactRev.get() as { v: number }).v;
          rows = this.#st.changesSince.all({ from }) as unknown as ChangeRow[];
        } finally {
          this.#db.exec('COMMIT');
        }
        // Watchers that need revisions already trimmed from the log cannot continue.
        for (const w of [...this.#fanout.watchers]) {
          if (w.next < compactRev && w.next <= cur) this.#fanout.fail(w, 'compacted', compacted(w.next, compactRev));
        }
        for (const batch of batchByRevision(rows.map(toEvent))) this.#fanout.offerAll(batch);
        this.#polled = Math.max(this.#polled, cur);
        for (const w of this.#fanout.watchers) if (w.next <= cur) w.next = cur + 1;
      }
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'watch poll failed');
      this.#fanout.failAll('error', this.#wrap(e) as Error);
    }
    this.#maybeStopPoller();
  }

  /** Deletes expired keys (one transaction, one revision), emitting delete events. */
  reapExpired(): number {
    if (this.#closed || this.#inTxn) return 0;
    const now = this.#now();
    const any = this.#st.expired.get({ now });
    if (any === undefined) return 0;
    return this.#write((tx) => {
      const rows = this.#st.expired.all({ now: tx.now }) as unknown as KvRow[];
      for (const r of rows) {
        this.#st.del.run({ key: r.key });
        tx.emit({ type: 'delete', key: r.key, revision: tx.rev(), prevValue: r.value });
      }
      return rows.length;
    });
  }

  #reapTick(): void {
    try {
      this.reapExpired();
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'TTL reaper failed');
    }
  }

  /** Test hook: fail every open watch (as a lost connection would). */
  failWatches(reason: 'compacted' | 'error' = 'error'): void {
    this.#fanout.failAll(reason, new Error(`watch failed (${reason}) by test hook`));
    this.#maybeStopPoller();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poller !== undefined) clearInterval(this.#poller);
    if (this.#reaper !== undefined) clearInterval(this.#reaper);
    this.#poller = undefined;
    for (const w of [...this.#fanout.watchers]) this.#fanout.remove(w);
    try {
      this.#db.close();
    } catch {
      // already closed
    }
  }
}

interface Tx {
  readonly now: number;
  rev(): number;
  emit(ev: WatchEvent): void;
}

function syncPragma(s: SqliteBackendOptions['synchronous']): 'FULL' | 'NORMAL' {
  switch (s) {
    case undefined:
    case 'full':
    case 'FULL':
      return 'FULL';
    case 'normal':
    case 'NORMAL':
      return 'NORMAL';
    default:
      throw new WeftError(ErrorCodes.DATASTORE_CONFIG, `SQLite synchronous must be 'full' or 'normal', got ${JSON.stringify(s)}`);
  }
}

function toEvent(r: ChangeRow): WatchEvent {
  if (r.type === 'put') return { type: 'put', key: r.key, value: r.value ?? '', revision: r.revision, created: r.created === 1 };
  const ev: WatchEvent = { type: 'delete', key: r.key, revision: r.revision };
  if (r.prev !== null) ev.prevValue = r.prev;
  return ev;
}
