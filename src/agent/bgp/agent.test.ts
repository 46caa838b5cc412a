/**
 * BgpAgent with real speakers on loopback (127.0.0.1–3, one port): mesh from resources, learned
 * routes handed to `setRoutes`, then the switch to a route reflector (speaker restart with a
 * registry: metrics re-registered), withdraw on export removal, and cleanup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import type { PeerOptions, PeerStatus, SpeakerEvents, SpeakerOptions } from '../../bgp/index.ts';
import type { SyncUpdate } from '../../datastore/index.ts';
import type { KernelRoute } from '../netlink/index.ts';
import { BgpAgent } from './agent.ts';

const ROOT = '/calico/resources/v3/projectcalico.org/';
const upd = (plural: string, name: string, value: unknown): SyncUpdate => ({ key: `${ROOT}${plural}/${name}`, value: value === undefined ? undefined : JSON.stringify(value), revision: 1 });
const node = (n: string, ip: string, bgp: Record<string, unknown> = {}, labels: Record<string, string> = {}): SyncUpdate =>
  upd('nodes', n, { metadata: { name: n, labels }, spec: { bgp: { ipv4Address: `${ip}/8`, ...bgp } } });

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function until(what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('BgpAgent: mesh, route reflector switch, export withdraw', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  const routes = ips.map(() => [] as KernelRoute[]);
  const registry = new Registry();
  const agents = ips.map((ip, i) => new BgpAgent({
    nodeName: `h${i + 1}`, listenAddress: ip, setRoutes: (r) => { routes[i] = r; }, ...(i === 0 ? { registry } : {}),
  }));
  try {
    const cfg = (mesh: boolean): SyncUpdate => upd('bgpconfigurations', 'default', { spec: { nodeToNodeMeshEnabled: mesh, listenPort: port } });
    for (const a of agents) {
      assert.equal(a.onUpdates([node('h1', ips[0]), node('h2', ips[1]), node('h3', ips[2]), cfg(true), upd('ippools', 'p', { spec: { cidr: '192.0.2.0/24' } })]), true);
      a.start();
    }
    agents[0].setLocalRoutes([{ dst: '192.0.2.0/26', type: 'blackhole' }, { dst: '192.0.2.200/32', type: 'local-workload', iface: 'cali1', endpoint: 'e' }]);
    agents[2].setLocalRoutes([{ dst: '192.0.2.128/26', type: 'blackhole' }]);
    const has = (i: number, dst: string, gw: string): boolean => routes[i].some((r) => r.dst === dst && r.gateway === gw);
    await until('h2 learns h1 block + borrowed /32 and h3 block', () => has(1, '192.0.2.0/26', ips[0]) && has(1, '192.0.2.200/32', ips[0]) && has(1, '192.0.2.128/26', ips[2]));
    await until('h1 learns h3 block', () => has(0, '192.0.2.128/26', ips[2]));
    const st = agents[1].status();
    assert.deepEqual(st.peers.map((p) => [p.address, p.type, p.state]).sort(), [[ips[0], 'node-to-node mesh', 'established'], [ips[2], 'node-to-node mesh', 'established']]);
    assert.equal(st.peers.find((p) => p.address === ips[0])?.passive, true);

    // Mesh off, h1 route reflector for h2 and h3.
    const rr = [node('h1', ips[0], { routeReflectorClusterID: '244.0.0.1' }, { 'route-reflector': 'true' }),
      upd('bgppeers', 'rr', { spec: { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" } }), cfg(false)];
    for (const a of agents) a.onUpdates(rr);
    await until('h1 has two rr clients', () => {
      const s = agents[0].status();
      return s.clusterId === '244.0.0.1' && s.peers.length === 2 && s.peers.every((p) => p.rrClient && p.state === 'established');
    });
    await until('h2 peers only with h1', () => agents[1].status().peers.map((p) => p.address).join() === ips[0]);
    await until('h2 learns h3 block reflected (next hop kept)', () => has(1, '192.0.2.128/26', ips[2]) && has(1, '192.0.2.0/26', ips[0]));
    assert.ok((await registry.metrics()).includes('weft_bgp_'), 'speaker metrics registered after the restart');

    // Export removed → withdrawn everywhere.
    agents[2].setLocalRoutes([]);
    await until('h3 block withdrawn', () => !has(1, '192.0.2.128/26', ips[2]) && !has(0, '192.0.2.128/26', ips[2]));
  } finally {
    for (const a of agents) await a.stop();
  }
});

/** Records what the agent asks of its speaker (no sockets). */
class FakeSpeaker extends EventEmitter<SpeakerEvents> {
  readonly calls: string[] = [];
  readonly peers = new Map<string, PeerOptions>();
  readonly options: SpeakerOptions;
  constructor(options: SpeakerOptions) {
    super();
    this.options = options;
  }
  async start(): Promise<void> { this.calls.push('start'); }
  async stop(): Promise<void> { this.calls.push('stop'); }
  addPeer(o: PeerOptions): void { this.calls.push(`add ${o.address}`); this.peers.set(o.address, o); }
  removePeer(a: string): void { this.calls.push(`remove ${a}`); this.peers.delete(a); }
  announce(): void {}
  withdraw(): void {}
  peerStates(): PeerStatus[] { return []; }
}

test('BgpAgent: BGPPeer maxRestartTime / numAllowedLocalASNumbers reach the session; a change re-creates only that session', async () => {
  const speakers: FakeSpeaker[] = [];
  const agent = new BgpAgent({ nodeName: 'h1', setRoutes: () => undefined, speakerFactory: (o) => { const s = new FakeSpeaker(o); speakers.push(s); return s; } });
  try {
    const tor = (spec: Record<string, unknown>): SyncUpdate => upd('bgppeers', 'tor', { spec: { peerIP: '198.18.0.254', asNumber: 65001, ...spec } });
    agent.onUpdates([
      node('h1', '198.18.0.1'), node('h2', '198.18.0.2'),
      upd('bgpconfigurations', 'default', { spec: { nodeMeshMaxRestartTime: '300s' } }),
      tor({ maxRestartTime: '77s', numAllowedLocalASNumbers: 1 }),
      upd('bgppeers', 'other', { spec: { peerIP: '198.18.0.253', asNumber: 65002 } }),
    ]);
    agent.start();
    await agent.settled();
    assert.equal(speakers.length, 1);
    const sp = speakers[0];
    const opt = (a: string) => { const o = sp.peers.get(a); return o && [o.restartTime, o.allowLocalAs]; };
    assert.deepStrictEqual(opt('198.18.0.254'), [77, 1]);
    assert.deepStrictEqual(opt('198.18.0.253'), [120, undefined]);
    assert.deepStrictEqual(opt('198.18.0.2'), [300, undefined]);
    assert.equal(sp.options.gracefulRestart?.restartTime, 300);
    for (const [spec, want] of [[{ maxRestartTime: '95s', numAllowedLocalASNumbers: 1 }, [95, 1]], [{ maxRestartTime: '95s' }, [95, undefined]]] as const) {
      sp.calls.length = 0;
      agent.onUpdates([tor(spec)]);
      await agent.settled();
      assert.deepStrictEqual(sp.calls, ['remove 198.18.0.254', 'add 198.18.0.254'], JSON.stringify(spec));
      assert.deepStrictEqual(opt('198.18.0.254'), want);
    }
    assert.equal(speakers.length, 1, 'speaker not restarted');
  } finally {
    await agent.stop();
  }
});
