/**
 * Test fixtures: the request bodies Docker 20.10.24 sent in libnetwork-trace.md (verbatim, IDs
 * included) and a plugin wired to a MemoryBackend, real Weft IPAM, fake links and a fake dockerd.
 */
import { FakeLinkOps } from '../../agent/netlink/index.ts';
import { MemoryBackend, resourceKey } from '../../datastore/index.ts';
import { Ipam } from '../../ipam/index.ts';
import { componentLogger } from '../../lib/log.ts';
import type { DockerInfo } from './docker-api.ts';
import { IpamDriver } from './ipam-driver.ts';
import { NetworkDriver } from './network-driver.ts';
import { LinkPlumbing } from './plumbing.ts';
import { ResourceStore } from './resources.ts';
import { dispatch, ipamRoutes, networkRoutes, type Handler, type Reply } from './server.ts';

export const NET_ID = '97e9077ee87af04ab50b9678599c7c2acd148907313068739567d2bc21ecf0af';
export const EP1 = 'ecd4d7324000bae29d8eea4f2ac1256a74565d1f86ee4a65fd2ac0b7382874b0';
export const EP2 = 'e305c8dc249c0acf3c89903dde5066632d0d405b73dfdcef4daad786afbc5bd4';
export const SANDBOX = '/tmp/feas/docker/exec/netns/95c18e0327a2';

const noPorts = { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] };

/** Trace §1–§3, in order, with Weft's PoolID (the pool name) instead of the trace plugin's. */
export function traceRequests(poolId: string): { path: string; body: unknown }[] {
  return [
    { path: '/IpamDriver.RequestPool', body: { AddressSpace: 'CalicoLocalAddressSpace', Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false } },
    {
      path: '/NetworkDriver.CreateNetwork',
      body: {
        NetworkID: NET_ID,
        Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
        IPv4Data: [{ AddressSpace: 'CalicoLocalAddressSpace', Gateway: '0.0.0.0/0', Pool: '192.0.2.0/24' }],
        IPv6Data: [],
      },
    },
    { path: '/IpamDriver.RequestAddress', body: { PoolID: poolId, Address: '192.0.2.2', Options: null } },
    { path: '/NetworkDriver.CreateEndpoint', body: { NetworkID: NET_ID, EndpointID: EP1, Interface: { Address: '192.0.2.2/32', AddressIPv6: '', MacAddress: '' }, Options: noPorts } },
    { path: '/NetworkDriver.Join', body: { NetworkID: NET_ID, EndpointID: EP1, SandboxKey: SANDBOX, Options: noPorts } },
    { path: '/NetworkDriver.ProgramExternalConnectivity', body: { NetworkID: NET_ID, EndpointID: EP1, Options: noPorts } },
    { path: '/NetworkDriver.EndpointOperInfo', body: { NetworkID: NET_ID, EndpointID: EP1 } },
    { path: '/NetworkDriver.EndpointOperInfo', body: { NetworkID: NET_ID, EndpointID: EP1 } },
    { path: '/NetworkDriver.RevokeExternalConnectivity', body: { NetworkID: NET_ID, EndpointID: EP1 } },
    { path: '/NetworkDriver.Leave', body: { NetworkID: NET_ID, EndpointID: EP1 } },
    { path: '/NetworkDriver.DeleteEndpoint', body: { NetworkID: NET_ID, EndpointID: EP1 } },
    { path: '/IpamDriver.ReleaseAddress', body: { PoolID: poolId, Address: '192.0.2.2' } },
    { path: '/IpamDriver.ReleaseAddress', body: { PoolID: poolId, Address: '0.0.0.0' } },
    { path: '/IpamDriver.ReleasePool', body: { PoolID: poolId } },
    { path: '/NetworkDriver.DeleteNetwork', body: { NetworkID: NET_ID } },
  ];
}

export function poolResource(name: string, cidr: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'projectcalico.org/v3',
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, blockSize: cidr.includes(':') ? 122 : 26, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: 'all()', ...extra },
  });
}

export class FakeDocker implements DockerInfo {
  readonly names = new Map<string, string>();
  calls = 0;
  networkName(id: string): Promise<string | undefined> {
    this.calls++;
    return Promise.resolve(this.names.get(id));
  }
  containerForEndpoint(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

export interface Kit {
  backend: MemoryBackend;
  ipam: Ipam;
  links: FakeLinkOps;
  docker: FakeDocker;
  ipamDriver: IpamDriver;
  network: NetworkDriver;
  net: Map<string, Handler>;
  ipamR: Map<string, Handler>;
  /** Calls a path on whichever socket serves it. */
  call(path: string, body: unknown): Promise<Reply>;
  close(): Promise<void>;
}

export async function makeKit(opts: { host?: string; pools?: [string, string][]; names?: Record<string, string>; withDocker?: boolean } = {}): Promise<Kit> {
  const host = opts.host ?? 'host1';
  const backend = new MemoryBackend();
  for (const [name, cidr] of opts.pools ?? [['pool-a', '192.0.2.0/24'], ['pool-b', '198.51.100.0/24'], ['pool-v6', '2001:db8::/64']]) {
    await backend.put(resourceKey({ kind: 'IPPool', name }), poolResource(name, cidr));
  }
  const ipam = new Ipam(backend, { random: () => 0.5 });
  const links = new FakeLinkOps();
  const docker = new FakeDocker();
  for (const [id, n] of Object.entries(opts.names ?? { [NET_ID]: 'my_net' })) docker.names.set(id, n);
  let seq = 0;
  const ipamDriver = new IpamDriver({ ipam, host, random: () => (seq++).toString(16).padStart(16, '0') });
  const log = componentLogger('docker-plugin-test');
  const network = new NetworkDriver({ host, store: new ResourceStore(backend), plumbing: new LinkPlumbing(links), ipam: ipamDriver, ...(opts.withDocker === false ? {} : { docker }), log });
  const net = networkRoutes(network);
  const ipamR = ipamRoutes(ipamDriver);
  return {
    backend,
    ipam,
    links,
    docker,
    ipamDriver,
    network,
    net,
    ipamR,
    call(path, body) {
      const routes = path.startsWith('/IpamDriver.') ? ipamR : net;
      return dispatch(routes, path, body === undefined ? '' : JSON.stringify(body), log);
    },
    async close() {
      await network.close();
      await backend.close();
    },
  };
}

/** Every key and value in the store, for "nothing changed" assertions. */
export async function snapshot(backend: MemoryBackend): Promise<string> {
  const all = await backend.list('/');
  return JSON.stringify(all.items.map((kv) => [kv.key, kv.value]));
}
