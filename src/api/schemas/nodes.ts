/** Node, BGP and endpoint kinds: Node, BGPPeer, BGPConfiguration, WorkloadEndpoint, HostEndpoint. */
import { z } from 'zod';
import { canonicalIP, parseIP } from '../../lib/ip.ts';
import { workloadEndpointName } from '../names.ts';
import {
  asNumber,
  cidr,
  stdClusterMeta,
  duration,
  int,
  interfaceName,
  ipAddr,
  ipWithPrefix,
  issue,
  macAddr,
  namespacedMeta,
  nameField,
  port,
  q,
  secretKeyRef,
  selector,
} from './common.ts';
import { envelope } from './envelope.ts';

// ---------------------------------------------------------------------------------------------
// Node

/** An address with optional prefix, host part kept (`198.18.0.5/24`). */
const hostAddress = z.string().transform((v, ctx) => {
  const a = parseIP(v.trim().split('/')[0]);
  if (a === undefined) {
    issue(ctx, [], `${q(v)} is not an IP address (with optional /prefix)`);
    return z.NEVER;
  }
  if (!v.includes('/')) return canonicalIP(v.trim()) as string;
  const r = ipWithPrefix(a.version).safeParse(v);
  if (!r.success) {
    issue(ctx, [], `${q(v)} is not an IP address (with optional /prefix)`);
    return z.NEVER;
  }
  return r.data;
});

export const nodeSpec = z
  .strictObject({
    bgp: z
      .strictObject({
        asNumber: asNumber.optional(),
        ipv4Address: ipWithPrefix(4).optional(),
        ipv6Address: ipWithPrefix(6).optional(),
        ipv4IPIPTunnelAddr: ipAddr(4).optional(),
        routeReflectorClusterID: ipAddr(4).optional(),
      })
      .optional(),
    ipv4VXLANTunnelAddr: ipAddr(4).optional(),
    vxlanTunnelMACAddr: macAddr.optional(),
    ipv6VXLANTunnelAddr: ipAddr(6).optional(),
    vxlanTunnelMACAddrV6: macAddr.optional(),
    orchRefs: z.array(z.strictObject({ nodeName: z.string().optional(), orchestrator: z.string() })).optional(),
    wireguard: z
      .strictObject({ interfaceIPv4Address: ipAddr(4).optional(), interfaceIPv6Address: ipAddr(6).optional() })
      .optional(),
    addresses: z
      .array(
        z.strictObject({
          address: hostAddress,
          type: z.enum(['InternalIP', 'ExternalIP', 'CalicoNodeIP']).optional(),
        }),
      )
      .optional(),
    interfaces: z.array(z.strictObject({ name: z.string(), addresses: z.array(z.string()).optional() })).optional(),
  })
  .prefault({});

export const NodeSchema = z
  .strictObject({
    apiVersion: z.literal('projectcalico.org/v3'),
    kind: z.literal('Node'),
    metadata: stdClusterMeta,
    spec: nodeSpec,
    status: z.record(z.string(), z.unknown()).optional(),
  });

// ---------------------------------------------------------------------------------------------
// BGPPeer

/** `ip`, `ip:port` or `[ipv6]:port`; canonical text out. */
const peerIP = z.string().transform((v, ctx) => {
  const s = v.trim();
  let host = s;
  let p: string | undefined;
  const br = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (br !== null) {
    host = br[1];
    p = br[2];
  } else if (!s.includes(':') || parseIP(s) === undefined) {
    const m = /^([^:]+):(\d+)$/.exec(s);
    if (m !== null) {
      host = m[1];
      p = m[2];
    }
  }
  const a = parseIP(host);
  const pn = p === undefined ? undefined : Number(p);
  if (a === undefined || (br !== null && a.version !== 6) || (pn !== undefined && (pn < 1 || pn > 65535))) {
    issue(ctx, [], `${q(v)} is not a peer address (IP, IP:port or [IPv6]:port)`);
    return z.NEVER;
  }
  const ip = canonicalIP(host) as string;
  if (pn === undefined) return ip;
  return a.version === 6 ? `[${ip}]:${pn}` : `${ip}:${pn}`;
});

