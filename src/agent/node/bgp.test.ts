/**
 * runNode with BGP (memory datastore, fake kernel, speakers on loopback): two agents peer over the
 * mesh, remote blocks come from BGP (source 'bgp', `via` the other node) and not from the calc
 * graph's flat routes; /bgp/peers serves the status; `weft node status` fails clearly without an agent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MemoryBackend, ipamBlockKey } from '../../datastore/index.ts';
import { ResourceClient } from '../../api/index.ts';
import { FakeLinkOps, FakeNft, FakeRouteTable, RecordingRunner } from '../netlink/index.ts';
import { runNode, type RunningNode } from './node.ts';

const MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('two agents with BGP on loopback: routes learned, flat routes suppressed, /bgp/peers', { timeout: 120_000 }, async () => {
  const backend = new MemoryBackend();
  const client = new ResourceClient(backend);
  const port = await freePort();
  await client.apply({ apiVersion: 'projectcalico.org/v3', kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { listenPort: port } });
  await client.apply({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '192.0.2.0/24', blockSize: 26 } });
  // Blocks affine to each node (what IPAM writes), so each has a local blackhole to export.
  for (const [cidr, host] of [['192.0.2.0/26', 'n1'], ['192.0.2.64/26', 'n2']] as const) {
    await backend.put(ipamBlockKey(cidr), JSON.stringify({ cidr, affinity: `host:${host}`, allocations: new Array(64).fill(null), unallocated: [], attributes: [] }));
  }
  const nodes: RunningNode[] = [];
  const tables: FakeRouteTable[] = [];
  try {
    for (const [name, ip] of [['n1', '127.0.0.1'], ['n2', '127.0.0.2']] as const) {
      const routes = new FakeRouteTable();
      tables.push(routes);
      nodes.push(await runNode({
        datastore: backend, nodeName: name, ip, noDefaultIpPools: true, health: { port: 0 }, reportingIntervalSecs: 0, refreshIntervalMs: 0,
        bgp: { listenAddress: ip }, shims: { runner: new RecordingRunner(), nft: new FakeNft(), routes, links: new FakeLinkOps() },
      }));
    }
    await Promise.all(nodes.map((n) => n.ready));
    const kernel = async (i: number): Promise<string> => JSON.stringify(await tables[i].list(4));
    await until('n1 has 192.0.2.64/26 via 127.0.0.2', async () => (await kernel(0)).includes('"dst":"192.0.2.64/26","type":"unicast","gateway":"127.0.0.2"'));
    await until('n2 has 192.0.2.0/26 via 127.0.0.1', async () => (await kernel(1)).includes('"dst":"192.0.2.0/26","type":"unicast","gateway":"127.0.0.1"'));
    // The graph still computes the flat route; the dataplane gets it from BGP only (see below: it
    // goes when the session does, although the Node and its block remain).
    assert.equal(nodes[0].graph.snapshot().routes['192.0.2.64/26']?.type, 'remote-block');
    const res = await fetch(`${nodes[0].healthUrl}/bgp/peers`);
    const st = await res.json() as { enabled: boolean; running: boolean; peers: { address: string; type: string; state: string }[]; advertised: string[] };
    assert.equal(st.enabled, true);
    assert.deepEqual(st.peers.map((p) => [p.address, p.type, p.state]), [['127.0.0.2', 'node-to-node mesh', 'established']]);
    assert.deepEqual(st.advertised, ['192.0.2.0/26']);
    // Stopping n2 (Cease) withdraws its block from n1.
    await nodes[1].stop();
    await until('n1 drops 192.0.2.64/26', async () => !(await kernel(0)).includes('192.0.2.64/26'));
  } finally {
    for (const n of nodes) await n.stop();
  }
});

test('weft node status without an agent: clear error, exit code 1', async () => {
  const port = await freePort();
  const r = spawnSync(process.execPath, [MAIN, 'node', 'status', '--health-port', String(port)], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Weft process is not running/);
});
