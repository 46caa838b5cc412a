/**
 * Active-rules calculator (Felix ARC): which policies select which LOCAL endpoints, and which
 * profiles local endpoints reference. A policy is active while it selects at least one local
 * endpoint; a profile while at least one local endpoint lists it (even if the profile does not
 * exist: then the fail-closed stand-in is active). Policy selectors are matched against local
 * endpoints only (≈100s), never against the whole cluster.
 */
import type { Labels, PolicyDef, ProfileDef } from '../../policy/index.ts';
import { LabelIndex } from './label-index.ts';

export interface ActiveRulesCallbacks {
  onPolicyActive(def: PolicyDef): void;
  onPolicyInactive(id: string): void;
  onProfileActive(id: string, def: ProfileDef | null): void;
  onProfileInactive(id: string): void;
  onPolicyMatchStarted(policyId: string, endpointId: string): void;
  onPolicyMatchStopped(policyId: string, endpointId: string): void;
}

export class ActiveRulesCalculator {
  readonly #cb: ActiveRulesCallbacks;
  readonly #index: LabelIndex;
  readonly #policies = new Map<string, PolicyDef>();
  readonly #profiles = new Map<string, ProfileDef>();
  readonly #endpointProfiles = new Map<string, readonly string[]>();
  readonly #profileRefs = new Map<string, number>();
  readonly #matchCount = new Map<string, number>();
  readonly #active = new Set<string>();

  constructor(cb: ActiveRulesCallbacks) {
    this.#cb = cb;
    this.#index = new LabelIndex({
      onMatchStarted: (pid, ep) => {
        this.#matchCount.set(pid, (this.#matchCount.get(pid) ?? 0) + 1);
        this.#cb.onPolicyMatchStarted(pid, ep);
      },
      onMatchStopped: (pid, ep) => {
        const n = (this.#matchCount.get(pid) ?? 0) - 1;
        if (n > 0) this.#matchCount.set(pid, n);
        else this.#matchCount.delete(pid);
        this.#cb.onPolicyMatchStopped(pid, ep);
      },
    });
  }

  get activePolicyCount(): number { return this.#active.size; }

  // ---- policies ---------------------------------------------------------------------------------

  updatePolicy(def: PolicyDef): void {
    const old = this.#policies.get(def.id);
    if (old === def) return;
    this.#policies.set(def.id, def);
    this.#index.updateMatcher(def.id, def.matcher);
    this.#syncPolicy(def.id, old !== undefined);
  }

  removePolicy(id: string): void {
    if (!this.#policies.has(id)) return;
    this.#policies.delete(id);
    this.#index.deleteMatcher(id);
    this.#syncPolicy(id, false);
  }

  /** Re-announces an active policy whose definition changed, or (de)activates it. */
  #syncPolicy(id: string, changed: boolean): void {
    const def = this.#policies.get(id);
    const shouldBeActive = def !== undefined && (this.#matchCount.get(id) ?? 0) > 0;
    if (shouldBeActive) {
      if (!this.#active.has(id) || changed) {
        this.#active.add(id);
        this.#cb.onPolicyActive(def);
      }
    } else if (this.#active.has(id)) {
      this.#active.delete(id);
      this.#cb.onPolicyInactive(id);
    }
  }

  // ---- profiles ---------------------------------------------------------------------------------

  updateProfile(def: ProfileDef | undefined, id: string): void {
    const old = this.#profiles.get(id);
    if (old === def) return;
    if (def) this.#profiles.set(id, def);
    else this.#profiles.delete(id);
    if ((this.#profileRefs.get(id) ?? 0) > 0) this.#cb.onProfileActive(id, def ?? null);
  }

  // ---- local endpoints --------------------------------------------------------------------------

  updateEndpoint(id: string, labels: Labels, profiles: readonly string[]): void {
    const oldProfiles = this.#endpointProfiles.get(id) ?? [];
    this.#endpointProfiles.set(id, profiles);
    for (const p of new Set(profiles)) this.#refProfile(p, +1);
    for (const p of new Set(oldProfiles)) this.#refProfile(p, -1);
    this.#updateLabels(id, labels);
  }

  /** Labels changed through inheritance (a profile's labelsToApply). */
  updateEndpointLabels(id: string, labels: Labels): void {
    if (this.#endpointProfiles.has(id)) this.#updateLabels(id, labels);
  }

  removeEndpoint(id: string): void {
    const old = this.#endpointProfiles.get(id);
    if (old === undefined) return;
    this.#endpointProfiles.delete(id);
    const touched = [...this.#index.matchingMatchers(id)];
    this.#index.deleteItem(id);
    for (const pid of touched) this.#syncPolicy(pid, false);
    for (const p of new Set(old)) this.#refProfile(p, -1);
  }

  #updateLabels(id: string, labels: Labels): void {
    const before = new Set(this.#index.matchingMatchers(id));
    this.#index.updateItem(id, labels);
    const after = new Set(this.#index.matchingMatchers(id));
    for (const pid of after) if (!before.has(pid)) this.#syncPolicy(pid, false);
    for (const pid of before) if (!after.has(pid)) this.#syncPolicy(pid, false);
  }

  #refProfile(id: string, delta: 1 | -1): void {
    const n = (this.#profileRefs.get(id) ?? 0) + delta;
    if (n > 0) {
      this.#profileRefs.set(id, n);
      if (n === 1 && delta === 1) this.#cb.onProfileActive(id, this.#profiles.get(id) ?? null);
    } else {
      this.#profileRefs.delete(id);
      this.#cb.onProfileInactive(id);
    }
  }
}
