/**
 * libnetwork NetworkDriver: Docker networks become Weft Profiles, containers WorkloadEndpoints on
 * a veth whose host side the host routes to (calico-notes §13; libnetwork-trace.md).
 *
 * Invariants:
 * - A request that fails leaves nothing behind it created (Join removes its veth, CreateEndpoint
 *   writes the endpoint last); Leave/DeleteEndpoint/DeleteNetwork are idempotent.
 * - Identity across hosts is the Docker network *name* (IDs are host-local with Scope "local"):
 *   the profile is named after it and shared by every host.
 * - Nothing is kept only in memory that a plugin restart would need: endpoints are read back from
 *   the datastore (Docker does not replay CreateNetwork/CreateEndpoint to a restarted plugin).
 */
import type { Logger } from '../../lib/log.ts';
import { ErrorCodes, WeftError, isWeftError } from '../../lib/errors.ts';
import { parseCIDR } from '../../lib/ip.ts';
import type { DockerInfo } from './docker-api.ts';
import type { IpamDriver } from './ipam-driver.ts';
import { KeyedMutex } from './mutex.ts';
import {
  ANNOTATION_NETWORK_ID,
  ANNOTATION_NETWORK_NAME,
  ANNOTATION_SANDBOX,
  NETWORK_LABEL,
  ORCHESTRATOR,
  WEP_NAMESPACE,
  endpointName,
  fallbackNetworkName,
  hostInterfaceName,
  networkLabelValue,
  profileName,
  tempInterfaceName,
} from './naming.ts';
import { GATEWAY_V6, type WorkloadPlumbing } from './plumbing.ts';
import {
  CreateEndpointRequest,
  CreateNetworkRequest,
  DiscoveryRequest,
  EndpointRequest,
  ExternalConnectivityRequest,
  GATEWAY_V4,
  JoinRequest,
  NetworkRequest,
  OPT_ENABLE_IPV6,
  OPT_EXPOSED_PORTS,
  OPT_GENERIC,
  OPT_INTERNAL,
  OPT_PORT_MAP,
  ROUTE_TYPE_CONNECTED,
  WORKLOAD_MAC,
  type CreateEndpointReply,
  type IpamData,
  type JoinReply,
} from './protocol.ts';
import { networkProfile, type ResourceStore, type WorkloadEndpointResource } from './resources.ts';
import { parseBody } from './validate.ts';

export interface NetworkDriverOptions {
  host: string;
  store: ResourceStore;
  plumbing: WorkloadPlumbing;
  /** Releases a workload's addresses on DeleteEndpoint. */
  ipam: IpamDriver;
  /** Asks dockerd for network names and container labels; without it names fall back to IDs. */
  docker?: DockerInfo;
  /** Host-side interface prefix (Calico: `cali`, at most 4 characters). */
  interfacePrefix?: string;
  /** Prefix Docker gives the container interface (`eth` → eth0). */
  containerInterfacePrefix?: string;
  mtu?: number;
  /** Container labels starting with this prefix become endpoint labels (prefix stripped). */
  labelPrefix?: string;
  /** How long to look for the container behind a new endpoint (label copying). */
  labelPollMs?: number;
  log: Logger;
  now?: () => Date;
}

