/**
 * The libnetwork remote-plugin protocol (Docker 20.10, `libnetwork/drivers/remote/api`,
 * `libnetwork/ipams/remote/api`): endpoint paths, request schemas (zod) and reply shapes.
 * Request bodies are exactly those captured in libnetwork-trace.md. Pure: no I/O.
 *
 * Validation policy: every field Weft reads is type-checked; unknown top-level fields are tolerated
 * (newer Docker versions add some) but unknown *options* are refused by the handlers, because an
 * option Weft ignores silently would be a promise it does not keep.
 */
import { z } from 'zod';

/** Media type of every request and reply (docker `pkg/plugins` VersionMimetype). */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export const NETWORK_DRIVER = 'NetworkDriver';
export const IPAM_DRIVER = 'IpamDriver';

/** Address spaces the IPAM driver reports (the names Calico uses, so tooling recognises them). */
export const LOCAL_ADDRESS_SPACE = 'CalicoLocalAddressSpace';
export const GLOBAL_ADDRESS_SPACE = 'CalicoGlobalAddressSpace';

/** PoolIDs of the "no --subnet" pools: every Weft pool of that family. */
export const ALL_POOLS_V4 = 'WeftPoolIPv4';
export const ALL_POOLS_V6 = 'WeftPoolIPv6';

/** Docker's generic-data keys (`libnetwork/netlabel`). */
export const OPT_GENERIC = 'com.docker.network.generic';
export const OPT_ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
export const OPT_INTERNAL = 'com.docker.network.internal';
export const OPT_GATEWAY = 'com.docker.network.gateway';
export const OPT_REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const OPT_EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports';
export const OPT_PORT_MAP = 'com.docker.network.portmap';

/** Calico's scheme: every workload's default gateway is this link-local address, answered by proxy ARP. */
export const GATEWAY_V4 = '169.254.1.1';
/** Docker applies this MAC to the container interface when CreateEndpoint hands it back. */
export const WORKLOAD_MAC = 'ee:ee:ee:ee:ee:ee';
/** libnetwork `types.CONNECTED`: a static route without next hop (scope link). */
export const ROUTE_TYPE_CONNECTED = 1;

// ---------------------------------------------------------------------------------------------
// Request schemas

/** Docker object IDs are 64 lower-case hex digits (`pkg/stringid`). */
const dockerId = z.string().regex(/^[0-9a-f]{64}$/, 'must be a 64-digit hex Docker ID');
const stringMap = z.record(z.string(), z.string());
/** Docker sends `null` for empty maps in some calls and `{}` in others. */
const optStringMap = stringMap.nullish().transform((m) => m ?? {});
const optAnyMap = z.record(z.string(), z.unknown()).nullish().transform((m) => m ?? {});

export const RequestPoolRequest = z.looseObject({
  AddressSpace: z.string(),
  Pool: z.string().default(''),
  SubPool: z.string().default(''),
  Options: optStringMap,
  V6: z.boolean().default(false),
});
export type RequestPoolRequest = z.output<typeof RequestPoolRequest>;

export const ReleasePoolRequest = z.looseObject({ PoolID: z.string().min(1) });
export type ReleasePoolRequest = z.output<typeof ReleasePoolRequest>;

export const RequestAddressRequest = z.looseObject({
  PoolID: z.string().min(1),
  Address: z.string().default(''),
  Options: optStringMap,
});
export type RequestAddressRequest = z.output<typeof RequestAddressRequest>;

export const ReleaseAddressRequest = z.looseObject({ PoolID: z.string().min(1), Address: z.string().min(1) });
export type ReleaseAddressRequest = z.output<typeof ReleaseAddressRequest>;

const ipamData = z.looseObject({
  AddressSpace: z.string().default(''),
  Pool: z.string(),
  Gateway: z.string().default(''),
  AuxAddresses: optStringMap,
});
export type IpamData = z.output<typeof ipamData>;

export const CreateNetworkRequest = z.looseObject({
  NetworkID: dockerId,
  Options: optAnyMap,
  IPv4Data: z.array(ipamData).nullish().transform((a) => a ?? []),
  IPv6Data: z.array(ipamData).nullish().transform((a) => a ?? []),
});
export type CreateNetworkRequest = z.output<typeof CreateNetworkRequest>;

export const NetworkRequest = z.looseObject({ NetworkID: dockerId });
export type NetworkRequest = z.output<typeof NetworkRequest>;

export const EndpointRequest = z.looseObject({ NetworkID: dockerId, EndpointID: dockerId });
export type EndpointRequest = z.output<typeof EndpointRequest>;

export const CreateEndpointRequest = z.looseObject({
  NetworkID: dockerId,
  EndpointID: dockerId,
  Interface: z
    .looseObject({
      Address: z.string().default(''),
      AddressIPv6: z.string().default(''),
      MacAddress: z.string().default(''),
    })
    .nullish()
    .transform((i) => i ?? { Address: '', AddressIPv6: '', MacAddress: '' }),
  Options: optAnyMap,
});
export type CreateEndpointRequest = z.output<typeof CreateEndpointRequest>;

export const JoinRequest = z.looseObject({
  NetworkID: dockerId,
  EndpointID: dockerId,
  SandboxKey: z.string().min(1),
  Options: optAnyMap,
});
export type JoinRequest = z.output<typeof JoinRequest>;

export const ExternalConnectivityRequest = z.looseObject({
  NetworkID: dockerId,
  EndpointID: dockerId,
  Options: optAnyMap,
});

export const DiscoveryRequest = z.looseObject({
  DiscoveryType: z.number().int(),
  DiscoveryData: z.unknown(),
});

/** One line per problem: `Interface.Address: expected string, received number`. */
export function formatIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length === 0 ? 'body' : i.path.map(String).join('.')}: ${i.message}`)
    .join('; ');
}

// ---------------------------------------------------------------------------------------------
// Replies

export interface ErrReply {
  Err: string;
}

export interface StaticRoute {
  Destination: string;
  RouteType: number;
  NextHop: string;
}

export interface JoinReply {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway: string;
  GatewayIPv6: string;
  StaticRoutes: StaticRoute[];
  DisableGatewayService: boolean;
}

export interface CreateEndpointReply {
  Interface: { MacAddress?: string; Address?: string; AddressIPv6?: string };
}
