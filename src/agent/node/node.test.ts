import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { MemoryBackend, felixStatusKey, felixHostPrefix, workloadEndpointStatusKey } from '../../datastore/index.ts';
import { ResourceClient } from '../../api/index.ts';
import { waitFor } from '../../datastore/conformance.ts';
import { FakeLinkOps, FakeNft, FakeRouteTable, RecordingRunner } from '../netlink/index.ts';
import { parseAutodetectMethod, selectAddress, autodetectAddress } from './autodetect.ts';
import { resolveNodeName, runNode } from './node.ts';

const links = [
  { name: 'lo', up: true, addresses: ['127.0.0.1/8', '::1/128'] },
  { name: 'docker0', up: true, addresses: ['198.19.0.1/16'] },
  { name: 'cali123', up: true, addresses: [] },
  { name: 'eth0', up: true, addresses: ['198.18.0.5/24', 'fe80::1/64', '2001:db8:1::5/64'] },
  { name: 'eth1', up: true, addresses: ['198.18.1.5/24'] },
];

describe('node address autodetection', () => {
  test('methods', () => {
    assert.equal(selectAddress(links, 4, parseAutodetectMethod('first-found')), '198.18.0.5/24');
    assert.equal(selectAddress(links, 6, parseAutodetectMethod(undefined)), '2001:db8:1::5/64');
    assert.equal(selectAddress(links, 4, parseAutodetectMethod('interface=eth1')), '198.18.1.5/24');
    assert.equal(selectAddress(links, 4, parseAutodetectMethod('interface=nope.*,eth[1]')), '198.18.1.5/24');
    assert.equal(selectAddress(links, 4, parseAutodetectMethod('skip-interface=eth0')), '198.18.1.5/24');
    assert.equal(selectAddress(links, 4, parseAutodetectMethod('cidr=198.18.1.0/24')), '198.18.1.5/24');
    assert.equal(selectAddress(links, 4, parseAutodetectMethod('interface=docker0')), '198.19.0.1/16');
    assert.throws(() => parseAutodetectMethod('bogus'), /invalid IP autodetection method/);
    assert.throws(() => parseAutodetectMethod('interface=('), /invalid regex/);
    assert.throws(() => parseAutodetectMethod('cidr=nope'), /invalid IP autodetection method/);
  });

  test('can-reach asks the kernel for the source address', async () => {
    const r = new RecordingRunner(() => ({ code: 0, stdout: '[{"dst":"198.18.1.1","prefsrc":"198.18.1.5"}]', stderr: '' }));
    assert.equal(await autodetectAddress(r, links, 4, parseAutodetectMethod('can-reach=198.18.1.1')), '198.18.1.5/24');
    assert.deepEqual(r.calls[0]!.argv, ['ip', '-json', '-4', 'route', 'get', '198.18.1.1']);
  });

  test('node name', () => {
    assert.equal(resolveNodeName('h1', {}), 'h1');
    assert.equal(resolveNodeName(undefined, { NODENAME: 'from-env' }), 'from-env');
    assert.throws(() => resolveNodeName('Bad_Name', {}), /invalid node name/);
  });
});

