/**
 * Rule scanner: for the policies and profiles that are active on this host, emits their compiled
 * rules and reference-counts the IP sets those rules use, activating a set on its first user and
 * deactivating it after its last (Felix `rule_scanner.go`). Inactive policies cost nothing.
 */
import { missingProfile } from '../../policy/index.ts';
import type { IPSetSpec, PolicyDef, PolicyModel, ProfileDef, ProfileModel } from '../../policy/index.ts';

export interface RuleScannerCallbacks {
  activateIPSet(spec: IPSetSpec): void;
  deactivateIPSet(id: string): void;
  onPolicyUpdate(id: string, policy: PolicyModel): void;
  onPolicyRemove(id: string): void;
  onProfileUpdate(id: string, profile: ProfileModel): void;
  onProfileRemove(id: string): void;
}

export class RuleScanner {
  readonly #cb: RuleScannerCallbacks;
  readonly #setRefs = new Map<string, number>();
  readonly #policySets = new Map<string, readonly IPSetSpec[]>();
  readonly #profileSets = new Map<string, readonly IPSetSpec[]>();
  readonly #policyDefs = new Map<string, PolicyDef>();
  readonly #profileDefs = new Map<string, ProfileDef | null>();

  constructor(cb: RuleScannerCallbacks) {
    this.#cb = cb;
  }

  get activeIPSetCount(): number { return this.#setRefs.size; }

  updatePolicy(id: string, def: PolicyDef): void {
    if (this.#policyDefs.get(id) === def) return;
    this.#policyDefs.set(id, def);
    this.#swapSets(this.#policySets, id, def.ipSets);
    this.#cb.onPolicyUpdate(id, policyModel(def));
  }

  removePolicy(id: string): void {
    if (!this.#policyDefs.has(id)) return;
    this.#policyDefs.delete(id);
    this.#swapSets(this.#policySets, id, []);
    this.#policySets.delete(id);
    this.#cb.onPolicyRemove(id);
  }

  /** `def` null = the profile is referenced but does not exist: emit the fail-closed stand-in. */
  updateProfile(id: string, def: ProfileDef | null): void {
    if (this.#profileDefs.has(id) && this.#profileDefs.get(id) === def) return;
    this.#profileDefs.set(id, def);
    this.#swapSets(this.#profileSets, id, def?.ipSets ?? []);
    this.#cb.onProfileUpdate(id, def ? { id, inbound: def.inbound, outbound: def.outbound } : missingProfile(id));
  }

  removeProfile(id: string): void {
    if (!this.#profileDefs.has(id)) return;
    this.#profileDefs.delete(id);
    this.#swapSets(this.#profileSets, id, []);
    this.#profileSets.delete(id);
    this.#cb.onProfileRemove(id);
  }

  /** Adds the new sets' references before dropping the old ones, so a shared set never flaps. */
  #swapSets(byOwner: Map<string, readonly IPSetSpec[]>, owner: string, next: readonly IPSetSpec[]): void {
    const prev = byOwner.get(owner) ?? [];
    for (const s of next) {
      const n = (this.#setRefs.get(s.id) ?? 0) + 1;
      this.#setRefs.set(s.id, n);
      if (n === 1) this.#cb.activateIPSet(s);
    }
    for (const s of prev) {
      const n = (this.#setRefs.get(s.id) ?? 0) - 1;
      if (n > 0) this.#setRefs.set(s.id, n);
      else { this.#setRefs.delete(s.id); this.#cb.deactivateIPSet(s.id); }
    }
    byOwner.set(owner, next);
  }
}

function policyModel(d: PolicyDef): PolicyModel {
  const p: PolicyModel = {
    id: d.id, tier: d.tier, inbound: d.inbound, outbound: d.outbound,
    applyOnForward: d.applyOnForward, preDNAT: d.preDNAT, doNotTrack: d.doNotTrack,
  };
  if (d.order !== undefined) p.order = d.order;
  if (d.namespace !== undefined) p.namespace = d.namespace;
  return p;
}
