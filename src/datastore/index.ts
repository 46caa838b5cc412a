/** Public surface of the datastore component: the contract, the backends, typed keys, the syncer. */
export type * from './types.ts';
export * from './keys.ts';
export { MemoryBackend, type MemoryBackendOptions } from './memory.ts';
export { SqliteBackend, DEFAULT_SQLITE_PATH, type SqliteBackendOptions } from './sqlite.ts';
export { EtcdBackend, type EtcdBackendOptions } from './etcd.ts';
export { Syncer, type SyncerOptions } from './syncer.ts';
export { openBackend, parseSqliteTarget, type DatastoreSpec } from './factory.ts';
export { isRetryableDatastoreError } from './errors.ts';
