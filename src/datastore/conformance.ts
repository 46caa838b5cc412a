/**
 * The one conformance suite every Backend must pass (memory, SQLite, etcd single and cluster).
 * Call `runConformance(name, makeBackend)` from a *.test.ts; each test gets its own backend from
 * `makeBackend` and works under its own random key prefix, so backends may share a store.
 *
 * No timing assertions: waits are "until condition, or fail after a generous deadline".
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { ErrorCodes, WeftError, isWeftError, type ErrorCode } from '../lib/errors.ts';
import { Syncer } from './syncer.ts';
import type {
  Backend,
  CasOptions,
  KVPair,
  ListOptions,
  ListResult,
  SyncStatus,
  SyncUpdate,
  TxnOp,
  Watch,
  WatchEvent,
  WatchHandlers,
  WatchOptions,
  WriteOptions,
} from './types.ts';

/** Syncers in the suite log nothing: their warnings (resync, outage) are the expected behaviour here. */
const quiet = pino({ level: process.env.WEFT_TEST_SYNCER_LOG ?? 'silent' });

export interface BackendUnderTest {
  backend: Backend;
  cleanup: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Run the TTL test (default true). */
  ttl?: boolean;
  /** Per-test timeout, ms (default 60 000). */
  timeoutMs?: number;
}

/** Polls `cond` until it holds; fails after `timeoutMs` (generous: the box is shared). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<WeftError> {
  try {
    await p;
  } catch (e) {
    assert.ok(isWeftError(e, code), `expected ${code}, got ${String((e as Error)?.stack ?? e)}`);
    return e as WeftError;
  }
  assert.fail(`expected rejection with ${code}`);
}

/** Collects watch callbacks. */
export class WatchRecorder implements WatchHandlers {
  batches: WatchEvent[][] = [];
  error: { reason: 'compacted' | 'error'; err: Error } | undefined;
  get events(): WatchEvent[] {
    return this.batches.flat();
  }
  onEvents(events: WatchEvent[]): void {
    this.batches.push(events);
  }
  onError(reason: 'compacted' | 'error', err: Error): void {
    this.error = { reason, err };
  }
}

/**
 * Wraps a backend to inject faults: `down` makes every call fail as unreachable, `holdLists`
 * blocks list() until released, `breakWatches()` ends every open watch with onError('error').
 */
export class FaultyBackend implements Backend {
  readonly inner: Backend;
  down = false;
  /** Yield to the event loop around every list(), so writes interleave with paged lists. */
  yieldOnList = false;
  #hold: Promise<void> | undefined;
  #release: (() => void) | undefined;
  #watches = new Set<{ inner: Watch; handlers: WatchHandlers; dead: boolean }>();

  /** Present exactly when the inner backend has it (callers feature-test `txn`). */
  txn?: (ops: TxnOp[]) => Promise<KVPair[]>;

