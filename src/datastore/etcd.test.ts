import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { ErrorCodes, isWeftError } from '../lib/errors.ts';
import { freePort, startEtcd, type EtcdCluster } from '../../test/helpers/etcd.ts';
import { pino } from 'pino';
import { rejectsWith, runConformance, SyncRecorder, WatchRecorder, waitFor } from './conformance.ts';
import { Syncer } from './syncer.ts';
import { EtcdBackend } from './etcd.ts';
import type { WatchEvent } from './types.ts';

/** Clusters are started lazily by the first test that needs them and stopped at the end of the file. */
const clusters = new Map<string, Promise<EtcdCluster>>();
function cluster(name: string, members: 1 | 3): Promise<EtcdCluster> {
  let c = clusters.get(name);
  if (c === undefined) {
    c = startEtcd({ members });
    clusters.set(name, c);
  }
  return c;
}
after(async () => {
  for (const c of clusters.values()) await (await c.catch(() => undefined))?.stop();
});

runConformance('etcd, 1 member', async () => {
  const c = await cluster('single', 1);
  const backend = new EtcdBackend({ endpoints: c.endpoints });
  return { backend, cleanup: () => backend.close() };
});

runConformance('etcd, 3-member cluster', async () => {
  const c = await cluster('three', 3);
  const backend = new EtcdBackend({ endpoints: c.endpoints });
  return { backend, cleanup: () => backend.close() };
});

function isTransient(e: unknown): boolean {
  return isWeftError(e, ErrorCodes.DATASTORE_UNREACHABLE, ErrorCodes.DATASTORE);
}

describe('etcd: failures', { timeout: 300_000 }, () => {
  test('leader SIGKILLed during concurrent CAS increments: every acknowledged write survives', async (t) => {
    const c = await startEtcd({ members: 3 });
    const b = new EtcdBackend({ endpoints: c.endpoints });
    try {
      const key = '/weft-test/leader-kill/counter';
      const start = await b.create(key, JSON.stringify({ n: 0 }));
      // A syncer (own client) follows the key through the leader change.
      const sb = new EtcdBackend({ endpoints: c.endpoints });
      const srec = new SyncRecorder();
      const syncer = new Syncer(sb, ['/weft-test/leader-kill/'], srec, { logger: pino({ level: 'silent' }) });
      syncer.start();
      await waitFor('syncer in-sync', () => srec.last === 'in-sync', 30_000);
      const TOTAL = 300;
      const acked: { n: number; revision: number; writer: number }[] = [];
      let transientErrors = 0;
      let conflicts = 0;
      let killed = -1;

      const loop = async (writer: number): Promise<void> => {
        while (acked.length < TOTAL) {
          let cur;
          try {
            cur = await b.get(key);
          } catch (e) {
            if (!isTransient(e)) throw e;
            transientErrors++;
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          assert.ok(cur !== undefined);
          const n = (JSON.parse(cur.value) as { n: number }).n + 1;
          try {
            const kv = await b.update(key, JSON.stringify({ n, writer }), { revision: cur.revision });
            acked.push({ n, revision: kv.revision, writer });
          } catch (e) {
            if (isWeftError(e, ErrorCodes.REVISION_CONFLICT)) conflicts++;
            else if (isTransient(e)) {
              // Outcome unknown (the write may have committed): retry from a fresh read.
              transientErrors++;
              await new Promise((r) => setTimeout(r, 20));
            } else throw e;
          }
        }
      };
      const killer = (async () => {
        await waitFor('some progress', () => acked.length >= 60, 60_000);
        killed = await c.leaderIndex();
        await c.kill(killed);
      })();
      await Promise.all([loop(1), loop(2), killer]);

      assert.ok(killed >= 0);
      const newLeader = await c.leaderIndex();
      assert.notEqual(newLeader, killed);
      assert.ok(acked.length >= TOTAL);

      // History of the key from the start: n must go 1, 2, 3, … (no lost or duplicated update) and
      // every acknowledged (n, revision) must be in it.
      const final = await b.get(key);
      assert.ok(final !== undefined);
      const finalN = (JSON.parse(final.value) as { n: number }).n;
      const history: WatchEvent[] = [];
      for (let attempt = 0; attempt < 20 && history.length < finalN; attempt++) {
        history.length = 0;
        const rec = new WatchRecorder();
        const w = b.watch(key, { fromRevision: start.revision + 1 }, rec);
        try {
          await waitFor('history', () => rec.error !== undefined || rec.events.length >= finalN, 20_000).catch(() => undefined);
        } finally {
          w.cancel();
        }
        if (rec.error === undefined) history.push(...rec.events);
      }
      assert.equal(history.length, finalN, 'one put per increment');
      const byRev = new Map<number, number>();
      history.forEach((ev, i) => {
        assert.equal(ev.type, 'put');
        const n = ev.type === 'put' ? (JSON.parse(ev.value) as { n: number }).n : -1;
        assert.equal(n, i + 1, 'increments are consecutive');
        byRev.set(ev.revision, n);
      });
      for (const a of acked) assert.equal(byRev.get(a.revision), a.n, `acked write n=${a.n} at revision ${a.revision} is present`);
      assert.ok(finalN >= acked.length);
      await waitFor('syncer caught up', () => srec.last === 'in-sync' && srec.state.get(key) === final.value, 60_000);
      await syncer.stop();
      await sb.close();
      const ns = new Set(acked.map((a) => a.n));
      assert.equal(ns.size, acked.length, 'no value acknowledged twice');
      t.diagnostic(`killed member ${killed}; acked ${acked.length}, final n ${finalN}, conflicts ${conflicts}, transient errors ${transientErrors}, syncer statuses ${srec.statuses.join('>')}`);
    } finally {
      await b.close();
      await c.stop();
    }
  });

  test('unreachable etcd: calls fail within ~5 s with ERR_DATASTORE_UNREACHABLE naming the address', async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const b = new EtcdBackend({ endpoints: [addr] });
    try {
      for (const call of [() => b.revision(), () => b.get('/x'), () => b.put('/x', 'y'), () => b.list('/')]) {
        const t0 = Date.now();
        const e = await rejectsWith(call(), ErrorCodes.DATASTORE_UNREACHABLE);
        const elapsed = Date.now() - t0;
        assert.ok(e.message.includes(addr), e.message);
        // The contract is ~5 s; allow slack for a loaded machine.
        assert.ok(elapsed < 8000, `failed after ${elapsed} ms`);
      }
      const rec = new WatchRecorder();
      const w = b.watch('/x', { fromRevision: 1 }, rec);
      await waitFor('watch error', () => rec.error !== undefined, 15_000);
      assert.equal(rec.error?.reason, 'error');
      w.cancel();
    } finally {
      await b.close();
    }
  });

  test('a server that accepts TCP but never answers: calls still fail within ~5 s', async () => {
    const sockets: Socket[] = [];
    const srv = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const addr = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
    const b = new EtcdBackend({ endpoints: [addr] });
    try {
      const t0 = Date.now();
      const e = await rejectsWith(b.revision(), ErrorCodes.DATASTORE_UNREACHABLE);
      const elapsed = Date.now() - t0;
      assert.ok(e.message.includes(addr), e.message);
      assert.ok(elapsed < 8000, `failed after ${elapsed} ms`);
      const rec = new WatchRecorder();
      b.watch('/x', { fromRevision: 1 }, rec);
      await waitFor('watch error', () => rec.error !== undefined, 15_000);
      assert.equal(rec.error?.reason, 'error');
    } finally {
      await b.close();
      for (const s of sockets) s.destroy();
      srv.close();
    }
  });

  test('cluster down then back: the client recovers', async () => {
    const c = await startEtcd({ members: 1 });
    const b = new EtcdBackend({ endpoints: c.endpoints });
    try {
      await b.put('/weft-test/recover', '1');
      await c.kill(0);
      await rejectsWith(b.get('/weft-test/recover'), ErrorCodes.DATASTORE_UNREACHABLE);
      await c.restart(0);
      await waitFor(
        'reconnect',
        async () => {
          try {
            return (await b.get('/weft-test/recover'))?.value === '1';
          } catch {
            return false;
          }
        },
        30_000,
      );
    } finally {
      await b.close();
      await c.stop();
    }
  });
});

