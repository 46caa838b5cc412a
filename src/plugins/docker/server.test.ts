/** The plugin over real unix sockets: discovery files, HTTP details, malformed traffic. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FakeLinkOps } from '../../agent/netlink/index.ts';
import { MemoryBackend, resourceKey } from '../../datastore/index.ts';
import { Ipam } from '../../ipam/index.ts';
import { poolResource, snapshot } from './fixtures.ts';
import { LinkPlumbing } from './plumbing.ts';
import { startDockerPlugin, type DockerPlugin } from './index.ts';

function post(socket: string, path: string, body: string | Buffer, method = 'POST'): Promise<{ status: number; type: string; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method, headers: { Accept: 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function withPlugin(fn: (p: DockerPlugin, dir: string, backend: MemoryBackend) => Promise<void>, extra: { calicoAliases?: boolean } = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wdp-'));
  const backend = new MemoryBackend();
  await backend.put(resourceKey({ kind: 'IPPool', name: 'pool-a' }), poolResource('pool-a', '192.0.2.0/24'));
  const p = await startDockerPlugin({
    backend,
    host: 'host1',
    ipam: new Ipam(backend),
    socketDir: join(dir, 'run'),
    pluginDir: join(dir, 'plugins'),
    dockerSocket: null,
    plumbing: new LinkPlumbing(new FakeLinkOps()),
    ...extra,
  });
  try {
    await fn(p, dir, backend);
  } finally {
    await p.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('plugin sockets and discovery', () => {
  test('spec files point at the sockets; Activate per driver; aliases; close removes everything', async () => {
    let files: readonly string[] = [];
    let sockets: string[] = [];
    await withPlugin(async (p, dir) => {
      files = p.specFiles;
      sockets = [p.networkSocket, p.ipamSocket];
      assert.deepEqual(p.specFiles.map((f) => f.slice(dir.length)), ['/plugins/weft.spec', '/plugins/weft-ipam.spec', '/plugins/calico.spec', '/plugins/calico-ipam.spec']);
      assert.equal(readFileSync(join(dir, 'plugins', 'weft.spec'), 'utf8'), `unix://${p.networkSocket}\n`);
      assert.equal(readFileSync(join(dir, 'plugins', 'calico-ipam.spec'), 'utf8'), `unix://${p.ipamSocket}\n`);
      const a = await post(p.networkSocket, '/Plugin.Activate', '');
      assert.deepEqual(a, { status: 200, type: 'application/vnd.docker.plugins.v1.2+json', json: { Implements: ['NetworkDriver'] } });
      assert.deepEqual((await post(p.ipamSocket, '/Plugin.Activate', '')).json, { Implements: ['IpamDriver'] });
      // Each socket serves only its own driver.
      assert.equal((await post(p.ipamSocket, '/NetworkDriver.GetCapabilities', '')).status, 404);
      const pool = await post(p.ipamSocket, '/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'CalicoLocalAddressSpace', Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false }));
      assert.equal(pool.json.PoolID, 'pool-a');
    }, { calicoAliases: true });
    for (const f of [...files, ...sockets]) assert.equal(existsSync(f), false, f);
  });

  test('HTTP edge cases: wrong method, huge body, bad JSON — always a JSON Err', async () => {
    await withPlugin(async (p) => {
      const g = await post(p.networkSocket, '/NetworkDriver.GetCapabilities', '', 'GET');
      assert.equal(g.status, 405);
      assert.match(String(g.json.Err), /take POST/);
      const big = await post(p.ipamSocket, '/IpamDriver.RequestPool', Buffer.alloc(2 << 20, 0x20));
      assert.equal(big.status, 413);
      const bad = await post(p.networkSocket, '/NetworkDriver.CreateNetwork', '{"NetworkID":');
      assert.equal(bad.status, 500);
      assert.match(String(bad.json.Err), /NetworkDriver\.CreateNetwork: request body is not valid JSON/);
      const arr = await post(p.networkSocket, '/NetworkDriver.CreateNetwork', '[1,2]');
      assert.match(String(arr.json.Err), /must be a JSON object, got an array/);
    });
  });

  test('a stale socket file is replaced; a live one is not stolen', async () => {
    await withPlugin(async (p, dir, backend) => {
      await assert.rejects(
        startDockerPlugin({ backend, host: 'h', socketDir: join(dir, 'run'), pluginDir: join(dir, 'plugins2'), dockerSocket: null, plumbing: new LinkPlumbing(new FakeLinkOps()) }),
        /already serving/,
      );
      assert.equal(existsSync(p.networkSocket), true, 'the live plugin keeps its socket');
    });
    const dir = mkdtempSync(join(tmpdir(), 'wdp-'));
    try {
      writeFileSync(join(dir, 'weft.sock'), 'stale');
      const backend = new MemoryBackend();
      const p = await startDockerPlugin({ backend, host: 'h', socketDir: dir, pluginDir: join(dir, 'plugins'), dockerSocket: null, plumbing: new LinkPlumbing(new FakeLinkOps()) });
      assert.equal((await post(p.networkSocket, '/Plugin.Activate', '')).status, 200);
      await p.close();
      await backend.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('random bytes on every endpoint over the socket: JSON reply, store unchanged', async () => {
    await withPlugin(async (p, _dir, backend) => {
      const before = await snapshot(backend);
      const paths = ['/IpamDriver.RequestPool', '/IpamDriver.RequestAddress', '/IpamDriver.ReleaseAddress', '/NetworkDriver.CreateNetwork', '/NetworkDriver.CreateEndpoint', '/NetworkDriver.Join', '/NetworkDriver.DeleteEndpoint', '/Plugin.Activate'];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...paths), fc.oneof(fc.string(), fc.json(), fc.uint8Array().map((a) => Buffer.from(a).toString('latin1'))), async (path, raw) => {
          const sock = path.startsWith('/Ipam') ? p.ipamSocket : p.networkSocket;
          const r = await post(sock, path, raw);
          assert.equal(typeof r.json, 'object');
          if (r.status !== 200) assert.equal(typeof r.json.Err, 'string');
          assert.equal(await snapshot(backend), before);
        }),
        { numRuns: 150 },
      );
    });
  });
});
