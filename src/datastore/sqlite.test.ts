import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, isWeftError } from '../lib/errors.ts';
import { rejectsWith, runConformance, WatchRecorder, waitFor } from './conformance.ts';
import { SqliteBackend } from './sqlite.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'weft-sqlite-test-'));
  dirs.push(d);
  return d;
}
function removeDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
after(removeDirs);
process.on('exit', removeDirs);

runConformance('sqlite', async () => {
  const dir = tempDir();
  const backend = new SqliteBackend({ path: join(dir, 'weft.db'), reapIntervalMs: 50 });
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const worker = fileURLToPath(new URL('./testdata/sqlite-worker.ts', import.meta.url));

/** Runs the worker script in a child process; resolves with its stdout (JSON lines). */
function runWorker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`worker ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

describe('sqlite: several processes on one file', { timeout: 300_000 }, () => {
  test('a watch in this process sees writes made by a child process', async () => {
    const path = join(tempDir(), 'x.db');
    const b = new SqliteBackend({ path });
    try {
      const rev = await b.revision();
      const rec = new WatchRecorder();
      const w = b.watch('/cross/', { fromRevision: rev + 1 }, rec);
      await runWorker(['write', path, '/cross/', '5']);
      await waitFor('5 events from the child', () => rec.events.length >= 5);
      assert.deepEqual(
        rec.events.map((e) => (e.type === 'put' ? [e.key, e.value] : [])),
        [0, 1, 2, 3, 4].map((i) => [`/cross/k${i}`, `child-${i}`]),
      );
      w.cancel();
      assert.equal((await b.get('/cross/k4'))?.value, 'child-4');
    } finally {
      await b.close();
    }
  });

  test('two writer processes CAS-incrementing one counter lose no increment', async () => {
    const path = join(tempDir(), 'counter.db');
    const b = new SqliteBackend({ path });
    try {
      await b.create('/counter', '0');
      const rev = await b.revision();
      const rec = new WatchRecorder();
      const w = b.watch('/counter', { fromRevision: rev + 1 }, rec);
      const outs = await Promise.all([runWorker(['incr', path, '/counter', '150']), runWorker(['incr', path, '/counter', '150'])]);
      const results = outs.map((o) => JSON.parse(o.trim().split('\n').pop()!) as { ok: number; conflicts: number; acked: number[] });
      const ok = results[0].ok + results[1].ok;
      assert.equal(ok, 300);
      const final = await b.get('/counter');
      assert.equal(Number(final?.value), ok);
      // Every acknowledged value is distinct and the watch saw 1..300 in order.
      const acked = [...results[0].acked, ...results[1].acked].sort((x, y) => x - y);
      assert.deepEqual(acked, Array.from({ length: 300 }, (_, i) => i + 1));
      await waitFor('all counter events', () => rec.events.length >= 300);
      assert.deepEqual(
        rec.events.map((e) => (e.type === 'put' ? Number(e.value) : -1)),
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
      w.cancel();
    } finally {
      await b.close();
    }
  });

  test('auto-trim of the change log compacts old revisions', async () => {
    const b = new SqliteBackend({ path: join(tempDir(), 't.db'), historyRevisions: 100 });
    try {
      for (let i = 0; i < 600; i++) await b.put('/t/k', String(i));
      const rec = new WatchRecorder();
      b.watch('/t/', { fromRevision: 1 }, rec);
      await waitFor('compacted', () => rec.error !== undefined);
      assert.equal(rec.error?.reason, 'compacted');
      const ok = new WatchRecorder();
      const w = b.watch('/t/', { fromRevision: 580 }, ok);
      await waitFor('tail', () => ok.events.length === 21);
      w.cancel();
    } finally {
      await b.close();
    }
  });

  test('unusable path fails with ERR_DATASTORE_UNREACHABLE naming it', () => {
    const file = join(tempDir(), 'plain-file');
    writeFileSync(file, 'not a directory');
    const bad = join(file, 'sub', 'weft.db');
    assert.throws(
      () => new SqliteBackend({ path: bad }),
      (e: unknown) => isWeftError(e, ErrorCodes.DATASTORE_UNREACHABLE) && (e as Error).message.includes(bad),
    );
  });

  test('closed backend refuses calls', async () => {
    const b = new SqliteBackend({ path: join(tempDir(), 'c.db') });
    await b.close();
    await rejectsWith(b.get('/x'), ErrorCodes.DATASTORE);
  });
});
