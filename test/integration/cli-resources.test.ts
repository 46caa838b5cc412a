/**
 * Issue #2 acceptance, through the real `weft` executable:
 * - the seed's v1 ipPool manifest created with `create -f -` reads back as a v3 IPPool with
 *   cidr 192.0.2.0/24 and blockSize 26, on SQLite and on a real etcd;
 * - invalid manifests are refused with field paths and leave the store unchanged;
 * - an unreachable etcd fails within 5 s naming the address and where it came from.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { weft, REPO_ROOT } from '../helpers/cli.ts';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.ts';

const SEED = readFileSync(join(REPO_ROOT, 'examples/seed-ippool.yaml'), 'utf8');
const BAD = readFileSync(join(REPO_ROOT, 'examples/bad-ippool.yaml'), 'utf8');

function suite(name: string, setup: () => Promise<{ env: NodeJS.ProcessEnv; cleanup: () => Promise<void> }>): void {
  describe(`weft CLI on ${name}`, () => {
    let env: NodeJS.ProcessEnv = {};
    let cleanup: () => Promise<void> = async () => {};
    before(async () => { ({ env, cleanup } = await setup()); });
    after(async () => { await cleanup(); });

    test('seed v1 ipPool → v3 IPPool with defaults', async () => {
      const c = await weft(['create', '-f', '-'], { env, input: SEED });
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /Successfully created 1 'IPPool' resource/);
      const g = await weft(['get', 'ippools', '-o', 'yaml'], { env });
      assert.equal(g.code, 0, g.stderr);
      type Doc = { apiVersion: string; kind: string; metadata: { name: string; resourceVersion: string }; spec: Record<string, unknown> };
      // calicoctl prints `get KIND` as a <Kind>List, even with one item.
      const list = parseYaml(g.stdout) as { kind: string; items: Doc[] };
      assert.equal(list.kind, 'IPPoolList');
      assert.equal(list.items.length, 1);
      const doc = list.items[0];
      assert.equal(doc.apiVersion, 'projectcalico.org/v3');
      assert.equal(doc.kind, 'IPPool');
      assert.equal(doc.metadata.name, '192-0-2-0-24');
      assert.match(doc.metadata.resourceVersion, /^\d+$/);
      assert.equal(doc.spec.cidr, '192.0.2.0/24');
      assert.equal(doc.spec.blockSize, 26);
      assert.equal(doc.spec.ipipMode, 'Never');
      assert.equal(doc.spec.vxlanMode, 'Never');
      assert.equal(doc.spec.nodeSelector, 'all()');
      // The table form names it too; creating it again is refused, --skip-exists is not.
      const t = await weft(['get', 'ipp'], { env });
      assert.match(t.stdout, /192-0-2-0-24\s+192\.0\.2\.0\/24/);
      const again = await weft(['create', '-f', '-'], { env, input: SEED });
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already exists/);
      const skip = await weft(['create', '--skip-exists', '-f', '-'], { env, input: SEED });
      assert.equal(skip.code, 0, skip.stderr);
    });

    test('invalid manifest: field path in the error, nothing stored', async () => {
      const before = await weft(['get', 'ippools', '-o', 'json'], { env });
      assert.equal(before.code, 0, before.stderr);
      const c = await weft(['create', '-f', '-'], { env, input: BAD });
      assert.equal(c.code, 1);
      assert.match(c.stderr, /document 2/);
      assert.match(c.stderr, /pool-c/);
      assert.match(c.stderr, /spec\.cidr/);
      assert.match(c.stderr, /203\.0\.113\.0\/33/);
      const afterGet = await weft(['get', 'ippools', '-o', 'json'], { env });
      assert.equal(afterGet.stdout, before.stdout, 'store changed by a refused create');
      const none = await weft(['get', 'ippool', 'pool-b'], { env });
      assert.equal(none.code, 1);
      assert.match(none.stderr, /not found|does not exist/i);
    });

    test('usage errors exit 2', async () => {
      const r = await weft(['get'], { env });
      assert.equal(r.code, 2);
      const k = await weft(['get', 'nosuchkind'], { env });
      assert.equal(k.code, 2);
      assert.match(k.stderr, /nosuchkind/);
    });
  });
}

suite('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
  return {
    env: { WEFT_DATASTORE: `sqlite:${dir}/weft.db` },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

suite('etcd', async () => {
  const cluster: EtcdCluster = await startEtcd({ members: 1 });
  return {
    env: { ETCD_ENDPOINTS: cluster.endpoints.join(','), DATASTORE_TYPE: 'etcdv3' },
    cleanup: () => cluster.stop(),
  };
});

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

test('unreachable etcd: clear error within 5 s naming the address and its source', async () => {
  const port = await closedPort();
  const r = await weft(['get', 'ippools'], { env: { ETCD_ENDPOINTS: `http://127.0.0.1:${port}` }, timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '', 'no partial output on stdout');
  assert.match(r.stderr, new RegExp(`cannot reach datastore etcd http://127\\.0\\.0\\.1:${port} \\(from ETCD_ENDPOINTS\\)`));
  assert.match(r.stderr, /Hint: /);
  // Includes Node start-up; the datastore deadline itself is 4 s (CONNECT_DEADLINE_MS).
  assert.ok(r.ms < 5_000 + 2_000, `took ${r.ms} ms`);
});