export const bgpPeerSpec = z
  .strictObject({
    node: z.string().optional(),
    nodeSelector: selector().optional(),
    peerIP: peerIP.optional(),
    asNumber: asNumber.optional(),
    localASNumber: asNumber.optional(),
    peerSelector: selector().optional(),
    keepOriginalNextHop: z.boolean().optional(),
    nextHopMode: z.enum(['Auto', 'Self', 'Keep']).optional(),
    password: secretKeyRef.optional(),
    sourceAddress: z.enum(['UseNodeIP', 'None']).optional(),
    failureDetectionMode: z.enum(['None', 'BFDIfDirectlyConnected']).optional(),
    restartMode: z.enum(['GracefulRestart', 'LongLivedGracefulRestart']).optional(),
    maxRestartTime: duration.optional(),
    keepaliveTime: duration.optional(),
    birdGatewayMode: z.enum(['Recursive', 'DirectIfDirectlyConnected']).optional(),
    numAllowedLocalASNumbers: int(0, 10).optional(),
    ttlSecurity: int(0, 255).optional(),
    reachableBy: ipAddr().optional(),
    filters: z.array(z.string()).optional(),
    reversePeering: z.enum(['Auto', 'Manual']).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.node !== undefined && s.node !== '' && s.nodeSelector !== undefined && s.nodeSelector !== '') {
      issue(ctx, ['nodeSelector'], 'node and nodeSelector cannot both be set');
    }
    if (s.peerIP !== undefined && s.peerSelector !== undefined && s.peerSelector !== '') {
      issue(ctx, ['peerSelector'], 'peerIP and peerSelector cannot both be set');
    }
    if (s.asNumber !== undefined && s.peerSelector !== undefined && s.peerSelector !== '') {
      issue(ctx, ['asNumber'], 'asNumber must be empty when peerSelector is set (the peers’ own AS numbers are used)');
    }
    if (s.keepOriginalNextHop && s.nextHopMode !== undefined && s.nextHopMode !== 'Keep') {
      issue(ctx, ['nextHopMode'], 'conflicts with keepOriginalNextHop: true');
    }
  });

export const BGPPeerSchema = envelope('BGPPeer', stdClusterMeta, bgpPeerSpec.prefault({}));

// ---------------------------------------------------------------------------------------------
// BGPConfiguration (names: `default` global, `node.<name>` per node)

const cidrEntry = z.strictObject({ cidr: cidr({ allowBare: true }) });

export const bgpConfigurationSpec = z.strictObject({
  logSeverityScreen: z.enum(['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal']).optional(),
  nodeToNodeMeshEnabled: z.boolean().optional(),
  asNumber: asNumber.optional(),
  listenPort: port.optional(),
  serviceClusterIPs: z.array(cidrEntry).optional(),
  serviceExternalIPs: z.array(cidrEntry).optional(),
  serviceLoadBalancerIPs: z.array(cidrEntry).optional(),
  communities: z
    .array(
      z.strictObject({
        name: z.string(),
        value: z.string().regex(/^(\d+:\d+|\d+:\d+:\d+)$/, 'must be a standard (aa:nn) or large (aa:nn:mm) community'),
      }),
    )
    .optional(),
  prefixAdvertisements: z.array(z.strictObject({ cidr: cidr({ allowBare: true }), communities: z.array(z.string()).optional() })).optional(),
  nodeMeshPassword: secretKeyRef.optional(),
  nodeMeshMaxRestartTime: duration.optional(),
  bindMode: z.enum(['None', 'NodeIP']).optional(),
  ignoredInterfaces: z.array(z.string()).optional(),
  localWorkloadPeeringIPV4: ipAddr(4).optional(),
  localWorkloadPeeringIPV6: ipAddr(6).optional(),
  programClusterRoutes: z.enum(['Enabled', 'Disabled']).optional(),
});

/**
 * Global defaults (asNumber 64512, node-to-node mesh on, log severity Info) are filled in on the
 * `default` object only; per-node objects must not set the global-only fields.
 */
