import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDatastore, parseDatastoreURL, describeDatastore } from './index.ts';
import { isWeftError } from '../lib/errors.ts';

const none: string[] = [];

test('default is the embedded SQLite file', () => {
  const r = resolveDatastore({ env: {}, defaultFiles: none });
  assert.deepEqual(r.spec, { type: 'sqlite', path: '/var/lib/weft/weft.db' });
  assert.equal(r.source, 'default');
});

test('flag beats env; env beats calicoctl variables', () => {
  const env = { WEFT_DATASTORE: 'sqlite:/tmp/x.db', ETCD_ENDPOINTS: 'http://127.0.0.1:2379' };
  assert.deepEqual(resolveDatastore({ flag: 'etcd://127.0.0.1:1,127.0.0.2:2', env, defaultFiles: none }).spec,
    { type: 'etcd', endpoints: ['http://127.0.0.1:1', 'http://127.0.0.2:2'] });
  assert.deepEqual(resolveDatastore({ env, defaultFiles: none }).spec, { type: 'sqlite', path: '/tmp/x.db' });
  const r = resolveDatastore({ env: { ETCD_ENDPOINTS: '127.0.0.1:2379', ETCD_CA_CERT_FILE: '/ca' }, defaultFiles: none });
  assert.deepEqual(r.spec, { type: 'etcd', endpoints: ['https://127.0.0.1:2379'], caFile: '/ca' });
  assert.equal(r.source, 'ETCD_ENDPOINTS');
  assert.match(describeDatastore(r), /from ETCD_ENDPOINTS/);
});

test('DATASTORE_TYPE=etcdv3 without endpoints names the variable and the fix', () => {
  assert.throws(() => resolveDatastore({ env: { DATASTORE_TYPE: 'etcdv3' }, defaultFiles: none }), (e: unknown) => {
    assert.ok(isWeftError(e, 'ERR_DATASTORE_CONFIG'));
    assert.match(e.message, /no etcd endpoints specified \(from DATASTORE_TYPE\)/);
    assert.match(e.hint ?? '', /ETCD_ENDPOINTS/);
    return true;
  });
  assert.throws(() => resolveDatastore({ env: { DATASTORE_TYPE: 'kubernetes' }, defaultFiles: none }), /not supported/);
});

test('config files: Weft YAML and the seeds\' calicoApiConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cfg-'));
  try {
    const weft = join(dir, 'weft.yaml');
    writeFileSync(weft, 'datastore: etcd://127.0.0.1:23790\netcd:\n  username: u\n  password: p\n');
    assert.deepEqual(resolveDatastore({ configFile: weft, env: {} }).spec,
      { type: 'etcd', endpoints: ['http://127.0.0.1:23790'], username: 'u', password: 'p' });
    const calico = join(dir, 'calicoctl.cfg');
    writeFileSync(calico, 'apiVersion: v1\nkind: calicoApiConfig\nmetadata:\nspec:\n  datastoreType: "etcdv2"\n  etcdEndpoints: "http://127.0.0.1:2379"\n');
    const r = resolveDatastore({ env: {}, defaultFiles: [join(dir, 'absent.yaml'), calico] });
    assert.deepEqual(r.spec, { type: 'etcd', endpoints: ['http://127.0.0.1:2379'] });
    assert.equal(r.source, calico);
    assert.throws(() => resolveDatastore({ configFile: join(dir, 'nope.yaml'), env: {} }), /does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad datastore addresses are refused with the source named', () => {
  for (const bad of ['etcd://', 'etcd://hostonly', 'mysql://x', 'nonsense', 'sqlite:']) {
    assert.throws(() => parseDatastoreURL(bad, '--datastore flag'), (e: unknown) => {
      assert.ok(isWeftError(e, 'ERR_DATASTORE_CONFIG'), bad);
      assert.match(e.message, /from --datastore flag/);
      return true;
    });
  }
  assert.deepEqual(parseDatastoreURL('sqlite:///var/x.db', 'f'), { type: 'sqlite', path: '/var/x.db' });
  assert.deepEqual(parseDatastoreURL('sqlite:rel.db', 'f'), { type: 'sqlite', path: 'rel.db' });
});
