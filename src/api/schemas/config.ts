/**
 * Configuration kinds: FelixConfiguration (names `default` and `node.<nodename>`, calico-notes
 * §2.9) and ClusterInformation. Felix's defaults live in the agent's config layer, not in the
 * resource, so every FelixConfiguration field is optional here (as in Calico).
 */
import { z } from 'zod';
import { cidr, clusterMeta, nameField, stdClusterMeta, duration, int, interfaceName, ipAddr, issue, port, q } from './common.ts';
import { envelope } from './envelope.ts';

const logSeverity = z.enum(['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal', 'None']);
const enabledDisabled = z.enum(['Enabled', 'Disabled']);

/** `{protocol, port, net?}` entries of the failsafe port lists (Felix `ProtoPort`). */
const protoPort = z.strictObject({
  protocol: z.enum(['TCP', 'UDP', 'SCTP', 'tcp', 'udp', 'sctp']),
  port: int(0, 65535),
  net: cidr({ allowBare: true }).optional(),
});

const routeTableRange = z
  .strictObject({ min: int(1, 4294967295), max: int(1, 4294967295) })
  .superRefine((r, ctx) => {
    if (r.min > r.max) issue(ctx, ['min'], `min ${r.min} is greater than max ${r.max}`);
  });

/** Comma-separated interface-name regexes (`eth.*`, or slash-delimited); validated as JS regexes. */
const regexList = z.string().superRefine((v, ctx) => {
  for (const part of v.split(',')) {
    const body = part.startsWith('/') && part.endsWith('/') && part.length >= 2 ? part.slice(1, -1) : part;
    try {
      new RegExp(body);
    } catch {
      issue(ctx, [], `${q(part)} is not a valid regular expression`);
    }
  }
});

