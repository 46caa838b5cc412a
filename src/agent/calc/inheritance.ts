/**
 * Label inheritance: an item's effective labels are its profiles' `labelsToApply` (an earlier
 * profile wins over a later one) overlaid by its own labels (own labels win), overlaid by the
 * labels Calico itself sets (`projectcalico.org/namespace`, `projectcalico.org/orchestrator`).
 * Emits the effective labels only when they change; a profile change recomputes only the items
 * that list that profile.
 */
import type { Labels } from '../../policy/index.ts';

export interface InheritanceCallbacks {
  onLabels(itemId: string, labels: Labels | undefined): void;
}

interface ItemEntry {
  own: Labels;
  /** Labels that override even the item's own (namespace, orchestrator). */
  system: Labels;
  parents: readonly string[];
  effective: Labels;
}

export class LabelInheritance {
  readonly #cb: InheritanceCallbacks;
  readonly #items = new Map<string, ItemEntry>();
  readonly #profiles = new Map<string, Labels>();
  readonly #children = new Map<string, Set<string>>();

  constructor(cb: InheritanceCallbacks) {
    this.#cb = cb;
  }

  labelsOf(itemId: string): Labels | undefined {
    return this.#items.get(itemId)?.effective;
  }

  updateItem(itemId: string, own: Labels, system: Labels, parents: readonly string[]): void {
    const old = this.#items.get(itemId);
    const sameParents = old !== undefined && sameList(old.parents, parents);
    if (old && !sameParents) {
      for (const p of old.parents) this.#unlink(p, itemId);
    }
    if (!sameParents) {
      for (const p of parents) {
        let s = this.#children.get(p);
        if (!s) { s = new Set(); this.#children.set(p, s); }
        s.add(itemId);
      }
    }
    const effective = this.#compute(own, system, parents);
    if (old === undefined) {
      this.#items.set(itemId, { own, system, parents, effective });
      this.#cb.onLabels(itemId, effective);
      return;
    }
    // Update in place (no new entry per update); unchanged effective labels keep their object.
    old.own = own;
    old.system = system;
    old.parents = parents;
    if (sameLabels(old.effective, effective)) return;
    old.effective = effective;
    this.#cb.onLabels(itemId, effective);
  }

  deleteItem(itemId: string): void {
    const old = this.#items.get(itemId);
    if (!old) return;
    for (const p of old.parents) this.#unlink(p, itemId);
    this.#items.delete(itemId);
    this.#cb.onLabels(itemId, undefined);
  }

  /** `labels` undefined = profile absent (contributes nothing). */
  updateProfile(profileId: string, labels: Labels | undefined): void {
    const old = this.#profiles.get(profileId);
    if (labels === undefined) {
      if (old === undefined) return;
      this.#profiles.delete(profileId);
    } else {
      if (old !== undefined && sameLabels(old, labels)) return;
      this.#profiles.set(profileId, labels);
    }
    const kids = this.#children.get(profileId);
    if (!kids) return;
    for (const id of kids) {
      const it = this.#items.get(id);
      if (!it) continue;
      const eff = this.#compute(it.own, it.system, it.parents);
      if (sameLabels(eff, it.effective)) continue;
      it.effective = eff;
      this.#cb.onLabels(id, eff);
    }
  }

  #unlink(profileId: string, itemId: string): void {
    const s = this.#children.get(profileId);
    if (!s) return;
    s.delete(itemId);
    if (s.size === 0) this.#children.delete(profileId);
  }

  #compute(own: Labels, system: Labels, parents: readonly string[]): Labels {
    let inherited: Labels | undefined;
    if (parents.length === 1) {
      inherited = this.#profiles.get(parents[0]);
    } else {
      let acc: Record<string, string> | undefined;
      for (let i = parents.length - 1; i >= 0; i--) {
        const pl = this.#profiles.get(parents[i]);
        if (pl) acc = acc ? Object.assign(acc, pl) : { ...pl };
      }
      inherited = acc;
    }
    return { ...inherited, ...own, ...system };
  }
}

export function sameLabels(a: Labels, b: Labels): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (b[k] !== a[k]) return false;
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
