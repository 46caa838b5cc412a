/**
 * Fault injection: a backend that fails requests as a dying etcd leader does — sometimes before
 * applying a write, sometimes after (the client sees an error, the write landed). Several hosts
 * allocate concurrently through it; every acknowledged allocation must be stored exactly once, and
 * releasing every handle ever used must leave nothing behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryBackend, type Backend, type CasOptions, type KVPair, type ListOptions, type ListResult, type TxnOp, type Watch, type WatchHandlers, type WatchOptions, type WriteOptions } from '../datastore/index.ts';
import { ErrorCodes, WeftError, isWeftError } from '../lib/errors.ts';
import * as B from './block.ts';
import { checkIpam } from './check.ts';
import { gatherCheckInput } from './cli.ts';
import { putNode, putPool } from './fixtures.ts';
import { Ipam } from './ipam.ts';

function unreachable(): WeftError {
  return new WeftError(ErrorCodes.DATASTORE_UNREACHABLE, 'injected: datastore unreachable');
}

class FlakyBackend implements Backend {
  readonly type = 'etcd' as const;
  readonly address = 'flaky:';
  readonly inner: Backend;
  readonly rnd: () => number;
  readonly p: number;
  /** Present when the inner backend has it and `withTxn` (one atomic write, failing like the others). */
  txn?: (ops: TxnOp[]) => Promise<KVPair[]>;
  constructor(inner: Backend, rnd: () => number, p: number, withTxn: boolean) {
    this.inner = inner;
    this.rnd = rnd;
    this.p = p;
    const txn = inner.txn?.bind(inner);
    if (withTxn && txn !== undefined) this.txn = (ops) => this.#write(() => txn(ops));
  }
  async #write<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.rnd();
    if (r < this.p / 2) throw unreachable();
    const out = await fn();
    if (r < this.p) throw unreachable(); // applied, but the caller never hears so
    return out;
  }
  async #read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.rnd() < this.p / 4) throw unreachable();
    return fn();
  }
  get(key: string): Promise<KVPair | undefined> { return this.#read(() => this.inner.get(key)); }
  list(prefix: string, opts?: ListOptions): Promise<ListResult> { return this.#read(() => this.inner.list(prefix, opts)); }
  create(key: string, value: string, opts?: WriteOptions): Promise<KVPair> { return this.#write(() => this.inner.create(key, value, opts)); }
  update(key: string, value: string, opts: CasOptions): Promise<KVPair> { return this.#write(() => this.inner.update(key, value, opts)); }
  put(key: string, value: string, opts?: WriteOptions): Promise<KVPair> { return this.#write(() => this.inner.put(key, value, opts)); }
  delete(key: string, opts?: { revision?: number }): Promise<KVPair> { return this.#write(() => this.inner.delete(key, opts)); }
  deletePrefix(prefix: string): Promise<number> { return this.#write(() => this.inner.deletePrefix(prefix)); }
  revision(): Promise<number> { return this.inner.revision(); }
  watch(prefix: string, opts: WatchOptions, h: WatchHandlers): Watch { return this.inner.watch(prefix, opts, h); }
  close(): Promise<void> { return Promise.resolve(); }
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

for (const withTxn of [true, false]) test(`writes that fail before or after applying never duplicate or lose an acknowledged allocation (${withTxn ? 'atomic txn' : 'two writes'})`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 }), async (seed) => {
      const mem = new MemoryBackend();
      try {
        await putPool(mem, 'p4', '192.0.2.0/26', { blockSize: 29 });
        await putPool(mem, 'p6', '2001:db8::/122', { blockSize: 125 });
        const hosts = ['h0', 'h1', 'h2'];
        for (const h of hosts) await putNode(mem, h);
        const acks: { handle: string; ips: string[] }[] = [];
        const used: string[] = [];
        await Promise.all(
          hosts.map(async (host, hi) => {
            const rnd = lcg(seed + hi * 7919);
            const ipam = new Ipam(new FlakyBackend(mem, rnd, 0.15, withTxn), { random: rnd, unreachableTimeoutMs: 60_000, unreachableBackoffMs: 1 });
            for (let i = 0; i < 12; i++) {
              const handle = `${host}.w${i}`;
              used.push(handle);
              for (let attempt = 0; attempt < 5; attempt++) {
                try {
                  const r = await ipam.autoAssign({ host, handle, num4: 1, num6: 1 });
                  acks.push({ handle, ips: [...r.ipv4, ...r.ipv6].map((a) => a.ip) });
                  break;
                } catch (e) {
                  if (!isWeftError(e)) throw e;
                }
              }
              if (rnd() < 0.3 && acks.length > 0) {
                // Releases go through the faults too.
                const victim = acks.find((a) => a.handle.startsWith(`${host}.`) && a.ips.length > 0);
                if (victim !== undefined) {
                  try {
                    await ipam.releaseByHandle(victim.handle);
                    victim.ips = [];
                  } catch (e) {
                    if (!isWeftError(e)) throw e;
                  }
                }
              }
            }
          }),
        );
        const clean = new Ipam(mem);
        const input = await gatherCheckInput(clean);
        const stored = new Map<string, string | null>();
        for (const b of input.blocks) {
          assert.deepEqual(B.blockProblems(b), []);
          for (const a of B.allocationsOf(b)) stored.set(a.ip, a.handle);
        }
        const ackedIps = acks.flatMap((a) => a.ips);
        assert.equal(new Set(ackedIps).size, ackedIps.length, 'no address acknowledged twice');
        for (const a of acks) for (const ip of a.ips) assert.equal(stored.get(ip), a.handle, `${ip} stored for ${a.handle}`);
        // Every allocation belongs to a handle that was used, and release-by-handle finds it all.
        for (const h of used) await clean.releaseByHandle(h);
        const after = checkIpam(await gatherCheckInput(clean));
        assert.equal(after.summary.allocated, 0, JSON.stringify(after.leakedIPs));
        assert.deepEqual(after.handleMismatches, []);
      } finally {
        await mem.close();
      }
    }),
    { numRuns: 30 },
  );
});
