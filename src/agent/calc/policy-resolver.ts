/**
 * Policy resolver + sorter: for each local endpoint, the tiers (sorted by order, then name) and
 * within each tier the policies that select it (sorted by order, missing last, then name), split
 * by direction and, for host endpoints, by kind (normal / applyOnForward / preDNAT / doNotTrack).
 * Endpoints are marked dirty by changes and recomputed once per flush.
 */
import { compareTiers, comparePolicies, implicitTier } from '../../policy/index.ts';
import type {
  EndpointTier, HostEndpointModel, PolicyDef, TierDef, WorkloadEndpointModel,
} from '../../policy/index.ts';

export type EndpointBase =
  | { kind: 'workload'; model: Omit<WorkloadEndpointModel, 'tiers'> }
  | { kind: 'host'; model: Omit<HostEndpointModel, 'tiers' | 'forwardTiers' | 'preDNATTiers' | 'untrackedTiers'> };

export interface PolicyResolverCallbacks {
  onEndpointUpdate(id: string, ep: WorkloadEndpointModel): void;
  onEndpointRemove(id: string): void;
  onHostEndpointUpdate(id: string, ep: HostEndpointModel): void;
  onHostEndpointRemove(id: string): void;
}

type PolicyMeta = Pick<PolicyDef, 'id' | 'tier' | 'order' | 'ingress' | 'egress' | 'applyOnForward' | 'preDNAT' | 'doNotTrack'>;

export class PolicyResolver {
  readonly #cb: PolicyResolverCallbacks;
  readonly #endpoints = new Map<string, EndpointBase>();
  /** Kind of every endpoint ever emitted and not yet removed (so removes go to the right callback). */
  readonly #emitted = new Map<string, 'workload' | 'host'>();
  readonly #policiesOf = new Map<string, Set<string>>();
  readonly #endpointsOf = new Map<string, Set<string>>();
  readonly #meta = new Map<string, PolicyMeta>();
  readonly #tiers = new Map<string, TierDef>();
  readonly #dirty = new Set<string>();

  constructor(cb: PolicyResolverCallbacks) {
    this.#cb = cb;
  }

  updateEndpoint(id: string, base: EndpointBase | undefined): void {
    if (base) this.#endpoints.set(id, base);
    else this.#endpoints.delete(id);
    this.#dirty.add(id);
  }

  onMatchStarted(policyId: string, epId: string): void {
    link(this.#policiesOf, epId, policyId);
    link(this.#endpointsOf, policyId, epId);
    this.#dirty.add(epId);
  }

  onMatchStopped(policyId: string, epId: string): void {
    unlink(this.#policiesOf, epId, policyId);
    unlink(this.#endpointsOf, policyId, epId);
    this.#dirty.add(epId);
  }

  /** Policy metadata (tier, order, types, flags); `undefined` = deleted. */
  updatePolicy(id: string, def: PolicyDef | undefined): void {
    const old = this.#meta.get(id);
    if (def) {
      const m: PolicyMeta = {
        id, tier: def.tier, order: def.order, ingress: def.ingress, egress: def.egress,
        applyOnForward: def.applyOnForward, preDNAT: def.preDNAT, doNotTrack: def.doNotTrack,
      };
      if (old && sameMeta(old, m)) return;
      this.#meta.set(id, m);
    } else {
      if (!old) return;
      this.#meta.delete(id);
    }
    for (const ep of this.#endpointsOf.get(id) ?? []) this.#dirty.add(ep);
  }

  updateTier(name: string, def: TierDef | undefined): void {
    if (def) this.#tiers.set(name, def);
    else this.#tiers.delete(name);
    // Tier changes are rare; re-sort every endpoint that has a policy in that tier.
    for (const [ep, pols] of this.#policiesOf) {
      for (const p of pols) if (this.#meta.get(p)?.tier === name) { this.#dirty.add(ep); break; }
    }
  }

  /** Recomputes dirty endpoints and emits them. */
  flush(): void {
    for (const id of this.#dirty) {
      const base = this.#endpoints.get(id);
      if (!base) {
        const kind = this.#emitted.get(id);
        if (kind === 'workload') this.#cb.onEndpointRemove(id);
        else if (kind === 'host') this.#cb.onHostEndpointRemove(id);
        this.#emitted.delete(id);
        continue;
      }
      const prevKind = this.#emitted.get(id);
      if (prevKind !== undefined && prevKind !== base.kind) {
        if (prevKind === 'workload') this.#cb.onEndpointRemove(id);
        else this.#cb.onHostEndpointRemove(id);
      }
      this.#emitted.set(id, base.kind);
      const metas = [...(this.#policiesOf.get(id) ?? [])].map((p) => this.#meta.get(p)).filter((m): m is PolicyMeta => m !== undefined);
      if (base.kind === 'workload') {
        // preDNAT and doNotTrack policies only ever apply to host endpoints.
        this.#cb.onEndpointUpdate(id, { ...base.model, tiers: this.#tiersFor(metas.filter((m) => !m.preDNAT && !m.doNotTrack)) });
      } else {
        this.#cb.onHostEndpointUpdate(id, {
          ...base.model,
          tiers: this.#tiersFor(metas.filter((m) => !m.preDNAT && !m.doNotTrack)),
          forwardTiers: this.#tiersFor(metas.filter((m) => m.applyOnForward && !m.preDNAT && !m.doNotTrack)),
          preDNATTiers: this.#tiersFor(metas.filter((m) => m.preDNAT)),
          untrackedTiers: this.#tiersFor(metas.filter((m) => m.doNotTrack)),
        });
      }
    }
    this.#dirty.clear();
  }

  #tiersFor(metas: PolicyMeta[]): EndpointTier[] {
    const byTier = new Map<string, PolicyMeta[]>();
    for (const m of metas) {
      let l = byTier.get(m.tier);
      if (!l) { l = []; byTier.set(m.tier, l); }
      l.push(m);
    }
    const tiers = [...byTier.keys()].map((n) => this.#tiers.get(n) ?? implicitTier(n)).sort(compareTiers);
    const out: EndpointTier[] = [];
    for (const t of tiers) {
      const pols = (byTier.get(t.name) ?? []).sort(comparePolicies);
      const ingressPolicies = pols.filter((p) => p.ingress).map((p) => p.id);
      const egressPolicies = pols.filter((p) => p.egress).map((p) => p.id);
      if (ingressPolicies.length === 0 && egressPolicies.length === 0) continue;
      out.push({ name: t.name, defaultAction: t.defaultAction, ingressPolicies, egressPolicies });
    }
    return out;
  }
}

function link(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (!s) { s = new Set(); m.set(k, s); }
  s.add(v);
}

function unlink(m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

function sameMeta(a: PolicyMeta, b: PolicyMeta): boolean {
  return a.tier === b.tier && a.order === b.order && a.ingress === b.ingress && a.egress === b.egress &&
    a.applyOnForward === b.applyOnForward && a.preDNAT === b.preDNAT && a.doNotTrack === b.doNotTrack;
}