export const BGPConfigurationSchema = envelope('BGPConfiguration', stdClusterMeta, bgpConfigurationSpec.prefault({}))
  .transform((r, ctx) => {
    const name = r.metadata.name;
    if (name === 'default') {
      return {
        ...r,
                spec: {
          logSeverityScreen: r.spec.logSeverityScreen ?? 'Info',
          nodeToNodeMeshEnabled: r.spec.nodeToNodeMeshEnabled ?? true,
          asNumber: r.spec.asNumber ?? 64512,
          ...r.spec,
        },
      };
    }
    if (name.startsWith('node.')) {
      for (const f of ['nodeToNodeMeshEnabled', 'asNumber', 'serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs', 'listenPort'] as const) {
        if (r.spec[f] !== undefined) issue(ctx, ['spec', f], 'can only be set in the global BGPConfiguration "default"');
      }
    }
    return r;
  });

// ---------------------------------------------------------------------------------------------
// Endpoints

const endpointPort = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/, 'is not a valid port name'),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']),
  port,
  hostPort: int(0, 65535).optional(),
  hostIP: ipAddr().optional(),
});

export const workloadEndpointSpec = z.strictObject({
  orchestrator: z.string().optional(),
  workload: z.string().optional(),
  node: z.string().optional(),
  containerID: z.string().optional(),
  pod: z.string().optional(),
  endpoint: z.string().optional(),
  serviceAccountName: z.string().optional(),
  ipNetworks: z.array(cidr({ allowBare: true })).optional(),
  ipNATs: z.array(z.strictObject({ internalIP: ipAddr(), externalIP: ipAddr() })).optional(),
  ipv4Gateway: ipAddr(4).optional(),
  ipv6Gateway: ipAddr(6).optional(),
  profiles: z.array(z.string()).optional(),
  interfaceName: interfaceName.optional(),
  mac: macAddr.optional(),
  ports: z.array(endpointPort).optional(),
  allowSpoofedSourcePrefixes: z.array(cidr({ allowBare: true })).optional(),
  qosControls: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).optional(),
  awsElasticIPs: z.array(ipAddr(4)).optional(),
});

/**
 * WorkloadEndpoint: when metadata.name is absent it is built from the spec (workloadEndpointName);
 * when present and the spec has all identifiers, it must equal the built name (as Calico checks).
 */
export const WorkloadEndpointSchema = envelope('WorkloadEndpoint', namespacedMeta(nameField().optional()), workloadEndpointSpec.prefault({})).transform(
  (r, ctx) => {
    let built: string | undefined;
    let why: string | undefined;
    try {
      built = workloadEndpointName({
        node: r.spec.node ?? '',
        orchestrator: r.spec.orchestrator ?? '',
        endpoint: r.spec.endpoint ?? '',
        workload: r.spec.workload,
        pod: r.spec.pod,
        containerID: r.spec.containerID,
      });
    } catch (e) {
      why = (e as Error).message;
    }
    const given = r.metadata.name;
    if (given === undefined || given === '') {
      if (built === undefined) {
        issue(ctx, ['metadata', 'name'], `required (or set spec.node, spec.orchestrator, spec.endpoint and the workload identifier so it can be built: ${why})`);
        return z.NEVER;
      }
      return { ...r, metadata: { name: built, ...r.metadata } };
    }
    if (built !== undefined && built !== given) {
      issue(ctx, ['metadata', 'name'], `${q(given)} does not match the name built from the spec (${q(built)})`);
    }
    return { ...r, metadata: { ...r.metadata, name: given } };
  },
);

export const hostEndpointSpec = z
  .strictObject({
    node: z.string().min(1),
    interfaceName: z.string().optional(),
    expectedIPs: z.array(ipAddr()).optional(),
    profiles: z.array(z.string()).optional(),
    ports: z.array(endpointPort).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.interfaceName === undefined || s.interfaceName === '') && (s.expectedIPs?.length ?? 0) === 0) {
      issue(ctx, ['expectedIPs'], 'required when interfaceName is empty (set interfaceName, "*" or expectedIPs)');
    }
    if (s.interfaceName !== undefined && s.interfaceName !== '' && s.interfaceName !== '*' && !/^[a-zA-Z0-9_.@:-]{1,15}$/.test(s.interfaceName)) {
      issue(ctx, ['interfaceName'], `${q(s.interfaceName)} is not a valid interface name (1..15 characters, or "*" for all)`);
    }
  });

export const HostEndpointSchema = envelope('HostEndpoint', stdClusterMeta, hostEndpointSpec);
