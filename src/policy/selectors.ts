/**
 * Selectors as the policy core uses them: a parsed selector plus a namespace scope, flattened into
 * a `Matcher` that depends only on an item's (effective) labels. Every input the match depends on
 * is a label, and `keys` lists those labels, so the calc graph's label index can decide which
 * matchers an update can affect without evaluating all of them.
 *
 * Namespaces: Calico puts `projectcalico.org/namespace` on namespaced endpoints and network sets.
 * A namespace's own labels (for `namespaceSelector`) are, in Weft's etcd-only world where no
 * Namespace resource exists, `{projectcalico.org/name: <ns>, projectcalico.org/namespace: <ns>}`.
 */
import { createHash } from 'node:crypto';
import { parseSelector, labelsUsed } from '../selector/index.ts';
import type { SelectorNode } from '../selector/index.ts';
import { ErrorCodes, WeftError } from '../lib/errors.ts';
import type { Labels } from './resources.ts';

export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
export const NAMESPACE_NAME_LABEL = 'projectcalico.org/name';
export const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';

export interface ParsedSelector {
  /** Canonical text (the selector module's `toString()`). */
  readonly text: string;
  /** Identity: equal for selectors that always agree textually after canonicalisation. */
  readonly uid: string;
  /** Label names the result depends on. Empty for `all()`. */
  readonly keys: readonly string[];
  /** A necessary condition on one label (see `Restriction`), when the selector implies one. */
  readonly restriction?: Restriction;
  evaluate(labels: Labels): boolean;
}

/**
 * "Anything that matches has label `key`" (and, with `values`, with one of those values). Lets
 * an index visit only the items carrying that label (value) instead of every item.
 */
export interface Restriction {
  readonly key: string;
  readonly values?: readonly string[];
}

function restrictionOf(n: SelectorNode): Restriction | undefined {
  switch (n.kind) {
    case 'eq': return { key: n.label, values: [n.value] };
    case 'in': return { key: n.label, values: n.values };
    case 'has': case 'contains': case 'startsWith': case 'endsWith': return { key: n.label };
    case 'and': {
      // Any operand's restriction is necessary for the conjunction; prefer one with values.
      let best: Restriction | undefined;
      for (const o of n.operands) {
        const r = restrictionOf(o);
        if (r && (!best || (r.values && (!best.values || r.values.length < best.values.length)))) best = r;
      }
      return best;
    }
    case 'or': {
      // Necessary only if every branch restricts the same key.
      const rs = n.operands.map(restrictionOf);
      const first = rs[0];
      if (!first || rs.some((r) => !r || r.key !== first.key)) return undefined;
      if (rs.some((r) => !r?.values)) return { key: first.key };
      return { key: first.key, values: [...new Set(rs.flatMap((r) => r?.values ?? []))] };
    }
    default: return undefined; // all, global, not, neq, notIn: absence can match
  }
}

const cache = new Map<string, ParsedSelector>();
const CACHE_MAX = 50_000;

/** Parses a selector (empty text = `all()`); throws WeftError(ERR_SELECTOR) when invalid. Cached. */
export function compileSelector(text: string): ParsedSelector {
  const hit = cache.get(text);
  if (hit) return hit;
  let parsed: ReturnType<typeof parseSelector>;
  try {
    parsed = parseSelector(text.trim() === '' ? 'all()' : text);
  } catch (err) {
    throw new WeftError(ErrorCodes.SELECTOR, `invalid selector ${JSON.stringify(text)}`, { cause: err });
  }
  const out: ParsedSelector = {
    text: parsed.toString(),
    uid: String(parsed.uniqueId ?? parsed.toString()),
    keys: [...labelsUsed(parsed)].sort(),
    ...(restrictionOf(parsed.ast) ? { restriction: restrictionOf(parsed.ast) } : {}),
    evaluate: (labels) => parsed.evaluate(labels),
  };
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(text, out);
  return out;
}

