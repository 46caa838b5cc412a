import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pino } from 'pino';
import { FaultyBackend, SyncRecorder, waitFor } from './conformance.ts';
import { MemoryBackend } from './memory.ts';
import { Syncer } from './syncer.ts';

const silent = pino({ level: 'silent' });

type Op =
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  | { op: 'deletePrefix'; prefix: string }
  | { op: 'break' }
  | { op: 'outage' }
  | { op: 'yield' };

const key = fc.constantFrom('/p/a', '/p/b', '/p/c', '/p/d/x', '/p/d/y', '/p/e', '/q/a', '/q/b', '/r/a');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('put' as const), key, value: fc.string({ maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deletePrefix' as const), prefix: fc.constantFrom('/p/d/', '/q/', '/p/') }) },
  { weight: 1, arbitrary: fc.constant({ op: 'break' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'outage' as const }) },
  { weight: 3, arbitrary: fc.constant({ op: 'yield' as const }) },
);

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('syncer converges to the store under interleaved writes, watch breaks and outages (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), async (before, during, pageSize) => {
      const mem = new MemoryBackend();
      const b = new FaultyBackend(mem);
      b.yieldOnList = true;
      const rec = new SyncRecorder();
      const lastRev = new Map<string, number>();
      const syncer = new Syncer(
        b,
        ['/p/', '/q/'],
        {
          onStatus: rec.onStatus,
          onUpdates: (us) => {
            for (const u of us) {
              // Per key, revisions delivered never go backwards.
              const prev = lastRev.get(u.key) ?? 0;
              assert.ok(u.revision >= prev, `revision of ${u.key} went back: ${u.revision} < ${prev}`);
              lastRev.set(u.key, u.revision);
            }
            rec.onUpdates(us);
          },
        },
        { pageSize, retryMinMs: 1, retryMaxMs: 5, logger: silent },
      );
      const apply = async (o: Op): Promise<void> => {
        switch (o.op) {
          case 'put':
            await mem.put(o.key, o.value);
            break;
          case 'delete':
            await mem.delete(o.key).catch(() => undefined);
            break;
          case 'deletePrefix':
            await mem.deletePrefix(o.prefix);
            break;
          case 'break':
            b.breakWatches();
            break;
          case 'outage':
            b.down = true;
            b.breakWatches();
            await tick();
            b.down = false;
            break;
          case 'yield':
            await tick();
            break;
        }
      };
      try {
        for (const o of before) await apply(o);
        syncer.start();
        for (const o of during) {
          await apply(o);
          await tick();
        }
        const want = async (): Promise<Map<string, string>> => {
          const m = new Map<string, string>();
          for (const p of ['/p/', '/q/']) for (const kv of (await mem.list(p)).items) m.set(kv.key, kv.value);
          return m;
        };
        await waitFor('convergence', async () => {
          if (rec.last !== 'in-sync') return false;
          const w = await want();
          return w.size === rec.state.size && [...w].every(([k, v]) => rec.state.get(k) === v);
        }, 10_000);
        assert.ok(![...rec.state.keys()].some((k) => k.startsWith('/r/')));
        // Status sequence is well-formed: starts with wait-for-datastore, no immediate repeats.
        assert.equal(rec.statuses[0], 'wait-for-datastore');
        for (let i = 1; i < rec.statuses.length; i++) assert.notEqual(rec.statuses[i], rec.statuses[i - 1]);
      } finally {
        await syncer.stop();
        await mem.close();
      }
    }),
    { numRuns: 150 },
  );
});

test('syncer.stop() while waiting for the datastore returns promptly and emits nothing more', async () => {
  const mem = new MemoryBackend();
  const b = new FaultyBackend(mem);
  b.down = true;
  const rec = new SyncRecorder();
  const s = new Syncer(b, ['/'], rec, { retryMinMs: 10, retryMaxMs: 50, logger: silent });
  s.start();
  await waitFor('several retries', () => rec.statuses.length >= 1);
  await new Promise((r) => setTimeout(r, 100));
  await s.stop();
  assert.deepEqual(rec.statuses, ['wait-for-datastore']);
  b.down = false;
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(rec.statuses, ['wait-for-datastore']);
  await mem.close();
});
