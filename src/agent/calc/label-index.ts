/**
 * A label index: items (endpoints, network sets) with labels × matchers (selector + scope), kept
 * as the set of (matcher, item) pairs that match. Felix's `labelindex` equivalent.
 *
 * Work per change is proportional to what the change can affect, not to cluster size. Matchers
 * with a value restriction (`app == "x"`, `app in {…}`, or such a term in a conjunction) are
 * indexed by (key, value), the others by the keys they use:
 * - item label change: matchers without restriction that use a changed key, restricted matchers
 *   whose (key, value) the new labels carry, and the item's current matches are re-evaluated;
 * - new item: the same for its labels, plus the (rare) matchers that match an item with no labels
 *   at all (`!has(x)`, `all()`);
 * - new matcher: only items carrying the matcher's restriction label (value) when it has one
 *   (`app == "x"` visits the items with app=x), else the items carrying any of its keys, and only
 *   for matchers that match the empty label set does it scan every item.
 * Correctness rests on `Matcher.keys` being exactly the labels the result depends on: an item
 * with none of those keys matches iff the matcher matches `{}`.
 */
import type { Labels, Matcher } from '../../policy/index.ts';

export interface LabelIndexCallbacks {
  onMatchStarted(matcherId: string, itemId: string): void;
  onMatchStopped(matcherId: string, itemId: string): void;
}

const EMPTY: Labels = Object.freeze({});

interface MatcherEntry {
  id: string;
  m: Matcher;
  /** Candidate-collection stamp (dedupes candidates without allocating a Set per update). */
  mark: number;
  matchesEmpty: boolean;
  /** Handles of the items it matches. */
  items: Set<number>;
}

interface ItemEntry {
  /** Small-integer handle: the (key, value) groups hold numbers, not strings. */
  h: number;
  /** Never replaced without re-indexing: `slots` follows `Object.keys(labels)` order. */
  labels: Labels;
  /** The item's position in each (key, value) group, in `Object.keys(labels)` order (swap-remove). */
  slots: number[];
  /** Matchers it matches. */
  /** Matcher ids it matches (a few per item: an array is far smaller than a Set). */
  matchers: string[] | undefined;
}

export class LabelIndex {
  readonly #cb: LabelIndexCallbacks;
  readonly #items = new Map<string, ItemEntry>();
  readonly #names: (string | undefined)[] = [];
  readonly #entries: (ItemEntry | undefined)[] = [];
  readonly #free: number[] = [];
  /** key → value → item handles (unordered arrays: far cheaper than large Sets to grow). */
  readonly #byKV = new Map<string, Map<string, number[]>>();
  readonly #matchers = new Map<string, MatcherEntry>();
  /** key → matchers using it (matchers without a value restriction). */
  readonly #matchersByKey = new Map<string, Set<MatcherEntry>>();
  /** restriction key → value → matchers that can only match items with that value. */
  readonly #matchersByKV = new Map<string, Map<string, Set<MatcherEntry>>>();
  readonly #matchersMatchingEmpty = new Set<MatcherEntry>();
  /** Scratch list of candidate matchers for the update in progress, and its stamp. */
  readonly #cand: MatcherEntry[] = [];
  #epoch = 0;

  constructor(cb: LabelIndexCallbacks) {
    this.#cb = cb;
  }

