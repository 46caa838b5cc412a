import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBackend, felixStatusKey, ipamAffinityKey } from '../../datastore/index.ts';
import { ResourceClient } from '../../api/index.ts';
import { RecordingRunner, type RunResult } from '../netlink/index.ts';
import { WeftError, ErrorCodes } from '../../lib/errors.ts';
import { checkSystem, formatCheckReport, type CheckSystemDeps, type CheckReport } from './checksystem.ts';

const NOW = new Date('2026-12-04T12:00:00Z');

interface World {
  resolveError?: WeftError;
  defaultRoute: boolean;
  forwarding: string;
  rpFilterAll: string;
  rpFilterDev: string;
  tcp179: Map<string, string | undefined>;
  kernelRoutes: Set<string>;
  statusAgeSecs: number | undefined;
  registered: boolean;
  nftPresent: boolean;
  weftTable: boolean;
  dockerd?: string[];
  pluginSpecs: Map<string, string>;
  pluginAlive: Set<string>;
  links: { ifname: string; mtu: number; address?: string }[];
  files: Map<string, string>;
  peers: { address: string; state: string; peerNode?: string }[];
}

function healthy(): World {
  return {
    defaultRoute: true, forwarding: '1', rpFilterAll: '0', rpFilterDev: '2',
    tcp179: new Map([['198.18.0.2', undefined]]), kernelRoutes: new Set(['198.51.100.64/26']),
    statusAgeSecs: 5, registered: true, nftPresent: true, weftTable: true,
    pluginSpecs: new Map(), pluginAlive: new Set(),
    links: [{ ifname: 'eth0', mtu: 1500 }, { ifname: 'cali0123456789a', mtu: 1500, address: 'ee:ee:ee:ee:ee:ee' }],
    files: new Map(), peers: [{ address: '198.18.0.2', state: 'Established', peerNode: 'h2' }],
  };
}

async function run(w: World): Promise<CheckReport> {
  const b = new MemoryBackend();
  const client = new ResourceClient(b);
  if (w.registered) await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'h1' }, spec: { bgp: { ipv4Address: '198.18.0.1/24' } } });
  await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'h2' }, spec: { bgp: { ipv4Address: '198.18.0.2/24' } } });
  await b.put(ipamAffinityKey('h2', '198.51.100.64/26'), JSON.stringify({ state: 'confirmed' }));
  if (w.statusAgeSecs !== undefined) await b.put(felixStatusKey('h1'), JSON.stringify({ time: new Date(NOW.getTime() - w.statusAgeSecs * 1000).toISOString() }));
  const r = (code: number, stdout = '', stderr = ''): RunResult => ({ code, stdout, stderr });
  const runner = new RecordingRunner((argv) => {
    const a = argv.join(' ');
    if (a === 'nft --version') return w.nftPresent ? r(0, 'nftables v1.0.6') : r(127, '', 'nft: not found');
    if (a.startsWith('nft list table')) return w.weftTable ? r(0, 'table inet weft {}') : r(1, '', 'Error: No such file or directory');
    if (a.startsWith('nft list chain ip filter FORWARD')) return r(0, 'chain FORWARD { type filter hook forward priority filter; policy drop; }');
    if (a === 'cat /proc/sys/net/ipv4/ip_forward') return r(0, `${w.forwarding}\n`);
    if (a === 'cat /proc/sys/net/ipv4/conf/all/rp_filter') return r(0, w.rpFilterAll);
    if (a === 'cat /proc/sys/net/ipv4/conf/eth0/rp_filter') return r(0, w.rpFilterDev);
    if (a === 'ip -j -4 addr show') return r(0, JSON.stringify([{ ifname: 'eth0', addr_info: [{ local: '198.18.0.1' }] }]));
    if (a === 'ip -j link show') return r(0, JSON.stringify(w.links));
    if (a === 'ip -4 route get 169.254.1.1') return w.defaultRoute ? r(0, '169.254.1.1 via 198.18.0.254 dev eth0 src 198.18.0.1') : r(2, '', 'RTNETLINK answers: Network is unreachable');
    const m = /^ip -4 route show exact (\S+)$/.exec(a);
    if (m !== null) return r(0, w.kernelRoutes.has(m[1]!) ? `${m[1]} via 198.18.0.2 dev eth0 proto 80` : '');
    return r(1, '', `unexpected ${a}`);
  });
  const deps: CheckSystemDeps = {
    runner,
    resolve: () => {
      if (w.resolveError) throw w.resolveError;
      return { spec: { type: 'sqlite', path: '/x.db' }, source: '--datastore flag' };
    },
    openBackend: () => Promise.resolve(b),
    nodeName: 'h1', env: {}, isRoot: true,
    readFile: (p) => w.files.get(p) ?? w.pluginSpecs.get(p),
    listDir: (d) => [...w.pluginSpecs.keys()].filter((p) => p.startsWith(`${d}/`)).map((p) => p.slice(d.length + 1)),
    exists: () => true,
    tcpConnect: (host) => Promise.resolve(w.tcp179.has(host) ? w.tcp179.get(host) : 'connection refused'),
    httpGet: () => Promise.resolve({ status: 200, body: JSON.stringify({ enabled: true, running: true, peers: w.peers }) }),
    unixPost: (s) => (w.pluginAlive.has(s) ? Promise.resolve({ status: 200, body: '{"Implements":["NetworkDriver"]}' }) : Promise.reject(new Error('connect ECONNREFUSED'))),
    unixGet: () => Promise.resolve({ status: 200, body: '[{"Driver":"calico","IPAM":{"Driver":"calico-ipam"}}]' }),
    dockerds: () => Promise.resolve(w.dockerd === undefined ? [] : [{ pid: 42, argv: w.dockerd }]),
    now: () => NOW,
    healthUrl: 'http://127.0.0.1:9099',
    configFiles: ['/etc/calico/calicoctl.cfg'],
  };
  return checkSystem(deps);
}

