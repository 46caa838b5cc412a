import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runConformance, WatchRecorder, waitFor } from './conformance.ts';
import { MemoryBackend } from './memory.ts';

runConformance('memory', async () => {
  const backend = new MemoryBackend({ reapIntervalMs: 50 });
  return { backend, cleanup: () => backend.close() };
});

test('memory: history window auto-compacts; failWatches ends watches', async () => {
  const b = new MemoryBackend({ historyRevisions: 5 });
  try {
    for (let i = 0; i < 20; i++) await b.put('/k', String(i));
    const rec = new WatchRecorder();
    b.watch('/', { fromRevision: 2 }, rec);
    await waitFor('compacted', () => rec.error !== undefined);
    assert.equal(rec.error?.reason, 'compacted');
    const ok = new WatchRecorder();
    b.watch('/', { fromRevision: 17 }, ok);
    await waitFor('events', () => ok.events.length === 4);
    b.failWatches();
    await waitFor('error', () => ok.error !== undefined);
    assert.equal(ok.error?.reason, 'error');
  } finally {
    await b.close();
  }
});
