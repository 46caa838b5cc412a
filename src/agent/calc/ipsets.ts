/**
 * IP-set membership (Felix's SelectorAndNamedPortIndex + IP-set parts of the rule scanner): for
 * every active IP set, the addresses of ALL items (endpoints on any host, network sets) its
 * matcher selects. Members are reference-counted per set, so a member shared by two items (two
 * endpoints with one address, overlapping network sets) appears once and goes only when the last
 * contributor does.
 */
import type { IPSetSpec, Labels } from '../../policy/index.ts';
import { LabelIndex } from './label-index.ts';

export interface NamedPort {
  name: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  port: number;
}

/** What an item contributes to sets. */
export interface ItemData {
  /** Canonical, distinct CIDRs (endpoint addresses as /32 or /128; network-set nets as given). */
  addrs: readonly string[];
  /** Named ports (endpoints only). */
  ports: readonly NamedPort[];
}

export interface IPSetCallbacks {
  onIPSetAdded(id: string, spec: IPSetSpec): void;
  onIPSetRemoved(id: string): void;
  onMemberAdded(id: string, member: string): void;
  onMemberRemoved(id: string, member: string): void;
}

export class IPSetCalculator {
  readonly #cb: IPSetCallbacks;
  readonly #index: LabelIndex;
  readonly #data = new Map<string, ItemData>();
  readonly #sets = new Map<string, IPSetSpec>();
  /** matcher id → ids of active sets using it. */
  readonly #setsByMatcher = new Map<string, Set<string>>();
  /** set id → member → contributor count. */
  readonly #members = new Map<string, Map<string, number>>();

  constructor(cb: IPSetCallbacks) {
    this.#cb = cb;
    this.#index = new LabelIndex({
      onMatchStarted: (mid, item) => this.#contribute(mid, item, +1),
      onMatchStopped: (mid, item) => this.#contribute(mid, item, -1),
    });
  }

  get activeSetCount(): number { return this.#sets.size; }
  get itemCount(): number { return this.#data.size; }

  /** Current members of a set (for tests and debugging). */
  membersOf(id: string): string[] {
    return [...(this.#members.get(id)?.keys() ?? [])].sort();
  }

  // ---- sets -------------------------------------------------------------------------------------

  activate(spec: IPSetSpec): void {
    if (this.#sets.has(spec.id)) return;
    this.#sets.set(spec.id, spec);
    this.#members.set(spec.id, new Map());
    this.#cb.onIPSetAdded(spec.id, spec);
    const mid = spec.matcher.id;
    let ids = this.#setsByMatcher.get(mid);
    if (ids) {
      ids.add(spec.id);
      for (const item of this.#index.matchingItems(mid)) this.#contributeTo(spec, item, +1);
    } else {
      ids = new Set([spec.id]);
      this.#setsByMatcher.set(mid, ids);
      this.#index.updateMatcher(mid, spec.matcher); // match events fill the set
    }
  }

  deactivate(id: string): void {
    const spec = this.#sets.get(id);
    if (!spec) return;
    this.#sets.delete(id);
    this.#members.delete(id);
    const mid = spec.matcher.id;
    const ids = this.#setsByMatcher.get(mid);
    ids?.delete(id);
    if (ids && ids.size === 0) {
      this.#setsByMatcher.delete(mid);
      this.#index.deleteMatcher(mid, true);
    }
    this.#cb.onIPSetRemoved(id);
  }

  // ---- items ------------------------------------------------------------------------------------

  /** Sets an item's addresses/ports. Call before its first labels so that matches see its data. */
  updateItemData(itemId: string, data: ItemData): void {
    const old = this.#data.get(itemId);
    // A new item has no matches yet (its labels come after its data), so nothing to withdraw.
    if (!old) { this.#data.set(itemId, data); return; }
    if (sameData(old, data)) return;
    const matched = [...this.#index.matchingMatchers(itemId)];
    for (const mid of matched) this.#contribute(mid, itemId, -1);
    this.#data.set(itemId, data);
    for (const mid of matched) this.#contribute(mid, itemId, +1);
  }

  updateItemLabels(itemId: string, labels: Labels | undefined): void {
    if (labels === undefined) this.#index.deleteItem(itemId);
    else this.#index.updateItem(itemId, labels);
  }

  deleteItem(itemId: string): void {
    this.#index.deleteItem(itemId);
    this.#data.delete(itemId);
  }

  #contribute(matcherId: string, itemId: string, delta: 1 | -1): void {
    const ids = this.#setsByMatcher.get(matcherId);
    if (!ids) return;
    for (const id of ids) {
      const spec = this.#sets.get(id);
      if (spec) this.#contributeTo(spec, itemId, delta);
    }
  }

  #contributeTo(spec: IPSetSpec, itemId: string, delta: 1 | -1): void {
    const data = this.#data.get(itemId);
    if (!data) return;
    const counts = this.#members.get(spec.id);
    if (!counts) return;
    for (const m of membersFor(spec, data)) {
      const n = (counts.get(m) ?? 0) + delta;
      if (n > 0) {
        counts.set(m, n);
        if (n === 1 && delta === 1) this.#cb.onMemberAdded(spec.id, m);
      } else {
        counts.delete(m);
        this.#cb.onMemberRemoved(spec.id, m);
      }
    }
  }
}

/** An item's members for one set: its CIDRs, or `ip,proto:port` for each matching named port. */
export function membersFor(spec: IPSetSpec, data: ItemData): readonly string[] {
  // Addresses arrive deduplicated from the dispatcher.
  if (spec.type === 'net') return data.addrs;
  const out = new Set<string>();
  for (const p of data.ports) {
    if (p.name !== spec.portName || p.protocol !== spec.protocol) continue;
    for (const a of data.addrs) {
      const slash = a.indexOf('/');
      const ip = a.slice(0, slash);
      const len = Number(a.slice(slash + 1));
      // Only single addresses carry ports (network sets have no named ports).
      if (len !== (ip.includes(':') ? 128 : 32)) continue;
      out.add(`${ip},${p.protocol}:${p.port}`);
    }
  }
  return [...out];
}

function sameData(a: ItemData, b: ItemData): boolean {
  if (a.addrs.length !== b.addrs.length || a.ports.length !== b.ports.length) return false;
  for (let i = 0; i < a.addrs.length; i++) if (a.addrs[i] !== b.addrs[i]) return false;
  for (let i = 0; i < a.ports.length; i++) {
    const x = a.ports[i];
    const y = b.ports[i];
    if (x.name !== y.name || x.protocol !== y.protocol || x.port !== y.port) return false;
  }
  return true;
}
