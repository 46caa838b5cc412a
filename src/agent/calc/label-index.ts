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
  m: Matcher;
  matchesEmpty: boolean;
  /** Handles of the items it matches. */
  items: Set<number>;
}

interface ItemEntry {
  /** Small-integer handle: the (key, value) groups hold numbers, not strings. */
  h: number;
  labels: Labels;
  /** Label keys as indexed, and the item's position in each (key, value) group (swap-remove). */
  keys: string[];
  slots: number[];
  /** Matchers it matches. */
  matchers: Set<string> | undefined;
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
  readonly #matchersByKey = new Map<string, Set<string>>();
  /** restriction key → value → matchers that can only match items with that value. */
  readonly #matchersByKV = new Map<string, Map<string, Set<string>>>();
  readonly #matchersMatchingEmpty = new Set<string>();

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

  matchingMatchers(itemId: string): ReadonlySet<string> {
    return this.#items.get(itemId)?.matchers ?? new Set();
  }

  // ---- items ------------------------------------------------------------------------------------

  updateItem(itemId: string, labels: Labels): void {
    let it = this.#items.get(itemId);
    let candidates: Set<string>;
    if (it === undefined) {
      const h = this.#free.pop() ?? this.#names.length;
      this.#names[h] = itemId;
      it = { h, labels, keys: [], slots: [], matchers: undefined };
      this.#entries[h] = it;
      this.#items.set(itemId, it);
      candidates = new Set(this.#matchersMatchingEmpty);
      for (const k of Object.keys(labels)) this.#addMatchersUsing(k, candidates);
      this.#addRestrictedFor(labels, candidates);
    } else {
      const old = it.labels;
      candidates = new Set();
      for (const k of Object.keys(old)) if (old[k] !== labels[k]) this.#addMatchersUsing(k, candidates);
      for (const k of Object.keys(labels)) if (old[k] === undefined) this.#addMatchersUsing(k, candidates);
      if (candidates.size === 0 && sameKeys(old, labels)) { it.labels = labels; return; }
      // Value-restricted matchers: those the new labels may satisfy, and those matching now (may stop).
      this.#addRestrictedFor(labels, candidates);
      if (it.matchers) for (const m of it.matchers) candidates.add(m);
      this.#unindexItem(it);
      it.labels = labels;
    }
    this.#indexItem(it);
    for (const mid of candidates) {
      const e = this.#matchers.get(mid);
      if (e) this.#setMatch(mid, e, it, e.m.matches(labels));
    }
  }

  deleteItem(itemId: string): void {
    const it = this.#items.get(itemId);
    if (it === undefined) return;
    if (it.matchers) {
      for (const mid of [...it.matchers]) {
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

  #addMatchersUsing(k: string, into: Set<string>): void {
    const s = this.#matchersByKey.get(k);
    if (s) for (const m of s) into.add(m);
  }

  #addRestrictedFor(labels: Labels, into: Set<string>): void {
    if (this.#matchersByKV.size === 0) return;
    for (const k in labels) {
      const s = this.#matchersByKV.get(k)?.get(labels[k]);
      if (s) for (const m of s) into.add(m);
    }
  }

  #indexItem(it: ItemEntry): void {
    const labels = it.labels;
    const keys = Object.keys(labels);
    it.keys = keys;
    it.slots = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const v = labels[k];
      let byV = this.#byKV.get(k);
      if (!byV) { byV = new Map(); this.#byKV.set(k, byV); }
      let arr = byV.get(v);
      if (!arr) { arr = []; byV.set(v, arr); }
      it.slots[i] = arr.length;
      arr.push(it.h);
    }
  }

  #unindexItem(it: ItemEntry): void {
    const { keys, slots, labels } = it;
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
        moved.slots[moved.keys.indexOf(k)] = pos;
      }
      if (arr.length === 0) {
        byV.delete(v);
        if (byV.size === 0) this.#byKV.delete(k);
      }
    }
    it.keys = [];
    it.slots = [];
  }

  // ---- matchers ---------------------------------------------------------------------------------

  /** Adds or replaces a matcher under `matcherId`. A matcher with the same `m.id` is a no-op. */
  updateMatcher(matcherId: string, m: Matcher): void {
    const old = this.#matchers.get(matcherId);
    if (old && old.m.id === m.id) return;
    if (old) this.#unindexMatcher(matcherId, old);
    const e: MatcherEntry = { m, matchesEmpty: m.matches(EMPTY), items: old?.items ?? new Set() };
    this.#matchers.set(matcherId, e);
    const r = m.restriction;
    if (r?.values && !e.matchesEmpty) {
      let byV = this.#matchersByKV.get(r.key);
      if (!byV) { byV = new Map(); this.#matchersByKV.set(r.key, byV); }
      for (const v of r.values) {
        let s = byV.get(v);
        if (!s) { s = new Set(); byV.set(v, s); }
        s.add(matcherId);
      }
    } else {
      for (const k of m.keys) {
        let s = this.#matchersByKey.get(k);
        if (!s) { s = new Set(); this.#matchersByKey.set(k, s); }
        s.add(matcherId);
      }
    }
    if (e.matchesEmpty) this.#matchersMatchingEmpty.add(matcherId);

    const now = new Set<number>();
    this.#forCandidates(e, (h, labels) => { if (m.matches(labels)) now.add(h); });
    if (old) {
      for (const h of [...e.items]) {
        if (!now.has(h)) this.#setMatch(matcherId, e, this.#entryOf(h), false);
      }
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
    this.#unindexMatcher(matcherId, e);
    this.#matchers.delete(matcherId);
  }

  #entryOf(h: number): ItemEntry {
    return this.#entries[h] as ItemEntry;
  }

  #unindexMatcher(matcherId: string, e: MatcherEntry): void {
    const r = e.m.restriction;
    if (r?.values && !e.matchesEmpty) {
      const byV = this.#matchersByKV.get(r.key);
      for (const v of r.values) {
        const s = byV?.get(v);
        if (!s) continue;
        s.delete(matcherId);
        if (s.size === 0) byV?.delete(v);
      }
      if (byV?.size === 0) this.#matchersByKV.delete(r.key);
    }
    for (const k of e.m.keys) {
      const s = this.#matchersByKey.get(k);
      if (!s) continue;
      s.delete(matcherId);
      if (s.size === 0) this.#matchersByKey.delete(k);
    }
    this.#matchersMatchingEmpty.delete(matcherId);
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
      (it.matchers ??= new Set()).add(matcherId);
      this.#cb.onMatchStarted(matcherId, this.#names[it.h] as string);
    } else {
      this.#forget(matcherId, e, it);
      this.#cb.onMatchStopped(matcherId, this.#names[it.h] as string);
    }
  }

  #forget(matcherId: string, e: MatcherEntry, it: ItemEntry): void {
    e.items.delete(it.h);
    if (it.matchers) {
      it.matchers.delete(matcherId);
      if (it.matchers.size === 0) it.matchers = undefined;
    }
  }
}

function sameKeys(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (b[k] !== a[k]) return false;
  return true;
}
