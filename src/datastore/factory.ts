/**
 * Opens the configured backend. The spec comes from config resolution (flags/env/file), which is
 * not this component's job.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { EtcdBackend, type EtcdBackendOptions } from './etcd.ts';
import { DEFAULT_SQLITE_PATH, SqliteBackend } from './sqlite.ts';
import type { Backend } from './types.ts';

export type DatastoreSpec =
  | {
      type: 'sqlite';
      /** File path; may end in `?sync=normal|full` (from the URL `sqlite:PATH?sync=normal`). */
      path: string;
      /** Overrides a `?sync=` in the path. Default `full` (see DESIGN.md, durability). */
      synchronous?: 'full' | 'normal';
    }
  /** The connection settings of EtcdBackendOptions (timeouts and logger stay the backend's own). */
  | ({ type: 'etcd' } & Omit<EtcdBackendOptions, 'callTimeoutMs' | 'logger'>);

/**
 * Opens a backend. SQLite opens synchronously (and fails fast on an unusable path); etcd connects
 * lazily: the first call reports ERR_DATASTORE_UNREACHABLE if the cluster cannot be reached, so
 * callers that need a health check call `backend.revision()`.
 */
export async function openBackend(spec: DatastoreSpec): Promise<Backend> {
  switch (spec.type) {
    case 'sqlite': {
      const { path, synchronous } = parseSqliteTarget(spec.path);
      const sync = spec.synchronous ?? synchronous;
      return new SqliteBackend({ path: path === '' ? DEFAULT_SQLITE_PATH : path, ...(sync === undefined ? {} : { synchronous: sync }) });
    }
    case 'etcd': {
      const { type: _type, ...opts } = spec;
      return new EtcdBackend(opts);
    }
    default: {
      const t = (spec as { type?: unknown }).type;
      throw new WeftError(ErrorCodes.DATASTORE_CONFIG, `unknown datastore type: ${String(t)}`, {
        hint: "use 'sqlite' or 'etcd'",
      });
    }
  }
}

/**
 * Splits `PATH?sync=normal` (the query part of a `sqlite:` datastore URL) into the file path and
 * options. Only a trailing `?k=v[&k=v]` is a query, so an odd file name with a `?` elsewhere still
 * works; an unknown option or value is a config error rather than a silently ignored typo.
 */
export function parseSqliteTarget(target: string): { path: string; synchronous?: 'full' | 'normal' } {
  const q = target.lastIndexOf('?');
  if (q < 0) return { path: target };
  const query = target.slice(q + 1);
  if (!/^[A-Za-z_]+=[^&=]*(&[A-Za-z_]+=[^&=]*)*$/.test(query)) return { path: target };
  const out: { path: string; synchronous?: 'full' | 'normal' } = { path: target.slice(0, q) };
  for (const [k, v] of new URLSearchParams(query)) {
    if (k !== 'sync') {
      throw new WeftError(ErrorCodes.DATASTORE_CONFIG, `unknown SQLite datastore option "${k}" in ${target}`, { hint: 'supported: ?sync=full|normal' });
    }
    const lv = v.toLowerCase();
    if (lv !== 'full' && lv !== 'normal') {
      throw new WeftError(ErrorCodes.DATASTORE_CONFIG, `SQLite sync must be full or normal, got "${v}"`, { hint: 'e.g. sqlite:/var/lib/weft/weft.db?sync=normal' });
    }
    out.synchronous = lv;
  }
  return out;
}
