/**
 * The IPAM store loop: reads blocks/affinities/handles/config from a Backend, applies the pure block
 * operations (block.ts) and writes back with compare-and-swap, retrying on conflict a bounded number
 * of times with random jitter. See DESIGN.md for the invariants and the write ordering.
 */
import {
  IPAM_CONFIG_KEY,
  IPAM_HANDLE_PREFIX,
  ipamAffinityKey,
  ipamAffinityPrefix,
  ipamBlockKey,
  ipamBlockPrefix,
  ipamHandleKey,
  isRetryableDatastoreError,
  parseIpamAffinityKey,
  parseIpamBlockKey,
  type Backend,
  type IPFamily,
  type KVPair,
  type TxnOp,
} from '../datastore/index.ts';
import { Counter, Histogram, Registry } from 'prom-client';
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';
import { cidrContains, cidrContainsIP, formatCIDR, parseCIDR, parseIP, type CIDR, type IPVersion } from '../lib/ip.ts';
import { componentLogger } from '../lib/log.ts';
import { parseSelector, type Labels } from '../selector/index.ts';
import * as B from './block.ts';
import {
  DEFAULT_IPAM_CONFIG,
  Reservations,
  adjustHandle,
  decodeAffinity,
  decodeConfig,
  decodeHandle,
  effectiveMaxBlocks,
  encodeAffinity,
  encodeConfig,
  encodeHandle,
  poolBlockCount,
  poolCIDR,
  poolForIP,
  type AffinityState,
  type AllowedUse,
  type BlockAffinity,
  type Handle,
  type IpamConfig,
  type PoolInfo,
} from './model.ts';
import { backendSources, type IpamSources } from './sources.ts';

const log = componentLogger('ipam');

/** Returned by a CAS step to ask the loop for another attempt. */
const RETRY: unique symbol = Symbol('retry');

export interface IpamOptions {
  /** Where pools, nodes, reservations and endpoints come from; default: v3 keys in the backend. */
  sources?: Partial<IpamSources>;
  /** CAS attempts per operation before IPAM_RETRIES (Calico: datastoreRetries = 100). */
  maxRetries?: number;
  /** How long to keep retrying while the datastore is unreachable (leader election, restart). */
  unreachableTimeoutMs?: number;
  /** First back-off step while unreachable (grows linearly to 10×, with jitter). Default 50 ms. */
  unreachableBackoffMs?: number;
  /** Random source for block choice and jitter (tests inject a seeded one). */
  random?: () => number;
  now?: () => Date;
  /**
   * Reuse IPAM config, pools and reservations read within this many ms for auto-assign (default 0:
   * read them for every request, as Calico does). A long-running allocator (agent, benchmark) may
   * set ~1000: a pool disabled meanwhile is then honoured after at most that long, which is why pool
   * deletion disables first and waits before releasing affinities.
   */
  contextCacheMs?: number;
  /** Prometheus registry for the `weft_ipam_*` metrics; default: a private one. */
  registry?: Registry;
  /** Evaluates a pool's nodeSelector against node labels; default: the selector component. */
  matchSelector?: (selector: string, labels: Labels) => boolean;
  /**
   * Use the backend's atomic multi-key `txn` (block + handle in one write) when it has one. Default
   * true; false forces the two-write path that backends without `txn` get (tests cover both).
   */
  useTxn?: boolean;
}

export interface AutoAssignRequest {
  host: string;
  handle: string;
  num4?: number;
  num6?: number;
  /** Secondary attributes stored with each allocation (Calico: namespace, pod, node, …). */
  attrs?: Record<string, string>;
  /** Only pools whose allowedUses include this; default Workload. */
  use?: AllowedUse;
  /** Restrict to these pools (names or CIDRs); default every pool that applies to the host. */
  pools4?: string[];
  pools6?: string[];
}

export interface AssignedIP {
  ip: string;
  /** The block it came from. */
  block: string;
  pool: string;
  /** Pass back on release to guard against releasing a later re-allocation (ABA). */
  sequenceNumber: number;
  /** True when the block is affine to another host (borrowed). */
  borrowed: boolean;
}

export interface AutoAssignResult {
  ipv4: AssignedIP[];
  ipv6: AssignedIP[];
}

export interface AssignIPRequest {
  ip: string;
  host: string;
  handle: string;
  attrs?: Record<string, string>;
}

export interface ReleaseResult {
  released: { ip: string; handle: string | null }[];
  notAllocated: string[];
  stale: { ip: string; reason: string }[];
}

export interface AssignmentInfo {
  ip: string;
  handle: string | null;
  attrs: Record<string, string>;
  block: string;
  /** Host the block is affine to, when any. */
  host: string | undefined;
  pool: string | undefined;
  sequenceNumber: number | undefined;
}

export interface BlockState {
  key: string;
  revision: number;
  block: B.Block;
}

export interface AffinityRecord {
  key: string;
  revision: number;
  host: string;
  cidr: string;
  affinity: BlockAffinity;
}

export interface PoolReleaseResult {
  blocksReleased: number;
  affinitiesReleased: number;
  addressesReleased: number;
}

function familyOf(v: IPVersion): IPFamily {
  return v === 4 ? 'ipv4' : 'ipv6';
}

function isConflict(e: unknown): boolean {
  return isWeftError(e, ErrorCodes.REVISION_CONFLICT, ErrorCodes.ALREADY_EXISTS, ErrorCodes.NOT_FOUND);
}

