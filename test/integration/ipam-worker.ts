/**
 * One "host" for the IPAM concurrency tests and the benchmark: a separate process with its own
 * datastore connection that auto-assigns `count` addresses (one per handle) as fast as it can.
 *
 * argv[2] = JSON WorkerConfig. Protocol on stdio (one line each):
 *   → `ready`                   connected, waiting
 *   ← `go`                      start allocating
 *   → `A <handle> <ip> <ms>`    an acknowledged allocation (printed only after autoAssign returned)
 *   → `E <message>`             a failed attempt (retried with the same handle)
 *   → `D <count> <ms> <maxRSS KiB> <cpu ms>` all allocations done
 *   ← `release`                 release every handle this worker got
 *   → `R <count> <ms>`          released
 *   ← `exit`
 */
import { createInterface } from 'node:readline';
import { SqliteBackend, openBackend, type DatastoreSpec } from '../../src/datastore/index.ts';
import { Ipam } from '../../src/ipam/index.ts';

export interface WorkerConfig {
  backend: DatastoreSpec;
  host: string;
  count: number;
  handlePrefix: string;
  family: 4 | 6;
  /** SQLite only: override the backend's fsync policy (benchmark comparison). */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** Ipam option (see IpamOptions.contextCacheMs). */
  contextCacheMs?: number;
  /** Give up on one allocation after this many failed attempts. */
  maxAttempts?: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const backend =
  cfg.backend.type === 'sqlite' && cfg.sqliteSynchronous !== undefined
    ? new SqliteBackend({ path: cfg.backend.path, synchronous: cfg.sqliteSynchronous })
    : await openBackend(cfg.backend);
const ipam = new Ipam(backend, { unreachableTimeoutMs: 60_000, contextCacheMs: cfg.contextCacheMs ?? 0 });
await backend.revision();

const out = (s: string): void => {
  process.stdout.write(s + '\n');
};

const lines = createInterface({ input: process.stdin });
const waiting: ((l: string) => void)[] = [];
const queued: string[] = [];
lines.on('line', (l) => {
  const w = waiting.shift();
  if (w) w(l.trim());
  else queued.push(l.trim());
});
lines.on('close', () => {
  // Parent went away: never linger.
  process.exit(3);
});
const next = (): Promise<string> => new Promise((r) => (queued.length > 0 ? r(queued.shift() as string) : waiting.push(r)));

out('ready');
const handles: string[] = [];
for (;;) {
  const cmd = await next();
  if (cmd === 'go') {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < cfg.count; i++) {
      const handle = `${cfg.handlePrefix}.${i}`;
      for (let attempt = 1; ; attempt++) {
        const t = performance.now();
        try {
          const r = await ipam.autoAssign({ host: cfg.host, handle, ...(cfg.family === 4 ? { num4: 1 } : { num6: 1 }), attrs: { pod: `p${i}` } });
          const ip = (cfg.family === 4 ? r.ipv4 : r.ipv6)[0].ip;
          handles.push(handle);
          out(`A ${handle} ${ip} ${(performance.now() - t).toFixed(3)}`);
          break;
        } catch (e) {
          out(`E ${(e as Error).message.replace(/\n/g, ' ')}`);
          if (attempt >= (cfg.maxAttempts ?? 20)) break;
        }
      }
    }
    const cpu = process.cpuUsage(c0);
    out(`D ${handles.length} ${(performance.now() - t0).toFixed(1)} ${process.resourceUsage().maxRSS} ${((cpu.user + cpu.system) / 1000).toFixed(1)}`);
  } else if (cmd === 'release') {
    const t0 = performance.now();
    let n = 0;
    for (const h of handles) {
      for (let attempt = 1; ; attempt++) {
        try {
          n += (await ipam.releaseByHandle(h)).released.length;
          break;
        } catch (e) {
          out(`E ${(e as Error).message.replace(/\n/g, ' ')}`);
          if (attempt >= (cfg.maxAttempts ?? 20)) break;
        }
      }
    }
    out(`R ${n} ${(performance.now() - t0).toFixed(1)}`);
  } else if (cmd === 'exit') {
    break;
  }
}
await backend.close();
process.exit(0);
