/**
 * etcd v3 Backend on the npm `etcd3` client (gRPC), in Calico's etcdv3 datastore style:
 *
 * - value = the JSON string; revision = the key's mod_revision; store revision = header.revision.
 * - create = txn(Version(key) == 0 → put); update = txn(ModRevision(key) == rev → put, else range);
 *   delete with revision = txn(ModRevision == rev → delete); `txn(ops)` = one etcd Txn with one
 *   compare per op. Failures are decided by the txn result, never by a separate read, so they are
 *   atomic on the server.
 * - TTL = a lease per write (etcd may round the TTL up to its minimum lease TTL).
 * - Watch = one etcd watcher per call, from a revision, with prev_kv for deletes. The client's own
 *   silent reconnect is not trusted (it may resume past undelivered events), so any disconnect ends
 *   the watch with onError('error') and the caller (Syncer) relists. A watch from a compacted
 *   revision ends with onError('compacted').
 * - Every unary call has a gRPC deadline and is also raced against a timer: etcd3 would otherwise
 *   retry forever against a dead cluster. Failing to reach etcd gives ERR_DATASTORE_UNREACHABLE
 *   naming the endpoints.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Etcd3Module from 'etcd3';
import type {
  Etcd3,
  IKeyValue,
  IOptions,
  IRequestOp,
  IResponseHeader,
  IWatchResponse,
  Watcher,
} from 'etcd3';

// The etcd client (gRPC) costs ~0.3 s CPU to load: load it only when an etcd backend is made,
// so SQLite users and `weft --help` never pay for it.
const requireCjs = createRequire(import.meta.url);
let etcd3: typeof Etcd3Module | undefined;
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';
import { componentLogger, type Logger } from '../lib/log.ts';
import { alreadyExists, closedError, compacted, notFound, revisionConflict } from './errors.ts';
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
import { batchByRevision, normTtl, toErrorMessage, txnOpKind, validateTxn } from './util.ts';

export interface EtcdBackendOptions {
  /** `host:port`, `http://host:port` or `https://host:port`. */
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  /** Upper bound for any single call, including retries. Default 4500 ms (contract: fail within ~5 s). */
  callTimeoutMs?: number;
  logger?: Logger;
}

const ZERO = Buffer.from([0]);

