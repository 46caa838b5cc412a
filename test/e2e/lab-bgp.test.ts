/**
 * e2e (root, real kernel, real namespaces): three lab hosts whose agents speak BGP.
 *   1. node-to-node mesh: every host learns the other hosts' blocks over BGP (proto 80 `via`
 *      routes), all workload pairs ping, `weft node status` shows two established mesh peers;
 *   2. mesh off, h1 a route reflector (routeReflectorClusterID + BGPPeer with peerSelector): the
 *      clients peer only with h1, routes are reflected, all pairs still ping;
 *   3. kill -9 of h3's agent: its block disappears from h1 and h2 (graceful-restart time 10 s,
 *      bounded here by the default hold time + margin, not asserted as a timing).
 */
import { skipUnlessAllowed } from '../helpers/skip.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopAgent } from '../../src/lab/index.ts';
import { SqliteBackend } from '../../src/datastore/index.ts';
import { ResourceClient } from '../../src/api/index.ts';
import { withLab } from '../helpers/lab.ts';
import { netnsSkipReason, nsExec, ping, which } from '../helpers/netns.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

const TOPOLOGY = (name: string): string => `
name: ${name}
hosts: [{name: h1}, {name: h2}, {name: h3}]
pools: [{cidr: 192.0.2.0/24, blockSize: 26}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: BGPConfiguration, metadata: {name: default}, spec: {nodeToNodeMeshEnabled: true, nodeMeshMaxRestartTime: 10s}}
workloads:
  - {name: w1, host: h1}
  - {name: w2, host: h2}
  - {name: w3, host: h3}
`;

interface PeerJson { address: string; type: string; state: string; rrClient: boolean; prefixesReceived: number; prefixesAdvertised: number }
interface StatusJson { enabled: boolean; running: boolean; clusterId?: string; peers: PeerJson[]; advertised: string[] }