const find = (r: CheckReport, name: string): CheckReport['checks'] => r.checks.filter((c) => c.name === name);
function failsWith(r: CheckReport, name: string, evidence: RegExp, hint: RegExp): void {
  assert.equal(r.ok, false, formatCheckReport(r));
  const f = find(r, name).find((c) => c.status === 'fail');
  assert.ok(f, `${name} should fail:\n${formatCheckReport(r)}`);
  assert.match(f.evidence, evidence);
  assert.match(f.hint ?? '', hint);
}

describe('checksystem (fakes)', () => {
  test('a healthy host passes every check', async () => {
    const r = await run(healthy());
    assert.equal(r.ok, true, formatCheckReport(r));
    assert.deepEqual(r.checks.filter((c) => c.status === 'fail'), []);
    for (const n of ['datastore-config', 'datastore-reachable', 'agent-registered', 'agent-status', 'nftables', 'weft-table', 'ip-forwarding', 'rp-filter', 'proxy-arp-gateway-route', 'interface-prefix', 'mtu', 'bgp-peer-tcp', 'bgp-sessions', 'routes-to-other-hosts']) {
      assert.equal(find(r, n)[0]?.status, 'ok', n);
    }
    assert.equal(find(r, 'docker')[0]?.status, 'skip');
    assert.match(formatCheckReport(r), /checksystem: no problems found/);
  });

  test('seed 002: DATASTORE_TYPE=etcdv3 without ETCD_ENDPOINTS', async () => {
    const w = healthy();
    w.resolveError = new WeftError(ErrorCodes.DATASTORE_CONFIG, 'no etcd endpoints specified (from DATASTORE_TYPE)', { hint: 'export ETCD_ENDPOINTS=http://HOST:2379' });
    failsWith(await run(w), 'datastore-config', /no etcd endpoints specified \(from DATASTORE_TYPE\)/, /ETCD_ENDPOINTS/);
  });

  test('a calicoctl config with datastoreType etcdv2 is a warning saying what Weft does', async () => {
    const w = healthy();
    w.files.set('/etc/calico/calicoctl.cfg', 'apiVersion: v1\nkind: calicoApiConfig\nspec:\n  datastoreType: etcdv2\n  etcdEndpoints: http://198.18.0.254:2379\n');
    const r = await run(w);
    assert.equal(r.ok, true);
    assert.match(find(r, 'calicoctl-etcdv2-config')[0]!.hint!, /etcd v3 API/);
  });

  test('agent not registered, status stale', async () => {
    const w = healthy();
    w.registered = false;
    failsWith(await run(w), 'agent-registered', /no Node resource named h1/, /weft node run --name h1/);
    const s = healthy();
    s.statusAgeSecs = 600;
    failsWith(await run(s), 'agent-status', /last report 600 s ago/, /restart/);
    const n = healthy();
    n.statusAgeSecs = undefined;
    failsWith(await run(n), 'agent-status', /no status key \/calico\/felix\/v2\/no-region\/host\/h1\/status/, /start it/);
  });

  test('seed 001: no route covering 169.254.1.1', async () => {
    const w = healthy();
    w.defaultRoute = false;
    failsWith(await run(w), 'proxy-arp-gateway-route', /no route covering 169\.254\.1\.1/, /default route.*100% packet loss/);
  });

  test('forwarding off, strict rp_filter, wrong interface prefix, MTU above the underlay', async () => {
    const f = healthy(); f.forwarding = '0';
    failsWith(await run(f), 'ip-forwarding', /ip_forward=0/, /sysctl -w net.ipv4.ip_forward=1/);
    const rp = healthy(); rp.rpFilterAll = '1'; rp.rpFilterDev = '0';
    failsWith(await run(rp), 'rp-filter', /strict .* eth0/, /rp_filter=2/);
    const p = healthy(); p.links.push({ ifname: 'tap0123456789a', mtu: 1500, address: 'ee:ee:ee:ee:ee:ee' });
    failsWith(await run(p), 'interface-prefix', /tap0123456789a/, /interfacePrefix/);
    const m = healthy(); m.links[1]!.mtu = 9000;
    failsWith(await run(m), 'mtu', /cali0123456789a 9000/, /at most 1500/);
  });

  test('BGP: TCP 179 dropped, session not Established, other host\'s block not routed', async () => {
    const t = healthy(); t.tcp179.set('198.18.0.2', 'no answer to TCP connect in 2000 ms (packets dropped?)');
    failsWith(await run(t), 'bgp-peer-tcp', /198\.18\.0\.2:179 \(node h2\).*no answer/, /allow TCP 179/);
    const s = healthy(); s.peers = [{ address: '198.18.0.2', state: 'Active', peerNode: 'h2' }];
    failsWith(await run(s), 'bgp-sessions', /198\.18\.0\.2 \(h2\) Active/, /TCP 179/);
    const k = healthy(); k.kernelRoutes.clear();
    failsWith(await run(k), 'routes-to-other-hosts', /198\.51\.100\.64\/26 \(h2\)/, /100% packet loss/);
  });

  test('nft missing; Weft table absent while the agent runs', async () => {
    const n = healthy(); n.nftPresent = false;
    failsWith(await run(n), 'nftables', /nft is not available/, /apt install nftables/);
    const t = healthy(); t.weftTable = false;
    failsWith(await run(t), 'weft-table', /table inet weft is absent/, /restart the agent/);
  });

  test('Docker: plugin "calico" not found (seed 002), stale spec, dockerd options', async () => {
    const w = healthy(); w.dockerd = ['dockerd', '--iptables=false'];
    failsWith(await run(w), 'docker-plugin', /plugin "calico" not found/, /weft docker-plugin --calico-aliases/);
    const s = healthy(); s.dockerd = ['dockerd', '--iptables=false'];
    s.pluginSpecs.set('/etc/docker/plugins/calico.spec', 'unix:///run/weft/calico.sock\n');
    s.pluginSpecs.set('/etc/docker/plugins/calico-ipam.spec', 'unix:///run/weft/calico-ipam.sock\n');
    failsWith(await run(s), 'docker-plugin', /calico: spec points to \/run\/weft\/calico\.sock, which does not answer/, /restart weft docker-plugin/);
    s.pluginAlive.add('/run/weft/calico.sock'); s.pluginAlive.add('/run/weft/calico-ipam.sock');
    const good = await run(s);
    assert.equal(good.ok, true, formatCheckReport(good));
    const o = healthy(); o.dockerd = ['dockerd', '--cluster-store=etcd://198.18.0.254:2379'];
    o.pluginSpecs = s.pluginSpecs; o.pluginAlive = s.pluginAlive;
    failsWith(await run(o), 'dockerd-options', /--cluster-store.*iptables on: the FORWARD chain's policy is DROP/, /--iptables=false/);
  });
});