/** FNV-1a: deterministic per-host order for borrowing (Calico seeds its shuffle with a host hash). */
function hostHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function seededShuffle<T>(items: T[], seed: number): T[] {
  const a = items.slice();
  let s = seed || 1;
  for (let i = a.length - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function validateName(what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0 || s.includes('/')) {
    throw new WeftError(ErrorCodes.VALIDATION, `${what} must be non-empty and must not contain '/': ${JSON.stringify(s)}`);
  }
}

/** Per-family context for one auto-assign: the pools that apply and the settings. */
interface FamilyContext {
  version: IPVersion;
  pools: PoolInfo[];
  config: IpamConfig;
  reservations: Reservations;
}

export class Ipam {
  readonly backend: Backend;
  readonly sources: IpamSources;
  readonly #maxRetries: number;
  readonly #unreachableMs: number;
  readonly #backoffMs: number;
  readonly #random: () => number;
  readonly #now: () => Date;
  readonly #match: (selector: string, labels: Labels) => boolean;
  /** Last known value+revision of blocks this process wrote or read; CAS makes staleness safe. */
  readonly #blockCache = new Map<string, BlockState>();
  /** host|version|pools → CIDRs of blocks affine to the host (see #assignFamily). */
  readonly #ownCache = new Map<string, string[]>();
  /**
   * Last known value+revision of handles this process wrote (txn path only): a later allocation for
   * the same handle (the other family, another block) updates it without a read. CAS makes staleness
   * safe: a stale entry fails its compare and is re-read.
   */
  readonly #handleCache = new Map<string, { revision: number; handle: Handle }>();
  readonly #useTxn: boolean;
  readonly #contextCacheMs: number;
  #context: { at: number; value: Promise<[IpamConfig, PoolInfo[], Reservations]> } | undefined;
  readonly #m: {
    assignSeconds: Histogram<'op'>;
    assigned: Counter;
    released: Counter;
    conflicts: Counter;
    claims: Counter;
    failures: Counter<'code'>;
  };

  constructor(backend: Backend, opts: IpamOptions = {}) {
    this.backend = backend;
    const def = backendSources(backend);
    this.sources = { ...def, ...opts.sources };
    this.#maxRetries = opts.maxRetries ?? 100;
    this.#contextCacheMs = opts.contextCacheMs ?? 0;
    this.#useTxn = opts.useTxn ?? true;
    const registers = [opts.registry ?? new Registry()];
    this.#m = {
      assignSeconds: new Histogram({
        name: 'weft_ipam_assign_seconds', help: 'Time to complete one assignment request', labelNames: ['op'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers,
      }),
      assigned: new Counter({ name: 'weft_ipam_addresses_assigned_total', help: 'Addresses assigned', registers }),
      released: new Counter({ name: 'weft_ipam_addresses_released_total', help: 'Addresses released', registers }),
      conflicts: new Counter({ name: 'weft_ipam_cas_conflicts_total', help: 'Compare-and-swap conflicts retried', registers }),
      claims: new Counter({ name: 'weft_ipam_blocks_claimed_total', help: 'Blocks claimed for a host', registers }),
      failures: new Counter({ name: 'weft_ipam_assign_failures_total', help: 'Failed assignment requests by error code', labelNames: ['code'], registers }),
    };
    this.#unreachableMs = opts.unreachableTimeoutMs ?? 30_000;
    this.#backoffMs = opts.unreachableBackoffMs ?? 50;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? (() => new Date());
    this.#match = opts.matchSelector ?? ((sel, labels) => parseSelector(sel).evaluate(labels));
  }

  // --- datastore plumbing ------------------------------------------------------------------------

  async #sleep(attempt: number): Promise<void> {
    // Random jitter that grows with the attempt: contenders desynchronise instead of colliding again.
    const cap = Math.min(2 ** Math.min(attempt, 6), 50);
    const ms = this.#random() * cap;
    await new Promise((r) => setTimeout(r, ms));
  }

  /** Runs a read, retrying while the datastore is unreachable (bounded by time). */
  async #read<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#unreachableMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isRetryableDatastoreError(e) || Date.now() > deadline) throw e;
        log.debug({ error: (e as Error).message }, 'datastore unavailable, retrying read');
        await new Promise((r) => setTimeout(r, this.#backoffMs * Math.min(attempt + 1, 10) * (0.5 + this.#random())));
      }
    }
  }

  /**
   * Bounded retry loop for one logical CAS operation. `step` returns a value to finish or
   * `RETRY` after a conflict. Unreachable-datastore errors are retried until the time budget ends;
   * conflicts until maxRetries.
   */
  async #loop<T>(what: string, step: (attempt: number) => Promise<T | typeof RETRY>): Promise<T> {
    const deadline = Date.now() + this.#unreachableMs;
    let conflicts = 0;
    for (let attempt = 0; ; attempt++) {
      let r: T | typeof RETRY;
      try {
        r = await step(attempt);
      } catch (e) {
        if (isRetryableDatastoreError(e) && Date.now() < deadline) {
          log.debug({ error: (e as Error).message, what }, 'datastore unavailable, retrying');
          await new Promise((res) => setTimeout(res, this.#backoffMs * Math.min(attempt + 1, 10) * (0.5 + this.#random())));
          continue;
        }
        throw e;
      }
      if (r !== RETRY) return r;
      conflicts++;
      this.#m.conflicts.inc();
      if (conflicts >= this.#maxRetries) {
        throw new WeftError(ErrorCodes.IPAM_RETRIES, `${what}: gave up after ${conflicts} conflicting concurrent updates`, {
          hint: 'the datastore is under heavy contention; retry the operation',
        });
      }
      await this.#sleep(conflicts);
    }
  }

  async #getBlock(cidr: string): Promise<BlockState | undefined> {
    const key = ipamBlockKey(cidr);
    const kv = await this.#read(() => this.backend.get(key));
    if (kv === undefined) {
      this.#blockCache.delete(cidr);
      return undefined;
    }
    const st = { key, revision: kv.revision, block: B.decodeBlock(kv.value) };
    this.#blockCache.set(cidr, st);
    return st;
  }

  /**
   * CAS-writes a block. Returns the new state, or undefined when the block changed underneath (the
   * cache is refreshed and the caller retries). An ambiguous failure (datastore unreachable mid
   * write) is resolved by re-reading: `landed(current)` says whether our write is in it.
   */
  async #writeBlock(st: BlockState, next: B.Block, landed: (cur: B.Block) => boolean): Promise<BlockState | undefined> {
    const cidr = next.cidr;
    try {
      const kv = await this.backend.update(st.key, B.encodeBlock(next), { revision: st.revision });
      const ns = { key: st.key, revision: kv.revision, block: next };
      this.#blockCache.set(cidr, ns);
      return ns;
    } catch (e) {
      if (isConflict(e)) {
        this.#blockCache.delete(cidr);
        return undefined;
      }
      if (!isRetryableDatastoreError(e)) throw e;
      log.info({ error: (e as Error).message, block: cidr }, 'block write outcome unknown; re-reading');
      const cur = await this.#getBlock(cidr);
      if (cur !== undefined && cur.revision !== st.revision && landed(cur.block)) return cur;
      return undefined;
    }
  }

  /** The backend's atomic multi-key write, when it has one (and it is not switched off). */
  #txn(): ((ops: TxnOp[]) => Promise<KVPair[]>) | undefined {
    const t = this.#useTxn ? this.backend.txn : undefined;
    return t === undefined ? undefined : (ops) => t.call(this.backend, ops);
  }

  async #handleState(handle: string, fresh: boolean): Promise<{ revision: number; handle: Handle } | undefined> {
    if (!fresh) {
      const c = this.#handleCache.get(handle);
      if (c !== undefined) return c;
    }
    const kv = await this.backend.get(ipamHandleKey(handle));
    if (kv === undefined) {
      this.#handleCache.delete(handle);
      return undefined;
    }
    const st = { revision: kv.revision, handle: decodeHandle(kv.value) };
    this.#handleCache.set(handle, st);
    return st;
  }

  /**
   * Writes a block (CAS; `next` undefined deletes it) together with the handle counts it changes
   * (`deltas`: handle → ±addresses in this block) as ONE datastore transaction. So an allocation is
   * one write, and a handle never over- or under-counts, not even for an instant.
   *
   * Returns the written block state (null when deleted), or undefined when the block changed
   * underneath (cache dropped: the caller retries from a fresh read). A stale view of a handle only
   * re-reads that handle and retries here: it does not change what goes into the block. An
   * ambiguous failure (datastore unreachable mid-write) is resolved by re-reading the block: the
   * transaction is atomic, so if the block shows our write (`landed`), the handles have it too.
   */
  async #commitBlock(
    txn: (ops: TxnOp[]) => Promise<KVPair[]>,
    st: BlockState,
    next: B.Block | undefined,
    deltas: Map<string, number>,
    landed: (cur: B.Block) => boolean,
  ): Promise<BlockState | null | undefined> {
    const cidr = st.block.cidr;
    // Positive deltas start from the cached handle (or assume a new handle: most are); releases read.
    const known = new Map<string, { revision: number; handle: Handle } | undefined>();
    for (const [h, d] of deltas) {
      const c = this.#handleCache.get(h);
      known.set(h, c !== undefined || d > 0 ? c : await this.#handleState(h, true));
    }
    for (let attempt = 0; ; attempt++) {
      const ops: TxnOp[] = [
        next === undefined
          ? { key: st.key, delete: true, revision: st.revision }
          : { key: st.key, value: B.encodeBlock(next), revision: st.revision },
      ];
      const after = new Map<string, Handle | undefined>();
      for (const [h, d] of deltas) {
        const cur = known.get(h);
        const key = ipamHandleKey(h);
        if (cur === undefined) {
          if (d <= 0) continue; // nothing to decrement (a handle removed by hand)
          const value = adjustHandle(undefined, cidr, d);
          after.set(h, value);
          ops.push({ key, value: encodeHandle(value), create: true });
          continue;
        }
        const value = adjustHandle(cur.handle, cidr, d);
        if (Object.keys(value.block).length === 0) {
          after.set(h, undefined);
          ops.push({ key, delete: true, revision: cur.revision });
        } else {
          after.set(h, value);
          ops.push({ key, value: encodeHandle(value), revision: cur.revision });
        }
      }
      let res: KVPair[];
      try {
        res = await txn(ops);
      } catch (e) {
        const failedKey = isWeftError(e) ? e.details?.key : undefined;
        if (isConflict(e) && failedKey !== st.key && typeof failedKey === 'string' && failedKey.startsWith(IPAM_HANDLE_PREFIX)) {
          // Only our view of a handle was stale.
          const h = failedKey.slice(IPAM_HANDLE_PREFIX.length);
          if (attempt + 1 >= this.#maxRetries) {
            throw new WeftError(ErrorCodes.IPAM_RETRIES, `update handle ${h}: gave up after ${attempt + 1} conflicting concurrent updates`);
          }
          this.#m.conflicts.inc();
          known.set(h, await this.#handleState(h, true));
          continue;
        }
        for (const h of deltas.keys()) this.#handleCache.delete(h);
        if (isConflict(e)) {
          this.#blockCache.delete(cidr);
          return undefined;
        }
        if (!isRetryableDatastoreError(e) || next === undefined) throw e;
        log.info({ error: (e as Error).message, block: cidr }, 'block+handle write outcome unknown; re-reading');
        const cur = await this.#getBlock(cidr);
        if (cur !== undefined && cur.revision !== st.revision && landed(cur.block)) return cur;
        return undefined;
      }
      const revision = res[0].revision;
      for (const [h, v] of after) {
        if (v === undefined) this.#handleCache.delete(h);
        else this.#handleCache.set(h, { revision, handle: v });
      }
      if (this.#handleCache.size > 10_000) this.#handleCache.clear();
      if (next === undefined) {
        this.#blockCache.delete(cidr);
        return null;
      }
      const ns = { key: st.key, revision, block: next };
      this.#blockCache.set(cidr, ns);
      return ns;
    }
  }

  // --- configuration -----------------------------------------------------------------------------

  async getConfig(): Promise<IpamConfig> {
    const kv = await this.#read(() => this.backend.get(IPAM_CONFIG_KEY));
    return kv === undefined ? { ...DEFAULT_IPAM_CONFIG } : decodeConfig(kv.value);
  }

  async setConfig(patch: Partial<IpamConfig>): Promise<IpamConfig> {
    if (patch.maxBlocksPerHost !== undefined && (!Number.isInteger(patch.maxBlocksPerHost) || patch.maxBlocksPerHost < 0)) {
      throw new WeftError(ErrorCodes.VALIDATION, `maxBlocksPerHost must be a non-negative integer, got ${patch.maxBlocksPerHost}`);
    }
    return this.#loop('update IPAM configuration', async () => {
      const kv = await this.backend.get(IPAM_CONFIG_KEY);
      const cur = kv === undefined ? { ...DEFAULT_IPAM_CONFIG } : decodeConfig(kv.value);
      const next: IpamConfig = { ...cur, ...patch };
      try {
        if (kv === undefined) await this.backend.create(IPAM_CONFIG_KEY, encodeConfig(next));
        else await this.backend.update(IPAM_CONFIG_KEY, encodeConfig(next), { revision: kv.revision });
        this.#context = undefined;
        return next;
      } catch (e) {
        if (isConflict(e)) return RETRY;
        throw e;
      }
    });
  }

  /** Config, pools and reservations for an auto-assign, cached for `contextCacheMs`. */
  #readContext(): Promise<[IpamConfig, PoolInfo[], Reservations]> {
    const now = Date.now();
    if (this.#context !== undefined && now - this.#context.at < this.#contextCacheMs) return this.#context.value;
    const value = Promise.all([this.getConfig(), this.pools(), this.#reservations()]);
    if (this.#contextCacheMs > 0) {
      this.#context = { at: now, value };
      value.catch(() => {
        this.#context = undefined;
      });
    }
    return value;
  }

  // --- pools -------------------------------------------------------------------------------------

  async pools(): Promise<PoolInfo[]> {
    return this.#read(() => this.sources.pools.list());
  }

  async #reservations(): Promise<Reservations> {
    return new Reservations(await this.#read(() => this.sources.reservations.list()));
  }

  /** Pools of one family that an auto-assign for `host` may use, in a stable order. */
  async #candidatePools(host: string, version: IPVersion, use: AllowedUse, restrict: string[] | undefined, all: PoolInfo[]): Promise<PoolInfo[]> {
    let pools = all.filter((p) => poolCIDR(p).version === version);
    if (restrict !== undefined && restrict.length > 0) {
      const picked: PoolInfo[] = [];
      for (const r of restrict) {
        const c = parseCIDR(r);
        const p = pools.find((x) => x.name === r || (c !== undefined && x.cidr === formatCIDR(c)));
        if (p === undefined) throw new WeftError(ErrorCodes.IPAM_NO_POOL, `requested IPv${version} pool ${r} does not exist`);
        // An explicitly requested pool that is disabled is an error, not a silent skip.
        if (p.disabled) throw new WeftError(ErrorCodes.IPAM_NO_POOL, `requested pool ${p.name} (${p.cidr}) is disabled`);
        if (!picked.includes(p)) picked.push(p);
      }
      pools = picked;
    }
    pools = pools.filter((p) => !p.disabled && p.allowedUses.includes(use));
    if (pools.some((p) => !isAllSelector(p.nodeSelector))) {
      const nodes = await this.#read(() => this.sources.nodes.list());
      const labels = nodes.find((n) => n.name === host)?.labels ?? {};
      pools = pools.filter((p) => isAllSelector(p.nodeSelector) || this.#match(p.nodeSelector, labels));
    }
    return pools;
  }

  // --- affinities ---------------------------------------------------------------------------------

  async #hostAffinities(host: string, family: IPFamily): Promise<AffinityRecord[]> {
    const res = await this.#read(() => this.backend.list(ipamAffinityPrefix(host, family)));
    const out: AffinityRecord[] = [];
    for (const kv of res.items) {
      const k = parseIpamAffinityKey(kv.key);
      if (k === undefined) continue;
      out.push({ key: kv.key, revision: kv.revision, host: k.host, cidr: k.cidr, affinity: decodeAffinity(kv.value) });
    }
    return out;
  }

  /**
   * Blocks affine to `host` inside `pools`, repairing half-finished claims on the way: a pending
   * affinity whose block is ours is confirmed, one whose block belongs to another host is dropped,
   * and an affinity without a block gets its block (re)created (Calico does the same).
   */
  async #ownBlocks(host: string, version: IPVersion, pools: PoolInfo[]): Promise<string[]> {
    const affs = await this.#hostAffinities(host, familyOf(version));
    const out: string[] = [];
    for (const a of affs) {
      if (a.affinity.state === 'pendingDeletion') continue;
      const c = parseCIDR(a.cidr, { strict: true });
      if (c === undefined) continue;
      const pool = pools.find((p) => cidrContains(poolCIDR(p), c));
      if (pool === undefined) continue;
      if (a.affinity.state === 'confirmed' && this.#blockCache.has(a.cidr)) {
        out.push(a.cidr);
        continue;
      }
      const st = await this.#claim(host, c, a);
      if (st !== undefined) out.push(a.cidr);
    }
    return out;
  }

  async #setAffinityState(rec: { key: string; revision: number }, state: AffinityState): Promise<number | undefined> {
    try {
      const kv = await this.backend.update(rec.key, encodeAffinity({ state, deleted: false }), { revision: rec.revision });
      return kv.revision;
    } catch (e) {
      if (isConflict(e)) return undefined;
      throw e;
    }
  }

  /**
   * Two-phase claim of block `c` for `host` (Calico `claimAffineBlock`):
   *   1. create the host affinity in state `pending`;
   *   2. create the block with `affinity: host:<host>` — create-if-absent decides races;
   *   3. set the affinity to `confirmed`.
   * A crash between steps leaves a pending affinity which the next `#ownBlocks` repairs. Returns
   * undefined when another host owns the block (our pending affinity is removed).
   */
  async #claim(host: string, c: CIDR, existing?: AffinityRecord): Promise<BlockState | undefined> {
    const cidr = formatCIDR(c);
    const affKey = ipamAffinityKey(host, cidr);
    const txn = existing === undefined ? this.#txn() : undefined;
    let oneShot = txn !== undefined;
    return this.#loop(`claim block ${cidr} for host ${host}`, async () => {
      const known = existing;
      existing = undefined;
      if (oneShot && txn !== undefined) {
        // With a multi-key transaction the two phases collapse into one write: the confirmed
        // affinity and the block appear together or not at all (create-if-absent on both decides
        // races), so there is no half-finished claim to repair.
        oneShot = false;
        const block = B.newBlock(c, B.hostAffinity(host), this.#now());
        const key = ipamBlockKey(cidr);
        try {
          const res = await txn([
            { key: affKey, value: encodeAffinity({ state: 'confirmed', deleted: false }), create: true },
            { key, value: B.encodeBlock(block), create: true },
          ]);
          const st = { key, revision: res[1].revision, block };
          this.#blockCache.set(cidr, st);
          return st;
        } catch (e) {
          if (isWeftError(e, ErrorCodes.ALREADY_EXISTS) && e.details?.key === key) {
            // The block exists and nothing was written: another host's block is simply not ours.
            const cur = await this.#getBlock(cidr);
            if (cur === undefined) return RETRY;
            if (cur.block.affinity !== B.hostAffinity(host)) return undefined;
            // Ours without an affinity key (left by the two-write path): the steps below repair it.
          } else if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS) && !isRetryableDatastoreError(e)) {
            throw e;
          }
          // Affinity already there, or the outcome is unknown: the general path sorts it out from
          // fresh reads (and confirms a claim of ours that did land).
        }
      }
      // Phase 1: pending affinity.
      let aff: { revision: number; affinity: BlockAffinity };
      if (known !== undefined) {
        // Re-read: the listed state may be stale (a pool release may have marked it pendingDeletion
        // and deleted the block since; recreating the block then would resurrect it).
        const kv = await this.backend.get(affKey);
        if (kv === undefined) return undefined;
        aff = { revision: kv.revision, affinity: decodeAffinity(kv.value) };
      } else {
        try {
          const kv = await this.backend.create(affKey, encodeAffinity({ state: 'pending', deleted: false }));
          aff = { revision: kv.revision, affinity: { state: 'pending', deleted: false } };
        } catch (e) {
          if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS) && !isRetryableDatastoreError(e)) throw e;
          const kv = await this.backend.get(affKey);
          if (kv === undefined) return RETRY;
          aff = { revision: kv.revision, affinity: decodeAffinity(kv.value) };
        }
      }
      if (aff.affinity.state === 'pendingDeletion') return undefined;
      // Phase 2: the block, affine to us.
      let st = await this.#getBlock(cidr);
      if (st === undefined) {
        const block = B.newBlock(c, B.hostAffinity(host), this.#now());
        const key = ipamBlockKey(cidr);
        try {
          const kv = await this.backend.create(key, B.encodeBlock(block));
          st = { key, revision: kv.revision, block };
          this.#blockCache.set(cidr, st);
        } catch (e) {
          if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS) && !isRetryableDatastoreError(e)) throw e;
          st = await this.#getBlock(cidr);
          if (st === undefined) return RETRY;
        }
      }
      if (st.block.affinity !== B.hostAffinity(host)) {
        // Lost the race (or the block was never ours): withdraw our claim.
        log.debug({ host, block: cidr, owner: st.block.affinity }, 'block claimed by another host');
        try {
          await this.backend.delete(affKey, { revision: aff.revision });
        } catch (e) {
          if (!isConflict(e)) throw e;
          return RETRY;
        }
        return undefined;
      }
      // Phase 3: confirm.
      if (aff.affinity.state !== 'confirmed') {
        const rev = await this.#setAffinityState({ key: affKey, revision: aff.revision }, 'confirmed');
        if (rev === undefined) {
          const kv = await this.backend.get(affKey);
          if (kv === undefined) return RETRY;
          const cur = decodeAffinity(kv.value);
          if (cur.state === 'pendingDeletion') return undefined;
          if (cur.state !== 'confirmed') return RETRY;
        }
      }
      return st;
    });
  }

  /** Lists the keys of existing blocks of a family (values decoded lazily by callers). */
  async #allBlocks(family: IPFamily): Promise<BlockState[]> {
    const out: BlockState[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#read(() => this.backend.list(ipamBlockPrefix(family), { limit: 500, ...(startAfter === undefined ? {} : { startAfter }) }));
      for (const kv of page.items) {
        if (parseIpamBlockKey(kv.key) === undefined) continue;
        try {
          out.push({ key: kv.key, revision: kv.revision, block: B.decodeBlock(kv.value) });
        } catch (e) {
          log.warn({ err: e, key: kv.key }, 'skipping malformed block');
        }
      }
      if (!page.more || page.items.length === 0) return out;
      startAfter = page.items[page.items.length - 1].key;
    }
  }

  async #allBlockCidrs(family: IPFamily): Promise<Set<string>> {
    const out = new Set<string>();
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#read(() => this.backend.list(ipamBlockPrefix(family), { limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) }));
      for (const kv of page.items) {
        const k = parseIpamBlockKey(kv.key);
        if (k !== undefined) out.add(k.cidr);
      }
      if (!page.more || page.items.length === 0) return out;
      startAfter = page.items[page.items.length - 1].key;
    }
  }

  /**
   * A block CIDR of `pool` that no block exists for yet, starting the scan at a random block so that
   * hosts claiming at the same time rarely pick the same one. Blocks entirely reserved are skipped.
   */
  #freeBlockIn(pool: PoolInfo, existing: Set<string>, reservations: Reservations): CIDR | undefined {
    const total = poolBlockCount(pool);
    if (total === 0n) return undefined;
    const pc = poolCIDR(pool);
    const stepBits = BigInt((pc.version === 4 ? 32 : 128) - pool.blockSize);
    const start = total <= 2n ** 52n ? BigInt(Math.floor(this.#random() * Number(total))) : BigInt(Math.floor(this.#random() * 2 ** 52));
    // Every taken block and every block wholly inside a reservation can be passed at most once, so
    // this many probes are enough to find a free block if there is one (and the scan stays short
    // in a huge IPv6 pool).
    let reservedBlocks = 0n;
    for (const r of reservations.cidrs) {
      if (r.version === pc.version && r.prefix <= pool.blockSize) reservedBlocks += 1n << BigInt(pool.blockSize - Math.max(r.prefix, pc.prefix));
    }
    const budget = BigInt(existing.size) + reservedBlocks + 1n;
    const limit = total < budget ? total : budget;
    for (let i = 0n; i < limit; i++) {
      const idx = (start + i) % total;
      const c: CIDR = { version: pc.version, addr: pc.addr + (idx << stepBits), prefix: pool.blockSize };
      const s = formatCIDR(c);
      if (existing.has(s)) continue;
      if (reservations.cidrs.some((r) => cidrContains(r, c))) continue;
      return c;
    }
    return undefined;
  }

  // --- auto-assign -------------------------------------------------------------------------------

  /**
   * Assigns `num4` IPv4 and `num6` IPv6 addresses to `handle` on `host`. All or nothing: when the
   * pools cannot supply every address, what was taken is released and IPAM_EXHAUSTED is thrown.
   */
  async autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult> {
    return this.#measure('auto', async () => {
      const r = await this.#autoAssign(req);
      this.#m.assigned.inc(r.ipv4.length + r.ipv6.length);
      return r;
    });
  }

  async #measure<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const end = this.#m.assignSeconds.startTimer({ op });
    try {
      return await fn();
    } catch (e) {
      this.#m.failures.inc({ code: isWeftError(e) ? e.code : 'other' });
      throw e;
    } finally {
      end();
    }
  }

  async #autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult> {
    validateName('host', req.host);
    validateName('handle', req.handle);
    const num4 = req.num4 ?? 0;
    const num6 = req.num6 ?? 0;
    if (!Number.isInteger(num4) || !Number.isInteger(num6) || num4 < 0 || num6 < 0) {
      throw new WeftError(ErrorCodes.VALIDATION, `address counts must be non-negative integers (ipv4=${num4}, ipv6=${num6})`);
    }
    const attrs = { node: req.host, ...(req.attrs ?? {}) };
    const use = req.use ?? 'Workload';
    const [config, allPools, reservations] = await this.#readContext();
    const result: AutoAssignResult = { ipv4: [], ipv6: [] };
    try {
      for (const [version, n, restrict] of [[4, num4, req.pools4], [6, num6, req.pools6]] as const) {
        if (n === 0) continue;
        const pools = await this.#candidatePools(req.host, version, use, restrict, allPools);
        if (pools.length === 0) {
          throw new WeftError(ErrorCodes.IPAM_NO_POOL, `no enabled IPv${version} pool for host ${req.host} (use ${use})`, {
            hint: 'create an IPPool (weft create -f pool.yaml), or check its nodeSelector, disabled and allowedUses fields',
            details: { host: req.host, version, use },
          });
        }
        const got = await this.#assignFamily(req.host, req.handle, attrs, n, { version, pools, config, reservations });
        if (version === 4) result.ipv4 = got;
        else result.ipv6 = got;
      }
    } catch (e) {
      const taken = [...result.ipv4, ...result.ipv6];
      if (taken.length > 0) {
        await this.releaseIPs(taken.map((a) => ({ ip: a.ip, sequenceNumber: a.sequenceNumber, handle: req.handle }))).catch((err: unknown) => {
          log.error({ err, handle: req.handle }, 'could not roll back a partial assignment');
        });
      }
      throw e;
    }
    return result;
  }

  async #assignFamily(host: string, handle: string, attrs: Record<string, string>, n: number, ctx: FamilyContext): Promise<AssignedIP[]> {
    const out: AssignedIP[] = [];
    const skip = ctx.reservations.empty ? undefined : (ip: string) => ctx.reservations.contains(ip);
    const poolOf = (cidr: string): PoolInfo => ctx.pools.find((p) => cidrContains(poolCIDR(p), parseCIDR(cidr) as CIDR)) as PoolInfo;
    try {
      // 1. Blocks affine to this host. The list is cached per process: it only grows through our own
      // claims, and a block that stopped being ours fails its CAS (or affinity check) and drops the
      // cache. When the cached blocks cannot satisfy the request, the list is re-read before claiming.
      const ownKey = `${host}|${ctx.version}|${ctx.pools.map((p) => p.name).join(',')}`;
      let own = this.#ownCache.get(ownKey);
      let fresh = false;
      if (own === undefined) {
        own = await this.#ownBlocks(host, ctx.version, ctx.pools);
        this.#ownCache.set(ownKey, own);
        fresh = true;
      }
      // Blocks our cache knows to be full are skipped in the first pass and only re-read (someone may
      // have released addresses) when the others cannot satisfy the request: a full host then costs
      // one read per block only when it is about to claim a new one.
      const cachedFull = (c: string): boolean => {
        const st = this.#blockCache.get(c);
        return st !== undefined && B.assignableCount(st.block, skip) === 0;
      };
      const tried = new Set<string>();
      for (const cidr of own.filter((c) => !cachedFull(c))) {
        if (out.length >= n) break;
        tried.add(cidr);
        out.push(...(await this.#assignFromBlock(cidr, host, handle, attrs, n - out.length, skip, false, poolOf(cidr))));
      }
      if (out.length < n) {
        if (!fresh) {
          own = await this.#ownBlocks(host, ctx.version, ctx.pools);
          this.#ownCache.set(ownKey, own);
        }
        for (const cidr of own) {
          if (out.length >= n) break;
          if (tried.has(cidr) && !cachedFull(cidr)) continue;
          out.push(...(await this.#assignFromBlock(cidr, host, handle, attrs, n - out.length, skip, false, poolOf(cidr))));
        }
      }
      // 2. Claim new blocks while allowed (the affinity list is fresh from the datastore here).
      const max = effectiveMaxBlocks(ctx.config);
      while (out.length < n && ctx.config.autoAllocateBlocks && own.length < max) {
        const st = await this.#claimNew(host, ctx);
        if (st === undefined) break;
        own.push(st.block.cidr);
        out.push(...(await this.#assignFromBlock(st.block.cidr, host, handle, attrs, n - out.length, skip, false, poolOf(st.block.cidr))));
      }
      // 3. Borrow from other hosts' blocks unless strict affinity forbids it.
      if (out.length < n && !ctx.config.strictAffinity) {
        const blocks = await this.#allBlocks(familyOf(ctx.version));
        const mine = B.hostAffinity(host);
        const candidates = seededShuffle(
          blocks.filter((s) => s.block.affinity !== mine && B.assignableCount(s.block, skip) > 0 && ctx.pools.some((p) => cidrContains(poolCIDR(p), B.blockCIDR(s.block)))),
          hostHash(host),
        );
        for (const s of candidates) {
          if (out.length >= n) break;
          this.#blockCache.set(s.block.cidr, s);
          out.push(...(await this.#assignFromBlock(s.block.cidr, host, handle, attrs, n - out.length, skip, true, poolOf(s.block.cidr))));
        }
      }
    } catch (e) {
      if (out.length > 0) {
        await this.releaseIPs(out.map((a) => ({ ip: a.ip, sequenceNumber: a.sequenceNumber, handle }))).catch(() => undefined);
      }
      throw e;
    }
    if (out.length < n) {
      const got = out.length;
      if (got > 0) await this.releaseIPs(out.map((a) => ({ ip: a.ip, sequenceNumber: a.sequenceNumber, handle })));
      const own = (await this.#hostAffinities(host, familyOf(ctx.version))).length;
      const why = ctx.config.strictAffinity
        ? `strict affinity is on, host has ${own} block(s) (max ${effectiveMaxBlocks(ctx.config)})${ctx.config.autoAllocateBlocks ? '' : ', automatic block allocation is off'}`
        : 'every block in the pool(s) is full';
      throw new WeftError(ErrorCodes.IPAM_EXHAUSTED, `IPv${ctx.version} pool exhausted for host ${host}: needed ${n} address(es), found ${got} (${why})`, {
        hint: ctx.config.strictAffinity
          ? 'add an IP pool, raise --max-blocks-per-host, or allow borrowing with weft ipam configure --strictaffinity=false'
          : 'add an IP pool or release unused addresses (weft ipam check)',
        details: { host, version: ctx.version, requested: n, found: got, pools: ctx.pools.map((p) => p.name) },
      });
    }
    return out;
  }

  async #claimNew(host: string, ctx: FamilyContext): Promise<BlockState | undefined> {
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      const existing = await this.#allBlockCidrs(familyOf(ctx.version));
      let found: CIDR | undefined;
      for (const p of ctx.pools) {
        found = this.#freeBlockIn(p, existing, ctx.reservations);
        if (found !== undefined) break;
      }
      if (found === undefined) return undefined;
      const st = await this.#claim(host, found);
      if (st !== undefined) {
        this.#m.claims.inc();
        return st;
      }
      // Someone else got that block first; pick again.
      await this.#sleep(attempt);
    }
    throw new WeftError(ErrorCodes.IPAM_RETRIES, `could not claim a block for host ${host} after ${this.#maxRetries} attempts`);
  }

  /** Takes up to `n` addresses from one block, CAS-retrying while the block is contended. */
  async #assignFromBlock(
    cidr: string,
    host: string,
    handle: string,
    attrs: Record<string, string>,
    n: number,
    skip: ((ip: string) => boolean) | undefined,
    borrowing: boolean,
    pool: PoolInfo,
  ): Promise<AssignedIP[]> {
    return this.#loop(`assign from block ${cidr}`, async (attempt) => {
      let st = attempt === 0 ? this.#blockCache.get(cidr) : undefined;
      // A cached block that looks full may be stale (another process released addresses): re-read.
      if (st === undefined || B.assignableCount(st.block, skip) === 0) st = await this.#getBlock(cidr);
      if (st === undefined) {
        this.#ownCache.clear();
        return [];
      }
      const mine = st.block.affinity === B.hostAffinity(host);
      if (!borrowing && !mine) {
        // Our view of the host's blocks is out of date (affinity released): re-list next time.
        this.#ownCache.clear();
        return [];
      }
      if (borrowing && mine) return [];
      const { block: next, allocations } = B.autoAssign(st.block, n, handle, attrs, skip);
      if (allocations.length === 0) return [];
      const landed = (cur: B.Block): boolean =>
        allocations.every((a) => cur.allocations[a.ordinal] !== null && cur.sequenceNumberForAllocation[String(a.ordinal)] === a.sequenceNumber &&
          cur.attributes[cur.allocations[a.ordinal] as number]?.handle_id === handle);
      const result = (): AssignedIP[] =>
        allocations.map((a) => ({ ip: a.ip, block: cidr, pool: pool.name, sequenceNumber: a.sequenceNumber, borrowed: borrowing }));
      const txn = this.#txn();
      if (txn !== undefined) {
        // Block and handle in one write (the block is trusted from the cache; CAS catches staleness).
        const w = await this.#commitBlock(txn, st, next, new Map([[handle, allocations.length]]), landed);
        return w === undefined ? RETRY : result();
      }
      // Two writes, handle first: a crash after this leaves the handle over-counting (harmless, found by
      // `ipam check`), never an allocation that release-by-handle cannot find.
      await this.#adjustHandle(handle, cidr, allocations.length);
      let written: BlockState | undefined;
      try {
        written = await this.#writeBlock(st, next, landed);
      } catch (e) {
        await this.#adjustHandle(handle, cidr, -allocations.length).catch(() => undefined);
        throw e;
      }
      if (written === undefined) {
        await this.#adjustHandle(handle, cidr, -allocations.length);
        return RETRY;
      }
      return result();
    });
  }

  /** Adds `delta` to handle's count for a block; deletes the handle when nothing is left. */
  async #adjustHandle(handle: string, blockCidr: string, delta: number): Promise<void> {
    const key = ipamHandleKey(handle);
    let first = delta > 0;
    /**
     * The last write whose outcome is unknown (datastore failed mid-request): `value` undefined for a
     * delete. Re-applying the delta blindly would count twice, so the next attempt first checks
     * whether the key already holds what we wrote (handles have one writer in practice).
     */
    let pending: { baseRevision: number; value: string | undefined } | undefined;
    const attempt = async (write: () => Promise<unknown>, p: { baseRevision: number; value: string | undefined }): Promise<void> => {
      pending = p;
      await write();
      pending = undefined;
    };
    await this.#loop(`update handle ${handle}`, async () => {
      if (pending !== undefined) {
        const cur = await this.backend.get(key);
        const landed = pending.value === undefined ? cur === undefined : cur !== undefined && cur.revision !== pending.baseRevision && cur.value === pending.value;
        pending = undefined;
        if (landed) return true;
      }
      if (first) {
        // Most handles are new: try the create before paying for a read.
        first = false;
        const value = encodeHandle(adjustHandle(undefined, blockCidr, delta));
        try {
          await attempt(() => this.backend.create(key, value), { baseRevision: 0, value });
          return true;
        } catch (e) {
          if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS)) throw e;
          pending = undefined;
        }
      }
      const kv = await this.backend.get(key);
      const cur: Handle | undefined = kv === undefined ? undefined : decodeHandle(kv.value);
      const next = adjustHandle(cur, blockCidr, delta);
      try {
        if (kv === undefined) {
          if (delta <= 0) return true;
          const value = encodeHandle(next);
          await attempt(() => this.backend.create(key, value), { baseRevision: 0, value });
        } else if (Object.keys(next.block).length === 0) {
          await attempt(() => this.backend.delete(key, { revision: kv.revision }), { baseRevision: kv.revision, value: undefined });
        } else {
          const value = encodeHandle(next);
          await attempt(() => this.backend.update(key, value, { revision: kv.revision }), { baseRevision: kv.revision, value });
        }
        return true;
      } catch (e) {
        if (isConflict(e)) {
          pending = undefined;
          return RETRY;
        }
        throw e;
      }
    });
  }

  // --- specific address --------------------------------------------------------------------------

  /**
   * Assigns exactly `ip` (Calico `AssignIP`, e.g. `docker run --ip`). Refused when the address is
   * outside every pool, in a disabled pool, reserved, or already assigned (the error names the
   * holder's handle). If the block does not exist yet, it is claimed for `host`.
   */
  async assignIP(req: AssignIPRequest): Promise<AssignedIP> {
    return this.#measure('specific', async () => {
      const r = await this.#assignIP(req);
      this.#m.assigned.inc();
      return r;
    });
  }

  async #assignIP(req: AssignIPRequest): Promise<AssignedIP> {
    validateName('host', req.host);
    validateName('handle', req.handle);
    const ip = B.canonical(req.ip);
    const attrs = { node: req.host, ...(req.attrs ?? {}) };
    const [pools, reservations] = await Promise.all([this.pools(), this.#reservations()]);
    const pool = poolForIP(pools, ip);
    if (pool === undefined) {
      throw new WeftError(ErrorCodes.IPAM_NO_POOL, `address ${ip} is not in any configured IP pool`, {
        hint: 'create an IPPool that contains it, or pick an address from an existing pool (weft get ippools)',
        details: { ip },
      });
    }
    if (pool.disabled) {
      throw new WeftError(ErrorCodes.IPAM_NO_POOL, `address ${ip} is in pool ${pool.name} (${pool.cidr}), which is disabled`, {
        hint: 'enable the pool or pick an address from an enabled pool',
        details: { ip, pool: pool.name },
      });
    }
    const reserved = reservations.covering(ip);
    if (reserved !== undefined) {
      throw new WeftError(ErrorCodes.IPAM_RESERVED, `address ${ip} is reserved (IPReservation ${reserved})`, {
        hint: 'reserved addresses are never assigned; remove it from the IPReservation first',
        details: { ip, reservation: reserved },
      });
    }
    const c = B.blockCIDRFor(ip, pool.blockSize);
    const cidr = formatCIDR(c);
    return this.#loop(`assign ${ip}`, async () => {
      // Always a fresh read: a stale cache could refuse an address that was released meanwhile.
      let st = await this.#getBlock(cidr);
      if (st === undefined) {
        st = await this.#claim(req.host, c);
        if (st === undefined) return RETRY; // another host created it meanwhile: assign from theirs
      }
      const { block: next, allocation } = B.assignOrdinal(st.block, ip, req.handle, attrs);
      const landed = (cur: B.Block): boolean => {
        const info = B.allocationAt(cur, ip);
        return info !== undefined && info.handle === req.handle && info.sequenceNumber === allocation.sequenceNumber;
      };
      const done = (): AssignedIP => ({ ip, block: cidr, pool: pool.name, sequenceNumber: allocation.sequenceNumber, borrowed: st.block.affinity !== B.hostAffinity(req.host) });
      const txn = this.#txn();
      if (txn !== undefined) {
        const w = await this.#commitBlock(txn, st, next, new Map([[req.handle, 1]]), landed);
        return w === undefined ? RETRY : done();
      }
      await this.#adjustHandle(req.handle, cidr, 1);
      let written: BlockState | undefined;
      try {
        written = await this.#writeBlock(st, next, landed);
      } catch (e) {
        await this.#adjustHandle(req.handle, cidr, -1).catch(() => undefined);
        throw e;
      }
      if (written === undefined) {
        await this.#adjustHandle(req.handle, cidr, -1);
        return RETRY;
      }
      return done();
    });
  }

  // --- lookups ----------------------------------------------------------------------------------

  /** The block holding `ip`: by the pool's block size first, else by scanning (pool deleted). */
  async #blockFor(ip: string, pools?: PoolInfo[]): Promise<BlockState | undefined> {
    const a = parseIP(ip);
    if (a === undefined) throw new WeftError(ErrorCodes.VALIDATION, `not an IP address: ${JSON.stringify(ip)}`);
    const pool = poolForIP(pools ?? (await this.pools()), ip);
    if (pool !== undefined) {
      const st = await this.#getBlock(formatCIDR(B.blockCIDRFor(ip, pool.blockSize)));
      if (st !== undefined) return st;
    }
    for (const s of await this.#allBlocks(familyOf(a.version))) {
      if (cidrContainsIP(B.blockCIDR(s.block), a)) return s;
    }
    return undefined;
  }

  async getAssignment(ip: string): Promise<AssignmentInfo | undefined> {
    const canon = B.canonical(ip);
    const pools = await this.pools();
    const st = await this.#blockFor(canon, pools);
    if (st === undefined) return undefined;
    const info = B.allocationAt(st.block, canon);
    if (info === undefined) return undefined;
    return {
      ip: canon,
      handle: info.handle,
      attrs: info.secondary ?? {},
      block: st.block.cidr,
      host: B.affinityHost(st.block.affinity),
      pool: poolForIP(pools, canon)?.name,
      sequenceNumber: info.sequenceNumber,
    };
  }

  /** Addresses held by a handle (from the handle's block index). */
  async ipsByHandle(handle: string): Promise<string[]> {
    validateName('handle', handle);
    const kv = await this.#read(() => this.backend.get(ipamHandleKey(handle)));
    if (kv === undefined) return [];
    const out: string[] = [];
    for (const cidr of Object.keys(decodeHandle(kv.value).block)) {
      const st = await this.#getBlock(cidr);
      if (st !== undefined) out.push(...B.ipsForHandle(st.block, handle));
    }
    return out;
  }

  // --- release -----------------------------------------------------------------------------------

  /**
   * Releases addresses. Idempotent: an address that is not allocated is reported, not an error. With
   * a sequence number (or handle), an address re-allocated since is left alone and reported stale.
   */
  async releaseIPs(reqs: (string | B.ReleaseRequest)[]): Promise<ReleaseResult> {
    const norm = reqs.map((r) => (typeof r === 'string' ? { ip: B.canonical(r) } : { ...r, ip: B.canonical(r.ip) }));
    const result: ReleaseResult = { released: [], notAllocated: [], stale: [] };
    if (norm.length === 0) return result;
    const pools = await this.pools();
    // Group by block.
    const byBlock = new Map<string, B.ReleaseRequest[]>();
    for (const r of norm) {
      const st = await this.#blockFor(r.ip, pools);
      if (st === undefined) {
        result.notAllocated.push(r.ip);
        continue;
      }
      const list = byBlock.get(st.block.cidr) ?? [];
      list.push(r);
      byBlock.set(st.block.cidr, list);
    }
    for (const [cidr, list] of byBlock) {
      const out = await this.#releaseInBlock(cidr, (b) => B.release(b, list));
      result.released.push(...out.released.map((x) => ({ ip: x.ip, handle: x.handle })));
      result.notAllocated.push(...out.notAllocated);
      result.stale.push(...out.stale);
    }
    return result;
  }

  /**
   * Applies a release to one block with CAS, then decrements the handles it touched (block first:
   * a crash in between leaves a handle over-counting, which is harmless). An empty block without
   * host affinity is deleted.
   */
  async #releaseInBlock(cidr: string, op: (b: B.Block) => B.ReleaseOutcome): Promise<B.ReleaseOutcome> {
    const perHandleOf = (o: B.ReleaseOutcome): Map<string, number> => {
      const m = new Map<string, number>();
      for (const r of o.released) if (r.handle !== null) m.set(r.handle, (m.get(r.handle) ?? 0) - 1);
      return m;
    };
    const txn = this.#txn();
    const out = await this.#loop(`release in block ${cidr}`, async () => {
      // Fresh read: a stale cached block could make a live allocation look already free.
      const st = await this.#getBlock(cidr);
      if (st === undefined) return { block: B.newBlock(parseCIDR(cidr) as CIDR, null), released: [], notAllocated: [], stale: [] } satisfies B.ReleaseOutcome;
      const res = op(st.block);
      if (res.released.length === 0) return res;
      const landed = (cur: B.Block): boolean => res.released.every((r) => cur.allocations[r.ordinal] === null || cur.sequenceNumberForAllocation[String(r.ordinal)] !== st.block.sequenceNumberForAllocation[String(r.ordinal)]);
      if (txn !== undefined) {
        // Block and handle decrements in one write.
        const del = res.block.affinity === null && B.isEmpty(res.block);
        const w = await this.#commitBlock(txn, st, del ? undefined : res.block, perHandleOf(res), landed);
        return w === undefined ? RETRY : res;
      }
      try {
        if (res.block.affinity === null && B.isEmpty(res.block)) {
          await this.backend.delete(st.key, { revision: st.revision });
          this.#blockCache.delete(cidr);
          return res;
        }
      } catch (e) {
        if (isConflict(e)) {
          this.#blockCache.delete(cidr);
          return RETRY;
        }
        throw e;
      }
      const w = await this.#writeBlock(st, res.block, landed);
      return w === undefined ? RETRY : res;
    });
    this.#m.released.inc(out.released.length);
    if (txn === undefined) for (const [h, d] of perHandleOf(out)) await this.#adjustHandle(h, cidr, d);
    return out;
  }

  /** Releases everything a handle holds and deletes the handle. Idempotent. */
  async releaseByHandle(handle: string): Promise<ReleaseResult> {
    validateName('handle', handle);
    const key = ipamHandleKey(handle);
    this.#handleCache.delete(handle);
    const result: ReleaseResult = { released: [], notAllocated: [], stale: [] };
    const kv = await this.#read(() => this.backend.get(key));
    if (kv === undefined) return result;
    for (const cidr of Object.keys(decodeHandle(kv.value).block)) {
      const out = await this.#releaseInBlock(cidr, (b) => B.releaseByHandle(b, handle));
      result.released.push(...out.released.map((x) => ({ ip: x.ip, handle: x.handle })));
    }
    // Whatever is left of the handle (over-counts from interrupted writes) goes too.
    await this.#loop(`delete handle ${handle}`, async () => {
      const cur = await this.backend.get(key);
      if (cur === undefined) return true;
      try {
        await this.backend.delete(key, { revision: cur.revision });
        return true;
      } catch (e) {
        if (isConflict(e)) return RETRY;
        throw e;
      }
    });
    return result;
  }

  // --- affinities and pools ---------------------------------------------------------------------

  async listBlocks(family?: IPFamily): Promise<BlockState[]> {
    if (family !== undefined) return this.#allBlocks(family);
    return [...(await this.#allBlocks('ipv4')), ...(await this.#allBlocks('ipv6'))];
  }

  async listAffinities(): Promise<AffinityRecord[]> {
    const out: AffinityRecord[] = [];
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#read(() => this.backend.list(ipamAffinityPrefix(), { limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) }));
      for (const kv of page.items) {
        const k = parseIpamAffinityKey(kv.key);
        if (k !== undefined) out.push({ key: kv.key, revision: kv.revision, host: k.host, cidr: k.cidr, affinity: decodeAffinity(kv.value) });
      }
      if (!page.more || page.items.length === 0) return out;
      startAfter = page.items[page.items.length - 1].key;
    }
  }

  async listHandles(): Promise<{ id: string; handle: Handle; revision: number }[]> {
    const out: { id: string; handle: Handle; revision: number }[] = [];
    const prefix = ipamHandleKey('x').slice(0, -1);
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#read(() => this.backend.list(prefix, { limit: 1000, ...(startAfter === undefined ? {} : { startAfter }) }));
      for (const kv of page.items) out.push({ id: kv.key.slice(prefix.length), handle: decodeHandle(kv.value), revision: kv.revision });
      if (!page.more || page.items.length === 0) return out;
      startAfter = page.items[page.items.length - 1].key;
    }
  }

  /**
   * Releases one block's host affinity (Calico `releaseBlockAffinity`): mark it pendingDeletion so no
   * allocation starts from it, then delete the block if empty (or, with `force`, release what it
   * holds), then the affinity. A non-empty block without force keeps its addresses and loses only
   * its affinity, so it is never deleted under a live allocation.
   */
  async #releaseBlock(st: BlockState, force: boolean): Promise<{ addresses: number; deleted: boolean }> {
    this.#ownCache.clear();
    const host = B.affinityHost(st.block.affinity);
    if (host !== undefined) {
      const affKey = ipamAffinityKey(host, st.block.cidr);
      const kv = await this.#read(() => this.backend.get(affKey));
      if (kv !== undefined) await this.#setAffinityState({ key: affKey, revision: kv.revision }, 'pendingDeletion');
    }
    const cidr = st.block.cidr;
    const res = await this.#loop(`release block ${cidr}`, async (attempt) => {
      const cur = attempt === 0 ? st : await this.#getBlock(cidr);
      if (cur === undefined) return { addresses: 0, deleted: true, handles: new Map<string, number>() };
      const n = B.inUse(cur.block);
      if (n > 0 && !force) {
        const next = B.withAffinity(cur.block, null);
        const w = await this.#writeBlock(cur, next, (b) => b.affinity === null);
        return w === undefined ? RETRY : { addresses: 0, deleted: false, handles: new Map<string, number>() };
      }
      try {
        await this.backend.delete(cur.key, { revision: cur.revision });
      } catch (e) {
        if (isConflict(e)) return RETRY;
        throw e;
      }
      this.#blockCache.delete(cidr);
      return { addresses: n, deleted: true, handles: B.handleCounts(cur.block) };
    });
    for (const [h, n] of res.handles) await this.#adjustHandle(h, cidr, -n);
    if (host !== undefined) await this.#deleteKey(ipamAffinityKey(host, cidr));
    return { addresses: res.addresses, deleted: res.deleted };
  }

  async #deleteKey(key: string): Promise<boolean> {
    return this.#loop(`delete ${key}`, async () => {
      const kv = await this.backend.get(key);
      if (kv === undefined) return false;
      try {
        await this.backend.delete(key, { revision: kv.revision });
        return true;
      } catch (e) {
        if (isConflict(e)) return RETRY;
        throw e;
      }
    });
  }

  /**
   * Before a pool is deleted: releases the affinities and blocks of every block in it. Refuses with
   * IPAM_IN_USE (saying how many addresses) while any address is allocated, unless `force`, which
   * releases those addresses too.
   */
  async releasePoolAffinities(pool: PoolInfo | string, opts: { force?: boolean } = {}): Promise<PoolReleaseResult> {
    const p = typeof pool === 'string' ? await this.#findPool(pool) : pool;
    const pc = poolCIDR(p);
    const blocks = (await this.#allBlocks(familyOf(pc.version))).filter((s) => cidrContains(pc, B.blockCIDR(s.block)));
    const used = blocks.reduce((a, s) => a + B.inUse(s.block), 0);
    if (used > 0 && opts.force !== true) {
      throw new WeftError(ErrorCodes.IPAM_IN_USE, `pool ${p.name} (${p.cidr}) still has ${used} address(es) in use in ${blocks.filter((s) => B.inUse(s.block) > 0).length} block(s)`, {
        hint: 'release them first (weft ipam check / weft ipam release), or delete with --force to release them as well',
        details: { pool: p.name, inUse: used },
      });
    }
    const out: PoolReleaseResult = { blocksReleased: 0, affinitiesReleased: 0, addressesReleased: 0 };
    for (const s of blocks) {
      const r = await this.#releaseBlock(s, opts.force === true);
      if (r.deleted) out.blocksReleased++;
      out.addressesReleased += r.addresses;
      if (B.affinityHost(s.block.affinity) !== undefined) out.affinitiesReleased++;
    }
    // Leftover affinities inside the pool with no block (interrupted claims).
    for (const a of await this.listAffinities()) {
      const c = parseCIDR(a.cidr);
      if (c !== undefined && cidrContains(pc, c) && (await this.#deleteKey(a.key))) out.affinitiesReleased++;
    }
    return out;
  }

  /** Releases every block affinity of a host (e.g. a node that was removed); see #releaseBlock. */
  async releaseHostAffinities(host: string, opts: { force?: boolean } = {}): Promise<PoolReleaseResult> {
    validateName('host', host);
    const out: PoolReleaseResult = { blocksReleased: 0, affinitiesReleased: 0, addressesReleased: 0 };
    for (const family of ['ipv4', 'ipv6'] as const) {
      for (const a of await this.#hostAffinities(host, family)) {
        const st = await this.#getBlock(a.cidr);
        if (st !== undefined && st.block.affinity === B.hostAffinity(host)) {
          const r = await this.#releaseBlock(st, opts.force === true);
          if (r.deleted) out.blocksReleased++;
          out.addressesReleased += r.addresses;
        } else {
          await this.#deleteKey(a.key);
        }
        out.affinitiesReleased++;
      }
    }
    return out;
  }

  async #findPool(nameOrCidr: string): Promise<PoolInfo> {
    const pools = await this.pools();
    const c = parseCIDR(nameOrCidr);
    const p = pools.find((x) => x.name === nameOrCidr || (c !== undefined && x.cidr === formatCIDR(c)));
    if (p === undefined) throw new WeftError(ErrorCodes.IPAM_NO_POOL, `no IP pool named ${nameOrCidr}`);
    return p;
  }

  /** Forgets cached block values (tests; or after an external change). */
  clearCache(): void {
    this.#context = undefined;
    this.#handleCache.clear();
    this.#blockCache.clear();
    this.#ownCache.clear();
  }
}

function isAllSelector(s: string): boolean {
  const t = s.trim();
  return t === '' || t === 'all()';
}