async function eventually(what: string, fn: () => boolean, timeoutMs = 60_000, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function nodeStatus(hostNs: string): StatusJson | undefined {
  const r = spawnSync('ip', ['netns', 'exec', hostNs, process.execPath, MAIN, 'node', 'status', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as StatusJson;
  } catch {
    return undefined;
  }
}

const bgpRoutes = (hostNs: string): string => nsExec(hostNs, ['ip', '-4', 'route', 'show', 'proto', '80']);

/** The /26 block of a workload address. */
function blockOf(addr: string): string {
  const [a, b, c, d] = addr.split('/')[0]!.split('.').map(Number);
  return `${a}.${b}.${c}.${d! & 0xc0}/26`;
}

describe('lab e2e: BGP mesh, route reflector, agent loss', { skip: netnsSkipReason() }, () => {
  test('three hosts over BGP', { timeout: 600_000 }, async () => {
    await withLab(`b${process.pid.toString(36)}`.slice(0, 12), TOPOLOGY, { dumpLogsOf: ['h1', 'h2', 'h3'] }, async ({ state: s, host, wl }) => {
      const addr = (n: string): string => wl(n).ipv4[0]!.split('/')[0]!;
      const underlay = (n: string): string => host(n).ip.split('/')[0]!;
      const pairs = [['w1', 'w2'], ['w1', 'w3'], ['w2', 'w1'], ['w2', 'w3'], ['w3', 'w1'], ['w3', 'w2']] as const;
      const blocks = { h1: blockOf(addr('w1')), h2: blockOf(addr('w2')), h3: blockOf(addr('w3')) };
      assert.equal(new Set(Object.values(blocks)).size, 3, `one block per host: ${JSON.stringify(blocks)}`);
      const hasVia = (on: string, of: 'h1' | 'h2' | 'h3'): boolean =>
        new RegExp(`^${blocks[of].replace(/\./g, '\\.')} via ${underlay(of).replace(/\./g, '\\.')} `, 'm').test(bgpRoutes(host(on).ns));
      const routesDetail = (): string => s.hosts.map((h) => `${h.name}:\n${bgpRoutes(h.ns)}`).join('\n');

      // ---- 1. node-to-node mesh -------------------------------------------------------------
      for (const on of ['h1', 'h2', 'h3'] as const) {
        for (const src of ['h1', 'h2', 'h3'] as const) {
          if (on === src) continue;
          await eventually(`${on} has ${src} block via BGP`, () => hasVia(on, src), 90_000, routesDetail);
        }
      }
      // Aggregated: no /32 of a remote workload, and the local block is a blackhole.
      for (const h of s.hosts) {
        const r = bgpRoutes(h.ns);
        for (const w of s.workloads.filter((x) => x.host !== h.name)) assert.ok(!r.includes(`${addr(w.name)} via`), `no /32 for ${w.name} on ${h.name}:\n${r}`);
        assert.match(r, new RegExp(`blackhole ${blocks[h.name as 'h1'].replace(/\./g, '\\.')}`));
      }
      for (const [a, b] of pairs) await eventually(`${a} → ${b} (mesh)`, () => ping(wl(a).ns, addr(b)));
      const st1 = nodeStatus(host('h1').ns);
      assert.ok(st1, 'weft node status answers');
      assert.deepEqual(st1.peers.map((p) => [p.address, p.type, p.state]).sort(), [
        [underlay('h2'), 'node-to-node mesh', 'established'],
        [underlay('h3'), 'node-to-node mesh', 'established'],
      ]);
      assert.ok(st1.peers.every((p) => p.prefixesReceived >= 1 && p.prefixesAdvertised >= 1), JSON.stringify(st1.peers));
      assert.deepEqual(st1.advertised, [blocks.h1]);
      const table = spawnSync('ip', ['netns', 'exec', host('h2').ns, process.execPath, MAIN, 'node', 'status'], { encoding: 'utf8' });
      assert.equal(table.status, 0, table.stderr);
      assert.match(table.stdout, /node-to-node mesh \| up/);

      // ---- 2. mesh off, h1 route reflector --------------------------------------------------
      const backend = new SqliteBackend({ path: s.dbPath });
      try {
        const client = new ResourceClient(backend);
        const n1 = await client.get('Node', 'h1') as unknown as { metadata: Record<string, unknown>; spec: { bgp: Record<string, unknown> } };
        await client.apply({
          apiVersion: 'projectcalico.org/v3', kind: 'Node',
          metadata: { ...n1.metadata, labels: { ...(n1.metadata.labels as Record<string, string> | undefined), 'route-reflector': 'true' } },
          spec: { ...n1.spec, bgp: { ...n1.spec.bgp, routeReflectorClusterID: '244.0.0.1' } },
        });
        await client.apply({
          apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: 'peer-with-route-reflectors' },
          spec: { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" },
        });
        const cfg = await client.get('BGPConfiguration', 'default') as unknown as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
        await client.apply({ apiVersion: 'projectcalico.org/v3', kind: 'BGPConfiguration', metadata: cfg.metadata, spec: { ...cfg.spec, nodeToNodeMeshEnabled: false } });
      } finally {
        await backend.close();
      }
      const peersOf = (h: string): string => JSON.stringify(nodeStatus(host(h).ns)?.peers.map((p) => [p.address, p.type, p.state, p.rrClient]).sort() ?? null);
      await eventually('h1 is RR with two established rr-clients', () => {
        const st = nodeStatus(host('h1').ns);
        return st?.clusterId === '244.0.0.1' && st.peers.length === 2 && st.peers.every((p) => p.state === 'established' && p.rrClient && p.type === 'node specific');
      }, 90_000, () => peersOf('h1'));
      for (const c of ['h2', 'h3']) {
        await eventually(`${c} peers only with the RR`, () => peersOf(c) === JSON.stringify([[underlay('h1'), 'node specific', 'established', false]]), 90_000, () => peersOf(c));
      }
      // Reflected routes keep the originator's next hop.
      await eventually('h2 has h3\'s block via h3 (reflected)', () => hasVia('h2', 'h3'), 90_000, routesDetail);
      await eventually('h3 has h2\'s block via h2 (reflected)', () => hasVia('h3', 'h2'), 90_000, routesDetail);
      await eventually('clients have h1\'s block', () => hasVia('h2', 'h1') && hasVia('h3', 'h1'), 90_000, routesDetail);
      for (const [a, b] of pairs) await eventually(`${a} → ${b} (route reflector)`, () => ping(wl(a).ns, addr(b)));

      // ---- 3. an agent dies: its routes go elsewhere ------------------------------------------
      await stopAgent(s, host('h3'), 'SIGKILL');
      // Graceful-restart time is 10 s here; the default hold time (90 s) + margin bounds it.
      await eventually('h3\'s block gone from h1 and h2', () => !hasVia('h1', 'h3') && !hasVia('h2', 'h3'), 150_000, routesDetail);
      assert.ok(hasVia('h2', 'h1') && hasVia('h1', 'h2'), `h1 ⇄ h2 routes stay:\n${routesDetail()}`);
      await eventually('w1 → w2 still', () => ping(wl('w1').ns, addr('w2')));
    });
  });
});

const ROUTER_BIN = { bird: 'bird', frr: 'vtysh', gobgp: 'gobgpd' } as const;

describe('lab e2e: top-of-rack router (BGPPeer peerIP) for each daemon', { skip: netnsSkipReason() }, () => {
  for (const kind of ['bird', 'frr', 'gobgp'] as const) {
    test(`${kind} as an eBGP ToR`, { timeout: 300_000, skip: which(ROUTER_BIN[kind]) ? false : skipUnlessAllowed(`${ROUTER_BIN[kind]} not installed`) }, async () => {
      await withLab(`t${kind[0]}${process.pid.toString(36)}`.slice(0, 12), (name) => `
name: ${name}
hosts: [{name: h1, asNumber: 64512}, {name: h2, asNumber: 64513}]
pools: [{cidr: 198.51.100.0/24, blockSize: 26}]
routers: [{name: tor1, kind: ${kind}, as: 65001}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: BGPConfiguration, metadata: {name: default}, spec: {nodeToNodeMeshEnabled: false}}
  - {apiVersion: projectcalico.org/v3, kind: BGPPeer, metadata: {name: tor1}, spec: {peerIP: 198.18.0.201, asNumber: 65001}}
workloads:
  - {name: w1, host: h1}
  - {name: w2, host: h2}
`, {}, async ({ state: s, host: h, wl: w }) => {
        const addr = (n: string): string => w(n).ipv4[0]!.split('/')[0]!;
        assert.equal(s.routers?.[0]?.ip, '198.18.0.201/24');
        const detail = (): string => `${bgpRoutes(h('h1').ns)}\n${bgpRoutes(h('h2').ns)}\n${JSON.stringify(nodeStatus(h('h1').ns)?.peers ?? null)}`;
        // AS per host (per rack): with one AS on both, each would drop the other's routes (its own
        // AS in the path) unless the BGPPeer set numAllowedLocalASNumbers (test/interop covers that).
        // Each host learns the other's block from the router, next hop = the router (eBGP).
        await eventually('h1 learns h2 block via tor1', () => bgpRoutes(h('h1').ns).includes(`${blockOf(addr('w2'))} via 198.18.0.201 `), 90_000, detail);
        await eventually('h2 learns h1 block via tor1', () => bgpRoutes(h('h2').ns).includes(`${blockOf(addr('w1'))} via 198.18.0.201 `), 90_000, detail);
        const st = nodeStatus(h('h1').ns);
        assert.deepEqual(st?.peers.map((p) => [p.address, p.type, p.state]), [['198.18.0.201', 'global', 'established']]);
        if (kind === 'bird') {
          // BIRD programs its kernel and the router namespace forwards: traffic takes the ToR.
          await eventually('w1 → w2 through tor1', () => ping(w('w1').ns, addr('w2')));
          await eventually('w2 → w1 through tor1', () => ping(w('w2').ns, addr('w1')));
        }
      });
    });
  }
});
