import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, isWeftError } from '../lib/errors.ts';
import { openBackend, parseSqliteTarget } from './factory.ts';
import { SqliteBackend } from './sqlite.ts';

test('sqlite target: ?sync= option, plain paths untouched, bad options refused', () => {
  assert.deepEqual(parseSqliteTarget('/var/lib/weft/weft.db'), { path: '/var/lib/weft/weft.db' });
  assert.deepEqual(parseSqliteTarget('/x/w.db?sync=normal'), { path: '/x/w.db', synchronous: 'normal' });
  assert.deepEqual(parseSqliteTarget('rel.db?sync=FULL'), { path: 'rel.db', synchronous: 'full' });
  assert.deepEqual(parseSqliteTarget('/odd?name/w.db'), { path: '/odd?name/w.db' });
  assert.throws(() => parseSqliteTarget('/x/w.db?sync=off'), (e) => isWeftError(e, ErrorCodes.DATASTORE_CONFIG));
  assert.throws(() => parseSqliteTarget('/x/w.db?cache=shared'), (e) => isWeftError(e, ErrorCodes.DATASTORE_CONFIG));
});

test('openBackend: full by default, normal from the path or the spec', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-factory-'));
  try {
    const path = join(dir, 'w.db');
    for (const [spec, want] of [
      [{ type: 'sqlite', path }, 'full'],
      [{ type: 'sqlite', path: `${path}?sync=normal` }, 'normal'],
      [{ type: 'sqlite', path: `${path}?sync=normal`, synchronous: 'full' }, 'full'],
    ] as const) {
      const b = await openBackend(spec);
      try {
        assert.ok(b instanceof SqliteBackend);
        assert.equal(b.path, path);
        assert.equal(b.synchronous, want);
      } finally {
        await b.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
