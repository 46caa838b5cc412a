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

/** An active set: its spec and member → contributor count. */
interface ActiveSet {
  spec: IPSetSpec;
  counts: Map<string, number>;
}

export class IPSetCalculator {
  readonly #cb: IPSetCallbacks;
  readonly #index: LabelIndex;
  readonly #data = new Map<string, ItemData>();
  readonly #sets = new Map<string, ActiveSet>();
  /** matcher id → active sets using it (held directly: the per-match hot path does one lookup). */
  readonly #setsByMatcher = new Map<string, ActiveSet[]>();
  /** The item whose labels are being applied, and its data: its match callbacks skip the lookup. */
  #curId: string | undefined;
  #curData: ItemData | undefined;

  constructor(cb: IPSetCallbacks) {
    this.#cb = cb;
    this.#index = new LabelIndex({
      onMatchStarted: (mid, item) => this.#contribute(mid, item, +1),
      onMatchStopped: (mid, item) => this.#contribute(mid, item, -1),
    });
  }

  get activeSetCount(): number { return this.#sets.size; }
  get itemCount(): number { return this.#data.size; }

  /** Current members of an active set, unsorted (empty when not active). */
  currentMembers(id: string): Iterable<string> {
    return this.#sets.get(id)?.counts.keys() ?? [];
  }

  /** Current members of a set (for tests and debugging). */
  membersOf(id: string): string[] {
    return [...(this.#sets.get(id)?.counts.keys() ?? [])].sort();
  }

  // ---- sets -------------------------------------------------------------------------------------

  activate(spec: IPSetSpec): void {
    if (this.#sets.has(spec.id)) return;
    const set: ActiveSet = { spec, counts: new Map() };
    this.#sets.set(spec.id, set);
    this.#cb.onIPSetAdded(spec.id, spec);
    const mid = spec.matcher.id;
    const list = this.#setsByMatcher.get(mid);
    if (list) {
      list.push(set);
      for (const item of this.#index.matchingItems(mid)) {
        const data = this.#data.get(item);
        if (data) this.#contributeTo(set, data, +1);
      }
    } else {
      this.#setsByMatcher.set(mid, [set]);
      this.#index.updateMatcher(mid, spec.matcher); // match events fill the set
    }
  }

  deactivate(id: string): void {
    const set = this.#sets.get(id);
    if (!set) return;
    this.#sets.delete(id);
    const mid = set.spec.matcher.id;
    const list = this.#setsByMatcher.get(mid);
    if (list) {
      const i = list.indexOf(set);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) {
        this.#setsByMatcher.delete(mid);
        this.#index.deleteMatcher(mid, true);
      }
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
    this.#curId = itemId;
    this.#curData = this.#data.get(itemId);
    try {
      if (labels === undefined) this.#index.deleteItem(itemId);
      else this.#index.updateItem(itemId, labels);
    } finally {
      this.#curId = undefined;
      this.#curData = undefined;
    }
  }

  deleteItem(itemId: string): void {
    this.#index.deleteItem(itemId);
    this.#data.delete(itemId);
  }

  #contribute(matcherId: string, itemId: string, delta: 1 | -1): void {
    const list = this.#setsByMatcher.get(matcherId);
    if (!list) return;
    const data = itemId === this.#curId ? this.#curData : this.#data.get(itemId);
    if (!data) return;
    if (list.length === 1) { this.#contributeTo(list[0], data, delta); return; }
    // Copy: defensive against a callback changing the list mid-iteration.
    for (const set of list.slice()) this.#contributeTo(set, data, delta);
  }

  #contributeTo(set: ActiveSet, data: ItemData, delta: 1 | -1): void {
    const { spec, counts } = set;
    const members = membersFor(spec, data);
    for (let i = 0; i < members.length; i++) {
      const m = members[i];
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

const NO_MEMBERS: readonly string[] = [];

/** An item's members for one set: its CIDRs, or `ip,proto:port` for each matching named port. */
export function membersFor(spec: IPSetSpec, data: ItemData): readonly string[] {
  // Addresses arrive deduplicated from the dispatcher.
  if (spec.type === 'net') return data.addrs;
  // Usually one port and one address: a small array with first-seen de-duplication, no Set.
  let out: string[] | undefined;
  for (const p of data.ports) {
    if (p.name !== spec.portName || p.protocol !== spec.protocol) continue;
    for (const a of data.addrs) {
      const slash = a.indexOf('/');
      const len = Number(a.slice(slash + 1));
      // Only single addresses carry ports (network sets have no named ports).
      if (len !== (a.lastIndexOf(':', slash) >= 0 ? 128 : 32)) continue;
      // join() builds a flat string; a template literal would retain a rope of its pieces per member.
      const m = [a.slice(0, slash), ',', p.protocol, ':', p.port].join('');
      if (out === undefined) out = [m];
      else if (!out.includes(m)) out.push(m);
    }
  }
  return out ?? NO_MEMBERS;
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
