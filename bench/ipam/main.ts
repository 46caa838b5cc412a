/**
 * IPAM benchmark: allocations/s and latency percentiles for one host alone and for 4 contending host
 * processes, against SQLite (temp file) and a real single-member etcd. Each host is a separate
 * process (test/integration/ipam-worker.ts) allocating one IPv6 address per handle, back to back.
 *
 * Usage: ./scripts/node bench/ipam/main.ts [--per-host N] [--only sqlite|etcd] [--context-cache-ms MS]
 * Last line of output: JSON with every figure (and whether the targets were met).
 * Targets (issue 3): SQLite ≥ 1000 allocations/s, etcd ≥ 300/s with 4 hosts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EtcdBackend, SqliteBackend, type Backend, type DatastoreSpec } from '../../src/datastore/index.ts';
import { putPool } from '../../src/ipam/index.ts';
import { startEtcd } from '../../test/helpers/etcd.ts';
import { IpamWorkers } from '../../test/integration/ipam-harness.ts';

const { values } = parseArgs({ options: { 'per-host': { type: 'string' }, only: { type: 'string' }, 'context-cache-ms': { type: 'string' } } });
const PER_HOST = Number(values['per-host'] ?? 500);
const CONTEXT_CACHE_MS = Number(values['context-cache-ms'] ?? 1000);

interface Result {
  hosts: number;
  allocations: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  errors: number;
  workerPeakRssMiB: number;
  /** Client (worker) CPU per allocation: what a host spends, independent of the datastore's speed. */
  clientCpuMsPerAlloc: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function scenario(spec: DatastoreSpec, hosts: number, tag: string): Promise<Result> {
  const workers = await IpamWorkers.start(
    Array.from({ length: hosts }, (_, i) => ({
      backend: spec,
      host: `${tag}-h${i}`,
      count: PER_HOST,
      handlePrefix: `${tag}-h${i}`,
      family: 6 as const,
      // As a long-running per-host allocator would run (see IpamOptions.contextCacheMs).
      contextCacheMs: CONTEXT_CACHE_MS,
    })),
  );
  try {
    const t0 = performance.now();
    const done = await workers.run();
    const seconds = (performance.now() - t0) / 1000;
    const lat = workers.acks.map((a) => a.ms).sort((a, b) => a - b);
    await workers.stop();
    const r: Result = {
      hosts,
      allocations: workers.acks.length,
      seconds: Number(seconds.toFixed(2)),
      perSecond: Math.round(workers.acks.length / seconds),
      p50ms: Number(pct(lat, 50).toFixed(2)),
      p99ms: Number(pct(lat, 99).toFixed(2)),
      maxms: Number((lat[lat.length - 1] ?? 0).toFixed(2)),
      errors: workers.errors().length,
      workerPeakRssMiB: Math.round(Math.max(...done.map((d) => d.maxRssKiB)) / 1024),
      clientCpuMsPerAlloc: Number((done.reduce((a, d) => a + d.cpuMs, 0) / Math.max(1, workers.acks.length)).toFixed(2)),
    };
    console.log(`${tag} ${hosts} host(s): ${r.allocations} allocations in ${r.seconds}s = ${r.perSecond}/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms, max ${r.maxms} ms, errors ${r.errors}, client CPU ${r.clientCpuMsPerAlloc} ms/alloc`);
    return r;
  } finally {
    workers.kill();
  }
}

/**
 * The datastore's own ceiling for context: sequential 3 KB puts from this process. A warm allocation
 * is one atomic write (block CAS + handle, one `txn`), so this is about the best one host can do.
 */
async function rawPutsPerSecond(be: Backend): Promise<number> {
  const value = 'x'.repeat(3000);
  const n = 300;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await be.put(`/bench/raw/${i % 10}`, value);
  await be.deletePrefix('/bench/raw/');
  return Math.round(n / ((performance.now() - t0) / 1000));
}

/** Each scenario gets its own pool so earlier runs do not fill it: /112 = 65536 addresses. */
async function freshPool(be: Backend, n: number): Promise<void> {
  await putPool(be, `bench-${n}`, `2001:db8:${(0x100 + n).toString(16)}::/112`, { blockSize: 122 });
}

const out: Record<string, unknown> = { perHost: PER_HOST, contextCacheMs: CONTEXT_CACHE_MS, cpus: cpus().length, loadAvg1mAtStart: Number(loadavg()[0].toFixed(2)) };
const dir = mkdtempSync(join(tmpdir(), 'weft-bench-ipam-'));
const cleanups: (() => Promise<void> | void)[] = [];
let poolN = 0;
try {
  if (values.only === undefined || values.only === 'sqlite') {
    for (const sync of ['full', 'normal'] as const) {
      const path = join(dir, `ipam-${sync}.db`);
      // The workers open the datastore from the URL form, as a deployment would (`?sync=normal`).
      const spec: DatastoreSpec = { type: 'sqlite', path: sync === 'full' ? path : `${path}?sync=normal` };
      const be = new SqliteBackend({ path, synchronous: sync });
      cleanups.push(() => be.close());
      const res: Record<string, Result | number> = {};
      res.rawPutsPerSecond = await rawPutsPerSecond(be);
      await freshPool(be, poolN++);
      res.singleHost = await scenario(spec, 1, `sqlite-${sync}-1`);
      await be.deletePrefix('/calico/resources/v3/projectcalico.org/ippools/');
      await freshPool(be, poolN++);
      res.fourHosts = await scenario(spec, 4, `sqlite-${sync}-4`);
      out[sync === 'full' ? 'sqlite' : 'sqliteSyncNormal'] = res;
    }
  }
  if (values.only === undefined || values.only === 'etcd') {
    const etcd = await startEtcd({ members: 1 });
    cleanups.push(() => etcd.stop());
    const be = new EtcdBackend({ endpoints: etcd.endpoints });
    cleanups.push(() => be.close());
    const spec: DatastoreSpec = { type: 'etcd', endpoints: etcd.endpoints };
    const res: Record<string, Result | number> = {};
    res.rawPutsPerSecond = await rawPutsPerSecond(be);
    await freshPool(be, poolN++);
    res.singleHost = await scenario(spec, 1, 'etcd-1');
    await be.deletePrefix('/calico/resources/v3/projectcalico.org/ippools/');
    await freshPool(be, poolN++);
    res.fourHosts = await scenario(spec, 4, 'etcd-4');
    out.etcd = res;
  }
} finally {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
const sq = out.sqlite as Record<string, Result> | undefined;
const et = out.etcd as Record<string, Result> | undefined;
const sqn = out.sqliteSyncNormal as Record<string, Result> | undefined;
out.loadAvg1mAtEnd = Number(loadavg()[0].toFixed(2));
out.parentPeakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
out.targets = {
  sqlitePerSecond: 1000,
  etcdFourHostsPerSecond: 300,
  sqliteMet: sq === undefined ? null : sq.singleHost.perSecond >= 1000 && sq.fourHosts.perSecond >= 1000,
  sqliteSyncNormalMet: sqn === undefined ? null : sqn.singleHost.perSecond >= 1000 && sqn.fourHosts.perSecond >= 1000,
  etcdMet: et === undefined ? null : et.fourHosts.perSecond >= 300,
};
console.log(JSON.stringify(out));
