import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resourceKey, resourcePrefix } from '../../datastore/index.ts';
import { checkDocument } from '../../api/index.ts';
import { FakeLinkOps } from '../../agent/netlink/index.ts';
import { componentLogger } from '../../lib/log.ts';
import { EP1, EP2, NET_ID, SANDBOX, makeKit, snapshot, type Kit } from './fixtures.ts';
import { endpointName, profileName } from './naming.ts';
import { NetworkDriver } from './network-driver.ts';
import { LinkPlumbing } from './plumbing.ts';
import { ResourceStore } from './resources.ts';

const NET2 = '5fdff5e5ca2fb913a5c10353ad4a999001b4616cefd3ee5e4940e4cd2fd7c0b1';
const noPorts = { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] };

function createNetworkBody(patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    NetworkID: NET_ID,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
    IPv4Data: [{ AddressSpace: 'CalicoLocalAddressSpace', Gateway: '0.0.0.0/0', Pool: '192.0.2.0/24' }],
    IPv6Data: [],
    ...patch,
  };
}

/** Host-side links (FakeLinkOps keeps a same-namespace peer when its host side is deleted; the kernel does not). */
function caliLinks(k: Kit): string[] {
  return [...k.links.links.keys()].filter((n) => n.startsWith('cali'));
}

function err(r: { body: object }): string {
  return (r.body as { Err?: string }).Err ?? '';
}

/** RequestAddress + CreateEndpoint for `ip` on endpoint `ep`. */
async function endpoint(k: Kit, ep: string, ip: string, net = NET_ID): Promise<void> {
  const a = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: ip, Options: null });
  assert.equal(a.status, 200, err(a));
  const r = await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: `${ip}/32`, AddressIPv6: '', MacAddress: '' }, Options: noPorts });
  assert.equal(r.status, 200, err(r));
}

describe('NetworkDriver.GetCapabilities / CreateNetwork / DeleteNetwork', () => {
  test('scope local (works without a cluster store), connectivity global', async () => {
    const k = await makeKit();
    try {
      assert.deepEqual((await k.call('/NetworkDriver.GetCapabilities', undefined)).body, { Scope: 'local', ConnectivityScope: 'global' });
    } finally {
      await k.close();
    }
  });

  test('the trace body is accepted and writes nothing yet', async () => {
    const k = await makeKit();
    try {
      const before = await snapshot(k.backend);
      const r = await k.call('/NetworkDriver.CreateNetwork', createNetworkBody());
      assert.deepEqual(r, { status: 200, body: {} });
      assert.equal(await snapshot(k.backend), before);
      assert.equal((await k.call('/NetworkDriver.CreateNetwork', createNetworkBody({ Options: { 'com.docker.network.enable_ipv6': true }, IPv6Data: [{ Pool: '2001:db8::/64', Gateway: '::/0' }] }))).status, 200);
    } finally {
      await k.close();
    }
  });

  test('options it cannot honour are refused, each by name', async () => {
    const k = await makeKit();
    try {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ Options: { 'com.docker.network.generic': { mtu: '9000', foo: 'bar' } } }, /-o mtu=9000; -o foo=bar/],
        [{ Options: { 'com.docker.network.generic': { 'com.docker.network.internal': true } } }, /--internal/],
        [{ Options: { 'com.docker.network.internal': true } }, /--internal/],
        [{ Options: { 'com.docker.network.enable_ipv6': 'yes' } }, /enable_ipv6 must be a boolean/],
        [{ Options: { whatever: 1 } }, /option whatever/],
        [{ IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: '192.0.2.1/24', Pool: '192.0.2.0/24' }] }, /non-Weft IPAM driver: use --ipam-driver weft-ipam/],
        [{ IPv4Data: [{ Gateway: '0.0.0.0/0', Pool: '192.0.2.0/24', AuxAddresses: { a: '192.0.2.9' } }] }, /--aux-address \(a\)/],
        [{ IPv4Data: [], IPv6Data: [] }, /no IPv4 or IPv6 pool/],
        [{ NetworkID: 'abc' }, /NetworkID: must be a 64-digit hex Docker ID/],
        [{ IPv4Data: 'x' }, /IPv4Data/],
      ];
      for (const [patch, re] of cases) {
        const r = await k.call('/NetworkDriver.CreateNetwork', createNetworkBody(patch));
        assert.equal(r.status, 500, JSON.stringify(patch));
        assert.match(err(r), re);
      }
    } finally {
      await k.close();
    }
  });

  test('DeleteNetwork sweeps endpoints of this host left behind; the profile stays', async () => {
    const k = await makeKit();
    try {
      await endpoint(k, EP1, '192.0.2.2');
      await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} });
      assert.deepEqual((await k.call('/NetworkDriver.DeleteNetwork', { NetworkID: NET_ID })).body, {});
      assert.equal((await k.backend.list(resourcePrefix('WorkloadEndpoint'))).items.length, 0);
      assert.equal(await k.ipam.getAssignment('192.0.2.2'), undefined);
      assert.deepEqual(caliLinks(k), []);
      assert.ok(await k.backend.get(resourceKey({ kind: 'Profile', name: profileName('my_net') })));
    } finally {
      await k.close();
    }
  });
});

