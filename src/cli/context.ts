/**
 * What every command gets: the resolved datastore (opened lazily, health-checked once with a
 * deadline), output streams, and a close hook. Handlers write to `out`/`err` instead of
 * process.stdout so they can be tested in-process.
 */
import type { Backend } from '../datastore/index.ts';
import { describeDatastore, resolveDatastore, type ResolvedDatastore } from '../config/index.ts';
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';

/** How long a command waits for its datastore before failing (issue #2: within 5 s). */
export const CONNECT_DEADLINE_MS = 4_000;

export interface GlobalOptions {
  datastore?: string;
  config?: string;
  logLevel?: string;
}

export interface Output {
  write(s: string): void;
}

export class CliContext {
  readonly out: Output;
  readonly err: Output;
  readonly globals: GlobalOptions;
  readonly env: NodeJS.ProcessEnv;
  #resolved: ResolvedDatastore | undefined;
  #backend: Promise<Backend> | undefined;

  constructor(globals: GlobalOptions, io: { out: Output; err: Output; env?: NodeJS.ProcessEnv }) {
    this.globals = globals;
    this.out = io.out;
    this.err = io.err;
    this.env = io.env ?? process.env;
  }

  get resolved(): ResolvedDatastore {
    this.#resolved ??= resolveDatastore({ flag: this.globals.datastore, configFile: this.globals.config, env: this.env });
    return this.#resolved;
  }

  /** Opens the datastore and proves it answers, or fails naming the address and the setting. */
  backend(): Promise<Backend> {
    this.#backend ??= this.#open();
    return this.#backend;
  }

  async #open(): Promise<Backend> {
    const r = this.resolved;
    let backend: Backend | undefined;
    try {
      // Loaded on first use: `--help` and usage errors never pay for the etcd client.
      const { openBackend } = await import('../datastore/index.ts');
      backend = await openBackend(r.spec);
      const b = backend;
      await withDeadline(b.revision(), CONNECT_DEADLINE_MS);
      return b;
    } catch (e) {
      await backend?.close().catch(() => undefined);
      throw unreachable(r, e);
    }
  }

  async close(): Promise<void> {
    if (!this.#backend) return;
    const b = await this.#backend.catch(() => undefined);
    await b?.close();
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WeftError(ErrorCodes.TIMEOUT, `no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

function unreachable(r: ResolvedDatastore, cause: unknown): WeftError {
  if (isWeftError(cause, ErrorCodes.DATASTORE_CONFIG)) return cause;
  const why = cause instanceof Error ? cause.message : String(cause);
  const hint = r.spec.type === 'etcd'
    ? `check that etcd runs and listens there (etcdctl --endpoints=${r.spec.endpoints.join(',')} endpoint health), ` +
      `or point Weft elsewhere with --datastore, WEFT_DATASTORE or ETCD_ENDPOINTS`
    : `check that ${r.spec.path} and its directory are readable and writable by this user, or choose another file with --datastore sqlite:PATH`;
  return new WeftError(ErrorCodes.DATASTORE_UNREACHABLE, `cannot reach datastore ${describeDatastore(r)}: ${why}`, { cause, hint });
}