export const felixConfigurationSpec = z.strictObject({
  // Logging
  logSeverityScreen: logSeverity.optional(),
  logSeverityFile: logSeverity.optional(),
  logSeveritySys: logSeverity.optional(),
  logFilePath: z.string().optional(),
  logPrefix: z.string().optional(),
  logDebugFilenameRegex: z.string().optional(),
  // Datastore / reporting
  reportingInterval: duration.optional(),
  reportingTTL: duration.optional(),
  endpointReportingEnabled: z.boolean().optional(),
  endpointReportingDelay: duration.optional(),
  endpointStatusPathPrefix: z.string().optional(),
  usageReportingEnabled: z.boolean().optional(),
  usageReportingInitialDelay: duration.optional(),
  usageReportingInterval: duration.optional(),
  healthEnabled: z.boolean().optional(),
  healthHost: z.string().optional(),
  healthPort: port.optional(),
  healthTimeoutOverrides: z.array(z.strictObject({ name: z.string(), timeout: duration })).optional(),
  prometheusMetricsEnabled: z.boolean().optional(),
  prometheusMetricsHost: z.string().optional(),
  prometheusMetricsPort: port.optional(),
  prometheusGoMetricsEnabled: z.boolean().optional(),
  prometheusProcessMetricsEnabled: z.boolean().optional(),
  prometheusWireGuardMetricsEnabled: z.boolean().optional(),
  debugMemoryProfilePath: z.string().optional(),
  debugDisableLogDropping: z.boolean().optional(),
  // Dataplane
  dataplaneDriver: z.string().optional(),
  useInternalDataplaneDriver: z.boolean().optional(),
  ipv6Support: z.boolean().optional(),
  interfacePrefix: z.string().optional(),
  interfaceExclude: regexList.optional(),
  chainInsertMode: z.enum(['Insert', 'Append']).optional(),
  defaultEndpointToHostAction: z.enum(['Drop', 'Accept', 'Return']).optional(),
  iptablesFilterAllowAction: z.enum(['Accept', 'Return']).optional(),
  iptablesMangleAllowAction: z.enum(['Accept', 'Return']).optional(),
  iptablesFilterDenyAction: z.enum(['Drop', 'Reject']).optional(),
  iptablesBackend: z.enum(['Legacy', 'NFT', 'Auto']).optional(),
  iptablesMarkMask: int(0, 4294967295).optional(),
  iptablesRefreshInterval: duration.optional(),
  iptablesPostWriteCheckInterval: duration.optional(),
  iptablesLockTimeout: duration.optional(),
  iptablesLockProbeInterval: duration.optional(),
  iptablesNATOutgoingInterface: z.string().optional(),
  nftablesMode: z.enum(['Enabled', 'Disabled', 'Auto']).optional(),
  nftablesRefreshInterval: duration.optional(),
  ipsetsRefreshInterval: duration.optional(),
  maxIpsetSize: int(1, 2147483647).optional(),
  routeRefreshInterval: duration.optional(),
  routeSyncDisabled: z.boolean().optional(),
  routeSource: z.enum(['WorkloadIPs', 'CalicoIPAM']).optional(),
  routeTableRange: routeTableRange.optional(),
  routeTableRanges: z.array(routeTableRange).optional(),
  removeExternalRoutes: z.boolean().optional(),
  deviceRouteSourceAddress: ipAddr(4).optional(),
  deviceRouteSourceAddressIPv6: ipAddr(6).optional(),
  deviceRouteProtocol: int(0, 255).optional(),
  netlinkTimeout: duration.optional(),
  interfaceRefreshInterval: duration.optional(),
  xdpEnabled: z.boolean().optional(),
  xdpRefreshInterval: duration.optional(),
  genericXDPEnabled: z.boolean().optional(),
  bpfEnabled: z.boolean().optional(),
  bpfLogLevel: z.enum(['Off', 'Info', 'Debug', '']).optional(),
  bpfDataIfacePattern: regexList.optional(),
  bpfExternalServiceMode: z.enum(['Tunnel', 'DSR']).optional(),
  bpfKubeProxyIptablesCleanupEnabled: z.boolean().optional(),
  featureDetectOverride: z.string().optional(),
  featureGates: z.string().optional(),
  policySyncPathPrefix: z.string().optional(),
  serviceLoopPrevention: z.enum(['Drop', 'Reject', 'Disabled']).optional(),
  floatingIPs: enabledDisabled.optional(),
  kubeNodePortRanges: z.array(z.union([z.number(), z.string()])).optional(),
  externalNodesCIDRList: z.array(cidr({ allowBare: true })).optional(),
  failsafeInboundHostPorts: z.array(protoPort).optional(),
  failsafeOutboundHostPorts: z.array(protoPort).optional(),
  natOutgoingAddress: ipAddr(4).optional(),
  natPortRange: z.union([int(0, 65535), z.string().regex(/^\d+:\d+$/, 'must be a port range "min:max"')]).optional(),
  metadataAddr: z.string().optional(),
  metadataPort: port.optional(),
  openstackRegion: z.string().max(63).regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/, 'must be a DNS label').optional(),
  allowVXLANPacketsFromWorkloads: z.boolean().optional(),
  allowIPIPPacketsFromWorkloads: z.boolean().optional(),
  workloadSourceSpoofing: z.enum(['Disabled', 'Any']).optional(),
  sidecarAccelerationEnabled: z.boolean().optional(),
  mtuIfacePattern: regexList.optional(),
  // Encapsulation
  ipipEnabled: z.boolean().optional(),
  ipipMTU: int(0, 65535).optional(),
  vxlanEnabled: z.boolean().optional(),
  vxlanVNI: int(0, 16777215).optional(),
  vxlanPort: port.optional(),
  vxlanMTU: int(0, 65535).optional(),
  vxlanMTUV6: int(0, 65535).optional(),
  // WireGuard
  wireguardEnabled: z.boolean().optional(),
  wireguardEnabledV6: z.boolean().optional(),
  wireguardListeningPort: port.optional(),
  wireguardListeningPortV6: port.optional(),
  wireguardMTU: int(0, 65535).optional(),
  wireguardMTUV6: int(0, 65535).optional(),
  wireguardInterfaceName: interfaceName.optional(),
  wireguardInterfaceNameV6: interfaceName.optional(),
  wireguardRoutingRulePriority: int(1, 32765).optional(),
  wireguardHostEncryptionEnabled: z.boolean().optional(),
  wireguardKeepAlive: duration.optional(),
});

export const FelixConfigurationSchema = envelope('FelixConfiguration', stdClusterMeta, felixConfigurationSpec.prefault({}));

/** A singleton named `default`, as Calico's client enforces. */
export const ClusterInformationSchema = envelope(
  'ClusterInformation',
  clusterMeta(nameField((n) => (n === 'default' ? undefined : `ClusterInformation must be named "default", not ${q(n)}`))),
  z
    .strictObject({
      clusterGUID: z.string().optional(),
      clusterType: z.string().optional(),
      calicoVersion: z.string().optional(),
      datastoreReady: z.boolean().optional(),
      variant: z.string().optional(),
    })
    .prefault({}),
);
