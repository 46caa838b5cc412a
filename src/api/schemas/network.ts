/** Address kinds: IPPool, IPReservation, IPAMConfiguration, NetworkSet, GlobalNetworkSet. */
import { z } from 'zod';
import { cidrOverlaps, parseCIDR } from '../../lib/ip.ts';
import { cidr, clusterMeta, nameField, stdClusterMeta, int, issue, stdNamespacedMeta, q, selector } from './common.ts';
import { envelope } from './envelope.ts';

// ---------------------------------------------------------------------------------------------
// IPPool (calico-notes §6; defaults per §12 / libcalico-go clientv3 ippool.go)

export const ENCAP_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
export type EncapMode = (typeof ENCAP_MODES)[number];

/** ipipMode / vxlanMode; Calico treats an empty string as Never. */
const encapMode = z.enum([...ENCAP_MODES, '']).transform((v): EncapMode => (v === '' ? 'Never' : v));

export const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;

const LINK_LOCAL_V4 = parseCIDR('169.254.0.0/16')!;
const LINK_LOCAL_V6 = parseCIDR('fe80::/10')!;

export const ipPoolSpec = z
  .strictObject({
    cidr: cidr({ strict: true }),
    blockSize: z.number().int().optional(),
    ipipMode: encapMode.default('Never'),
    vxlanMode: encapMode.default('Never'),
    natOutgoing: z.boolean().default(false),
    disabled: z.boolean().default(false),
    disableBGPExport: z.boolean().default(false),
    nodeSelector: selector().default('all()'),
    namespaceSelector: selector().optional(),
    allowedUses: z.array(z.enum(ALLOWED_USES)).default(['Workload', 'Tunnel']),
    assignmentMode: z.enum(['Automatic', 'Manual']).default('Automatic'),
  })
  .transform((s, ctx) => {
    const c = parseCIDR(s.cidr)!;
    const v6 = c.version === 6;
    const blockSize = s.blockSize ?? (v6 ? 122 : 26);
    const [lo, hi] = v6 ? [116, 128] : [20, 32];
    if (blockSize < lo || blockSize > hi) {
      issue(ctx, ['blockSize'], `${blockSize} is out of range: IPv${c.version} block size must be ${lo}..${hi}`);
    } else if (c.prefix > blockSize) {
      issue(ctx, ['cidr'], `pool ${s.cidr} is smaller than one block (/${blockSize}); use a prefix of at most /${blockSize} or a larger blockSize`);
    }
    if (cidrOverlaps(c, v6 ? LINK_LOCAL_V6 : LINK_LOCAL_V4)) {
      issue(ctx, ['cidr'], `${s.cidr} overlaps the link-local range ${v6 ? 'fe80::/10' : '169.254.0.0/16'}`);
    }
    if (v6 && s.ipipMode !== 'Never') issue(ctx, ['ipipMode'], 'IPIP is not supported on an IPv6 pool');
    if (s.ipipMode !== 'Never' && s.vxlanMode !== 'Never') {
      issue(ctx, ['vxlanMode'], 'IPIP and VXLAN cannot both be enabled on one pool');
    }
    if (new Set(s.allowedUses).size !== s.allowedUses.length) issue(ctx, ['allowedUses'], 'duplicate entries');
    if (s.allowedUses.includes('LoadBalancer') && s.allowedUses.length > 1) {
      issue(ctx, ['allowedUses'], 'LoadBalancer cannot be combined with other uses');
    }
    if (s.allowedUses.includes('LoadBalancer') && s.nodeSelector !== 'all()') {
      issue(ctx, ['nodeSelector'], 'a LoadBalancer pool must use nodeSelector all()');
    }
    return {
      cidr: s.cidr,
      blockSize,
      ipipMode: s.ipipMode,
      vxlanMode: s.vxlanMode,
      natOutgoing: s.natOutgoing,
      disabled: s.disabled,
      disableBGPExport: s.disableBGPExport,
      nodeSelector: s.nodeSelector,
      ...(s.namespaceSelector !== undefined ? { namespaceSelector: s.namespaceSelector } : {}),
      allowedUses: s.allowedUses,
      assignmentMode: s.assignmentMode,
    };
  });

export const IPPoolSchema = envelope('IPPool', stdClusterMeta, ipPoolSpec);

// ---------------------------------------------------------------------------------------------
// IPReservation

export const IPReservationSchema = envelope(
  'IPReservation',
  stdClusterMeta,
  z.strictObject({ reservedCIDRs: z.array(cidr({ allowBare: true })).optional() }).prefault({}),
);

// ---------------------------------------------------------------------------------------------
// IPAMConfiguration (a singleton named `default`)

export const IPAMConfigurationSchema = envelope(
  'IPAMConfiguration',
  clusterMeta(nameField((n) => (n === 'default' ? undefined : `IPAMConfiguration must be named "default", not ${q(n)}`))),
  z
    .strictObject({
      strictAffinity: z.boolean().default(false),
      maxBlocksPerHost: int(0, 2147483647).default(0),
      autoAllocateBlocks: z.boolean().default(true),
    })
    .prefault({}),
);

// ---------------------------------------------------------------------------------------------
// NetworkSet / GlobalNetworkSet

const netSetSpec = z.strictObject({ nets: z.array(cidr({ allowBare: true })).optional() }).prefault({});

export const NetworkSetSchema = envelope('NetworkSet', stdNamespacedMeta, netSetSpec);

export const GlobalNetworkSetSchema = envelope('GlobalNetworkSet', stdClusterMeta, netSetSpec);