/** Which namespaces a matcher may select items from. */
export type NamespaceScope =
  | { readonly kind: 'any' }
  | { readonly kind: 'namespace'; readonly namespace: string }
  /** `namespaceSelector: global()`: only non-namespaced items (global network sets, host endpoints). */
  | { readonly kind: 'global' }
  | { readonly kind: 'selector'; readonly selector: ParsedSelector };

export const ANY_NAMESPACE: NamespaceScope = { kind: 'any' };

export interface Matcher {
  /** Stable identity of (selector, scope); equal ids ⇒ equal match results. */
  readonly id: string;
  /** Labels the result depends on. */
  readonly keys: readonly string[];
  /** Human text, e.g. `app == "db" in namespace prod`. */
  readonly description: string;
  readonly restriction?: Restriction;
  matches(labels: Labels): boolean;
}

function namespaceLabels(ns: string): Labels {
  return { [NAMESPACE_NAME_LABEL]: ns, [NAMESPACE_LABEL]: ns };
}

/** Parses a `namespaceSelector` field into a scope (`global()` is special, calico-notes §8). */
export function namespaceScopeFor(namespaceSelector: string | undefined, ownNamespace: string | undefined): NamespaceScope {
  if (namespaceSelector !== undefined && namespaceSelector.trim() !== '') {
    if (namespaceSelector.replace(/\s+/g, '') === 'global()') return { kind: 'global' };
    return { kind: 'selector', selector: compileSelector(namespaceSelector) };
  }
  return ownNamespace !== undefined ? { kind: 'namespace', namespace: ownNamespace } : ANY_NAMESPACE;
}

const ALL = 'all()';

/** Builds the matcher for `selector` (undefined = all()) restricted to `scope`. */
export function makeMatcher(selector: ParsedSelector | undefined, scope: NamespaceScope): Matcher {
  const selText = selector?.text ?? ALL;
  const selUid = selector?.uid ?? ALL;
  const selKeys = selector?.keys ?? [];
  const evalSel = selector ? (l: Labels) => selector.evaluate(l) : () => true;
  switch (scope.kind) {
    case 'any':
      return { id: `any|${selUid}`, keys: selKeys, description: selText, ...restr(selector?.restriction), matches: evalSel };
    case 'namespace': {
      const ns = scope.namespace;
      return {
        id: `ns=${ns}|${selUid}`,
        keys: withKey(selKeys, NAMESPACE_LABEL),
        description: `${selText} in namespace ${ns}`,
        ...restr(selector?.restriction?.values ? selector.restriction : { key: NAMESPACE_LABEL, values: [ns] }),
        matches: (l) => l[NAMESPACE_LABEL] === ns && evalSel(l),
      };
    }
    case 'global':
      return {
        id: `global|${selUid}`,
        keys: withKey(selKeys, NAMESPACE_LABEL),
        description: `${selText} among non-namespaced items`,
        ...restr(selector?.restriction),
        matches: (l) => l[NAMESPACE_LABEL] === undefined && evalSel(l),
      };
    case 'selector': {
      const nsSel = scope.selector;
      return {
        id: `nssel=${nsSel.uid}|${selUid}`,
        keys: withKey(selKeys, NAMESPACE_LABEL),
        description: `${selText} in namespaces matching ${nsSel.text}`,
        ...restr(selector?.restriction ?? { key: NAMESPACE_LABEL }),
        matches: (l) => {
          const ns = l[NAMESPACE_LABEL];
          return ns !== undefined && nsSel.evaluate(namespaceLabels(ns)) && evalSel(l);
        },
      };
    }
  }
}

function restr(r: Restriction | undefined): { restriction?: Restriction } {
  return r ? { restriction: r } : {};
}

function withKey(keys: readonly string[], k: string): string[] {
  return keys.includes(k) ? [...keys] : [...keys, k].sort();
}

/** Short stable id from arbitrary text (Felix derives IP-set ids from a selector hash, §2.2). */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 20);
}