describe('etcd: TLS and authentication', { timeout: 120_000 }, () => {
  test('client certificate + username/password; wrong password and missing TLS are reported', async () => {
    const c = await startEtcd({ members: 1, tls: true, rootPassword: 's3cret-pw' });
    const tls = c.tls!;
    const good = new EtcdBackend({ endpoints: c.endpoints, ...tls, username: 'root', password: 's3cret-pw' });
    const badPw = new EtcdBackend({ endpoints: c.endpoints, ...tls, username: 'root', password: 'wrong' });
    const noUser = new EtcdBackend({ endpoints: c.endpoints, ...tls });
    const noTls = new EtcdBackend({ endpoints: c.endpoints, username: 'root', password: 's3cret-pw' });
    try {
      assert.ok(good.address.startsWith('etcd://127.0.0.1:'));
      const kv = await good.create('/weft-test/tls/a', '{"ok":true}');
      assert.equal((await good.get('/weft-test/tls/a'))?.revision, kv.revision);
      await rejectsWith(badPw.get('/weft-test/tls/a'), ErrorCodes.DATASTORE_CONFIG);
      await rejectsWith(noUser.get('/weft-test/tls/a'), ErrorCodes.DATASTORE_CONFIG);
      const e = await rejectsWith(noTls.get('/weft-test/tls/a'), ErrorCodes.DATASTORE_UNREACHABLE);
      assert.ok(e.message.includes(c.endpoints[0]));
      // Watch over TLS + auth.
      const rec = new WatchRecorder();
      const w = good.watch('/weft-test/tls/', { fromRevision: kv.revision }, rec);
      await waitFor('event over TLS', () => rec.events.length === 1);
      w.cancel();
    } finally {
      for (const b of [good, badPw, noUser, noTls]) await b.close();
      await c.stop();
    }
  });

  test('bad TLS configuration is a config error', () => {
    assert.throws(
      () => new EtcdBackend({ endpoints: ['127.0.0.1:2379'], caFile: '/nonexistent/ca.pem' }),
      (e: unknown) => isWeftError(e, ErrorCodes.DATASTORE_CONFIG),
    );
    assert.throws(
      () => new EtcdBackend({ endpoints: [] }),
      (e: unknown) => isWeftError(e, ErrorCodes.DATASTORE_CONFIG),
    );
  });
});
