/**
 * Opens the configured backend. The spec comes from config resolution (flags/env/file), which is
 * not this component's job.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import { EtcdBackend } from './etcd.ts';
import { DEFAULT_SQLITE_PATH, SqliteBackend } from './sqlite.ts';
import type { Backend } from './types.ts';

export type DatastoreSpec =
  | { type: 'sqlite'; path: string }
  | {
      type: 'etcd';
      endpoints: string[];
      caFile?: string;
      certFile?: string;
      keyFile?: string;
      username?: string;
      password?: string;
    };

/**
 * Opens a backend. SQLite opens synchronously (and fails fast on an unusable path); etcd connects
 * lazily: the first call reports ERR_DATASTORE_UNREACHABLE if the cluster cannot be reached, so
 * callers that need a health check call `backend.revision()`.
 */
export async function openBackend(spec: DatastoreSpec): Promise<Backend> {
  switch (spec.type) {
    case 'sqlite':
      return new SqliteBackend({ path: spec.path === '' ? DEFAULT_SQLITE_PATH : spec.path });
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
