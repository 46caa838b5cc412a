import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { MemoryBackend, resourceKey } from '../datastore/index.ts';
import { isWeftError } from '../lib/errors.ts';
import { DEFAULT_ALLOW_PROFILE, ResourceClient, mergePatch } from './client.ts';
import { parseManifests } from './manifest.ts';
import { v3 } from './testutil.ts';
import type { IPPool, Resource } from './validate.ts';

/** Narrows a write result known to be an IPPool. */
const asPool = (r: Resource): IPPool => {
  assert.equal(r.kind, 'IPPool');
  return r as IPPool;
};

const pool = (name: string, cidr: string, extra: Record<string, unknown> = {}) => v3('IPPool', { name }, { cidr, ...extra });

let backend: MemoryBackend;
let client: ResourceClient;
let uidN = 0;

beforeEach(() => {
  backend = new MemoryBackend();
  uidN = 0;
  client = new ResourceClient(backend, { now: () => new Date('2026-01-02T03:04:05.678Z'), newUid: () => `uid-${++uidN}` });
});
afterEach(async () => {
  await backend.close();
});

const code = (c: string) => (e: unknown) => isWeftError(e) && e.code === c;

describe('ResourceClient single-object operations', () => {
  test('create stores the v3 object without resourceVersion and returns it with one', async () => {
    const r = await client.create(pool('a', '192.0.2.0/24', { natOutgoing: true }));
    assert.equal(r.metadata.name, 'a');
    const md = r.metadata as Record<string, unknown>;
    assert.equal(md.creationTimestamp, '2026-01-02T03:04:05Z');
    assert.equal(md.uid, 'uid-1');
    const kv = await backend.get(resourceKey({ kind: 'IPPool', name: 'a' }));
    assert.ok(kv);
    assert.equal(md.resourceVersion, String(kv.revision));
    const stored = JSON.parse(kv.value);
    assert.equal(stored.metadata.resourceVersion, undefined);
    assert.equal(stored.spec.blockSize, 26);
    assert.deepEqual(await client.get('IPPool', 'a'), r);
    await assert.rejects(client.create(pool('a', '192.0.2.0/24')), code('ERR_ALREADY_EXISTS'));
  });
  test('create accepts v1 documents', async () => {
    const r = await client.create({ apiVersion: 'v1', kind: 'ipPool', metadata: { cidr: '192.0.2.0/24' } });
    assert.equal(r.metadata.name, '192-0-2-0-24');
    const got = await client.get('IPPool', '192-0-2-0-24');
    assert.equal(got.spec.cidr, '192.0.2.0/24');
  });
  test('invalid documents are refused and store nothing', async () => {
    await assert.rejects(client.create(pool('a', '192.0.2.0/33')), { code: 'ERR_VALIDATION', message: 'IPPool "a": spec.cidr: "192.0.2.0/33" is not a CIDR' });
    assert.equal((await backend.list('/calico/')).items.length, 0);
  });
  test('replace needs an existing object and honours resourceVersion as CAS', async () => {
    await assert.rejects(client.replace(pool('a', '192.0.2.0/24')), code('ERR_NOT_FOUND'));
    const c = await client.create(pool('a', '192.0.2.0/24'));
    const rv = (c.metadata as { resourceVersion: string }).resourceVersion;
    const r1 = asPool(await client.replace(pool('a', '192.0.2.0/24', { disabled: true })));
    assert.equal(r1.spec.disabled, true);
    const md = r1.metadata as Record<string, unknown>;
    assert.equal(md.uid, 'uid-1', 'uid kept');
    assert.notEqual(md.resourceVersion, rv);
    // Stale resourceVersion → conflict, nothing changed.
    await assert.rejects(client.replace({ ...pool('a', '192.0.2.0/24'), metadata: { name: 'a', resourceVersion: rv } }), code('ERR_REVISION_CONFLICT'));
    assert.equal((await client.get('IPPool', 'a')).spec.disabled, true);
    // Current resourceVersion → accepted.
    const r2 = asPool(await client.replace({ ...pool('a', '192.0.2.0/24'), metadata: { name: 'a', resourceVersion: md.resourceVersion } }));
    assert.equal(r2.spec.disabled, false);
  });
  test('apply creates or replaces', async () => {
    const a = await client.apply(pool('a', '192.0.2.0/24'));
    const b = asPool(await client.apply(pool('a', '192.0.2.0/24', { natOutgoing: true })));
    assert.equal(b.spec.natOutgoing, true);
    assert.equal((b.metadata as Record<string, unknown>).uid, (a.metadata as Record<string, unknown>).uid);
  });
  test('delete, with optional CAS', async () => {
    const c = await client.create(pool('a', '192.0.2.0/24'));
    await client.replace(pool('a', '192.0.2.0/24', { disabled: true }));
    await assert.rejects(client.delete({ kind: 'IPPool', name: 'a', resourceVersion: (c.metadata as { resourceVersion: string }).resourceVersion }), code('ERR_REVISION_CONFLICT'));
    const d = await client.delete({ kind: 'IPPool', name: 'a' });
    assert.equal(d.spec.disabled, true);
    await assert.rejects(client.get('IPPool', 'a'), code('ERR_NOT_FOUND'));
    await assert.rejects(client.delete({ kind: 'IPPool', name: 'a' }), { code: 'ERR_NOT_FOUND', message: 'IPPool "a" not found' });
  });
  test('list: kind, namespace or all namespaces, sorted', async () => {
    for (const [ns, name] of [['b', 'x'], ['a', 'y'], ['a', 'x']]) {
      await client.create(v3('NetworkPolicy', { name, namespace: ns }, { selector: 'all()' }));
    }
    await client.create(v3('NetworkSet', { name: 'n' }));
    const all = await client.list('NetworkPolicy');
    assert.deepEqual(all.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), ['a/x', 'a/y', 'b/x']);
    assert.deepEqual((await client.list('NetworkPolicy', { namespace: 'a' })).map((r) => r.metadata.name), ['x', 'y']);
    assert.equal((await client.get('NetworkSet', 'n')).metadata.namespace, 'default');
    assert.deepEqual(await client.list('IPPool'), []);
  });
  test('the built-in default-allow profile is visible and read-only', async () => {
    const p = await client.get('Profile', DEFAULT_ALLOW_PROFILE);
    assert.deepEqual(p.spec, { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] });
    await client.create(v3('Profile', { name: 'zz' }));
    assert.deepEqual((await client.list('Profile')).map((r) => r.metadata.name), [DEFAULT_ALLOW_PROFILE, 'zz']);
    await assert.rejects(client.create(v3('Profile', { name: DEFAULT_ALLOW_PROFILE })), code('ERR_ALREADY_EXISTS'));
    await assert.rejects(client.delete({ kind: 'Profile', name: DEFAULT_ALLOW_PROFILE }), code('ERR_UNSUPPORTED'));
  });
  test('patch merges spec and labels, re-validates, keeps identity', async () => {
    await client.create(pool('a', '192.0.2.0/24'));
    const r = await client.patch({ kind: 'IPPool', name: 'a' }, { spec: { natOutgoing: true }, metadata: { labels: { env: 'prod' } } });
    assert.equal(r.spec.natOutgoing, true);
    assert.equal(r.spec.cidr, '192.0.2.0/24');
    assert.deepEqual(r.metadata.labels, { env: 'prod' });
    const r2 = await client.patch({ kind: 'IPPool', name: 'a' }, '{"metadata":{"labels":{"env":null}}}');
    assert.equal(r2.metadata.labels, undefined);
    await assert.rejects(client.patch({ kind: 'IPPool', name: 'a' }, { spec: { blockSize: 12 } }), (e) => isWeftError(e, 'ERR_VALIDATION') && /spec\.blockSize/.test(e.message));
    await assert.rejects(client.patch({ kind: 'IPPool', name: 'a' }, { metadata: { name: 'b' } }), code('ERR_USAGE'));
    await assert.rejects(client.patch({ kind: 'IPPool', name: 'a' }, { kind: 'Tier' }), code('ERR_USAGE'));
    await assert.rejects(client.patch({ kind: 'IPPool', name: 'nope' }, { spec: {} }), code('ERR_NOT_FOUND'));
    assert.equal((await client.get('IPPool', 'a')).spec.blockSize, 26);
  });
  test('label: set, overwrite rule, remove', async () => {
    await client.create(v3('GlobalNetworkSet', { name: 'g', labels: { role: 'db' } }, { nets: ['198.51.100.0/24'] }));
    const ref = { kind: 'GlobalNetworkSet' as const, name: 'g' };
    let r = await client.label(ref, { set: { env: 'prod' } });
    assert.deepEqual(r.metadata.labels, { role: 'db', env: 'prod' });
    r = await client.label(ref, { set: { env: 'prod' } }); // same value: fine without overwrite
    await assert.rejects(client.label(ref, { set: { env: 'dev' } }), (e) => isWeftError(e, 'ERR_ALREADY_EXISTS') && e.hint === 'use --overwrite to change it');
    r = await client.label(ref, { set: { env: 'dev' }, overwrite: true });
    assert.equal(r.metadata.labels?.env, 'dev');
    r = await client.label(ref, { remove: ['role', 'env'] });
    assert.equal(r.metadata.labels, undefined);
    await assert.rejects(client.label(ref, { remove: ['role'] }), code('ERR_NOT_FOUND'));
    await assert.rejects(client.label(ref, { set: { 'bad key': 'x' } }), code('ERR_VALIDATION'));
  });
  test('IPPool admission: no overlaps, cidr and blockSize immutable', async () => {
    await client.create(pool('a', '192.0.2.0/25'));
    await assert.rejects(client.create(pool('b', '192.0.2.0/24')), {
      code: 'ERR_VALIDATION',
      message: 'IPPool "b": spec.cidr: 192.0.2.0/24 overlaps IPPool "a" (192.0.2.0/25)',
    });
    await client.create(pool('b', '192.0.2.128/25'));
    await assert.rejects(client.replace(pool('a', '198.51.100.0/24')), (e) => isWeftError(e, 'ERR_VALIDATION') && /spec\.cidr: cannot be changed/.test(e.message));
    await assert.rejects(client.apply(pool('a', '192.0.2.0/25', { blockSize: 28 })), (e) => isWeftError(e, 'ERR_VALIDATION') && /spec\.blockSize: cannot be changed/.test(e.message));
    await assert.rejects(client.patch({ kind: 'IPPool', name: 'a' }, { spec: { cidr: '203.0.113.0/24' } }), code('ERR_VALIDATION'));
    assert.equal((await client.get('IPPool', 'a')).spec.cidr, '192.0.2.0/25');
    await client.replace(pool('a', '192.0.2.0/25', { natOutgoing: true })); // same cidr: fine
  });
  test('patch retries when another writer changes the object in between', async () => {
    await client.create(pool('a', '192.0.2.0/24'));
    // Interleave a concurrent write after the first read of the patch.
    const key = resourceKey({ kind: 'IPPool', name: 'a' });
    const realGet = backend.get.bind(backend);
    let interfered = false;
    backend.get = async (k: string) => {
      const kv = await realGet(k);
      if (!interfered && k === key && kv) {
        interfered = true;
        const v = JSON.parse(kv.value);
        v.spec.disabled = true;
        await backend.put(k, JSON.stringify(v));
      }
      return kv;
    };
    const r = await client.patch({ kind: 'IPPool', name: 'a' }, { spec: { natOutgoing: true } });
    assert.deepEqual([r.spec.natOutgoing, r.spec.disabled], [true, true]);
  });
});

