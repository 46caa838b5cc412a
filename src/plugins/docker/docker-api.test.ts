import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerApi } from './docker-api.ts';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const CTR = 'c'.repeat(64);

test('DockerApi: network name and the container behind an endpoint, over a unix socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wda-'));
  const sock = join(dir, 'docker.sock');
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.setHeader('Content-Type', 'application/json');
    if (req.url === `/v1.41/networks/${NET}`) {
      res.end(JSON.stringify({ Name: 'my_net', Containers: { [CTR]: { Name: 'w1', EndpointID: EP } } }));
    } else if (req.url === `/v1.41/containers/${CTR}/json`) {
      res.end(JSON.stringify({ Config: { Labels: { 'org.projectcalico.label.role': 'db' } } }));
    } else {
      res.statusCode = 404;
      res.end(JSON.stringify({ message: 'not found' }));
    }
  });
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    const api = new DockerApi(sock);
    assert.equal(await api.networkName(NET), 'my_net');
    assert.equal(await api.networkName('d'.repeat(64)), undefined);
    assert.deepEqual(await api.containerForEndpoint(NET, EP), { id: CTR, name: 'w1', labels: { 'org.projectcalico.label.role': 'db' } });
    assert.equal(await api.containerForEndpoint(NET, 'e'.repeat(64)), undefined);
    assert.ok(seen.every((u) => u.startsWith('/v1.41/')));
    await assert.rejects(new DockerApi(join(dir, 'nope.sock')).networkName(NET));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