/** etcd's "prefix end": the smallest key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return ZERO; // all 0xff (or empty): to the end of the keyspace
}

function rangeFor(prefix: string): { key: Buffer; range_end: Buffer } {
  if (prefix === '') return { key: ZERO, range_end: ZERO };
  const key = Buffer.from(prefix, 'utf8');
  return { key, range_end: prefixEnd(key) };
}

function num(s: string | number | undefined): number {
  return s === undefined ? 0 : Number(s);
}

function looksUnreachable(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name ?? '';
  const msg = toErrorMessage(e);
  return (
    /GRPCUnavailable|GRPCDeadlineExceeded|GRPCCancelled|ClientClosed|BrokenCircuit|TaskCancelled/i.test(name) ||
    /unavailable|deadline exceeded|ECONNREFUSED|No connection established|circuit breaker is open|connection closed|failed to connect|Cancelled/i.test(msg)
  );
}

export class EtcdBackend implements Backend {
  readonly type = 'etcd' as const;
  readonly address: string;
  readonly endpoints: readonly string[];

  readonly #client: Etcd3;
  readonly #timeout: number;
  readonly #log: Logger;
  readonly #leaseTtl = new Map<string, number>();
  readonly #watches = new Set<() => void>();
  #closed = false;

  constructor(opts: EtcdBackendOptions) {
    if (opts.endpoints.length === 0) {
      throw new WeftError(ErrorCodes.DATASTORE_CONFIG, 'etcd datastore: no endpoints given');
    }
    const tls = opts.caFile !== undefined || opts.endpoints.some((e) => e.startsWith('https://'));
    const hosts = opts.endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `${tls ? 'https' : 'http'}://${e}`));
    this.endpoints = hosts.map((h) => h.replace(/^https?:\/\//, ''));
    this.address = `etcd://${this.endpoints.join(',')}`;
    this.#timeout = opts.callTimeoutMs ?? 4500;
    this.#log = opts.logger ?? componentLogger('datastore', { backend: 'etcd', endpoints: this.endpoints });
    const grpcDeadline = Math.max(500, this.#timeout - 500);
    const options: IOptions = {
      hosts,
      dialTimeout: grpcDeadline,
      // Unary calls get a deadline; streams (watch) must not.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + grpcDeadline }),
    };
    try {
      if (opts.caFile !== undefined || opts.certFile !== undefined || opts.keyFile !== undefined) {
        if (opts.caFile === undefined) {
          throw new Error('a client certificate needs the CA file (caFile) too');
        }
        if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
          throw new Error('certFile and keyFile go together');
        }
        options.credentials = {
          rootCertificate: readFileSync(opts.caFile),
          ...(opts.keyFile !== undefined ? { privateKey: readFileSync(opts.keyFile) } : {}),
          ...(opts.certFile !== undefined ? { certChain: readFileSync(opts.certFile) } : {}),
        };
      }
    } catch (e) {
      throw new WeftError(ErrorCodes.DATASTORE_CONFIG, `etcd datastore TLS: ${toErrorMessage(e)}`, { cause: e });
    }
    if (opts.username !== undefined) {
      options.auth = {
        username: opts.username,
        password: opts.password ?? '',
        callOptions: () => ({ deadline: Date.now() + grpcDeadline }),
      };
    }
    etcd3 ??= requireCjs('etcd3') as typeof Etcd3Module;
    this.#client = new etcd3.Etcd3(options);
  }

  // -------------------------------------------------------------------------------------------
  // plumbing

  #unreachable(cause: unknown): WeftError {
    return new WeftError(
      ErrorCodes.DATASTORE_UNREACHABLE,
      `etcd unreachable (tried ${this.endpoints.join(', ')}): ${toErrorMessage(cause)}`,
      {
        cause,
        hint: 'check that etcd is running and that the endpoints, TLS files and credentials are right',
        details: { endpoints: [...this.endpoints] },
      },
    );
  }

  #mapError(e: unknown): unknown {
    if (isWeftError(e) || e instanceof RangeError) return e;
    const msg = toErrorMessage(e);
    if (/required revision has been compacted/.test(msg)) {
      return new WeftError(ErrorCodes.COMPACTED, `etcd: ${msg}`, { cause: e });
    }
    if (/authentication failed|invalid auth token|permission denied|user name is empty|auth: /i.test(msg)) {
      return new WeftError(ErrorCodes.DATASTORE_CONFIG, `etcd ${this.endpoints.join(', ')}: ${msg}`, {
        cause: e,
        hint: 'check the etcd username/password and role permissions',
      });
    }
    if (looksUnreachable(e)) return this.#unreachable(e);
    return new WeftError(ErrorCodes.DATASTORE, `etcd ${this.endpoints.join(', ')}: ${msg}`, { cause: e });
  }

  /** Runs one client call bounded by the call timeout, mapping errors to WeftError. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError(this.address);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(this.#unreachable(new Error(`${what}: no answer within ${this.#timeout} ms`))),
        this.#timeout,
      );
    });
    const call = fn();
    // The losing call may still reject later: keep that from becoming an unhandled rejection.
    call.catch(() => undefined);
    try {
      return await Promise.race([call, timeout]);
    } catch (e) {
      throw this.#mapError(e);
    } finally {
      clearTimeout(timer);
    }
  }

  async #pair(kv: IKeyValue): Promise<KVPair> {
    const pair: KVPair = { key: kv.key.toString('utf8'), value: kv.value.toString('utf8'), revision: num(kv.mod_revision) };
    if (kv.lease !== undefined && kv.lease !== '0' && kv.lease !== '') {
      const ttl = await this.#ttlOfLease(kv.lease);
      if (ttl !== undefined) pair.ttlSeconds = ttl;
    }
    return pair;
  }

  async #ttlOfLease(id: string): Promise<number | undefined> {
    const known = this.#leaseTtl.get(id);
    if (known !== undefined) return known;
    try {
      const res = await this.#client.leaseClient.leaseTimeToLive({ ID: id });
      const granted = num(res.grantedTTL);
      if (granted > 0) {
        this.#leaseTtl.set(id, granted);
        return granted;
      }
    } catch {
      // the lease just expired; report no TTL
    }
    return undefined;
  }

  /** Grants a lease for a TTL write; returns the lease id (or undefined for no TTL). */
  async #lease(ttlSeconds: number | undefined): Promise<{ id: string; ttl: number } | undefined> {
    const ttl = normTtl(ttlSeconds);
    if (ttl === undefined) return undefined;
    const res = await this.#client.leaseClient.leaseGrant({ TTL: ttl });
    if (res.error) throw new Error(`lease grant: ${res.error}`);
    // Report the TTL the caller asked for (etcd may enforce a larger minimum, see DESIGN.md).
    this.#leaseTtl.set(res.ID, ttl);
    if (this.#leaseTtl.size > 10_000) this.#leaseTtl.clear();
    return { id: res.ID, ttl };
  }

  static #putOp(key: string, value: string, lease: { id: string } | undefined): IRequestOp {
    return {
      request_put: { key: Buffer.from(key, 'utf8'), value: Buffer.from(value, 'utf8'), ...(lease ? { lease: lease.id } : {}) },
    };
  }

  static #rev(h: IResponseHeader): number {
    return num(h.revision);
  }

  // -------------------------------------------------------------------------------------------
  // Backend

  async get(key: string): Promise<KVPair | undefined> {
    return this.#call('get', async () => {
      const res = await this.#client.kv.range({ key: Buffer.from(key, 'utf8') });
      return res.kvs.length === 0 ? undefined : this.#pair(res.kvs[0]);
    });
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.#call('list', async () => {
      const r = rangeFor(prefix);
      const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : 0;
      // Keys strictly after startAfter: startAfter + "\0" is the next possible key.
      const key =
        opts.startAfter !== undefined && opts.startAfter >= prefix
          ? Buffer.concat([Buffer.from(opts.startAfter, 'utf8'), ZERO])
          : r.key;
      const res = await this.#client.kv.range({
        key,
        range_end: r.range_end,
        ...(limit > 0 ? { limit } : {}),
        sort_order: 'Ascend',
        sort_target: 'Key',
      });
      const items = await Promise.all(res.kvs.map((kv) => this.#pair(kv)));
      return { items, revision: EtcdBackend.#rev(res.header), more: res.more };
    });
  }

  async create(key: string, value: string, opts: WriteOptions = {}): Promise<KVPair> {
    return this.#call('create', async () => {
      const lease = await this.#lease(opts.ttlSeconds);
      const k = Buffer.from(key, 'utf8');
      const res = await this.#client.kv.txn({
        compare: [{ key: k, target: 'Version', result: 'Equal', version: 0 }],
        success: [EtcdBackend.#putOp(key, value, lease)],
        failure: [],
      });
      if (!res.succeeded) throw alreadyExists(key);
      const kv: KVPair = { key, value, revision: EtcdBackend.#rev(res.header) };
      if (lease) kv.ttlSeconds = lease.ttl;
      return kv;
    });
  }

  async update(key: string, value: string, opts: CasOptions): Promise<KVPair> {
    return this.#call('update', async () => {
      const lease = await this.#lease(opts.ttlSeconds);
      const k = Buffer.from(key, 'utf8');
      const res = await this.#client.kv.txn({
        compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: opts.revision }],
        success: [EtcdBackend.#putOp(key, value, lease)],
        failure: [{ request_range: { key: k } }],
      });
      if (!res.succeeded) {
        const cur = res.responses[0]?.response_range?.kvs ?? [];
        if (cur.length === 0) throw notFound(key);
        throw revisionConflict(key, opts.revision, num(cur[0].mod_revision));
      }
      const kv: KVPair = { key, value, revision: EtcdBackend.#rev(res.header) };
      if (lease) kv.ttlSeconds = lease.ttl;
      return kv;
    });
  }

  async put(key: string, value: string, opts: WriteOptions = {}): Promise<KVPair> {
    return this.#call('put', async () => {
      const lease = await this.#lease(opts.ttlSeconds);
      const res = await this.#client.kv.put(EtcdBackend.#putOp(key, value, lease).request_put!);
      const kv: KVPair = { key, value, revision: EtcdBackend.#rev(res.header) };
      if (lease) kv.ttlSeconds = lease.ttl;
      return kv;
    });
  }

  async delete(key: string, opts: { revision?: number } = {}): Promise<KVPair> {
    return this.#call('delete', async () => {
      const k = Buffer.from(key, 'utf8');
      const compare =
        opts.revision !== undefined
          ? { key: k, target: 'Mod' as const, result: 'Equal' as const, mod_revision: opts.revision }
          : { key: k, target: 'Version' as const, result: 'Greater' as const, version: 0 };
      const res = await this.#client.kv.txn({
        compare: [compare],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      });
      if (!res.succeeded) {
        const cur = res.responses[0]?.response_range?.kvs ?? [];
        if (cur.length === 0) throw notFound(key);
        throw revisionConflict(key, opts.revision ?? 0, num(cur[0].mod_revision));
      }
      const prev = res.responses[0]?.response_delete_range?.prev_kvs?.[0];
      if (prev === undefined) throw notFound(key);
      const pair = await this.#pair(prev);
      return { ...pair, revision: EtcdBackend.#rev(res.header) };
    });
  }

  /**
   * One etcd Txn: If(every compare) Then(every put/delete) Else(a range per key). Compares:
   * create → CreateRevision == 0 (absent); update / delete with revision → ModRevision == rev;
   * delete without revision → Version > 0. On failure the Else ranges (read in the same revision)
   * say which op failed first, so the error is decided by the server, never by a separate read.
   */
  async txn(ops: TxnOp[]): Promise<KVPair[]> {
    validateTxn(ops);
    if (ops.length === 0) {
      if (this.#closed) throw closedError(this.address);
      return [];
    }
    return this.#call('txn', async () => {
      // Leases only for TTL writes (the common case, IPAM, has none: no extra round trip).
      const leases: ({ id: string; ttl: number } | undefined)[] = [];
      for (const op of ops) leases.push(op.delete !== true && op.ttlSeconds !== undefined ? await this.#lease(op.ttlSeconds) : undefined);
      const keys = ops.map((op) => Buffer.from(op.key, 'utf8'));
      const compare = ops.map((op, i) => {
        const key = keys[i];
        const kind = txnOpKind(op);
        if (kind === 'create') return { key, target: 'Create' as const, result: 'Equal' as const, create_revision: 0 };
        if (op.revision !== undefined) return { key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: op.revision };
        return { key, target: 'Version' as const, result: 'Greater' as const, version: 0 };
      });
      const success: IRequestOp[] = ops.map((op, i) =>
        op.delete === true
          ? { request_delete_range: { key: keys[i], prev_kv: true } }
          : EtcdBackend.#putOp(op.key, op.value, leases[i]),
      );
      const res = await this.#client.kv.txn({
        compare,
        success,
        failure: keys.map((key) => ({ request_range: { key, keys_only: true } })),
      });
      if (!res.succeeded) {
        ops.forEach((op, i) => {
          const cur = res.responses[i]?.response_range?.kvs ?? [];
          const kind = txnOpKind(op);
          if (kind === 'create') {
            if (cur.length > 0) throw alreadyExists(op.key);
          } else if (cur.length === 0) {
            throw notFound(op.key);
          } else if (op.revision !== undefined && num(cur[0].mod_revision) !== op.revision) {
            throw revisionConflict(op.key, op.revision, num(cur[0].mod_revision));
          }
        });
        // Every compare held when re-checked: cannot happen within one etcd revision.
        throw new WeftError(ErrorCodes.DATASTORE, `etcd txn on ${ops[0].key}…: compare failed but no op fails`);
      }
      const revision = EtcdBackend.#rev(res.header);
      const out: KVPair[] = [];
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        if (op.delete === true) {
          const prev = res.responses[i]?.response_delete_range?.prev_kvs?.[0];
          const kv: KVPair = { key: op.key, value: prev?.value.toString('utf8') ?? '', revision };
          const ttl = prev !== undefined && prev.lease !== '0' && prev.lease !== '' ? await this.#ttlOfLease(prev.lease) : undefined;
          if (ttl !== undefined) kv.ttlSeconds = ttl;
          out.push(kv);
        } else {
          const kv: KVPair = { key: op.key, value: op.value, revision };
          const lease = leases[i];
          if (lease) kv.ttlSeconds = lease.ttl;
          out.push(kv);
        }
      }
      return out;
    });
  }

  async deletePrefix(prefix: string): Promise<number> {
    return this.#call('deletePrefix', async () => {
      const res = await this.#client.kv.deleteRange(rangeFor(prefix));
      return num(res.deleted);
    });
  }

  async revision(): Promise<number> {
    // A linearizable read: fails when the cluster has no quorum, so it doubles as a health check.
    return this.#call('revision', async () => {
      const res = await this.#client.kv.range({ key: ZERO, limit: 1, keys_only: true });
      return EtcdBackend.#rev(res.header);
    });
  }

  async compact(revision: number): Promise<void> {
    await this.#call('compact', async () => {
      await this.#client.kv.compact({ revision, physical: true });
    });
  }

  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watch {
    let dead = false;
    let watcher: Watcher | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    /** Next revision we owe the caller; used to tell compaction from other cancellations. */
    let next = opts.fromRevision;
    const stop = (): void => {
      if (dead) return;
      dead = true;
      this.#watches.delete(stop);
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      opts.signal?.removeEventListener('abort', stop);
      const w = watcher;
      watcher = undefined;
      if (w !== undefined) {
        w.removeAllListeners('data');
        // Keep an error listener: an EventEmitter 'error' without one would throw.
        w.on('error', () => undefined);
        w.cancel().catch(() => undefined);
      }
    };
    const fail = (reason: 'compacted' | 'error', err: Error): void => {
      if (dead) return;
      stop();
      try {
        handlers.onError(reason, err);
      } catch (e) {
        this.#log.error({ err: toErrorMessage(e) }, 'watch onError handler threw');
      }
    };
    if (opts.signal?.aborted) return { cancel: stop };
    opts.signal?.addEventListener('abort', stop, { once: true });
    this.#watches.add(stop);
    if (this.#closed) {
      queueMicrotask(() => fail('error', closedError(this.address)));
      return { cancel: stop };
    }

    let builder = this.#client.watch().withPreviousKV();
    builder = prefix === '' ? builder.inRange({ start: ZERO, end: ZERO }) : builder.prefix(prefix);
    if (opts.fromRevision > 0) builder = builder.startRevision(String(opts.fromRevision));
    const w = builder.watcher();
    watcher = w;
    connectTimer = setTimeout(
      () => fail('error', this.#unreachable(new Error(`watch not established within ${this.#timeout} ms`))),
      this.#timeout,
    );
    connectTimer.unref();
    w.on('connected', () => {
      if (connectTimer !== undefined) clearTimeout(connectTimer);
      connectTimer = undefined;
    });
    w.on('data', (res: IWatchResponse) => {
      if (dead) return;
      if (num(res.compact_revision) > 0) {
        fail('compacted', compacted(next, num(res.compact_revision)));
        return;
      }
      const events: WatchEvent[] = [];
      for (const ev of res.events) {
        const key = ev.kv.key.toString('utf8');
        const revision = num(ev.kv.mod_revision);
        if (ev.type === 'Put') {
          events.push({
            type: 'put',
            key,
            value: ev.kv.value.toString('utf8'),
            revision,
            created: ev.kv.create_revision === ev.kv.mod_revision,
          });
        } else {
          const d: WatchEvent = { type: 'delete', key, revision };
          if (ev.prev_kv) d.prevValue = ev.prev_kv.value.toString('utf8');
          events.push(d);
        }
      }
      if (events.length === 0) return;
      next = events[events.length - 1].revision + 1;
      for (const batch of batchByRevision(events)) {
        if (dead) return;
        try {
          handlers.onEvents(batch);
        } catch (e) {
          this.#log.error({ err: toErrorMessage(e) }, 'watch onEvents handler threw');
        }
      }
    });
    w.on('disconnected', (err: Error) => {
      // etcd3 would reconnect by itself, possibly past events we have not delivered: end the
      // watch and let the caller relist.
      fail('error', this.#mapError(err) as Error);
    });
    w.on('error', (err: Error) => {
      if (dead) return;
      // etcd cancels a watch from a compacted revision ("Watcher canceled", with compact_revision
      // in a response etcd3 does not pass on): find out with a read at that revision.
      const rev = next;
      void this.#isCompacted(rev).then((isCompacted) => {
        if (isCompacted !== undefined) fail('compacted', isCompacted);
        else fail('error', this.#mapError(err) as Error);
      });
    });
    return { cancel: stop };
  }

  async #isCompacted(rev: number): Promise<WeftError | undefined> {
    if (rev <= 0) return undefined;
    try {
      await this.#call('compaction check', () => this.#client.kv.range({ key: ZERO, limit: 1, revision: rev }));
      return undefined;
    } catch (e) {
      return isWeftError(e, ErrorCodes.COMPACTED) ? (e as WeftError) : undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const stop of [...this.#watches]) stop();
    this.#closed = true;
    this.#client.close();
  }
}
