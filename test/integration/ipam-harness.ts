/**
 * Drives ipam-worker.ts processes (one per simulated host) for the concurrency tests and the
 * benchmark. Every child is tracked and killed by PID in `kill()`, which callers put in finally.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { allocationsOf, blockProblems, type Ipam } from '../../src/ipam/index.ts';
import type { WorkerConfig } from './ipam-worker.ts';

const WORKER = fileURLToPath(new URL('./ipam-worker.ts', import.meta.url));

export interface Ack {
  host: string;
  handle: string;
  ip: string;
  ms: number;
}

interface Child {
  cfg: WorkerConfig;
  proc: ChildProcessWithoutNullStreams;
  errors: string[];
  stderr: string;
  waiters: Map<string, (rest: string) => void>;
  exited: boolean;
}

export class IpamWorkers {
  readonly acks: Ack[] = [];
  readonly #children: Child[] = [];
  onAck: ((a: Ack) => void) | undefined;

  static async start(configs: WorkerConfig[]): Promise<IpamWorkers> {
    const w = new IpamWorkers();
    try {
      await Promise.all(configs.map((c) => w.#spawn(c)));
    } catch (e) {
      w.kill();
      throw e;
    }
    return w;
  }

  #spawn(cfg: WorkerConfig): Promise<void> {
    const proc = spawn(process.execPath, [WORKER, JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, WEFT_LOG_LEVEL: process.env.WEFT_LOG_LEVEL ?? 'error' },
    });
    const child: Child = { cfg, proc, errors: [], stderr: '', waiters: new Map(), exited: false };
    this.#children.push(child);
    proc.stderr.setEncoding('utf8').on('data', (d: string) => {
      child.stderr = (child.stderr + d).slice(-20_000);
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.waiters.set('ready', () => resolve());
      proc.on('exit', (code, sig) => {
        child.exited = true;
        const err = new Error(`ipam worker ${cfg.host} exited (${code ?? sig}): ${child.stderr.slice(-2000)}`);
        reject(err);
        for (const [, w] of child.waiters) w(`EXIT ${code ?? sig}`);
        child.waiters.clear();
      });
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const [tag, ...rest] = line.split(' ');
      if (tag === 'A') {
        const a = { host: cfg.host, handle: rest[0], ip: rest[1], ms: Number(rest[2]) };
        this.acks.push(a);
        this.onAck?.(a);
        return;
      }
      if (tag === 'E') {
        child.errors.push(rest.join(' '));
        return;
      }
      const key = tag === 'ready' ? 'ready' : tag;
      const w = child.waiters.get(key);
      if (w) {
        child.waiters.delete(key);
        w(rest.join(' '));
      }
    });
    return ready;
  }

  #command(cmd: string, reply: string): Promise<string[]> {
    return Promise.all(
      this.#children.map(
        (c) =>
          new Promise<string>((resolve, reject) => {
            if (c.exited) return reject(new Error(`worker ${c.cfg.host} is gone`));
            c.waiters.set(reply, (rest) => (rest.startsWith('EXIT') ? reject(new Error(`worker ${c.cfg.host} exited: ${c.stderr.slice(-2000)}`)) : resolve(rest)));
            c.proc.stdin.write(cmd + '\n');
          }),
      ),
    );
  }

  /** Starts every worker at once; resolves with each worker's `D <count> <ms>` payload. */
  async run(): Promise<{ host: string; count: number; ms: number; maxRssKiB: number; cpuMs: number; errors: string[] }[]> {
    const res = await this.#command('go', 'D');
    return res.map((r, i) => {
      const [count, ms, rss, cpu] = r.split(' ').map(Number);
      return { host: this.#children[i].cfg.host, count, ms, maxRssKiB: rss, cpuMs: cpu, errors: this.#children[i].errors.slice() };
    });
  }

  async releaseAll(): Promise<{ host: string; count: number; ms: number }[]> {
    const res = await this.#command('release', 'R');
    return res.map((r, i) => {
      const [count, ms] = r.split(' ').map(Number);
      return { host: this.#children[i].cfg.host, count, ms };
    });
  }

  errors(): string[] {
    return this.#children.flatMap((c) => c.errors.map((e) => `${c.cfg.host}: ${e}`));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exited) return resolve();
            const t = setTimeout(() => {
              if (!c.exited && c.proc.pid !== undefined) process.kill(c.proc.pid, 'SIGKILL');
            }, 5000);
            c.proc.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            c.proc.stdin.write('exit\n');
          }),
      ),
    );
  }

  /** SIGKILLs every child still running (by PID). Safe to call more than once. */
  kill(): void {
    for (const c of this.#children) {
      if (!c.exited && c.proc.pid !== undefined) {
        try {
          process.kill(c.proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}

/** What the concurrency tests assert after a run: read back through a separate connection. */
export async function verifyAgainstStore(ipam: Ipam, acks: Ack[]): Promise<{
  distinct: number;
  missing: Ack[];
  wrongHandle: { ack: Ack; stored: string | null }[];
  corrupt: string[];
  extra: number;
}> {
  const stored = new Map<string, string | null>();
  const corrupt: string[] = [];
  for (const s of await ipam.listBlocks()) {
    const p = blockProblems(s.block);
    if (p.length > 0) corrupt.push(`${s.block.cidr}: ${p.join('; ')}`);
    for (const a of allocationsOf(s.block)) {
      if (stored.has(a.ip)) corrupt.push(`${a.ip} in two blocks`);
      stored.set(a.ip, a.handle);
    }
  }
  const missing: Ack[] = [];
  const wrongHandle: { ack: Ack; stored: string | null }[] = [];
  for (const a of acks) {
    if (!stored.has(a.ip)) missing.push(a);
    else if (stored.get(a.ip) !== a.handle) wrongHandle.push({ ack: a, stored: stored.get(a.ip) ?? null });
  }
  return { distinct: new Set(acks.map((a) => a.ip)).size, missing, wrongHandle, corrupt, extra: stored.size - acks.length };
}