describe('runNode (memory datastore, fake kernel)', () => {
  test('start-up writes Node, defaults and pool; programs only after in-sync; status, health, metrics', async () => {
    const backend = new MemoryBackend();
    const nft = new FakeNft();
    const routes = new FakeRouteTable();
    const fl = new FakeLinkOps();
    for (const l of links) fl.links.set(l.name, { ...l, addresses: [...l.addresses] });
    const node = await runNode({
      datastore: backend, nodeName: 'h1', asNumber: 64513, defaultIpv4PoolCidr: '192.0.2.0/24',
      health: { port: 0 }, reportingIntervalSecs: 1, reportingTTLSecs: 3, refreshIntervalMs: 0,
      shims: { runner: new RecordingRunner(), nft, routes, links: fl },
    });
    try {
      await node.ready;
      const client = new ResourceClient(backend);
      const n = await client.get('Node', 'h1') as unknown as { spec: { bgp: { ipv4Address: string; asNumber: number } } };
      assert.equal(n.spec.bgp.ipv4Address, '198.18.0.5/24');
      assert.equal(n.spec.bgp.asNumber, 64513);
      assert.ok(await client.get('ClusterInformation', 'default'));
      assert.ok(await client.get('FelixConfiguration', 'default'));
      const pools = await client.list('IPPool');
      assert.deepEqual(pools.map((p) => (p.spec as { cidr: string }).cidr), ['192.0.2.0/24']);
      assert.ok(nft.scripts.length >= 1, 'dataplane programmed after in-sync');
      assert.equal(fl.sysctlValues.get('net/ipv4/ip_forward'), '1');

      const status = await backend.get(felixStatusKey('h1'));
      assert.equal(status?.ttlSeconds, 3);
      assert.ok(JSON.parse(status!.value).time);

      assert.equal((await fetch(`${node.healthUrl}/liveness`)).status, 200);
      assert.equal((await fetch(`${node.healthUrl}/readiness`)).status, 200);
      const metrics = await (await fetch(`${node.healthUrl}/metrics`)).text();
      assert.match(metrics, /weft_dataplane_apply_seconds_count/);
      assert.match(metrics, /weft_felix_in_sync 1/);

      // A workload endpoint on this host flows through calc graph → dataplane. Its veth exists but
      // the workload side is not up yet: rules go in, the route waits for the interface (felix).
      fl.links.set('cali1234567890a', { name: 'cali1234567890a', up: true, oper: 'LOWERLAYERDOWN', addresses: [] });
      await client.create({
        apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint',
        metadata: { name: 'h1-weft-w1-eth0', namespace: 'default' },
        spec: { node: 'h1', orchestrator: 'weft', workload: 'w1', endpoint: 'eth0', interfaceName: 'cali1234567890a', ipNetworks: ['192.0.2.7/32'], profiles: [] },
      });
      for (let i = 0; i < 200 && !nft.scripts.some((s) => s.includes('fw-cali1234567890a')); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(nft.scripts.some((s) => s.includes('fw-cali1234567890a')));
      await node.dataplane.flush();
      assert.equal(routes.routes.get('192.0.2.7/32'), undefined, 'no route while the interface is not up');
      fl.links.get('cali1234567890a')!.oper = 'UP';
      node.dataplane.linksChanged(); // what the link monitor does on the netlink event
      for (let i = 0; i < 200 && !routes.routes.has('192.0.2.7/32'); i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(routes.routes.get('192.0.2.7/32'), { dst: '192.0.2.7/32', type: 'unicast', dev: 'cali1234567890a', scope: 'link' });
      // The interface goes down: its route goes with it (the kernel keeps a linkdown route).
      fl.links.get('cali1234567890a')!.oper = 'DOWN';
      node.dataplane.linksChanged();
      for (let i = 0; i < 200 && routes.routes.has('192.0.2.7/32'); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(routes.routes.get('192.0.2.7/32'), undefined, 'route removed when the interface went down');
    } finally {
      await node.stop();
    }
  });

  test('--no-default-ippools leaves pools alone; an existing pool prevents the default', async () => {
    const backend = new MemoryBackend();
    const shims = { runner: new RecordingRunner(), nft: new FakeNft(), routes: new FakeRouteTable(), links: new FakeLinkOps() };
    const n1 = await runNode({ datastore: backend, nodeName: 'h2', ip: '198.18.0.9', noDefaultIpPools: true, health: false, reportingIntervalSecs: 0, refreshIntervalMs: 0, shims });
    await n1.stop();
    assert.deepEqual(await new ResourceClient(backend).list('IPPool'), []);
    await assert.rejects(runNode({ datastore: backend, nodeName: 'h3', health: false, reportingIntervalSecs: 0, shims }), /could not autodetect/);
  });
});

describe('runNode start-up against an unreachable datastore', () => {
  test('waits and retries instead of failing', async () => {
    const backend = new MemoryBackend();
    let failures = 3;
    const flaky = new Proxy(backend, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if ((prop === 'get' || prop === 'create' || prop === 'put') && failures > 0) {
            failures--;
            return Promise.reject(Object.assign(new Error('connection refused'), { name: 'WeftError', code: 'ERR_DATASTORE_UNREACHABLE' }));
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const shims = { runner: new RecordingRunner(), nft: new FakeNft(), routes: new FakeRouteTable(), links: new FakeLinkOps() };
    const n = await runNode({ datastore: flaky, nodeName: 'h4', ip: '198.18.0.4', noDefaultIpPools: true, health: false, reportingIntervalSecs: 0, refreshIntervalMs: 0, shims });
    try {
      assert.equal(failures, 0);
      assert.ok(await new ResourceClient(backend).get('Node', 'h4'));
    } finally {
      await n.stop();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}


describe('runNode settings from FelixConfiguration', () => {
  test('reporting interval/TTL, health port and endpoint reporting follow FelixConfiguration at start and at run time', async () => {
    const backend = new MemoryBackend();
    const client = new ResourceClient(backend);
    const [p1, p2] = [await freePort(), await freePort()];
    await client.create({
      apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name: 'default' },
      spec: { reportingInterval: '1s', reportingTTL: '7s', healthPort: p1, endpointReportingEnabled: true, endpointReportingDelay: '50ms' },
    });
    const nft = new FakeNft();
    const fl = new FakeLinkOps();
    fl.links.set('eth0', { name: 'eth0', up: true, addresses: ['198.18.0.5/24'] });
    fl.links.set('cali1234567890a', { name: 'cali1234567890a', up: true, oper: 'UP', addresses: [] });
    const node = await runNode({
      datastore: backend, nodeName: 'h1', noDefaultIpPools: true, refreshIntervalMs: 0, endpointStatusPollMs: 50,
      shims: { runner: new RecordingRunner(), nft, routes: new FakeRouteTable(), links: fl },
    });
    try {
      await node.ready;
      assert.equal(node.healthUrl, `http://127.0.0.1:${p1}`);
      assert.equal((await fetch(`${node.healthUrl}/liveness`)).status, 200);
      assert.equal((await backend.get(felixStatusKey('h1')))?.ttlSeconds, 7);

      const status = async (wl: string): Promise<string | undefined> => {
        const kv = await backend.get(workloadEndpointStatusKey('h1', 'openstack', wl, 'eth0'));
        return kv === undefined ? undefined : (JSON.parse(kv.value) as { status: string }).status;
      };
      const mkWep = (wl: string, iface: string): Record<string, unknown> => ({
        apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name: `h1-openstack-${wl}-eth0`, namespace: 'default' },
        spec: { node: 'h1', orchestrator: 'openstack', workload: wl, endpoint: 'eth0', interfaceName: iface, ipNetworks: [], profiles: [] },
      });
      await client.create(mkWep('vm1', 'cali1234567890a'));
      await waitFor('vm1 up', async () => (await status('vm1')) === 'up', 10_000);
      await client.create(mkWep('vm2', 'cali2234567890a'));
      await waitFor('vm2 down (no interface yet)', async () => (await status('vm2')) === 'down', 10_000);
      fl.links.set('cali2234567890a', { name: 'cali2234567890a', up: true, oper: 'UP', addresses: [] });
      await waitFor('vm2 up once its interface is', async () => (await status('vm2')) === 'up', 10_000);

      // Dataplane failing → error; recovered → up again.
      nft.failNext = 1_000_000;
      await client.create(mkWep('vm3', 'cali3234567890a'));
      await waitFor('error while the dataplane fails', async () => (await status('vm1')) === 'error', 10_000);
      nft.failNext = 0;
      await waitFor('up after the dataplane recovers', async () => (await status('vm1')) === 'up', 20_000);

      // Run-time change: the health server moves, the lease changes, endpoint keys go away when disabled.
      const fc = await client.get('FelixConfiguration', 'default') as unknown as Record<string, unknown> & { spec: Record<string, unknown> };
      await client.replace({ ...fc, spec: { ...fc.spec, healthPort: p2, reportingTTL: '11s', endpointReportingEnabled: false } });
      await waitFor('health server on the new port', () => node.healthUrl === `http://127.0.0.1:${p2}`, 10_000);
      assert.equal((await fetch(`${node.healthUrl}/liveness`)).status, 200);
      await assert.rejects(fetch(`http://127.0.0.1:${p1}/liveness`), 'the old port is closed');
      await waitFor('status key with the new lease', async () => (await backend.get(felixStatusKey('h1')))?.ttlSeconds === 11, 10_000);
      await waitFor('endpoint keys removed', async () => (await backend.list(`${felixHostPrefix('h1')}workload/`)).items.length === 0, 10_000);
      assert.equal(node.runtimeConfig.reportingIntervalSecs, 1);
    } finally {
      await node.stop();
    }
  });

  test('flags take precedence over FelixConfiguration', async () => {
    const backend = new MemoryBackend();
    await new ResourceClient(backend).create({
      apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name: 'node.h5' }, spec: { reportingInterval: '0s', healthEnabled: false },
    });
    const shims = { runner: new RecordingRunner(), nft: new FakeNft(), routes: new FakeRouteTable(), links: new FakeLinkOps() };
    const n = await runNode({ datastore: backend, nodeName: 'h5', ip: '198.18.0.5', noDefaultIpPools: true, health: { port: 0 }, reportingIntervalSecs: 2, refreshIntervalMs: 0, shims });
    try {
      assert.equal(n.runtimeConfig.reportingIntervalSecs, 2);
      assert.ok(n.healthUrl !== undefined, 'the flag turns the health server on');
      assert.equal((await fetch(`${n.healthUrl}/liveness`)).status, 200);
      assert.ok(await backend.get(felixStatusKey('h5')), 'status reported');
    } finally {
      await n.stop();
    }
    const n2 = await runNode({ datastore: backend, nodeName: 'h5', ip: '198.18.0.5', noDefaultIpPools: true, refreshIntervalMs: 0, shims });
    try {
      assert.equal(n2.healthUrl, undefined, 'healthEnabled: false from node.h5');
      assert.equal(n2.runtimeConfig.reportingIntervalSecs, 0);
    } finally {
      await n2.stop();
    }
  });
});