  constructor(inner: Backend) {
    this.inner = inner;
    const txn = inner.txn?.bind(inner);
    if (txn !== undefined) {
      this.txn = async (ops) => {
        this.#check();
        return txn(ops);
      };
    }
  }
  get type(): 'sqlite' | 'etcd' {
    return this.inner.type;
  }
  get address(): string {
    return this.inner.address;
  }
  holdLists(): void {
    this.#hold ??= new Promise((r) => (this.#release = r));
  }
  releaseLists(): void {
    this.#release?.();
    this.#hold = undefined;
  }
  breakWatches(): void {
    for (const w of [...this.#watches]) {
      w.dead = true;
      this.#watches.delete(w);
      w.inner.cancel();
      w.handlers.onError('error', new Error('watch broken by test'));
    }
  }
  get openWatches(): number {
    return this.#watches.size;
  }
  #check(): void {
    if (this.down) throw new WeftError(ErrorCodes.DATASTORE_UNREACHABLE, `${this.address} is down (test)`);
  }
  async get(key: string): Promise<KVPair | undefined> {
    this.#check();
    return this.inner.get(key);
  }
  async list(prefix: string, opts?: ListOptions): Promise<ListResult> {
    this.#check();
    if (this.#hold) await this.#hold;
    if (this.yieldOnList) await new Promise((r) => setImmediate(r));
    this.#check();
    const res = await this.inner.list(prefix, opts);
    if (this.yieldOnList) await new Promise((r) => setImmediate(r));
    return res;
  }
  async create(key: string, value: string, opts?: WriteOptions): Promise<KVPair> {
    this.#check();
    return this.inner.create(key, value, opts);
  }
  async update(key: string, value: string, opts: CasOptions): Promise<KVPair> {
    this.#check();
    return this.inner.update(key, value, opts);
  }
  async put(key: string, value: string, opts?: WriteOptions): Promise<KVPair> {
    this.#check();
    return this.inner.put(key, value, opts);
  }
  async delete(key: string, opts?: { revision?: number }): Promise<KVPair> {
    this.#check();
    return this.inner.delete(key, opts);
  }
  async deletePrefix(prefix: string): Promise<number> {
    this.#check();
    return this.inner.deletePrefix(prefix);
  }
  async revision(): Promise<number> {
    this.#check();
    return this.inner.revision();
  }
  watch(prefix: string, opts: WatchOptions, handlers: WatchHandlers): Watch {
    const rec = { inner: undefined as unknown as Watch, handlers, dead: false };
    rec.inner = this.inner.watch(prefix, opts, {
      onEvents: (evs) => {
        if (!rec.dead) handlers.onEvents(evs);
      },
      onError: (reason, err) => {
        if (rec.dead) return;
        rec.dead = true;
        this.#watches.delete(rec);
        handlers.onError(reason, err);
      },
    });
    this.#watches.add(rec);
    return {
      cancel: () => {
        rec.dead = true;
        this.#watches.delete(rec);
        rec.inner.cancel();
      },
    };
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

/** Collects syncer callbacks into a map (the consumer's view of the store). */
export class SyncRecorder {
  statuses: SyncStatus[] = [];
  batches: SyncUpdate[][] = [];
  state = new Map<string, string>();
  onStatus = (s: SyncStatus): void => {
    this.statuses.push(s);
  };
  onUpdates = (u: SyncUpdate[]): void => {
    this.batches.push(u);
    for (const x of u) {
      if (x.value === undefined) this.state.delete(x.key);
      else this.state.set(x.key, x.value);
    }
  };
  get updates(): SyncUpdate[] {
    return this.batches.flat();
  }
  get last(): SyncStatus | undefined {
    return this.statuses[this.statuses.length - 1];
  }
}

async function snapshotOf(b: Backend, prefix: string): Promise<Map<string, string>> {
  const res = await b.list(prefix);
  return new Map(res.items.map((kv) => [kv.key, kv.value]));
}

export function runConformance(
  name: string,
  makeBackend: () => Promise<BackendUnderTest>,
  options: ConformanceOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;

  describe(`datastore conformance: ${name}`, { timeout: timeout * 20 }, () => {
    const cleanups: (() => Promise<void>)[] = [];
    after(async () => {
      for (const c of cleanups.splice(0)) await c().catch(() => undefined);
    });

    /** Runs `fn` with a fresh backend and a fresh key prefix; always cleans up. */
    function it(title: string, fn: (b: Backend, p: string) => Promise<void>): void {
      test(title, { timeout }, async () => {
        const { backend, cleanup } = await makeBackend();
        const prefix = `/weft-test/${randomBytes(6).toString('hex')}/`;
        const done = async (): Promise<void> => {
          await backend.deletePrefix(prefix).catch(() => undefined);
          await cleanup();
        };
        cleanups.push(done);
        try {
          await fn(backend, prefix);
        } finally {
          cleanups.splice(cleanups.indexOf(done), 1);
          await done();
        }
      });
    }

    it('get, create, put: values and revisions', async (b, p) => {
      assert.equal(await b.get(`${p}a`), undefined);
      const c = await b.create(`${p}a`, '{"v":1}');
      assert.equal(c.key, `${p}a`);
      assert.equal(c.value, '{"v":1}');
      assert.ok(c.revision > 0);
      assert.deepEqual(await b.get(`${p}a`), { key: `${p}a`, value: '{"v":1}', revision: c.revision });
      await rejectsWith(b.create(`${p}a`, 'x'), ErrorCodes.ALREADY_EXISTS);
      assert.equal((await b.get(`${p}a`))?.value, '{"v":1}', 'failed create changes nothing');
      const q = await b.put(`${p}a`, '{"v":2}');
      assert.ok(q.revision > c.revision);
      assert.equal((await b.get(`${p}a`))?.revision, q.revision);
      const r = await b.put(`${p}b`, 'new via put');
      assert.equal((await b.get(`${p}b`))?.value, 'new via put');
      assert.ok(r.revision > q.revision);
      // Unicode and empty values survive.
      await b.put(`${p}u`, 'héllo ✓ 🐝');
      assert.equal((await b.get(`${p}u`))?.value, 'héllo ✓ 🐝');
      await b.put(`${p}e`, '');
      assert.equal((await b.get(`${p}e`))?.value, '');
    });

    it('list: prefix isolation, key order, revision, paging', async (b, p) => {
      const names = ['g', 'a', 'c', 'e', 'b', 'f', 'd'];
      let last = 0;
      for (const n of names) last = (await b.put(`${p}dir/${n}`, n)).revision;
      await b.put(`${p}dirx`, 'sibling'); // shares the string prefix "dir" but not "dir/"
      await b.put(`${p}di`, 'shorter');
      const all = await b.list(`${p}dir/`);
      assert.deepEqual(
        all.items.map((kv) => kv.key),
        [...names].sort().map((n) => `${p}dir/${n}`),
      );
      assert.equal(all.more, false);
      assert.ok(all.revision >= last + 2, 'list revision is the store revision');
      for (const kv of all.items) assert.equal(kv.value, kv.key.slice(-1));
      // Paging.
      const seen: string[] = [];
      const mores: boolean[] = [];
      let startAfter: string | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await b.list(`${p}dir/`, { limit: 3, startAfter });
        assert.ok(page.items.length <= 3);
        seen.push(...page.items.map((kv) => kv.key));
        mores.push(page.more);
        if (!page.more) break;
        startAfter = page.items[page.items.length - 1].key;
      }
      assert.deepEqual(seen, all.items.map((kv) => kv.key));
      assert.deepEqual(mores, [true, true, false]);
      // Exact fit: limit equal to the count reports no more.
      const exact = await b.list(`${p}dir/`, { limit: 7 });
      assert.equal(exact.items.length, 7);
      assert.equal(exact.more, false);
      // startAfter alone.
      const tail = await b.list(`${p}dir/`, { startAfter: `${p}dir/e` });
      assert.deepEqual(tail.items.map((kv) => kv.key), [`${p}dir/f`, `${p}dir/g`]);
      // Empty prefix result.
      const none = await b.list(`${p}nothing/`);
      assert.deepEqual(none.items, []);
      assert.equal(none.more, false);
      assert.equal((await b.list(p)).items.length, 9);
    });

    it('update is compare-and-swap on the revision', async (b, p) => {
      await rejectsWith(b.update(`${p}k`, 'x', { revision: 1 }), ErrorCodes.NOT_FOUND);
      const v1 = await b.create(`${p}k`, 'v1');
      const v2 = await b.update(`${p}k`, 'v2', { revision: v1.revision });
      assert.ok(v2.revision > v1.revision);
      assert.equal(v2.value, 'v2');
      const e = await rejectsWith(b.update(`${p}k`, 'stale', { revision: v1.revision }), ErrorCodes.REVISION_CONFLICT);
      assert.match(e.message, new RegExp(`${p}k`));
      assert.deepEqual(await b.get(`${p}k`), { key: `${p}k`, value: 'v2', revision: v2.revision });
      // Concurrent CAS on the same revision: exactly one wins.
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((i) => b.update(`${p}k`, `racer${i}`, { revision: v2.revision })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(isWeftError(r.reason, ErrorCodes.REVISION_CONFLICT));
      }
    });

    it('delete: not found, CAS conflict, success returns the old pair', async (b, p) => {
      await rejectsWith(b.delete(`${p}k`), ErrorCodes.NOT_FOUND);
      const v1 = await b.create(`${p}k`, 'v1');
      const v2 = await b.update(`${p}k`, 'v2', { revision: v1.revision });
      await rejectsWith(b.delete(`${p}k`, { revision: v1.revision }), ErrorCodes.REVISION_CONFLICT);
      assert.equal((await b.get(`${p}k`))?.value, 'v2');
      const d = await b.delete(`${p}k`, { revision: v2.revision });
      assert.equal(d.key, `${p}k`);
      assert.equal(d.value, 'v2');
      assert.ok(d.revision > v2.revision, 'returned revision is the delete revision');
      assert.equal(await b.get(`${p}k`), undefined);
      await rejectsWith(b.delete(`${p}k`, { revision: v2.revision }), ErrorCodes.NOT_FOUND);
      await b.put(`${p}k2`, 'x');
      assert.equal((await b.delete(`${p}k2`)).value, 'x');
      // Re-create after delete works and is a creation.
      await b.create(`${p}k`, 'again');
    });

    it('txn: creates, updates and deletes commit together at one revision', async (b, p) => {
      if (b.txn === undefined) return;
      assert.deepEqual(await b.txn([]), []);
      const before = await b.revision();
      const made = await b.txn([
        { key: `${p}a`, value: 'a1', create: true },
        { key: `${p}b`, value: 'b1', create: true },
        { key: `${p}c`, value: 'c1', create: true },
      ]);
      assert.equal(made.length, 3);
      const r1 = made[0].revision;
      assert.ok(r1 > before);
      assert.deepEqual(made.map((kv) => [kv.key, kv.value, kv.revision]), [[`${p}a`, 'a1', r1], [`${p}b`, 'b1', r1], [`${p}c`, 'c1', r1]]);
      for (const k of ['a', 'b', 'c']) assert.equal((await b.get(`${p}${k}`))?.revision, r1);
      const mixed = await b.txn([
        { key: `${p}a`, value: 'a2', revision: r1 },
        { key: `${p}b`, delete: true, revision: r1 },
        { key: `${p}c`, delete: true },
        { key: `${p}d`, value: 'd1', create: true },
      ]);
      const r2 = mixed[0].revision;
      assert.ok(r2 > r1);
      assert.deepEqual(mixed.map((kv) => [kv.key, kv.value, kv.revision]), [[`${p}a`, 'a2', r2], [`${p}b`, 'b1', r2], [`${p}c`, 'c1', r2], [`${p}d`, 'd1', r2]]);
      assert.deepEqual(await b.get(`${p}a`), { key: `${p}a`, value: 'a2', revision: r2 });
      assert.equal(await b.get(`${p}b`), undefined);
      assert.equal(await b.get(`${p}c`), undefined);
      assert.deepEqual(await b.get(`${p}d`), { key: `${p}d`, value: 'd1', revision: r2 });
      // The next plain write gets a later revision (one bump for the whole txn, nothing skipped backwards).
      assert.ok((await b.put(`${p}e`, 'e')).revision > r2);
      // A key twice in one txn is refused before anything is written.
      await rejectsWith(b.txn([{ key: `${p}x`, value: '1', create: true }, { key: `${p}x`, delete: true }]), ErrorCodes.VALIDATION);
      assert.equal(await b.get(`${p}x`), undefined);
    });

    it('txn: a failing compare writes nothing and names the first failing key', async (b, p) => {
      if (b.txn === undefined) return;
      const txn = b.txn.bind(b);
      const a = await b.create(`${p}a`, 'a1');
      const c = await b.create(`${p}c`, 'c1');
      await b.update(`${p}c`, 'c2', { revision: c.revision });
      const snapshot = async (): Promise<unknown> => (await b.list(p)).items;
      const before = await snapshot();
      // Stale revision on the last op: the create and the update before it must not land.
      let e = await rejectsWith(
        txn([
          { key: `${p}new`, value: 'n', create: true },
          { key: `${p}a`, value: 'a2', revision: a.revision },
          { key: `${p}c`, value: 'c3', revision: c.revision },
        ]),
        ErrorCodes.REVISION_CONFLICT,
      );
      assert.equal(e.details?.key, `${p}c`);
      assert.match(e.message, new RegExp(`${p}c`));
      assert.deepEqual(await snapshot(), before);
      // Create of a present key.
      e = await rejectsWith(txn([{ key: `${p}a`, value: 'x', create: true }, { key: `${p}z`, value: 'z', create: true }]), ErrorCodes.ALREADY_EXISTS);
      assert.equal(e.details?.key, `${p}a`);
      // Update and delete of an absent key.
      e = await rejectsWith(txn([{ key: `${p}z`, value: 'z', create: true }, { key: `${p}absent`, value: 'x', revision: 1 }]), ErrorCodes.NOT_FOUND);
      assert.equal(e.details?.key, `${p}absent`);
      e = await rejectsWith(txn([{ key: `${p}absent`, delete: true }, { key: `${p}z`, value: 'z', create: true }]), ErrorCodes.NOT_FOUND);
      assert.equal(e.details?.key, `${p}absent`);
      // Several failing ops: the first one in op order is named.
      e = await rejectsWith(
        txn([
          { key: `${p}a`, delete: true },
          { key: `${p}c`, delete: true, revision: c.revision },
          { key: `${p}a2`, value: 'x', revision: a.revision },
        ]),
        ErrorCodes.REVISION_CONFLICT,
      );
      assert.equal(e.details?.key, `${p}c`);
      assert.deepEqual(await snapshot(), before, 'no failed txn changed anything');
      // Concurrent txns over one shared key: exactly one commits, the others write nothing.
      const cur = (await b.get(`${p}a`))!;
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((i) => txn([{ key: `${p}own${i}`, value: String(i), create: true }, { key: `${p}a`, value: `racer${i}`, revision: cur.revision }])),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i + 1] : []));
      assert.equal(won.length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(isWeftError(r.reason, ErrorCodes.REVISION_CONFLICT), String(r.reason));
      assert.equal((await b.get(`${p}a`))?.value, `racer${won[0]}`);
      for (const i of [1, 2, 3, 4]) assert.equal((await b.get(`${p}own${i}`)) !== undefined, i === won[0]);
    });

    it('txn: watchers see every op of a txn at one revision, in one batch', async (b, p) => {
      if (b.txn === undefined) return;
      const a = await b.create(`${p}a`, 'a1');
      await b.create(`${p}b`, 'b1');
      const rev = await b.revision();
      const rec = new WatchRecorder();
      const w = b.watch(p, { fromRevision: rev + 1 }, rec);
      try {
        // A failed txn first: it must produce no event at all.
        await rejectsWith(b.txn([{ key: `${p}c`, value: 'c', create: true }, { key: `${p}a`, value: 'x', revision: a.revision + 1000 }]), ErrorCodes.REVISION_CONFLICT);
        const res = await b.txn([
          { key: `${p}a`, value: 'a2', revision: a.revision },
          { key: `${p}b`, delete: true },
          { key: `${p}c`, value: 'c1', create: true },
        ]);
        const r = res[0].revision;
        await b.put(`${p}after`, 'x');
        await waitFor('txn events and the later put', () => rec.events.length >= 4);
        assert.equal(rec.error, undefined);
        const txnEvents = rec.events.filter((ev) => ev.revision === r);
        assert.equal(txnEvents.length, 3, JSON.stringify(rec.batches));
        assert.ok(rec.batches.some((batch) => batch.length === 3 && batch.every((ev) => ev.revision === r)), 'one batch');
        const byKey = new Map(txnEvents.map((ev) => [ev.key, ev]));
        assert.deepEqual(byKey.get(`${p}a`), { type: 'put', key: `${p}a`, value: 'a2', revision: r, created: false });
        const del = byKey.get(`${p}b`);
        assert.equal(del?.type, 'delete');
        assert.equal(del?.type === 'delete' ? del.prevValue : undefined, 'b1');
        assert.deepEqual(byKey.get(`${p}c`), { type: 'put', key: `${p}c`, value: 'c1', revision: r, created: true });
        assert.deepEqual(rec.events.map((ev) => ev.key), [`${p}a`, `${p}b`, `${p}c`, `${p}after`], 'nothing from the failed txn');
      } finally {
        w.cancel();
      }
    });

    it('deletePrefix deletes exactly the prefix', async (b, p) => {
      for (const n of ['a', 'b', 'c']) await b.put(`${p}x/${n}`, n);
      await b.put(`${p}xy`, 'keep');
      await b.put(`${p}y/a`, 'keep');
      assert.equal(await b.deletePrefix(`${p}x/`), 3);
      assert.equal(await b.deletePrefix(`${p}x/`), 0);
      assert.deepEqual((await b.list(p)).items.map((kv) => kv.key), [`${p}xy`, `${p}y/a`]);
    });

    it('revisions are global and strictly increasing', async (b, p) => {
      const start = await b.revision();
      let prev = start;
      for (let i = 0; i < 20; i++) {
        const kv = await b.put(`${p}k${i % 3}`, String(i));
        assert.ok(kv.revision > prev, `write ${i}: ${kv.revision} > ${prev}`);
        prev = kv.revision;
      }
      const now = await b.revision();
      assert.ok(now >= prev);
      // A failed write does not move the key.
      const before = await b.get(`${p}k0`);
      await rejectsWith(b.create(`${p}k0`, 'no'), ErrorCodes.ALREADY_EXISTS);
      assert.deepEqual(await b.get(`${p}k0`), before);
      // Mod revision of each key = revision of its last write.
      const l = await b.list(p);
      for (const kv of l.items) assert.ok(kv.revision > start && kv.revision <= l.revision);
    });

    it('watch from a revision: history, live events, batches, deletes, order', async (b, p) => {
      const r0 = await b.revision();
      const a1 = await b.put(`${p}w/a`, 'a1');
      await b.put(`${p}other`, 'not watched');
      const rec = new WatchRecorder();
      const w = b.watch(`${p}w/`, { fromRevision: r0 + 1 }, rec);
      try {
        await waitFor('history replay', () => rec.events.length >= 1);
        assert.deepEqual(rec.events[0], { type: 'put', key: `${p}w/a`, value: 'a1', revision: a1.revision, created: true });
        const a2 = await b.update(`${p}w/a`, 'a2', { revision: a1.revision });
        await b.put(`${p}w/b`, 'b1');
        await b.put(`${p}w/c`, 'c1');
        await b.delete(`${p}w/b`);
        const n = await b.deletePrefix(`${p}w/`); // a and c in one transaction
        assert.equal(n, 2);
        await waitFor('live events', () => rec.events.length >= 7);
        const evs = rec.events;
        assert.deepEqual(
          evs.map((e) => [e.type, e.key.slice(p.length)]),
          [
            ['put', 'w/a'],
            ['put', 'w/a'],
            ['put', 'w/b'],
            ['put', 'w/c'],
            ['delete', 'w/b'],
            ['delete', 'w/a'],
            ['delete', 'w/c'],
          ],
        );
        assert.equal(evs[1].revision, a2.revision);
        assert.equal(evs[1].type === 'put' && evs[1].created, false);
        assert.equal(evs[2].type === 'put' && evs[2].created, true);
        const del = evs[4];
        assert.ok(del.type === 'delete' && del.prevValue === 'b1');
        // Revision order; the deletePrefix is one batch at one revision.
        for (let i = 1; i < evs.length; i++) assert.ok(evs[i].revision >= evs[i - 1].revision);
        const lastBatch = rec.batches[rec.batches.length - 1];
        assert.equal(lastBatch.length, 2);
        assert.equal(lastBatch[0].revision, lastBatch[1].revision);
        for (const batch of rec.batches) for (const e of batch) assert.equal(e.revision, batch[0].revision);
        assert.ok(!rec.events.some((e) => e.key === `${p}other`));
        assert.equal(rec.error, undefined);
      } finally {
        w.cancel();
      }
      // After cancel, nothing more is delivered.
      const count = rec.events.length;
      await b.put(`${p}w/z`, 'after cancel');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(rec.events.length, count);
    });

    it('watch from the current revision + 1 sees only new changes; two watchers agree', async (b, p) => {
      await b.put(`${p}old`, 'old');
      const rev = await b.revision();
      const r1 = new WatchRecorder();
      const r2 = new WatchRecorder();
      const ac = new AbortController();
      const w1 = b.watch(p, { fromRevision: rev + 1 }, r1);
      b.watch(p, { fromRevision: rev + 1, signal: ac.signal }, r2);
      try {
        const writes: number[] = [];
        for (let i = 0; i < 25; i++) writes.push((await b.put(`${p}k${i % 5}`, String(i))).revision);
        await waitFor('25 events on both watchers', () => r1.events.length >= 25 && r2.events.length >= 25);
        assert.deepEqual(r1.events.map((e) => e.revision), writes);
        assert.deepEqual(r2.events, r1.events);
      } finally {
        w1.cancel();
        ac.abort();
      }
    });

    if (options.ttl !== false) {
      it('TTL: key expires, becomes invisible and a delete event is emitted', async (b, p) => {
        const rev = await b.revision();
        const rec = new WatchRecorder();
        const w = b.watch(p, { fromRevision: rev + 1 }, rec);
        try {
          const kv = await b.create(`${p}lease`, 'ephemeral', { ttlSeconds: 2 });
          assert.equal(kv.ttlSeconds, 2);
          await b.put(`${p}stays`, 'forever');
          const got = await b.get(`${p}lease`);
          assert.equal(got?.value, 'ephemeral');
          assert.ok(got?.ttlSeconds !== undefined && got.ttlSeconds >= 2);
          await waitFor('expiry', async () => (await b.get(`${p}lease`)) === undefined, 30_000);
          assert.deepEqual((await b.list(p)).items.map((x) => x.key), [`${p}stays`]);
          await waitFor('delete event', () => rec.events.some((e) => e.type === 'delete' && e.key === `${p}lease`), 30_000);
          // The key can be created again once expired.
          await b.create(`${p}lease`, 'second life');
        } finally {
          w.cancel();
        }
      });
    }

    it('watch from a compacted revision signals compacted', async (b, p) => {
      if (b.compact === undefined) return;
      const first = await b.put(`${p}c`, '1');
      await b.put(`${p}c`, '2');
      const last = await b.put(`${p}c`, '3');
      await b.compact(last.revision);
      const rec = new WatchRecorder();
      const w = b.watch(p, { fromRevision: first.revision }, rec);
      try {
        await waitFor('compacted signal', () => rec.error !== undefined);
        assert.equal(rec.error?.reason, 'compacted');
        assert.equal(rec.events.length, 0);
        // Watching from the compaction revision itself still works.
        const ok = new WatchRecorder();
        const w2 = b.watch(p, { fromRevision: last.revision }, ok);
        try {
          await b.put(`${p}c`, '4');
          await waitFor('events after compaction point', () => ok.events.length >= 2);
          assert.equal(ok.error, undefined);
          assert.deepEqual(ok.events.map((e) => (e.type === 'put' ? e.value : '')), ['3', '4']);
        } finally {
          w2.cancel();
        }
      } finally {
        w.cancel();
      }
    });

    it('syncer: snapshot → in-sync → updates; resync after a watch error delivers only the differences', async (inner, p) => {
      const b = new FaultyBackend(inner);
      for (let i = 0; i < 5; i++) await b.put(`${p}s/k${i}`, `v${i}`);
      await b.put(`${p}t/x`, 'second prefix');
      await b.put(`${p}elsewhere`, 'not synced');
      const rec = new SyncRecorder();
      const syncer = new Syncer(b, [`${p}s/`, `${p}t/`], rec, { pageSize: 2, retryMinMs: 20, retryMaxMs: 200, logger: quiet });
      syncer.start();
      try {
        await waitFor('in-sync', () => rec.last === 'in-sync');
        assert.deepEqual(rec.statuses, ['wait-for-datastore', 'resync', 'in-sync']);
        const expected = new Map([...(await snapshotOf(b, `${p}s/`)), ...(await snapshotOf(b, `${p}t/`))]);
        assert.deepEqual(rec.state, expected);
        assert.equal(rec.updates.length, 6);

        // Live updates.
        await b.put(`${p}s/k5`, 'v5');
        const k0 = await b.get(`${p}s/k0`);
        await b.update(`${p}s/k0`, 'v0b', { revision: k0!.revision });
        await b.delete(`${p}t/x`);
        await b.put(`${p}elsewhere`, 'still not synced');
        await waitFor('live updates', () => rec.state.get(`${p}s/k5`) === 'v5' && !rec.state.has(`${p}t/x`) && rec.state.get(`${p}s/k0`) === 'v0b');
        assert.equal(rec.updates.length, 9);

        // Break the watch while lists are held, change the store, then let the resync run.
        await waitFor('watches open', () => b.openWatches === 2);
        const before = rec.updates.length;
        b.holdLists();
        b.breakWatches();
        await waitFor('resync status', () => rec.last === 'resync');
        const k1 = await b.get(`${p}s/k1`);
        await b.update(`${p}s/k1`, 'v1b', { revision: k1!.revision });
        await b.delete(`${p}s/k2`);
        await b.put(`${p}t/y`, 'new');
        b.releaseLists();
        await waitFor('in-sync again', () => rec.last === 'in-sync' && rec.statuses.length === 5);
        assert.deepEqual(rec.statuses.slice(3), ['resync', 'in-sync']);
        const diff = rec.updates.slice(before);
        assert.deepEqual(
          diff.map((u) => [u.key.slice(p.length), u.value]).sort(),
          [
            ['s/k1', 'v1b'],
            ['s/k2', undefined],
            ['t/y', 'new'],
          ].sort(),
        );
        const want = new Map([...(await snapshotOf(b, `${p}s/`)), ...(await snapshotOf(b, `${p}t/`))]);
        assert.deepEqual(rec.state, want);

        // Datastore down: wait-for-datastore, then back in sync.
        b.down = true;
        b.breakWatches();
        await waitFor('wait-for-datastore', () => rec.last === 'wait-for-datastore');
        b.down = false;
        await b.put(`${p}s/k9`, 'after outage');
        await waitFor('in-sync after outage', () => rec.last === 'in-sync' && rec.state.get(`${p}s/k9`) === 'after outage');
        await waitFor('watches reopened', () => b.openWatches === 2);
        await b.delete(`${p}s/k9`);
        await waitFor('stream after outage', () => !rec.state.has(`${p}s/k9`));
      } finally {
        await syncer.stop();
      }
      const n = rec.updates.length;
      await b.put(`${p}s/k7`, 'after stop');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rec.updates.length, n, 'no updates after stop');
    });

    it('syncer survives callbacks that throw', async (b, p) => {
      await b.put(`${p}a`, '1');
      const rec = new SyncRecorder();
      let throwNext = true;
      const syncer = new Syncer(b, [p], {
        onStatus: (s) => {
          rec.onStatus(s);
          if (throwNext) {
            throwNext = false;
            throw new Error('callback bug');
          }
        },
        onUpdates: (u) => {
          rec.onUpdates(u);
          throw new Error('callback bug');
        },
      }, { logger: quiet });
      syncer.start();
      try {
        await waitFor('in-sync', () => rec.last === 'in-sync');
        await b.put(`${p}b`, '2');
        await waitFor('b', () => rec.state.get(`${p}b`) === '2');
        assert.deepEqual(rec.state, await snapshotOf(b, p));
      } finally {
        await syncer.stop();
      }
    });
  });
}
