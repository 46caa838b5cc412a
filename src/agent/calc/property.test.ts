/**
 * Property test: for random resource sets and random update sequences (random order, split into
 * intermediate states, duplicates, spurious deletes, random flush points), the model computed
 * incrementally equals the model computed from scratch, and the event stream never violates the
 * dependency order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeFromScratch } from './graph.ts';
import { runStates } from './sequence-helpers.ts';
import { referenceModel } from './reference.ts';
import type { HostModel } from '../../policy/index.ts';
import type { FlushMode, State } from './sequence-helpers.ts';
import * as t from './testing.ts';
import type { KV } from './testing.ts';
import type { EntityRuleSpec, RuleSpec } from '../../policy/index.ts';

const H = 'n1';
const keys = ['app', 'role', 'tier'];
const values = ['a', 'b', 'c'];
const selectors = [
  "app == 'a'", "app in {'a', 'b'}", 'has(role)', '!has(tier)', "role != 'b'", "app == 'a' && role == 'b'",
  "app == 'b' || tier == 'c'", 'all()', "tier starts with 'c'", "projectcalico.org/namespace == 'prod'",
];

const labelsArb = fc.dictionary(fc.constantFrom(...keys), fc.constantFrom(...values), { maxKeys: 3 });
const ipArb = fc.integer({ min: 1, max: 24 }).map((n) => `192.0.2.${n}`);
const portsArb = fc.array(fc.record({ name: fc.constantFrom('http', 'dns'), protocol: fc.constantFrom('TCP', 'UDP'), port: fc.integer({ min: 1, max: 3 }) }), { maxLength: 2 });

const entityArb: fc.Arbitrary<EntityRuleSpec> = fc.record({
  selector: fc.constantFrom(...selectors),
  notSelector: fc.constantFrom(...selectors),
  namespaceSelector: fc.constantFrom("projectcalico.org/name == 'prod'", 'global()', 'all()'),
  nets: fc.constant(['192.0.2.0/28']),
  notNets: fc.constant(['192.0.2.8/30']),
  ports: fc.constantFrom<(number | string)[]>([80], ['http'], ['1:2', 'dns']),
}, { requiredKeys: [] });

const ruleArb: fc.Arbitrary<RuleSpec> = fc.record({
  action: fc.constantFrom('Allow', 'Deny', 'Pass', 'Log'),
  protocol: fc.constantFrom<string | number>('TCP', 'UDP', 6),
  source: entityArb,
  destination: entityArb,
}, { requiredKeys: ['action', 'protocol'] });

const rulesArb = fc.array(ruleArb, { maxLength: 3 });

/** Every resource the generator may produce, keyed by a slot so a state holds at most one per key. */
const resourceArb: fc.Arbitrary<KV> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ i: fc.integer({ min: 0, max: 7 }), node: fc.constantFrom(H, H, 'n2'), ns: fc.constantFrom('default', 'prod'), ips: fc.array(ipArb, { minLength: 1, maxLength: 2 }), labels: labelsArb, profiles: fc.subarray(['p0', 'p1', 'p2', 'p9']), ports: portsArb })
    .map((r) => t.wep(`w${r.i}`, { node: r.node, ns: r.i % 2 === 0 ? 'default' : r.ns, ips: r.ips, labels: r.labels, profiles: r.profiles, ports: r.ports })) },
  { weight: 1, arbitrary: fc.record({ i: fc.integer({ min: 0, max: 2 }), node: fc.constantFrom(H, 'n2'), labels: labelsArb, ip: ipArb, profiles: fc.subarray(['p0', 'p1']) })
    .map((r) => t.hep(`h${r.i}`, { node: r.node, expectedIPs: [r.ip], labels: r.labels, profiles: r.profiles })) },
  { weight: 2, arbitrary: fc.record({ i: fc.integer({ min: 0, max: 2 }), labels: labelsArb, ingress: rulesArb, egress: rulesArb })
    .map((r) => t.profile(`p${r.i}`, { labelsToApply: r.labels, ingress: r.ingress, egress: r.egress })) },
  { weight: 3, arbitrary: fc.record({
    i: fc.integer({ min: 0, max: 4 }), sel: fc.constantFrom(...selectors), tier: fc.constantFrom('default', 't1', 't2', 'ghost-tier'),
    order: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), ingress: rulesArb, egress: rulesArb,
    types: fc.option(fc.subarray(['Ingress', 'Egress'], { minLength: 1 }), { nil: undefined }),
  }).map((r) => t.gnp(`g${r.i}`, { selector: r.sel, tier: r.tier, ingress: r.ingress, egress: r.egress, ...(r.order !== undefined ? { order: r.order } : {}), ...(r.types ? { types: r.types } : {}) })) },
  { weight: 2, arbitrary: fc.record({ i: fc.integer({ min: 0, max: 2 }), sel: fc.constantFrom(...selectors), ingress: rulesArb, egress: rulesArb })
    .map((r) => t.np('prod', `q${r.i}`, { selector: r.sel, ingress: r.ingress, egress: r.egress })) },
  { weight: 1, arbitrary: fc.record({ i: fc.integer({ min: 1, max: 2 }), order: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), pass: fc.boolean() })
    .map((r) => t.tier(`t${r.i}`, r.order, r.pass ? 'Pass' : 'Deny')) },
  { weight: 1, arbitrary: fc.record({ i: fc.integer({ min: 0, max: 2 }), labels: labelsArb, nets: fc.subarray(['192.0.2.0/29', '192.0.2.16/28', '203.0.113.0/24'], { minLength: 1 }) })
    .map((r) => t.gns(`s${r.i}`, r.nets, r.labels)) },
  { weight: 1, arbitrary: fc.record({ labels: labelsArb, nets: fc.subarray(['192.0.2.0/29', '198.51.100.0/24'], { minLength: 1 }) })
    .map((r) => t.netset('prod', 'ns0', r.nets, r.labels)) },
  { weight: 1, arbitrary: fc.record({ b: fc.constantFrom('192.0.2.0/26', '192.0.2.64/26'), host: fc.constantFrom<string | null>(H, 'n2', null) }).map((r) => t.block(r.b, r.host)) },
  { weight: 1, arbitrary: fc.record({ n: fc.constantFrom(H, 'n2'), a: fc.constantFrom('198.18.0.1/24', '198.18.0.2/24') }).map((r) => t.nodeRes(r.n, r.a)) },
  { weight: 1, arbitrary: fc.record({ nat: fc.boolean() }).map((r) => t.pool('pool0', '192.0.2.0/24', r.nat)) },
  { weight: 1, arbitrary: fc.record({ a: fc.constantFrom('Drop', 'Accept', 'Return', 'Bogus') }).map((r) => t.felixConfig('default', { defaultEndpointToHostAction: r.a })) },
);