describe('NetworkDriver.CreateEndpoint', () => {
  test('writes a valid WorkloadEndpoint and the network profile; hands back the MAC', async () => {
    const k = await makeKit();
    try {
      await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '192.0.2.2', Options: null });
      const r = await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32', AddressIPv6: '', MacAddress: '' }, Options: noPorts });
      assert.deepEqual(r, { status: 200, body: { Interface: { MacAddress: 'ee:ee:ee:ee:ee:ee' } } });
      const kv = await k.backend.get(resourceKey({ kind: 'WorkloadEndpoint', namespace: 'libnetwork', name: endpointName('host1', EP1) }));
      assert.ok(kv);
      const wep = JSON.parse(kv.value) as Record<string, unknown>;
      const v = checkDocument(wep);
      assert.ok(v.ok, JSON.stringify(v));
      assert.equal(endpointName('host1', EP1), 'host1-libnetwork-libnetwork-' + EP1);
      const spec = wep.spec as Record<string, unknown>;
      assert.deepEqual(spec.ipNetworks, ['192.0.2.2/32']);
      assert.equal(spec.interfaceName, 'caliecd4d732400');
      assert.equal(spec.orchestrator, 'libnetwork');
      assert.deepEqual(spec.profiles, [profileName('my_net')]);
      assert.match(profileName('my_net'), /^my-net-[0-9a-f]{8}$/);
      assert.equal(profileName('my-net'), 'my-net');
      const prof = JSON.parse((await k.backend.get(resourceKey({ kind: 'Profile', name: profileName('my_net') })))!.value) as Record<string, unknown>;
      const pv = checkDocument(prof);
      assert.ok(pv.ok, JSON.stringify(pv));
      assert.deepEqual((prof.spec as { egress: unknown }).egress, [{ action: 'Allow' }]);
      assert.equal(((wep.metadata as { labels: Record<string, string> }).labels)['weft.io/docker-network'], profileName('my_net'));
    } finally {
      await k.close();
    }
  });

  test('a MAC Docker already set is kept (returning one would be "driver modified interface MAC address")', async () => {
    const k = await makeKit();
    try {
      const r = await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32', AddressIPv6: '', MacAddress: '02:42:c0:00:02:02' }, Options: {} });
      assert.deepEqual(r.body, { Interface: {} });
    } finally {
      await k.close();
    }
  });

  test('-p, unknown endpoint options and missing addresses are refused with nothing written', async () => {
    const k = await makeKit();
    try {
      const before = await snapshot(k.backend);
      const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '127.0.0.1', HostPort: 18080, HostPortEnd: 18080 }];
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ Options: { 'com.docker.network.portmap': portmap } }, /-p\/--publish/],
        [{ Options: { 'com.example.x': 'y' } }, /endpoint option com\.example\.x/],
        [{ Interface: { Address: '', AddressIPv6: '', MacAddress: '' } }, /without an address/],
        [{ Interface: { Address: '2001:db8::1/128' } }, /not an IPv4 address/],
        [{ Interface: { Address: '192.0.2.2/32', MacAddress: 'zz' } }, /MAC address "zz"/],
        [{ EndpointID: 'short' }, /EndpointID/],
      ];
      for (const [patch, re] of cases) {
        const r = await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32', AddressIPv6: '', MacAddress: '' }, Options: noPorts, ...patch });
        assert.equal(r.status, 500);
        assert.match(err(r), re);
      }
      assert.equal(await snapshot(k.backend), before);
    } finally {
      await k.close();
    }
  });

  test('replayed CreateEndpoint is idempotent; a conflicting one is refused', async () => {
    const k = await makeKit();
    try {
      await endpoint(k, EP1, '192.0.2.2');
      const again = await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32' }, Options: {} });
      assert.equal(again.status, 200);
      const other = await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.7/32' }, Options: {} });
      assert.match(err(other), /already exists with other settings/);
    } finally {
      await k.close();
    }
  });

  test('same network name on two hosts (different IDs) → one profile; without dockerd → host-local name; dockerd failing → Err', async () => {
    const k = await makeKit({ names: { [NET_ID]: 'my_net', [NET2]: 'my_net' } });
    try {
      await endpoint(k, EP1, '192.0.2.2', NET_ID);
      // A second host's driver on the same datastore.
      const d2 = new NetworkDriver({ host: 'host2', store: new ResourceStore(k.backend), plumbing: new LinkPlumbing(new FakeLinkOps()), ipam: k.ipamDriver, docker: k.docker, log: componentLogger('t') });
      await d2.createEndpoint({ NetworkID: NET2, EndpointID: EP2, Interface: { Address: '192.0.2.3/32' }, Options: {} });
      const weps = (await k.backend.list(resourcePrefix('WorkloadEndpoint'))).items.map((kv) => JSON.parse(kv.value) as { spec: { profiles: string[]; node: string } });
      assert.deepEqual(weps.map((w) => w.spec.profiles[0]), [profileName('my_net'), profileName('my_net')]);
      assert.deepEqual(weps.map((w) => w.spec.node).sort(), ['host1', 'host2']);
      assert.equal((await k.backend.list(resourcePrefix('Profile'))).items.length, 1);
      await d2.close();

      // No dockerd API configured: a host-local name (logged).
      const k2 = await makeKit({ withDocker: false });
      try {
        await endpoint(k2, EP1, '192.0.2.2');
        const w = JSON.parse((await k2.backend.list(resourcePrefix('WorkloadEndpoint'))).items[0]!.value) as { spec: { profiles: string[] } };
        assert.deepEqual(w.spec.profiles, ['docker-97e9077ee87a']);
      } finally {
        await k2.close();
      }
      // dockerd configured but cannot tell: refused (a silent host-local name would split the network).
      const k3 = await makeKit({ names: {} });
      try {
        await k3.call('/IpamDriver.RequestAddress', { PoolID: 'pool-a', Address: '192.0.2.2', Options: null });
        const before = await snapshot(k3.backend);
        const r = await k3.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32' }, Options: {} });
        assert.match(err(r), /dockerd does not know network 97e9077ee87a/);
        assert.equal(await snapshot(k3.backend), before);
        k3.docker.networkName = () => Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
        const r2 = await k3.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32' }, Options: {} });
        assert.match(err(r2), /cannot ask dockerd .*ENOENT.*hint: start the plugin with --docker-host/);
      } finally {
        await k3.close();
      }
    } finally {
      await k.close();
    }
  });

  test('a profile that exists (edited by a user) is left alone', async () => {
    const k = await makeKit({ names: { [NET_ID]: 'frontend' } });
    try {
      const mine = JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'frontend' }, spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] } });
      await k.backend.put(resourceKey({ kind: 'Profile', name: 'frontend' }), mine);
      await endpoint(k, EP1, '192.0.2.2');
      assert.equal((await k.backend.get(resourceKey({ kind: 'Profile', name: 'frontend' })))!.value, mine);
    } finally {
      await k.close();
    }
  });
});