  get itemCount(): number { return this.#items.size; }
  get matcherCount(): number { return this.#matchers.size; }

  labelsOf(itemId: string): Labels | undefined {
    return this.#items.get(itemId)?.labels;
  }

  /** Ids of the items `matcherId` matches. */
  matchingItems(matcherId: string): string[] {
    const e = this.#matchers.get(matcherId);
    if (!e) return [];
    const out: string[] = [];
    for (const h of e.items) out.push(this.#names[h] as string);
    return out;
  }

  /** Ids of the matchers `itemId` matches (live: copy before changing the index). */
  matchingMatchers(itemId: string): readonly string[] {
    return this.#items.get(itemId)?.matchers ?? NONE;
  }

  // ---- items ------------------------------------------------------------------------------------

  updateItem(itemId: string, labels: Labels): void {
    let it = this.#items.get(itemId);
    const cand = this.#cand;
    cand.length = 0;
    const epoch = ++this.#epoch;
    if (it === undefined) {
      const h = this.#free.pop() ?? this.#names.length;
      this.#names[h] = itemId;
      it = { h, labels, slots: NO_SLOTS, matchers: undefined };
      this.#entries[h] = it;
      this.#items.set(itemId, it);
      for (const e of this.#matchersMatchingEmpty) this.#addCandidate(e, epoch);
      if (this.#matchersByKey.size > 0) for (const k in labels) this.#addMatchersUsing(k, epoch);
      this.#addRestrictedFor(labels, epoch);
    } else {
      const old = it.labels;
      if (this.#matchersByKey.size > 0) {
        for (const k in old) if (old[k] !== labels[k]) this.#addMatchersUsing(k, epoch);
        for (const k in labels) if (old[k] === undefined) this.#addMatchersUsing(k, epoch);
      }
      // Same keys and values: keep the indexed object (its key order is what `slots` follows).
      if (cand.length === 0 && sameKeys(old, labels)) return;
      // Value-restricted matchers: those the new labels may satisfy, and those matching now (may stop).
      this.#addRestrictedFor(labels, epoch);
      if (it.matchers) {
        for (const mid of it.matchers) {
          const e = this.#matchers.get(mid);
          if (e) this.#addCandidate(e, epoch);
        }
      }
      this.#unindexItem(it);
      it.labels = labels;
    }
    this.#indexItem(it);
    if (cand.length === 0) return;
    // Copy: callbacks may re-enter the index (not today, but cheap insurance for the scratch list).
    const list = cand.length === 1 ? [cand[0]] : cand.slice();
    cand.length = 0;
    for (const e of list) {
      // A callback may have replaced or removed the matcher meanwhile: only current entries count.
      if (this.#matchers.get(e.id) === e) this.#setMatch(e.id, e, it, e.m.matches(labels));
    }
  }

  #addCandidate(e: MatcherEntry, epoch: number): void {
    if (e.mark === epoch) return;
    e.mark = epoch;
    this.#cand.push(e);
  }

  deleteItem(itemId: string): void {
    const it = this.#items.get(itemId);
    if (it === undefined) return;
    const ms = it.matchers;
    if (ms) {
      // Detach the list first: stopping each match then costs O(1), not a search of the list.
      it.matchers = undefined;
      for (const mid of ms) {
        const e = this.#matchers.get(mid);
        if (e) this.#setMatch(mid, e, it, false);
      }
    }
    this.#unindexItem(it);
    this.#items.delete(itemId);
    this.#names[it.h] = undefined;
    this.#entries[it.h] = undefined;
    this.#free.push(it.h);
  }

  #addMatchersUsing(k: string, epoch: number): void {
    const s = this.#matchersByKey.get(k);
    if (s) for (const e of s) this.#addCandidate(e, epoch);
  }

  #addRestrictedFor(labels: Labels, epoch: number): void {
    if (this.#matchersByKV.size === 0) return;
    for (const k in labels) {
      const s = this.#matchersByKV.get(k)?.get(labels[k]);
      if (s) for (const e of s) this.#addCandidate(e, epoch);
    }
  }

  #indexItem(it: ItemEntry): void {
    const labels = it.labels;
    const slots: number[] = [];
    for (const k in labels) {
      const v = labels[k];
      let byV = this.#byKV.get(k);
      if (!byV) { byV = new Map(); this.#byKV.set(k, byV); }
      let arr = byV.get(v);
      if (!arr) { arr = []; byV.set(v, arr); }
      slots.push(arr.length);
      arr.push(it.h);
    }
    it.slots = slots;
  }

  #unindexItem(it: ItemEntry): void {
    const { slots, labels } = it;
    const keys = Object.keys(labels);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const v = labels[k];
      const byV = this.#byKV.get(k);
      const arr = byV?.get(v);
      if (!byV || !arr) continue;
      const pos = slots[i];
      const last = arr.pop() as number;
      if (pos < arr.length) {
        // Swap-remove: the last member takes this slot; fix its recorded position.
        arr[pos] = last;
        const moved = this.#entries[last] as ItemEntry;
        moved.slots[keyIndex(moved.labels, k)] = pos;
      }
      if (arr.length === 0) {
        byV.delete(v);
        if (byV.size === 0) this.#byKV.delete(k);
      }
    }
    it.slots = NO_SLOTS;
  }

  // ---- matchers ---------------------------------------------------------------------------------

  /** Adds or replaces a matcher under `matcherId`. A matcher with the same `m.id` is a no-op. */
  updateMatcher(matcherId: string, m: Matcher): void {
    const old = this.#matchers.get(matcherId);
    if (old && old.m.id === m.id) return;
    if (old) this.#unindexMatcher(old);
    const e: MatcherEntry = { id: matcherId, m, mark: 0, matchesEmpty: m.matches(EMPTY), items: old?.items ?? new Set() };
    this.#matchers.set(matcherId, e);
    const r = m.restriction;
    if (r?.values && !e.matchesEmpty) {
      let byV = this.#matchersByKV.get(r.key);
      if (!byV) { byV = new Map(); this.#matchersByKV.set(r.key, byV); }
      for (const v of r.values) {
        let s = byV.get(v);
        if (!s) { s = new Set(); byV.set(v, s); }
        s.add(e);
      }
    } else {
      for (const k of m.keys) {
        let s = this.#matchersByKey.get(k);
        if (!s) { s = new Set(); this.#matchersByKey.set(k, s); }
        s.add(e);
      }
    }
    if (e.matchesEmpty) this.#matchersMatchingEmpty.add(e);

    if (!old) {
      // A new matcher has nothing to withdraw: start matches as they are found (no scratch set).
      this.#forCandidates(e, (h, labels) => { if (m.matches(labels)) this.#setMatch(matcherId, e, this.#entryOf(h), true); });
      return;
    }
    const now = new Set<number>();
    this.#forCandidates(e, (h, labels) => { if (m.matches(labels)) now.add(h); });
    for (const h of [...e.items]) {
      if (!now.has(h)) this.#setMatch(matcherId, e, this.#entryOf(h), false);
    }
    for (const h of now) this.#setMatch(matcherId, e, this.#entryOf(h), true);
  }

  /** Removes a matcher; with `silent` no stop events are emitted (the caller drops its state itself). */
  deleteMatcher(matcherId: string, silent = false): void {
    const e = this.#matchers.get(matcherId);
    if (!e) return;
    for (const h of [...e.items]) {
      const it = this.#entryOf(h);
      if (silent) this.#forget(matcherId, e, it);
      else this.#setMatch(matcherId, e, it, false);
    }
    this.#unindexMatcher(e);
    this.#matchers.delete(matcherId);
  }

  #entryOf(h: number): ItemEntry {
    return this.#entries[h] as ItemEntry;
  }

  #unindexMatcher(e: MatcherEntry): void {
    const r = e.m.restriction;
    if (r?.values && !e.matchesEmpty) {
      const byV = this.#matchersByKV.get(r.key);
      for (const v of r.values) {
        const s = byV?.get(v);
        if (!s) continue;
        s.delete(e);
        if (s.size === 0) byV?.delete(v);
      }
      if (byV?.size === 0) this.#matchersByKV.delete(r.key);
    }
    for (const k of e.m.keys) {
      const s = this.#matchersByKey.get(k);
      if (!s) continue;
      s.delete(e);
      if (s.size === 0) this.#matchersByKey.delete(k);
    }
    this.#matchersMatchingEmpty.delete(e);
  }

  #forCandidates(e: MatcherEntry, fn: (h: number, labels: Labels) => void): void {
    if (e.matchesEmpty) {
      for (const it of this.#items.values()) fn(it.h, it.labels);
      return;
    }
    const r = e.m.restriction;
    if (r) {
      const byV = this.#byKV.get(r.key);
      if (!byV) return;
      const visit = (s: readonly number[] | undefined): void => {
        if (s) for (const h of s) fn(h, this.#entryOf(h).labels);
      };
      if (r.values) for (const v of r.values) visit(byV.get(v));
      else for (const s of byV.values()) visit(s);
      return;
    }
    const seen = new Set<number>();
    for (const k of e.m.keys) {
      const byV = this.#byKV.get(k);
      if (!byV) continue;
      for (const s of byV.values()) {
        for (const h of s) {
          if (seen.has(h)) continue;
          seen.add(h);
          fn(h, this.#entryOf(h).labels);
        }
      }
    }
  }

  #setMatch(matcherId: string, e: MatcherEntry, it: ItemEntry, match: boolean): void {
    const had = e.items.has(it.h);
    if (match === had) return;
    if (match) {
      e.items.add(it.h);
      if (it.matchers) it.matchers.push(matcherId);
      else it.matchers = [matcherId];
      this.#cb.onMatchStarted(matcherId, this.#names[it.h] as string);
    } else {
      this.#forget(matcherId, e, it);
      this.#cb.onMatchStopped(matcherId, this.#names[it.h] as string);
    }
  }

  #forget(matcherId: string, e: MatcherEntry, it: ItemEntry): void {
    e.items.delete(it.h);
    const ms = it.matchers;
    if (ms) {
      const i = ms.indexOf(matcherId);
      if (i >= 0) ms.splice(i, 1);
      if (ms.length === 0) it.matchers = undefined;
    }
  }
}

const NO_SLOTS: number[] = [];
const NONE: readonly string[] = [];

/** Position of `k` in `Object.keys(labels)` order, without allocating the key list. */
function keyIndex(labels: Labels, k: string): number {
  let i = 0;
  for (const x in labels) {
    if (x === k) return i;
    i++;
  }
  return -1;
}

function sameKeys(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (b[k] !== a[k]) return false;
  return true;
}