/** A state: random resources, last write per key wins, in random order. */
const stateArb: fc.Arbitrary<State> = fc.array(resourceArb, { minLength: 4, maxLength: 35 }).map((kvs) => {
  const m = new Map<string, KV>();
  for (const kv of kvs) m.set(kv.key, kv);
  return [...m.values()];
});

/** The graph's policy outputs agree with a brute-force recomputation (no indexes, no refcounts). */
function assertMatchesReference(m: HostModel, state: State): void {
  const ref = referenceModel(state, H);
  const sets: Record<string, string[]> = {};
  for (const [id, s] of Object.entries(m.ipSets)) sets[id] = s.members;
  assert.deepEqual(sets, ref.ipSets, 'IP sets and members');
  assert.deepEqual(Object.keys(m.policies).sort(), ref.policies, 'active policies');
  const profiles: Record<string, { missing: boolean }> = {};
  for (const [id, p] of Object.entries(m.profiles)) profiles[id] = { missing: p.missing === true };
  assert.deepEqual(profiles, ref.profiles, 'active profiles');
  const eps: ReferenceModelEndpoints = {};
  for (const e of [...Object.values(m.endpoints), ...Object.values(m.hostEndpoints)]) eps[e.id] = { labels: e.labels, tiers: e.tiers, profiles: e.profiles };
  assert.deepEqual(eps, ref.endpoints, 'endpoints: labels, tiers, profiles');
}

type ReferenceModelEndpoints = ReturnType<typeof referenceModel>['endpoints'];

test('incremental model == from-scratch model for random resource sets and update sequences', () => {
  const coverage = { policies: 0, ipSets: 0, namedPortSets: 0, endpoints: 0, missingProfiles: 0, routes: 0 };
  fc.assert(
    fc.property(
      fc.array(stateArb, { minLength: 1, maxLength: 4 }),
      fc.constantFrom<FlushMode>('per-write', 'per-write-dup', 'per-state', 'end'),
      fc.boolean(),
      (states, mode, spurious) => {
        const { snapshots } = runStates(H, states, mode, { spuriousDeletes: spurious });
        const last = states.length - 1;
        const scratch = computeFromScratch(states[last], H);
        assert.deepEqual(snapshots[last], scratch);
        assertMatchesReference(scratch, states[last]);
        if (Object.keys(scratch.policies).length > 0) coverage.policies++;
        if (Object.keys(scratch.ipSets).length > 0) coverage.ipSets++;
        if (Object.values(scratch.ipSets).some((x) => x.type === 'named-port' && x.members.length > 0)) coverage.namedPortSets++;
        if (Object.keys(scratch.endpoints).length > 0) coverage.endpoints++;
        if (Object.values(scratch.profiles).some((x) => x.missing)) coverage.missingProfiles++;
        if (Object.keys(scratch.routes).length > 0) coverage.routes++;
        if (mode !== 'end') {
          for (let i = 0; i < last; i++) assert.deepEqual(snapshots[i], computeFromScratch(states[i], H));
        }
      },
    ),
    { numRuns: 300 },
  );
  // The generator must actually exercise the interesting paths, not just produce empty models.
  for (const [k, n] of Object.entries(coverage)) assert.ok(n >= 15, `only ${n}/300 runs had ${k}: ${JSON.stringify(coverage)}`);
});
