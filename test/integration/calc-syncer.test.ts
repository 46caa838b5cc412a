/**
 * datastore → syncer → calc graph: resources written to a (memory) backend reach the calc graph
 * through the real Syncer, and the graph's incremental model converges to the model computed from
 * scratch from a fresh list of the store, through creates, updates and deletes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend, Syncer } from '../../src/datastore/index.ts';
import { CalcGraph, computeFromScratch } from '../../src/agent/calc/index.ts';
import { tracePolicy } from '../../src/policy/index.ts';
import * as t from '../../src/agent/calc/testing.ts';
import type { HostModel } from '../../src/policy/index.ts';

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function scratch(b: MemoryBackend, host: string): Promise<HostModel> {
  const all = await b.list('/calico/');
  return computeFromScratch(all.items, host);
}

test('syncer-fed calc graph converges to the from-scratch model', async () => {
  const b = new MemoryBackend({ reapIntervalMs: 60_000 });
  const g = new CalcGraph({ host: 'n1', autoFlush: true });
  const syncer = new Syncer(b, ['/calico/'], g, { pageSize: 3 });
  try {
    for (const kv of [
      t.wep('web', { node: 'n1', ips: ['192.0.2.10'], labels: { app: 'web' }, profiles: ['open'] }),
      t.wep('db', { node: 'n1', ips: ['192.0.2.11'], labels: { app: 'db' } }),
      t.profile('open', { egress: [{ action: 'Allow' }] }),
      t.gnp('db-in', { selector: "app == 'db'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app == 'web'" }, destination: { ports: [5432] } }] }),
    ]) await b.put(kv.key, kv.value);
    syncer.start();
    await until(() => g.inSync, 'in-sync');
    let want = await scratch(b, 'n1');
    await until(() => JSON.stringify(g.snapshot()) === JSON.stringify(want), 'initial model');
    assert.equal(tracePolicy(g.snapshot(), 'default/web', 'default/db', { dstPort: 5432 }).verdict, 'allow');

    // Streamed changes: a new remote web endpoint, a relabel, a policy edit and a delete.
    const web2 = t.wep('web2', { node: 'n2', ips: ['192.0.2.70'], labels: { app: 'web' } });
    await b.put(web2.key, web2.value);
    const relabel = t.wep('web', { node: 'n1', ips: ['192.0.2.10'], labels: { app: 'batch' }, profiles: ['open'] });
    await b.put(relabel.key, relabel.value);
    const edit = t.gnp('db-in', { selector: "app == 'db'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app in {'web', 'batch'}" }, destination: { ports: [5432, 5433] } }] });
    await b.put(edit.key, edit.value);
    await b.delete(web2.key);
    want = await scratch(b, 'n1');
    await until(() => JSON.stringify(g.snapshot()) === JSON.stringify(want), 'model after updates');
    assert.deepEqual(g.snapshot(), want);
    assert.equal(tracePolicy(g.snapshot(), 'default/web', 'default/db', { dstPort: 5433 }).verdict, 'allow');
  } finally {
    await syncer.stop();
    await b.close();
  }
});
