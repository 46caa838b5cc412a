/**
 * The v3 kinds this API validates, their aliases as calicoctl accepts them on the command line,
 * and whether they are namespaced. Pure.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';

export const API_VERSION = 'projectcalico.org/v3';

export const KINDS = [
  'IPPool',
  'IPReservation',
  'Node',
  'BGPPeer',
  'BGPConfiguration',
  'Profile',
  'NetworkPolicy',
  'GlobalNetworkPolicy',
  'NetworkSet',
  'GlobalNetworkSet',
  'WorkloadEndpoint',
  'HostEndpoint',
  'FelixConfiguration',
  'ClusterInformation',
  'Tier',
  'IPAMConfiguration',
] as const;

/** A v3 resource kind handled by this API. */
export type Kind = (typeof KINDS)[number];

export const NAMESPACED_KINDS: ReadonlySet<Kind> = new Set<Kind>(['NetworkPolicy', 'NetworkSet', 'WorkloadEndpoint']);

export function isKind(s: unknown): s is Kind {
  return typeof s === 'string' && (KINDS as readonly string[]).includes(s);
}

export function isNamespacedKind(k: Kind): boolean {
  return NAMESPACED_KINDS.has(k);
}

const ALIASES: Record<Kind, readonly string[]> = {
  IPPool: ['ippool', 'ippools', 'ipp', 'ipps', 'pool', 'pools'],
  IPReservation: ['ipreservation', 'ipreservations', 'reservation', 'reservations'],
  Node: ['node', 'nodes', 'no', 'nos'],
  BGPPeer: ['bgppeer', 'bgppeers', 'bgpp', 'bgpps', 'bp', 'bps'],
  BGPConfiguration: ['bgpconfiguration', 'bgpconfigurations', 'bgpconfig', 'bgpconfigs'],
  Profile: ['profile', 'profiles', 'pro', 'pros'],
  NetworkPolicy: ['networkpolicy', 'networkpolicies', 'policy', 'policies', 'np', 'nps', 'pol', 'pols'],
  GlobalNetworkPolicy: ['globalnetworkpolicy', 'globalnetworkpolicies', 'gnp', 'gnps'],
  NetworkSet: ['networkset', 'networksets', 'netset', 'netsets'],
  GlobalNetworkSet: ['globalnetworkset', 'globalnetworksets', 'gnetset', 'gnetsets'],
  WorkloadEndpoint: ['workloadendpoint', 'workloadendpoints', 'wep', 'weps'],
  HostEndpoint: ['hostendpoint', 'hostendpoints', 'hep', 'heps'],
  FelixConfiguration: ['felixconfiguration', 'felixconfigurations', 'felixconfig', 'felixconfigs'],
  ClusterInformation: ['clusterinformation', 'clusterinformations', 'clusterinfo', 'clusterinfos'],
  Tier: ['tier', 'tiers'],
  IPAMConfiguration: ['ipamconfiguration', 'ipamconfigurations', 'ipamconfig', 'ipamconfigs'],
};

const BY_ALIAS: ReadonlyMap<string, Kind> = new Map(
  KINDS.flatMap((k) => ALIASES[k].map((a) => [a, k] as const)),
);

/** All aliases of a kind (lower-case), e.g. for `--help`. */
export function kindAliases(kind: Kind): readonly string[] {
  return ALIASES[kind];
}

/**
 * Resolves a kind as typed on the command line (`ippool`, `IPPools`, `gnp`, `wep`, …,
 * case-insensitive; the v3 kind name itself too). Returns undefined when unknown.
 */
export function lookupKind(alias: string): Kind | undefined {
  return BY_ALIAS.get(alias.trim().toLowerCase());
}

/** As lookupKind but throws WeftError(ERR_USAGE) naming the known kinds. */
export function resolveKind(alias: string): Kind {
  const k = lookupKind(alias);
  if (k === undefined) {
    throw new WeftError(ErrorCodes.USAGE, `unknown resource kind ${JSON.stringify(alias)}`, {
      hint: `known kinds: ${KINDS.map((x) => x.toLowerCase()).join(', ')}`,
      details: { kind: alias },
    });
  }
  return k;
}
