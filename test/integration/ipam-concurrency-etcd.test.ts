/**
 * IPAM under real contention against real etcd: 4 processes acting as 4 hosts allocate 500
 * addresses each at the same time. Single member: 2000 distinct addresses, none leaked. 3-member
 * cluster with the leader SIGKILLed mid-run: no duplicates, every acknowledged allocation stored.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdBackend } from '../../src/datastore/index.ts';
import { Ipam, ipamCheck, putNode, putPool } from '../../src/ipam/index.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { IpamWorkers, verifyAgainstStore } from './ipam-harness.ts';

const HOSTS = ['host-0', 'host-1', 'host-2', 'host-3'];
const PER_HOST = 500;

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
});

async function prepare(endpoints: string[]): Promise<{ backend: EtcdBackend; ipam: Ipam }> {
  const backend = new EtcdBackend({ endpoints });
  cleanups.push(() => backend.close());
  const ipam = new Ipam(backend, { unreachableTimeoutMs: 60_000 });
  await putPool(backend, 'v6', '2001:db8:2::/116', { blockSize: 122 });
  for (const h of HOSTS) await putNode(backend, h);
  return { backend, ipam };
}

async function startWorkers(endpoints: string[]): Promise<IpamWorkers> {
  const w = await IpamWorkers.start(
    HOSTS.map((host) => ({ backend: { type: 'etcd', endpoints }, host, count: PER_HOST, handlePrefix: `wl-${host}`, family: 6, maxAttempts: 50 })),
  );
  cleanups.push(() => w.kill());
  return w;
}

test('4 host processes × 500 allocations on a single etcd: 2000 distinct, none leaked', { timeout: 600_000 }, async () => {
  const etcd = await startEtcd({ members: 1 });
  cleanups.push(() => etcd.stop());
  const { ipam } = await prepare(etcd.endpoints);
  const workers = await startWorkers(etcd.endpoints);
  const done = await workers.run();
  assert.deepEqual(done.map((d) => d.count), HOSTS.map(() => PER_HOST), workers.errors().slice(0, 5).join('\n'));
  const v = await verifyAgainstStore(ipam, workers.acks);
  assert.equal(v.distinct, 4 * PER_HOST);
  assert.deepEqual(v.missing, []);
  assert.deepEqual(v.wrongHandle, []);
  assert.deepEqual(v.corrupt, []);
  assert.equal(v.extra, 0);
  const rel = await workers.releaseAll();
  assert.equal(rel.reduce((n, r) => n + r.count, 0), 4 * PER_HOST);
  await workers.stop();
  const { report, text } = await ipamCheck(ipam);
  assert.equal(report.summary.problems, 0, text);
  assert.equal(report.summary.allocated, 0);
});

test('3-member etcd, leader SIGKILLed mid-run: no duplicates, every acknowledged allocation present', { timeout: 600_000 }, async (t) => {
  const etcd = await startEtcd({ members: 3 });
  cleanups.push(() => etcd.stop());
  const { ipam } = await prepare(etcd.endpoints);
  const workers = await startWorkers(etcd.endpoints);
  let killed = -1;
  let acksAtKill = -1;
  let killing: Promise<void> | undefined;
  workers.onAck = () => {
    // A quarter of the way in: every worker is mid-run and blocks are still being claimed.
    if (killing === undefined && workers.acks.length >= PER_HOST) {
      killing = (async () => {
        killed = await etcd.leaderIndex();
        await etcd.kill(killed);
        acksAtKill = workers.acks.length;
      })();
    }
  };
  const done = await workers.run();
  await killing;
  assert.ok(killed >= 0, 'a leader was found and killed');
  assert.ok(acksAtKill < 4 * PER_HOST, `the leader died mid-run (after ${acksAtKill} acknowledgements)`);
  t.diagnostic(`killed leader m${killed} after ${acksAtKill} acknowledgements; ${workers.errors().length} failed attempts retried by the workers`);
  const acked = workers.acks.length;
  // Workers retry through the election; an allocation may fail only with an error it reported.
  assert.equal(acked, done.reduce((n, d) => n + d.count, 0));
  assert.ok(acked >= 4 * PER_HOST - 10, `most allocations succeed through the election (acked ${acked}; errors: ${workers.errors().slice(0, 3).join(' | ')})`);
  const v = await verifyAgainstStore(ipam, workers.acks);
  assert.equal(v.distinct, acked, 'no address acknowledged twice');
  assert.deepEqual(v.missing, [], 'every acknowledged allocation is stored');
  assert.deepEqual(v.wrongHandle, []);
  assert.deepEqual(v.corrupt, []);
  const rel = await workers.releaseAll();
  assert.ok(rel.reduce((n, r) => n + r.count, 0) >= acked);
  await workers.stop();
  const { report, text } = await ipamCheck(ipam);
  assert.equal(report.summary.allocated, 0, text);
  assert.equal(report.summary.problems, 0, text);
});
