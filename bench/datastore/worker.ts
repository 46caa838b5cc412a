/**
 * Benchmark writer process: CAS-increments one counter key for a fixed time.
 *   worker.ts '<DatastoreSpec JSON>' <key> <durationMs> <writerId> [update|txn]
 * `txn` mode writes each increment together with a create of a second key in one atomic `txn` (the
 * shape of an IPAM allocation: block CAS + handle create).
 * The value carries the wall-clock time taken just before the successful CAS was sent, so the
 * parent's watch can measure write-start → event-delivered latency across processes.
 * Prints one JSON line: {"ok","conflicts","errors","acks":[[n, ackTimeMs]…]}.
 */
import { ErrorCodes, isWeftError } from '../../src/lib/errors.ts';
import { openBackend, type DatastoreSpec } from '../../src/datastore/index.ts';

const [specJson, key, durStr, writer, mode = 'update'] = process.argv.slice(2);
const spec = JSON.parse(specJson) as DatastoreSpec;
const b = await openBackend(spec);
const now = (): number => performance.timeOrigin + performance.now();
let ok = 0;
let conflicts = 0;
let errors = 0;
/** [n, wall-clock ms when the CAS was acknowledged] per successful write. */
const acks: [number, number][] = [];
try {
  const end = Date.now() + Number(durStr);
  let cur = await b.get(key);
  while (Date.now() < end) {
    if (cur === undefined) throw new Error('counter missing');
    const n = (JSON.parse(cur.value) as { n: number }).n + 1;
    const value = JSON.stringify({ n, writer, t: now() });
    try {
      let kv;
      if (mode === 'txn') {
        if (b.txn === undefined) throw new Error(`${b.address} has no txn`);
        [kv] = await b.txn([
          { key, value, revision: cur.revision },
          { key: `/weft-bench/txnlog/${writer}/${n}`, value, create: true },
        ]);
      } else {
        kv = await b.update(key, value, { revision: cur.revision });
      }
      ok++;
      acks.push([n, now()]);
      cur = kv;
    } catch (e) {
      if (isWeftError(e, ErrorCodes.REVISION_CONFLICT)) conflicts++;
      else errors++;
      cur = await b.get(key);
    }
  }
} finally {
  await b.close();
}
process.stdout.write(`${JSON.stringify({ ok, conflicts, errors, acks })}\n`);
