/**
 * Child process for the SQLite cross-process tests and the benchmark.
 *   write <db> <prefix> <n>      puts n keys <prefix>k<i> = child-<i>
 *   incr <db> <key> <n>          n successful CAS increments of an integer counter (retrying on conflict);
 *                                prints {"ok","conflicts","acked":[values written]}
 */
import { isWeftError, ErrorCodes } from '../../lib/errors.ts';
import { SqliteBackend } from '../sqlite.ts';

const [cmd, path, key, nStr] = process.argv.slice(2);
const n = Number(nStr);
const b = new SqliteBackend({ path });
try {
  if (cmd === 'write') {
    for (let i = 0; i < n; i++) await b.put(`${key}k${i}`, `child-${i}`);
    process.stdout.write('{"ok":true}\n');
  } else if (cmd === 'incr') {
    let ok = 0;
    let conflicts = 0;
    const acked: number[] = [];
    while (ok < n) {
      const cur = await b.get(key);
      if (cur === undefined) throw new Error('counter missing');
      const next = Number(cur.value) + 1;
      try {
        await b.update(key, String(next), { revision: cur.revision });
        ok++;
        acked.push(next);
      } catch (e) {
        if (!isWeftError(e, ErrorCodes.REVISION_CONFLICT)) throw e;
        conflicts++;
      }
    }
    process.stdout.write(`${JSON.stringify({ ok, conflicts, acked })}\n`);
  } else {
    throw new Error(`unknown command ${cmd}`);
  }
} finally {
  await b.close();
}
