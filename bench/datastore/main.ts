/**
 * Datastore benchmark: CAS updates/s with TWO writer processes on one counter key, and watch
 * latency (write start in a writer process → event delivered to a watcher in this process; also
 * reported from the writer's acknowledgement, which excludes waiting for the write lock/fsync),
 * for SQLite (a temp file, synchronous=FULL, and `?sync=normal`) and etcd (one local member, fsync
 * on). A second phase per store measures 2-key atomic txns/s (CAS + create, the shape of an IPAM
 * allocation). Prints a human summary, then as the LAST line one JSON object:
 *   {"sqlite":{"cas_per_s":…,"txn_per_s":…,"watch_p50_ms":…,"watch_p99_ms":…},"sqliteSyncNormal":{…},"etcd":{…}}
 * Bounded: each phase runs WEFT_BENCH_SECONDS (default 5) and the whole run aborts after 150 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBackend, type DatastoreSpec, type WatchEvent } from '../../src/datastore/index.ts';
import { startEtcd, type EtcdCluster } from '../../test/helpers/etcd.ts';

const SECONDS = Number(process.env.WEFT_BENCH_SECONDS ?? 5);
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const KEY = '/weft-bench/counter';

interface Result {
  cas_per_s: number;
  /** Delivery time − time the writer acknowledged the CAS (can be < 0: delivered before the ack returned). */
  watch_after_ack_p50_ms: number;
  watch_after_ack_p99_ms: number;
  watch_p50_ms: number;
  watch_p99_ms: number;
  conflicts: number;
  errors: number;
  events: number;
}

const children = new Set<ChildProcess>();
let etcd: EtcdCluster | undefined;
let tmp: string | undefined;

function cleanupSync(): void {
  for (const c of children) c.kill('SIGKILL');
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
const watchdog = setTimeout(() => {
  process.stderr.write('bench: exceeded 150 s, aborting\n');
  void etcd?.stop();
  cleanupSync();
  process.exit(1);
}, 150_000);
watchdog.unref();

interface WriterResult {
  ok: number;
  conflicts: number;
  errors: number;
  acks: [number, number][];
}

function runWriter(spec: DatastoreSpec, id: number, mode: 'update' | 'txn'): Promise<WriterResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(spec), KEY, String(SECONDS * 1000), String(id), mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WEFT_LOG_LEVEL: 'error' },
    });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      children.delete(child);
      if (code !== 0) return reject(new Error(`writer ${id} exited ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as WriterResult);
    });
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

async function benchOne(name: string, spec: DatastoreSpec, mode: 'update' | 'txn' = 'update'): Promise<Result> {
  const b = await openBackend(spec);
  try {
    await b.deletePrefix('/weft-bench/');
    const created = await b.create(KEY, JSON.stringify({ n: 0, t: 0 }));
    const latencies: number[] = [];
    const deliveredAt = new Map<number, number>();
    const w = b.watch(KEY, { fromRevision: created.revision + 1 }, {
      onEvents(evs: WatchEvent[]) {
        const at = performance.timeOrigin + performance.now();
        for (const ev of evs) {
          if (ev.type !== 'put') continue;
          const v = JSON.parse(ev.value) as { t: number; n: number };
          latencies.push(at - v.t);
          deliveredAt.set(v.n, at);
        }
      },
      onError(reason, err) {
        process.stderr.write(`${name}: watch ended (${reason}): ${err.message}\n`);
      },
    });
    const t0 = performance.now();
    const rs = await Promise.all([runWriter(spec, 1, mode), runWriter(spec, 2, mode)]);
    const elapsed = (performance.now() - t0) / 1000;
    const ok = rs[0].ok + rs[1].ok;
    // Let the watcher drain.
    const deadline = Date.now() + 5000;
    while (latencies.length < ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    w.cancel();
    latencies.sort((x, y) => x - y);
    const afterAck: number[] = [];
    for (const [n, ackAt] of [...rs[0].acks, ...rs[1].acks]) {
      const at = deliveredAt.get(n);
      if (at !== undefined) afterAck.push(at - ackAt);
    }
    afterAck.sort((x, y) => x - y);
    const r: Result = {
      cas_per_s: round(ok / Math.min(elapsed, SECONDS)),
      watch_after_ack_p50_ms: round(percentile(afterAck, 50)),
      watch_after_ack_p99_ms: round(percentile(afterAck, 99)),
      watch_p50_ms: round(percentile(latencies, 50)),
      watch_p99_ms: round(percentile(latencies, 99)),
      conflicts: rs[0].conflicts + rs[1].conflicts,
      errors: rs[0].errors + rs[1].errors,
      events: latencies.length,
    };
    console.log(
      `${name.padEnd(7)} ${mode === 'txn' ? 'txn ' : ''}${ok} CAS ok in ${SECONDS}s by 2 processes = ${r.cas_per_s}/s ` +
        `(conflicts ${r.conflicts}, errors ${r.errors}); watch latency p50 ${r.watch_p50_ms} ms, ` +
        `p99 ${r.watch_p99_ms} ms over ${r.events} events (from write start); ` +
        `after the writer's ack: p50 ${r.watch_after_ack_p50_ms} ms, p99 ${r.watch_after_ack_p99_ms} ms`,
    );
    await b.deletePrefix('/weft-bench/');
    return r;
  } finally {
    await b.close();
  }
}

type Summary = Pick<Result, 'cas_per_s' | 'watch_p50_ms' | 'watch_p99_ms' | 'watch_after_ack_p50_ms' | 'watch_after_ack_p99_ms'> & {
  /** 2-key atomic transactions (CAS + create) per second, 2 writer processes. */
  txn_per_s: number;
};
const pick = (r: Result, t: Result): Summary => ({
  cas_per_s: r.cas_per_s,
  txn_per_s: t.cas_per_s,
  watch_p50_ms: r.watch_p50_ms,
  watch_p99_ms: r.watch_p99_ms,
  watch_after_ack_p50_ms: r.watch_after_ack_p50_ms,
  watch_after_ack_p99_ms: r.watch_after_ack_p99_ms,
});
const out: Record<string, Summary> = {};
try {
  tmp = mkdtempSync(join(tmpdir(), 'weft-dsbench-'));
  const sq: DatastoreSpec = { type: 'sqlite', path: join(tmp, 'bench.db') };
  out.sqlite = pick(await benchOne('sqlite', sq), await benchOne('sqlite', sq, 'txn'));
  const sqn: DatastoreSpec = { type: 'sqlite', path: `${join(tmp, 'bench-normal.db')}?sync=normal` };
  out.sqliteSyncNormal = pick(await benchOne('sqlite-n', sqn), await benchOne('sqlite-n', sqn, 'txn'));
  etcd = await startEtcd({ members: 1 });
  const es: DatastoreSpec = { type: 'etcd', endpoints: etcd.endpoints };
  out.etcd = pick(await benchOne('etcd', es), await benchOne('etcd', es, 'txn'));
} finally {
  await etcd?.stop();
  cleanupSync();
  tmp = undefined;
}
console.log(JSON.stringify(out));
