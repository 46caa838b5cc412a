/** Policy kinds: Tier, Profile, NetworkPolicy, GlobalNetworkPolicy (calico-notes §6, §9, §10). */
import { z } from 'zod';
import { checkLabelName, checkPolicyName } from '../names.ts';
import { clusterMeta, issue, labels, nameField, namespacedMeta, q, selector, stdClusterMeta } from './common.ts';
import { envelope } from './envelope.ts';
import { rules, type Rule } from './rules.ts';

// ---------------------------------------------------------------------------------------------
// Tier

/** Built-in tier orders (api `tier.go`); the `default` tier's order is fixed. */
export const BUILTIN_TIER_ORDERS: Readonly<Record<string, number>> = {
  'kube-admin': 1_000,
  default: 1_000_000,
  'kube-baseline': 10_000_000,
};

export const TierSchema = envelope(
  'Tier',
  clusterMeta(nameField(checkLabelName)),
  z
    .strictObject({
      order: z.number().finite().optional(),
      defaultAction: z.enum(['Deny', 'Pass']).default('Deny'),
    })
    .prefault({}),
)
  .transform((r, ctx) => {
    const name = r.metadata.name;
    const builtin = BUILTIN_TIER_ORDERS[name];
    const order = r.spec.order ?? builtin;
    if (builtin !== undefined && order !== builtin) {
      issue(ctx, ['spec', 'order'], `the ${q(name)} tier's order is fixed at ${builtin}`);
    }
    return {
      ...r,
      spec: { ...(order !== undefined ? { order } : {}), defaultAction: r.spec.defaultAction },
    };
  });

// ---------------------------------------------------------------------------------------------
// Profile

export const ProfileSchema = envelope(
  'Profile',
  stdClusterMeta,
  z.strictObject({ ingress: rules.optional(), egress: rules.optional(), labelsToApply: labels.optional() }).prefault({}),
);

// ---------------------------------------------------------------------------------------------
// NetworkPolicy / GlobalNetworkPolicy

export const POLICY_TYPES = ['Ingress', 'Egress'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

const tierName = z.string().superRefine((v, ctx) => {
  const e = checkLabelName(v);
  if (e !== undefined) issue(ctx, [], e.replace('name', 'tier name'));
});

const commonPolicyShape = {
  tier: tierName.default('default'),
  order: z.number().finite().optional(),
  selector: selector().optional(),
  types: z.array(z.enum(POLICY_TYPES)).optional(),
  ingress: rules.optional(),
  egress: rules.optional(),
  serviceAccountSelector: selector().optional(),
  performanceHints: z.array(z.enum(['AssumeNeededOnEveryNode'])).optional(),
};

/**
 * Policy `types` default (calico-notes §9): Ingress when there are no egress rules (including no
 * rules at all), Egress when there are only egress rules, both when there are both.
 */
export function defaultPolicyTypes(ingress: readonly Rule[] | undefined, egress: readonly Rule[] | undefined): PolicyType[] {
  const hasE = (egress?.length ?? 0) > 0;
  const hasI = (ingress?.length ?? 0) > 0;
  if (!hasE) return ['Ingress'];
  if (!hasI) return ['Egress'];
  return ['Ingress', 'Egress'];
}

function checkTypes(types: readonly PolicyType[] | undefined, ctx: z.RefinementCtx): void {
  if (types !== undefined && new Set(types).size !== types.length) issue(ctx, ['types'], 'duplicate policy types');
}

export const networkPolicySpec = z.strictObject(commonPolicyShape).transform((s, ctx) => {
  checkTypes(s.types, ctx);
  return { ...s, types: s.types !== undefined && s.types.length > 0 ? s.types : defaultPolicyTypes(s.ingress, s.egress) };
});

export const globalNetworkPolicySpec = z
  .strictObject({
    ...commonPolicyShape,
    namespaceSelector: selector().optional(),
    doNotTrack: z.boolean().optional(),
    preDNAT: z.boolean().optional(),
    applyOnForward: z.boolean().optional(),
  })
  .transform((s, ctx) => {
    checkTypes(s.types, ctx);
    const types = s.types !== undefined && s.types.length > 0 ? s.types : defaultPolicyTypes(s.ingress, s.egress);
    if (s.doNotTrack && s.preDNAT) issue(ctx, ['preDNAT'], 'preDNAT and doNotTrack cannot both be true');
    if ((s.doNotTrack || s.preDNAT) && !s.applyOnForward) {
      issue(ctx, ['applyOnForward'], `must be true when ${s.doNotTrack ? 'doNotTrack' : 'preDNAT'} is true`);
    }
    if (s.preDNAT) {
      if ((s.egress?.length ?? 0) > 0) issue(ctx, ['egress'], 'a preDNAT policy cannot have egress rules');
      if (types.includes('Egress')) issue(ctx, ['types'], 'a preDNAT policy can only have type Ingress');
    }
    return { ...s, types };
  });

const policyName = nameField((n) => checkPolicyName(n));

function checkTier(ctx: z.RefinementCtx, name: string, tier: string): void {
  const e = checkPolicyName(name, tier);
  if (e !== undefined) issue(ctx, ['metadata', 'name'], e);
}

export const NetworkPolicySchema = envelope('NetworkPolicy', namespacedMeta(policyName), networkPolicySpec.prefault({})).superRefine((r, ctx) =>
  checkTier(ctx, r.metadata.name, r.spec.tier),
);

export const GlobalNetworkPolicySchema = envelope('GlobalNetworkPolicy', clusterMeta(policyName), globalNetworkPolicySpec.prefault({})).superRefine(
  (r, ctx) => checkTier(ctx, r.metadata.name, r.spec.tier),
);