describe('ResourceClient.run (multi-document)', () => {
  const manifest = (...docs: string[]) => parseManifests(docs.join('---\n'), 'm.yaml');
  const poolY = (name: string, cidr: string) => `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ${name}}\nspec: {cidr: ${cidr}}\n`;

  test('a multi-document create with one invalid document stores nothing', async () => {
    const docs = manifest(poolY('a', '192.0.2.0/26'), poolY('b', '192.0.2.64/33'), poolY('c', '192.0.2.128/26'));
    await assert.rejects(client.run('create', docs), (e) => isWeftError(e, 'ERR_VALIDATION') && e.message === 'document 2 (IPPool "b"): spec.cidr: "192.0.2.64/33" is not a CIDR');
    assert.equal((await backend.list('/calico/')).items.length, 0);
    assert.equal(await backend.revision(), 0);
  });
  test('create refuses existing objects before writing anything, unless --skip-exists', async () => {
    await client.create(pool('b', '192.0.2.64/26'));
    const rev = await backend.revision();
    const docs = manifest(poolY('a', '192.0.2.0/26'), poolY('b', '192.0.2.64/26'));
    await assert.rejects(client.run('create', docs), (e) => isWeftError(e, 'ERR_ALREADY_EXISTS') && /document 2 \(IPPool "b"\): already exists/.test(e.message));
    assert.equal(await backend.revision(), rev);
    const items = await client.run('create', docs, { skipExists: true });
    assert.deepEqual(items.map((i) => [i.name, i.status]), [['a', 'created'], ['b', 'skipped']]);
  });
  test('overlapping pools within one batch are refused before any write', async () => {
    const docs = manifest(poolY('a', '192.0.2.0/24'), poolY('b', '192.0.2.128/25'));
    await assert.rejects(client.run('create', docs), (e) => isWeftError(e, 'ERR_VALIDATION') && /overlaps IPPool/.test(e.message));
    assert.equal(await backend.revision(), 0);
  });
  test('duplicates within a batch are refused', async () => {
    await assert.rejects(client.run('apply', manifest(poolY('a', '192.0.2.0/26'), poolY('a', '192.0.2.64/26'))), (e) => isWeftError(e, 'ERR_VALIDATION') && /same resource as document 1/.test(e.message));
  });
  test('apply, replace and delete batches', async () => {
    const docs = manifest(poolY('a', '192.0.2.0/26'), poolY('b', '192.0.2.64/26'));
    assert.deepEqual((await client.run('apply', docs)).map((i) => i.status), ['created', 'created']);
    assert.deepEqual((await client.run('apply', docs)).map((i) => i.status), ['replaced', 'replaced']);
    assert.deepEqual((await client.run('replace', docs)).map((i) => i.status), ['replaced', 'replaced']);
    await assert.rejects(client.run('replace', manifest(poolY('zz', '198.51.100.0/24'))), code('ERR_NOT_FOUND'));
    const withMissing = manifest(poolY('a', '192.0.2.0/26'), poolY('zz', '198.51.100.0/24'));
    await assert.rejects(client.run('delete', withMissing), code('ERR_NOT_FOUND'));
    assert.equal((await client.list('IPPool')).length, 2, 'nothing deleted');
    assert.deepEqual((await client.run('delete', withMissing, { skipNotExists: true })).map((i) => i.status), ['deleted', 'skipped']);
    assert.deepEqual((await client.list('IPPool')).map((r) => r.metadata.name), ['b']);
  });
  test('namespace option fills in and checks namespaces', async () => {
    const np = (ns?: string) => `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p${ns ? `, namespace: ${ns}` : ''}}\n`;
    const items = await client.run('create', manifest(np()), { namespace: 'prod' });
    assert.equal(items[0].namespace, 'prod');
    await assert.rejects(client.run('create', manifest(np('dev')), { namespace: 'prod' }), (e) => isWeftError(e, 'ERR_VALIDATION') && /does not match/.test(e.message));
  });
});

test('mergePatch follows RFC 7386', () => {
  assert.deepEqual(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } }), { a: 'z', c: { d: 'e' } });
  assert.deepEqual(mergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
  assert.deepEqual(mergePatch({ a: 1 }, 'x'), 'x');
  assert.deepEqual(mergePatch('x', { a: { b: null } }), { a: {} });
});
