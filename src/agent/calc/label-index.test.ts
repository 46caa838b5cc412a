import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LabelIndex } from './label-index.ts';
import { compileSelector, makeMatcher, namespaceScopeFor, NAMESPACE_LABEL } from '../../policy/index.ts';
import type { Labels, Matcher } from '../../policy/index.ts';

const selectors = [
  "app == 'a'", "app in {'a', 'b'}", 'has(role)', '!has(tier)', "role != 'b'", "app == 'a' && role == 'b'",
  "app == 'b' || tier == 'c'", 'all()', "tier starts with 'c'", "app == 'a' || app == 'b'", "!(app == 'a')",
];
const scopes = [undefined, 'prod', "projectcalico.org/name == 'prod'", 'global()'];

function matcher(sel: string, scope: string | undefined): Matcher {
  const s = scope === undefined ? namespaceScopeFor(undefined, undefined)
    : scope === 'prod' ? namespaceScopeFor(undefined, 'prod') : namespaceScopeFor(scope, undefined);
  return makeMatcher(compileSelector(sel), s);
}

type Op =
  | { op: 'item'; id: number; labels: Record<string, string> }
  | { op: 'del-item'; id: number }
  | { op: 'matcher'; id: number; sel: string; scope: string | undefined }
  | { op: 'del-matcher'; id: number };

const labelsArb = fc.record({
  app: fc.constantFrom('a', 'b', 'c'), role: fc.constantFrom('a', 'b'), tier: fc.constantFrom('c', 'cc', 'd'),
  [NAMESPACE_LABEL]: fc.constantFrom('prod', 'dev'),
}, { requiredKeys: [] });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('item' as const), id: fc.integer({ min: 0, max: 9 }), labels: labelsArb }),
  fc.record({ op: fc.constant('del-item' as const), id: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ op: fc.constant('matcher' as const), id: fc.integer({ min: 0, max: 5 }), sel: fc.constantFrom(...selectors), scope: fc.constantFrom(...scopes) }),
  fc.record({ op: fc.constant('del-matcher' as const), id: fc.integer({ min: 0, max: 5 }) }),
);

test('label index: incremental matches == brute force after any operation sequence', () => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
    const seen = new Set<string>();
    const idx = new LabelIndex({
      onMatchStarted: (m, i) => { const k = `${m}|${i}`; assert.ok(!seen.has(k), `duplicate start ${k}`); seen.add(k); },
      onMatchStopped: (m, i) => { const k = `${m}|${i}`; assert.ok(seen.delete(k), `stop without start ${k}`); },
    });
    const items = new Map<string, Labels>();
    const matchers = new Map<string, Matcher>();
    for (const o of ops) {
      if (o.op === 'item') { items.set(`i${o.id}`, o.labels); idx.updateItem(`i${o.id}`, o.labels); }
      else if (o.op === 'del-item') { items.delete(`i${o.id}`); idx.deleteItem(`i${o.id}`); }
      else if (o.op === 'matcher') { const m = matcher(o.sel, o.scope); matchers.set(`m${o.id}`, m); idx.updateMatcher(`m${o.id}`, m); }
      else { matchers.delete(`m${o.id}`); idx.deleteMatcher(`m${o.id}`); }
      const want = new Set<string>();
      for (const [mid, m] of matchers) for (const [iid, l] of items) if (m.matches(l)) want.add(`${mid}|${iid}`);
      assert.deepEqual([...seen].sort(), [...want].sort());
    }
  }), { numRuns: 500 });
});