function refuse(message: string, hint?: string): WeftError {
  return new WeftError(ErrorCodes.VALIDATION, message, hint === undefined ? {} : { hint });
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

export class NetworkDriver {
  readonly #o: NetworkDriverOptions;
  readonly #lock = new KeyedMutex();
  /** Cache of Docker network ID → name (names never change while a network exists). */
  readonly #names = new Map<string, string>();
  /** Background label copies, awaited by close(). */
  readonly #pending = new Set<Promise<void>>();
  #closed = false;

  constructor(opts: NetworkDriverOptions) {
    const p = opts.interfacePrefix ?? 'cali';
    if (!/^[a-z]{1,4}$/.test(p)) throw new WeftError(ErrorCodes.VALIDATION, `interface prefix ${JSON.stringify(p)} must be 1-4 lower-case letters`);
    this.#o = opts;
  }

  /** Name prefix of this host's endpoints: lists stay O(this host), not O(cluster). */
  get #hostEndpointsPrefix(): string {
    return endpointName(this.#o.host, 'x').slice(0, -1);
  }

  get #prefix(): string {
    return this.#o.interfacePrefix ?? 'cali';
  }

  getCapabilities(): object {
    // "local": Docker 20.10 without a cluster store refuses "global" (swarm only; trace §5) and
    // Docker 23+ removed the store. Cross-host identity comes from the network name instead.
    // ConnectivityScope "global": endpoints are reachable from other hosts.
    return { Scope: 'local', ConnectivityScope: 'global' };
  }

  async createNetwork(body: unknown): Promise<object> {
    const req = parseBody(CreateNetworkRequest, body, 'CreateNetwork');
    const problems: string[] = [];
    for (const [k, v] of Object.entries(req.Options)) {
      if (k === OPT_ENABLE_IPV6) {
        if (typeof v !== 'boolean') problems.push(`${k} must be a boolean`);
      } else if (k === OPT_GENERIC) {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          problems.push(`${k} must be an object`);
          continue;
        }
        for (const [gk, gv] of Object.entries(v as Record<string, unknown>)) {
          if (gk === OPT_INTERNAL) {
            if (gv === true || gv === 'true') problems.push('--internal (Weft cannot cut a network off from the outside; use a policy)');
          } else {
            problems.push(`-o ${gk}=${typeof gv === 'string' ? gv : JSON.stringify(gv)}`);
          }
        }
      } else if (k === OPT_INTERNAL) {
        if (v === true || v === 'true') problems.push('--internal (Weft cannot cut a network off from the outside; use a policy)');
      } else {
        problems.push(`option ${k}`);
      }
    }
    const checkData = (data: IpamData[], version: 4 | 6): void => {
      const placeholder = version === 4 ? '0.0.0.0/0' : '::/0';
      for (const d of data) {
        if (d.Gateway !== placeholder) {
          problems.push(`IPv${version} gateway ${d.Gateway || '(none)'} from a non-Weft IPAM driver: use --ipam-driver weft-ipam (Weft workloads route via ${version === 4 ? GATEWAY_V4 : 'the host'})`);
        }
        const aux = Object.keys(d.AuxAddresses);
        if (aux.length > 0) problems.push(`--aux-address (${aux.join(', ')})`);
        const p = parseCIDR(d.Pool, { strict: false });
        if (p === undefined || p.version !== version) problems.push(`IPv${version} pool ${JSON.stringify(d.Pool)} is not an IPv${version} CIDR`);
      }
    };
    checkData(req.IPv4Data, 4);
    checkData(req.IPv6Data, 6);
    if (req.IPv4Data.length === 0 && req.IPv6Data.length === 0) problems.push('no IPv4 or IPv6 pool');
    if (problems.length > 0) {
      throw refuse(`the weft network driver does not support: ${problems.join('; ')}`);
    }
    // The profile is created with the first endpoint: only then can Docker tell us the network's name.
    return {};
  }

  async deleteNetwork(body: unknown): Promise<object> {
    const req = parseBody(NetworkRequest, body, 'DeleteNetwork');
    await this.#lock.run('net:' + req.NetworkID, async () => {
      // Docker refuses to remove a network with endpoints; this sweeps what a crash left behind.
      const mine = (await this.#o.store.listEndpoints(this.#hostEndpointsPrefix)).filter(
        (w) => w.spec.node === this.#o.host && w.metadata.annotations[ANNOTATION_NETWORK_ID] === req.NetworkID,
      );
      for (const w of mine) await this.#removeEndpoint(w.spec.endpoint, w);
      this.#names.delete(req.NetworkID);
    });
    // The Profile stays: other hosts may have members, and users may have edited it (Calico does the same).
    return {};
  }

  /**
   * The Docker network's name. With a dockerd to ask, failing to learn it is an error: falling
   * back to a host-local name would silently split the network across hosts (seed 001's 100 %
   * loss all over again). Only a plugin started without dockerd access uses the fallback.
   */
  async #networkName(networkId: string): Promise<string> {
    const cached = this.#names.get(networkId);
    if (cached !== undefined) return cached;
    if (this.#o.docker === undefined) {
      const name = fallbackNetworkName(networkId);
      this.#o.log.warn({ networkId, name }, 'no dockerd API configured: host-local network name, the network will not span hosts');
      return name;
    }
    let name: string | undefined;
    try {
      name = await this.#o.docker.networkName(networkId);
    } catch (e) {
      throw new WeftError(ErrorCodes.UNSUPPORTED, `cannot ask dockerd for the name of network ${networkId.slice(0, 12)}: ${(e as Error).message}`, {
        cause: e,
        hint: 'start the plugin with --docker-host <dockerd API socket> (or --docker-host none for host-local networks)',
      });
    }
    if (name === undefined) throw refuse(`dockerd does not know network ${networkId.slice(0, 12)}`);
    this.#names.set(networkId, name);
    return name;
  }

  async createEndpoint(body: unknown): Promise<CreateEndpointReply> {
    const req = parseBody(CreateEndpointRequest, body, 'CreateEndpoint');
    const problems: string[] = [];
    for (const [k, v] of Object.entries(req.Options)) {
      if (k === OPT_EXPOSED_PORTS) continue; // EXPOSE metadata only: nothing to do in a routed network
      if (k === OPT_PORT_MAP) {
        if (v === null) continue;
        if (!Array.isArray(v)) problems.push(`${k} must be a list`);
        else if (v.length > 0) problems.push('-p/--publish (Weft routes to the container address; no port mapping: reach it at its own IP)');
        continue;
      }
      problems.push(`endpoint option ${k}`);
    }
    const addresses: string[] = [];
    const iface = req.Interface;
    for (const [field, text, version] of [['Address', iface.Address, 4], ['AddressIPv6', iface.AddressIPv6, 6]] as const) {
      if (text === '') continue;
      const c = parseCIDR(text, { strict: false, allowBare: true });
      if (c === undefined || c.version !== version) {
        problems.push(`Interface.${field} ${JSON.stringify(text)} is not an IPv${version} address`);
        continue;
      }
      const ip = text.split('/')[0] ?? text;
      addresses.push(`${ip}/${version === 4 ? 32 : 128}`);
    }
    if (addresses.length === 0 && problems.length === 0) problems.push('an endpoint without an address (use --ipam-driver weft-ipam)');
    if (iface.MacAddress !== '' && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(iface.MacAddress)) problems.push(`MAC address ${JSON.stringify(iface.MacAddress)}`);
    if (problems.length > 0) throw refuse(`the weft network driver does not support: ${problems.join('; ')}`);

    return this.#lock.run('ep:' + req.EndpointID, async () => {
      const host = this.#o.host;
      const networkName = await this.#networkName(req.NetworkID);
      const profile = profileName(networkName);
      const labelValue = networkLabelValue(profile);
      const mac = iface.MacAddress === '' ? WORKLOAD_MAC : iface.MacAddress.toLowerCase();
      const name = endpointName(host, req.EndpointID);
      const wep: WorkloadEndpointResource = {
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: {
          name,
          namespace: WEP_NAMESPACE,
          labels: {
            'projectcalico.org/namespace': WEP_NAMESPACE,
            'projectcalico.org/orchestrator': ORCHESTRATOR,
            [NETWORK_LABEL]: labelValue,
          },
          annotations: { [ANNOTATION_NETWORK_ID]: req.NetworkID, [ANNOTATION_NETWORK_NAME]: networkName },
          creationTimestamp: (this.#o.now?.() ?? new Date()).toISOString(),
        },
        spec: {
          orchestrator: ORCHESTRATOR,
          workload: ORCHESTRATOR,
          node: host,
          endpoint: req.EndpointID,
          ipNetworks: addresses,
          profiles: [profile],
          interfaceName: hostInterfaceName(req.EndpointID, this.#prefix),
          mac,
          ...(addresses.some((a) => !a.includes(':')) ? { ipv4Gateway: GATEWAY_V4 } : {}),
        },
      };
      await this.#o.store.ensureProfile(networkProfile(profile, labelValue, networkName, this.#o.now?.() ?? new Date()));
      try {
        await this.#o.store.createEndpoint(wep);
      } catch (e) {
        if (!isWeftError(e, ErrorCodes.ALREADY_EXISTS)) throw e;
        const cur = await this.#o.store.getEndpoint(name);
        const same = cur !== undefined && cur.wep.metadata.annotations[ANNOTATION_NETWORK_ID] === req.NetworkID &&
          JSON.stringify(cur.wep.spec.ipNetworks) === JSON.stringify(addresses);
        if (!same) throw refuse(`endpoint ${req.EndpointID.slice(0, 12)} already exists with other settings (WorkloadEndpoint ${WEP_NAMESPACE}/${name})`);
      }
      // Only fields Docker left empty may be filled in (libnetwork remote driver: "driver modified interface MAC address").
      return { Interface: iface.MacAddress === '' ? { MacAddress: WORKLOAD_MAC } : {} };
    });
  }

  async #endpoint(endpointId: string): Promise<{ wep: WorkloadEndpointResource; revision: number } | undefined> {
    return this.#o.store.getEndpoint(endpointName(this.#o.host, endpointId));
  }

  async join(body: unknown): Promise<JoinReply> {
    const req = parseBody(JoinRequest, body, 'Join');
    const reply = await this.#lock.run('ep:' + req.EndpointID, async () => {
      const cur = await this.#endpoint(req.EndpointID);
      if (cur === undefined) throw refuse(`Join: endpoint ${req.EndpointID.slice(0, 12)} is unknown (CreateEndpoint did not succeed)`);
      if (cur.wep.metadata.annotations[ANNOTATION_NETWORK_ID] !== req.NetworkID) {
        throw refuse(`Join: endpoint ${req.EndpointID.slice(0, 12)} belongs to another network`);
      }
      // One Weft network per container: every Weft interface needs the same `169.254.1.1/32`
      // link route, and Docker fails the second one with "file exists" after the fact. Refuse
      // up front, naming the network the container is already on.
      const other = (await this.#o.store.listEndpoints(this.#hostEndpointsPrefix)).find(
        (w) => w.spec.node === this.#o.host && w.spec.endpoint !== req.EndpointID && w.metadata.annotations[ANNOTATION_SANDBOX] === req.SandboxKey,
      );
      if (other !== undefined) {
        throw refuse(
          `the container is already on Weft network ${JSON.stringify(other.metadata.annotations[ANNOTATION_NETWORK_NAME] ?? '?')}: a container can be attached to one Weft network`,
          'use one network per container and a policy (or a shared profile) to allow traffic between networks',
        );
      }
      const hostIf = cur.wep.spec.interfaceName;
      const tempIf = tempInterfaceName(req.EndpointID);
      await this.#o.plumbing.setUp({ hostIf, tempIf, addresses: cur.wep.spec.ipNetworks, ...(this.#o.mtu === undefined ? {} : { mtu: this.#o.mtu }) });
      if (cur.wep.metadata.annotations[ANNOTATION_SANDBOX] !== req.SandboxKey) {
        try {
          const next = { ...cur.wep, metadata: { ...cur.wep.metadata, annotations: { ...cur.wep.metadata.annotations, [ANNOTATION_SANDBOX]: req.SandboxKey } } };
          await this.#o.store.updateEndpoint(next, cur.revision);
        } catch (e) {
          await this.#o.plumbing.tearDown(hostIf).catch(() => undefined);
          throw e;
        }
      }
      const v4 = cur.wep.spec.ipNetworks.some((a) => !a.includes(':'));
      const v6 = cur.wep.spec.ipNetworks.some((a) => a.includes(':'));
      const r: JoinReply = {
        InterfaceName: { SrcName: tempIf, DstPrefix: this.#o.containerInterfacePrefix ?? 'eth' },
        Gateway: v4 ? GATEWAY_V4 : '',
        GatewayIPv6: v6 ? GATEWAY_V6 : '',
        // 169.254.1.1 is not in the workload's /32: it needs a link route before Docker can add the default route via it.
        StaticRoutes: v4 ? [{ Destination: `${GATEWAY_V4}/32`, RouteType: ROUTE_TYPE_CONNECTED, NextHop: '' }] : [],
        DisableGatewayService: true,
      };
      return r;
    });
    if (this.#o.labelPrefix !== undefined && this.#o.docker !== undefined && !this.#closed) this.#copyLabelsLater(req.NetworkID, req.EndpointID);
    return reply;
  }

  async leave(body: unknown): Promise<object> {
    const req = parseBody(EndpointRequest, body, 'Leave');
    await this.#lock.run('ep:' + req.EndpointID, async () => {
      const cur = await this.#endpoint(req.EndpointID);
      await this.#o.plumbing.tearDown(cur?.wep.spec.interfaceName ?? hostInterfaceName(req.EndpointID, this.#prefix));
    });
    return {};
  }

  async deleteEndpoint(body: unknown): Promise<object> {
    const req = parseBody(EndpointRequest, body, 'DeleteEndpoint');
    await this.#lock.run('ep:' + req.EndpointID, async () => {
      const cur = await this.#endpoint(req.EndpointID);
      await this.#removeEndpoint(req.EndpointID, cur?.wep);
    });
    return {};
  }

  /** veth, then the endpoint, then its addresses: a crash midway leaves at worst an address `weft ipam check` reports. */
  async #removeEndpoint(endpointId: string, wep: WorkloadEndpointResource | undefined): Promise<void> {
    await this.#o.plumbing.tearDown(wep?.spec.interfaceName ?? hostInterfaceName(endpointId, this.#prefix));
    if (wep === undefined) return;
    await this.#o.store.deleteEndpoint(wep.metadata.name);
    for (const cidr of wep.spec.ipNetworks) await this.#o.ipam.releaseIP(cidr.split('/')[0] ?? cidr);
  }

  async endpointOperInfo(body: unknown): Promise<object> {
    parseBody(EndpointRequest, body, 'EndpointOperInfo');
    return { Value: {} };
  }

  discover(body: unknown, what: string): object {
    parseBody(DiscoveryRequest, body, what);
    return {};
  }

  externalConnectivity(body: unknown, what: string): object {
    parseBody(ExternalConnectivityRequest, body, what);
    // Ports were refused at CreateEndpoint; a routed workload needs no NAT.
    return {};
  }

  #copyLabelsLater(networkId: string, endpointId: string): void {
    const p = this.#copyLabels(networkId, endpointId)
      .catch((e: unknown) => this.#o.log.warn({ err: e, endpointId }, 'copying container labels failed'))
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Polls dockerd until the container behind the endpoint is visible, then copies its prefixed labels. */
  async #copyLabels(networkId: string, endpointId: string): Promise<void> {
    const docker = this.#o.docker;
    const prefix = this.#o.labelPrefix;
    if (docker === undefined || prefix === undefined) return;
    const deadline = Date.now() + (this.#o.labelPollMs ?? 5000);
    while (!this.#closed && Date.now() < deadline) {
      const c = await docker.containerForEndpoint(networkId, endpointId).catch(() => undefined);
      if (c !== undefined) {
        const labels: Record<string, string> = {};
        for (const [k, v] of Object.entries(c.labels)) {
          if (!k.startsWith(prefix)) continue;
          const key = k.slice(prefix.length);
          if (LABEL_KEY.test(key) && LABEL_VALUE.test(v)) labels[key] = v;
          else this.#o.log.warn({ label: k }, 'container label is not a valid endpoint label; skipped');
        }
        await this.#lock.run('ep:' + endpointId, async () => {
          const cur = await this.#endpoint(endpointId);
          if (cur === undefined) return;
          const next: WorkloadEndpointResource = {
            ...cur.wep,
            metadata: { ...cur.wep.metadata, labels: { ...labels, ...cur.wep.metadata.labels } },
            spec: { ...cur.wep.spec, containerID: c.id },
          };
          await this.#o.store.updateEndpoint(next, cur.revision);
        });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pending]);
  }
}