describe('NetworkDriver.Join / Leave / DeleteEndpoint', () => {
  test('Join plumbs the veth and answers as Calico: gateway 169.254.1.1 with its link route', async () => {
    const k = await makeKit();
    try {
      await endpoint(k, EP1, '192.0.2.2');
      const r = await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: noPorts });
      assert.deepEqual(r.body, {
        InterfaceName: { SrcName: 'tmpecd4d732400', DstPrefix: 'eth' },
        Gateway: '169.254.1.1',
        GatewayIPv6: '',
        StaticRoutes: [{ Destination: '169.254.1.1/32', RouteType: 1, NextHop: '' }],
        DisableGatewayService: true,
      });
      assert.ok(k.links.calls.includes('createVeth caliecd4d732400 tmpecd4d732400 -'));
      assert.equal(k.links.links.get('caliecd4d732400')?.up, true);
      assert.equal(await k.links.readSysctl('net/ipv4/conf/caliecd4d732400/proxy_arp'), '1');
      assert.equal(await k.links.readSysctl('net/ipv4/neigh/caliecd4d732400/proxy_delay'), '0');
      assert.equal(await k.links.readSysctl('net/ipv4/conf/caliecd4d732400/forwarding'), '1');
      assert.ok(k.links.routes.some((x) => x.includes('192.0.2.2/32') && x.includes('caliecd4d732400')), JSON.stringify(k.links.routes));
      // Join again (container restart without Leave, plugin restart): recreated, not failed.
      assert.equal((await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} })).status, 200);

      assert.deepEqual((await k.call('/NetworkDriver.EndpointOperInfo', { NetworkID: NET_ID, EndpointID: EP1 })).body, { Value: {} });
      assert.deepEqual((await k.call('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP1, Options: noPorts })).body, {});
      assert.deepEqual((await k.call('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET_ID, EndpointID: EP1 })).body, {});

      assert.deepEqual((await k.call('/NetworkDriver.Leave', { NetworkID: NET_ID, EndpointID: EP1 })).body, {});
      assert.equal(k.links.links.has('caliecd4d732400'), false);
      assert.equal((await k.call('/NetworkDriver.Leave', { NetworkID: NET_ID, EndpointID: EP1 })).status, 200, 'idempotent');

      assert.deepEqual((await k.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP1 })).body, {});
      assert.equal((await k.backend.list(resourcePrefix('WorkloadEndpoint'))).items.length, 0);
      assert.equal(await k.ipam.getAssignment('192.0.2.2'), undefined, 'address released with the endpoint');
      assert.equal((await k.call('/NetworkDriver.DeleteEndpoint', { NetworkID: NET_ID, EndpointID: EP1 })).status, 200, 'idempotent');
    } finally {
      await k.close();
    }
  });

  test('a second Weft network on the same container is refused by name, before any plumbing', async () => {
    const k = await makeKit({ names: { [NET_ID]: 'my_net', [NET2]: 'other_net' } });
    try {
      await endpoint(k, EP1, '192.0.2.2', NET_ID);
      assert.equal((await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} })).status, 200);
      await endpoint(k, EP2, '192.0.2.3', NET2);
      const r = await k.call('/NetworkDriver.Join', { NetworkID: NET2, EndpointID: EP2, SandboxKey: SANDBOX, Options: {} });
      assert.match(err(r), /already on Weft network "my_net": a container can be attached to one Weft network/);
      assert.deepEqual(caliLinks(k), ['caliecd4d732400']);
      // Another container (sandbox) is fine; so is the first endpoint joining again (restart).
      assert.equal((await k.call('/NetworkDriver.Join', { NetworkID: NET2, EndpointID: EP2, SandboxKey: SANDBOX + 'x', Options: {} })).status, 200);
      assert.equal((await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} })).status, 200);
    } finally {
      await k.close();
    }
  });

  test('IPv6 endpoint: link-local gateway on the host side', async () => {
    const k = await makeKit();
    try {
      const a = await k.call('/IpamDriver.RequestAddress', { PoolID: 'pool-v6', Address: '', Options: null });
      const addr = (a.body as { Address: string }).Address;
      await k.call('/NetworkDriver.CreateEndpoint', { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '', AddressIPv6: addr, MacAddress: '' }, Options: {} });
      const r = await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} });
      assert.equal((r.body as { Gateway: string }).Gateway, '');
      assert.equal((r.body as { GatewayIPv6: string }).GatewayIPv6, 'fe80::1');
      assert.equal(await k.links.readSysctl('net/ipv6/conf/caliecd4d732400/proxy_ndp'), '1');
      assert.deepEqual(k.links.links.get('caliecd4d732400')?.addresses, ['fe80::1/64']);
    } finally {
      await k.close();
    }
  });

  test('Join for an unknown endpoint or the wrong network is refused; a plumbing failure leaves no veth', async () => {
    const k = await makeKit();
    try {
      const r = await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP2, SandboxKey: SANDBOX, Options: {} });
      assert.match(err(r), /endpoint e305c8dc249c is unknown/);
      await endpoint(k, EP1, '192.0.2.2');
      assert.match(err(await k.call('/NetworkDriver.Join', { NetworkID: NET2, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} })), /another network/);
      const orig = k.links.setUp.bind(k.links);
      k.links.setUp = () => Promise.reject(new Error('boom: link refused to come up'));
      const bad = await k.call('/NetworkDriver.Join', { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} });
      assert.match(err(bad), /boom/);
      assert.deepEqual(caliLinks(k), [], 'veth removed again');
      k.links.setUp = orig;
    } finally {
      await k.close();
    }
  });

  test('container labels with the configured prefix become endpoint labels', async () => {
    const k = await makeKit();
    try {
      const docker = {
        networkName: () => Promise.resolve('my_net'),
        containerForEndpoint: () => Promise.resolve({ id: 'c'.repeat(64), name: 'w1', labels: { 'org.projectcalico.label.role': 'db', 'org.projectcalico.label.bad key': 'x', other: 'y' } }),
      };
      const d = new NetworkDriver({ host: 'host1', store: new ResourceStore(k.backend), plumbing: new LinkPlumbing(new FakeLinkOps()), ipam: k.ipamDriver, docker, labelPrefix: 'org.projectcalico.label.', log: componentLogger('t') });
      await d.createEndpoint({ NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32' }, Options: {} });
      await d.join({ NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: {} });
      await d.close(); // waits for the background copy
      const w = JSON.parse((await k.backend.list(resourcePrefix('WorkloadEndpoint'))).items[0]!.value) as { metadata: { labels: Record<string, string> }; spec: { containerID: string } };
      assert.equal(w.metadata.labels.role, 'db');
      assert.equal(w.metadata.labels['bad key'], undefined);
      assert.equal(w.metadata.labels.other, undefined);
      assert.equal(w.spec.containerID, 'c'.repeat(64));
    } finally {
      await k.close();
    }
  });

  test('swarm-only calls and discovery', async () => {
    const k = await makeKit();
    try {
      assert.match(err(await k.call('/NetworkDriver.AllocateNetwork', {})), /swarm/);
      assert.deepEqual((await k.call('/NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '127.0.0.1', BindAddress: '', Self: true } })).body, {});
      assert.deepEqual((await k.call('/NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: {} })).body, {});
      assert.equal((await k.call('/NetworkDriver.Nope', {})).status, 404);
    } finally {
      await k.close();
    }
  });
});
