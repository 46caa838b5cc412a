/**
 * The datastore contract: one interface, two backends (embedded SQLite, etcd v3), one conformance
 * suite. Values are opaque strings (JSON of Calico objects); revisions are a single global,
 * monotonically increasing counter per store (etcd's revision; SQLite's own counter), and a key's
 * `revision` is the revision of its last modification (etcd ModRevision == Calico resourceVersion).
 *
 * Errors are WeftError with codes ERR_NOT_FOUND, ERR_ALREADY_EXISTS, ERR_REVISION_CONFLICT,
 * ERR_COMPACTED, ERR_DATASTORE_UNREACHABLE (with the address tried in the message).
 */

export interface KVPair {
  key: string;
  value: string;
  /** Revision of the last write to this key (etcd mod_revision). */
  revision: number;
  /** Seconds-to-live the key was written with, when it has a lease/TTL. */
  ttlSeconds?: number;
}

export interface ListOptions {
  /** Page size; 0/undefined = everything. */
  limit?: number;
  /** Return keys strictly greater than this one (for paging). */
  startAfter?: string;
}

export interface ListResult {
  items: KVPair[];
  /** Store revision at which the list was taken; watch from `revision + 1` to continue. */
  revision: number;
  /** True when `limit` cut the result; continue with `startAfter` = last key. */
  more: boolean;
}

export interface WriteOptions {
  /** Key expires this many seconds after the write (etcd lease; SQLite expiry column). */
  ttlSeconds?: number;
}

export interface CasOptions extends WriteOptions {
  /** Expected current revision of the key: compare-and-swap. */
  revision: number;
}

/**
 * One operation of an atomic multi-key transaction (`Backend.txn`):
 * - `{key, value, revision}`: compare-and-swap update (the key must exist at exactly `revision`);
 * - `{key, value, create: true}`: create (the key must be absent);
 * - `{key, delete: true, revision?}`: delete (the key must exist; at `revision` when given).
 * A key may appear at most once per transaction (etcd refuses duplicates too).
 */
export type TxnOp =
  | { key: string; value: string; revision: number; ttlSeconds?: number; create?: never; delete?: never }
  | { key: string; value: string; create: true; ttlSeconds?: number; revision?: never; delete?: never }
  | { key: string; delete: true; revision?: number; value?: never; create?: never };

export type WatchEvent =
  | { type: 'put'; key: string; value: string; revision: number; created: boolean }
  | { type: 'delete'; key: string; revision: number; prevValue?: string };

export interface WatchOptions {
  /** First revision to deliver (inclusive). Use ListResult.revision + 1. */
  fromRevision: number;
  signal?: AbortSignal;
}

export interface WatchHandlers {
  /** Events in revision order, batched per store transaction where possible. */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch cannot continue: `compacted` (the requested revision was compacted away: the caller
   * must list again) or `error` (connection lost etc.). No more events follow; the caller resyncs.
   */
  onError(reason: 'compacted' | 'error', err: Error): void;
}

export interface Watch {
  cancel(): void;
}

export interface Backend {
  readonly type: 'sqlite' | 'etcd';
  /** Human-readable address, e.g. `sqlite:/var/lib/weft/weft.db` or `etcd://127.0.0.1:2379`. */
  readonly address: string;

  get(key: string): Promise<KVPair | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Fails with ERR_ALREADY_EXISTS when the key is present. */
  create(key: string, value: string, opts?: WriteOptions): Promise<KVPair>;
  /** CAS on revision; ERR_NOT_FOUND if absent, ERR_REVISION_CONFLICT if revision differs. */
  update(key: string, value: string, opts: CasOptions): Promise<KVPair>;
  /** Unconditional create-or-overwrite. */
  put(key: string, value: string, opts?: WriteOptions): Promise<KVPair>;
  /** Deletes; with `revision` it is CAS. Returns the deleted pair. ERR_NOT_FOUND if absent. */
  delete(key: string, opts?: { revision?: number }): Promise<KVPair>;
  /**
   * Optional: applies every op or none, as ONE store transaction (one revision, one fsync, one watch
   * batch). The compares are decided together with the writes. Returns one pair per op, in order:
   * the written pair, or for a delete the deleted value at the transaction's revision. On failure
   * nothing is written and the error names the first failing op's key (`details.key`):
   * ERR_ALREADY_EXISTS (create of a present key), ERR_NOT_FOUND (update/delete of an absent key),
   * ERR_REVISION_CONFLICT (other revision). An empty op list writes nothing and returns [].
   */
  txn?(ops: TxnOp[]): Promise<KVPair[]>;
  /** Deletes every key under prefix; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /** Current store revision. Also serves as a health check (ERR_DATASTORE_UNREACHABLE). */
  revision(): Promise<number>;
  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watch;
  /**
   * Optional: discard history older than `revision` (etcd compaction semantics: `revision` itself
   * stays watchable; a watch from a smaller revision fails with onError('compacted')).
   */
  compact?(revision: number): Promise<void>;
  close(): Promise<void>;
}

/** Status a Syncer reports, as Calico's syncer callbacks. */
export type SyncStatus = 'wait-for-datastore' | 'resync' | 'in-sync';

export interface SyncUpdate {
  key: string;
  /** undefined = deleted. */
  value: string | undefined;
  revision: number;
}

export interface SyncerCallbacks {
  onStatus(status: SyncStatus): void;
  onUpdates(updates: SyncUpdate[]): void;
}
