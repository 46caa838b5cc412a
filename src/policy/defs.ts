/**
 * Validated, normalised forms of the policy resources (what the calc graph stores), and the
 * ordering rules of calico-notes §10: tiers by order (missing = last), then name; policies within a
 * tier by order (missing = last), then name; `types` defaulting.
 */
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { CompiledRule, TierDefaultAction } from './model.ts';
import type { PolicySpec, ProfileSpec, Resource, TierSpec } from './resources.ts';
import { compileRules } from './rules.ts';
import type { IPSetSpec } from './rules.ts';
import { compileSelector, makeMatcher, namespaceScopeFor } from './selectors.ts';
import type { Matcher } from './selectors.ts';

export const DEFAULT_TIER = 'default';
/** Built-in tier orders (api/.../tier.go). */
export const DEFAULT_TIER_ORDER = 1_000_000;

export interface PolicyDef {
  id: string;
  kind: 'GlobalNetworkPolicy' | 'NetworkPolicy';
  name: string;
  namespace?: string;
  tier: string;
  order?: number;
  /** Which endpoints the policy applies to (selector + namespace scope). */
  matcher: Matcher;
  ingress: boolean;
  egress: boolean;
  inbound: CompiledRule[];
  outbound: CompiledRule[];
  ipSets: IPSetSpec[];
  applyOnForward: boolean;
  preDNAT: boolean;
  doNotTrack: boolean;
}

export interface ProfileDef {
  id: string;
  inbound: CompiledRule[];
  outbound: CompiledRule[];
  ipSets: IPSetSpec[];
  labelsToApply: Record<string, string>;
}

export interface TierDef {
  name: string;
  order?: number;
  defaultAction: TierDefaultAction;
}

function invalid(msg: string): never {
  throw new WeftError(ErrorCodes.VALIDATION, msg);
}

/** Model id of a policy: `<name>` (global) or `<namespace>/<name>`. */
export function policyId(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

/**
 * Calico's `types` default: Ingress if there are no egress rules (also when there are no rules at
 * all), Egress if there are only egress rules, both when both are present.
 */
export function effectiveTypes(spec: PolicySpec): { ingress: boolean; egress: boolean } {
  if (spec.types !== undefined && spec.types.length > 0) {
    const t = spec.types.map((x) => String(x).toLowerCase());
    for (const x of t) if (x !== 'ingress' && x !== 'egress') invalid(`types: unknown type ${JSON.stringify(x)}`);
    return { ingress: t.includes('ingress'), egress: t.includes('egress') };
  }
  const hasIn = (spec.ingress?.length ?? 0) > 0;
  const hasOut = (spec.egress?.length ?? 0) > 0;
  if (hasIn && hasOut) return { ingress: true, egress: true };
  if (hasOut) return { ingress: false, egress: true };
  return { ingress: true, egress: false };
}

function optionalOrder(o: unknown, what: string): number | undefined {
  if (o === undefined || o === null) return undefined;
  if (typeof o !== 'number' || !Number.isFinite(o)) invalid(`${what}: order must be a number`);
  return o;
}

export function policyDef(r: Resource<string, PolicySpec>): PolicyDef {
  const kind = r.kind === 'NetworkPolicy' ? 'NetworkPolicy' : 'GlobalNetworkPolicy';
  const name = r.metadata.name;
  const ns = kind === 'NetworkPolicy' ? r.metadata.namespace : undefined;
  if (kind === 'NetworkPolicy' && !ns) invalid(`NetworkPolicy ${name}: metadata.namespace is required`);
  const spec = r.spec ?? {};
  const where = `${kind} ${policyId(ns, name)}`;
  const types = effectiveTypes(spec);
  // The policy's own selector: a NetworkPolicy only selects endpoints in its namespace; a global
  // policy may narrow by spec.namespaceSelector.
  const scope = kind === 'NetworkPolicy'
    ? namespaceScopeFor(undefined, ns)
    : spec.namespaceSelector ? namespaceScopeFor(spec.namespaceSelector, undefined) : namespaceScopeFor(undefined, undefined);
  const sel = spec.selector !== undefined && spec.selector.trim() !== '' ? compileSelector(spec.selector) : undefined;
  const sets = new Map<string, IPSetSpec>();
  const inbound = types.ingress ? compileRules(spec.ingress, ns, sets, `${where} ingress`) : [];
  const outbound = types.egress ? compileRules(spec.egress, ns, sets, `${where} egress`) : [];
  const preDNAT = spec.preDNAT === true;
  const doNotTrack = spec.doNotTrack === true;
  const applyOnForward = spec.applyOnForward === true;
  if ((preDNAT || doNotTrack) && !applyOnForward) invalid(`${where}: preDNAT and doNotTrack require applyOnForward: true`);
  if (preDNAT && doNotTrack) invalid(`${where}: preDNAT and doNotTrack cannot both be set`);
  if (preDNAT && types.egress) invalid(`${where}: preDNAT policy cannot have egress rules or type Egress`);
  const tier = spec.tier !== undefined && spec.tier !== '' ? spec.tier : DEFAULT_TIER;
  return {
    id: policyId(ns, name), kind, name, ...(ns !== undefined ? { namespace: ns } : {}),
    tier, ...(optionalOrder(spec.order, where) !== undefined ? { order: spec.order } : {}),
    matcher: makeMatcher(sel, scope),
    ingress: types.ingress, egress: types.egress, inbound, outbound, ipSets: [...sets.values()],
    applyOnForward, preDNAT, doNotTrack,
  };
}

export function profileDef(r: Resource<string, ProfileSpec>): ProfileDef {
  const spec = r.spec ?? {};
  const where = `Profile ${r.metadata.name}`;
  const sets = new Map<string, IPSetSpec>();
  const inbound = compileRules(spec.ingress, undefined, sets, `${where} ingress`);
  const outbound = compileRules(spec.egress, undefined, sets, `${where} egress`);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.labelsToApply ?? {})) {
    if (typeof v !== 'string') invalid(`${where}: labelsToApply values must be strings`);
    labels[k] = v;
  }
  return { id: r.metadata.name, inbound, outbound, ipSets: [...sets.values()], labelsToApply: labels };
}

export function tierDef(r: Resource<string, TierSpec>): TierDef {
  const spec = r.spec ?? {};
  const where = `Tier ${r.metadata.name}`;
  const da = (spec.defaultAction ?? 'Deny').toLowerCase();
  if (da !== 'deny' && da !== 'pass') invalid(`${where}: defaultAction must be Deny or Pass`);
  const order = optionalOrder(spec.order, where);
  return { name: r.metadata.name, ...(order !== undefined ? { order } : {}), defaultAction: da };
}

/** The implicit `default` tier when no Tier resource defines it. */
export function implicitTier(name: string): TierDef {
  // A policy naming a tier that does not exist fails closed: the tier sorts last and drops at its end.
  return name === DEFAULT_TIER
    ? { name, order: DEFAULT_TIER_ORDER, defaultAction: 'deny' }
    : { name, defaultAction: 'deny' };
}

function compareOrder(a: number | undefined, b: number | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareTiers(a: { name: string; order?: number }, b: { name: string; order?: number }): number {
  return compareOrder(a.order, b.order) || compareName(a.name, b.name);
}

/** Policies within a tier: order ascending, missing order last, ties by id (Calico sorts by name). */
export function comparePolicies(a: { id: string; order?: number }, b: { id: string; order?: number }): number {
  return compareOrder(a.order, b.order) || compareName(a.id, b.id);
}
