/**
 * State-sequence tests (felix calc_graph_fv_test style, style-anchors §3 item 23): a list of
 * datastore states run through expanders (reverse KV order, reverse state order, empties inserted,
 * split, squashed) and flush strategies (per write, per write + duplicate, per state, at the end),
 * with spurious deletes mixed in. After every state the model must equal the from-scratch model of
 * that state, and the event stream must respect the dependency order (StrictConsumer).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeFromScratch, CalcGraph } from './graph.ts';
import { runStates } from './sequence-helpers.ts';
import type { FlushMode, State } from './sequence-helpers.ts';
import * as t from './testing.ts';

const H = 'n1';

const sPolicies: State = [
  t.tier('security', 10),
  t.gnp('sec', { tier: 'security', selector: 'has(app)', ingress: [{ action: 'Pass', source: { selector: "role == 'trusted'" } }] }),
  t.gnp('web', { selector: "app == 'web'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app == 'lb'" }, destination: { ports: ['http'] } }] }),
  t.np('prod', 'db', { selector: "app == 'db'", ingress: [{ action: 'Allow', source: { selector: "app == 'web'" } }], egress: [{ action: 'Deny', destination: { notSelector: "app == 'web'" } }] }),
  t.profile('base', { labelsToApply: { role: 'trusted' }, ingress: [{ action: 'Deny', source: { selector: "app == 'evil'" } }], egress: [{ action: 'Allow' }] }),
];

const sEndpoints: State = [
  t.wep('web1', { node: H, ips: ['192.0.2.10'], labels: { app: 'web' }, profiles: ['base'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }),
  t.wep('web2', { node: 'n2', ips: ['192.0.2.70'], labels: { app: 'web' }, profiles: ['base'], ports: [{ name: 'http', protocol: 'TCP', port: 8081 }] }),
  t.wep('lb', { node: 'n2', ips: ['192.0.2.71', '2001:db8::71'], labels: { app: 'lb' } }),
  t.wep('db1', { ns: 'prod', node: H, ips: ['192.0.2.11'], labels: { app: 'db' }, profiles: ['base', 'missing'] }),
  t.hep('h1', { node: H, iface: 'eth0', expectedIPs: ['198.18.0.1'], labels: { app: 'host' } }),
  // Borrowed: lives on n2 but its address is in n1's block.
  t.wep('borrowed', { node: 'n2', ips: ['192.0.2.30', '2001:db8::30'], labels: { app: 'batch' } }),
  t.gns('evil', ['203.0.113.0/24'], { app: 'evil' }),
];

const sInfra: State = [
  t.nodeRes(H, '198.18.0.1/24'), t.nodeRes('n2', '198.18.0.2/24'),
  t.block('192.0.2.0/26', H), t.block('192.0.2.64/26', 'n2'), t.block('192.0.2.128/26', null),
  t.pool('default-pool', '192.0.2.0/24', true),
  t.felixConfig('default', { defaultEndpointToHostAction: 'Accept' }),
];

const full: State = [...sPolicies, ...sEndpoints, ...sInfra];

// Variations of the full state.
const relabelled: State = full.map((kv) => kv.key.endsWith('/web1')
  ? t.wep('web1', { node: H, ips: ['192.0.2.12'], labels: { app: 'db' }, profiles: [] })
  : kv.key.endsWith('/profiles/base') ? t.profile('base', { labelsToApply: { role: 'untrusted' } }) : kv);
const moved: State = full.map((kv) => kv.key.endsWith('/web2')
  ? t.wep('web2', { node: H, ips: ['192.0.2.70'], labels: { app: 'web' }, profiles: ['base'] })
  : kv.key.endsWith('/web1') ? t.wep('web1', { node: 'n2', ips: ['192.0.2.10'], labels: { app: 'web' } }) : kv);
const policyChanged: State = full.map((kv) => kv.key.endsWith('/globalnetworkpolicies/web')
  ? t.gnp('web', { selector: "app == 'lb'", order: 5, egress: [{ action: 'Allow', destination: { selector: "app == 'db'", namespaceSelector: 'all()' } }] })
  : kv.key.endsWith('/tiers/security') ? t.tier('security', 2000, 'Pass') : kv);
const invalidated: State = full.map((kv) => kv.key.endsWith('/networkpolicies/prod/db') ? { key: kv.key, value: '{not json' } : kv);

const baseTests: { name: string; states: State[] }[] = [
  { name: 'policies then endpoints then infra', states: [sPolicies, [...sPolicies, ...sEndpoints], full] },
  { name: 'endpoints first', states: [sEndpoints, [...sEndpoints, ...sInfra], full] },
  { name: 'relabel and profile labels change', states: [full, relabelled, full] },
  { name: 'endpoints move between hosts', states: [full, moved, full] },
  { name: 'policy and tier change', states: [full, policyChanged, full] },
  { name: 'invalid value acts as delete', states: [full, invalidated, full, invalidated] },
  { name: 'everything deleted', states: [full, [], full] },
];

type Expander = { name: string; fn: (s: State[]) => State[] };
const expanders: Expander[] = [
  { name: 'as-is', fn: (s) => s },
  { name: 'reverse-kv-order', fn: (s) => s.map((st) => [...st].reverse()) },
  { name: 'reverse-state-order', fn: (s) => [...s].reverse() },
  { name: 'insert-empties', fn: (s) => s.flatMap((st) => [[], st]) },
  {
    name: 'split-states',
    fn: (s) => s.flatMap((st) => {
      // Reach each state through a half-way state holding only the first half of its KVs.
      const half = st.slice(0, Math.ceil(st.length / 2));
      return [half, st];
    }),
  },
  { name: 'squash', fn: (s) => (s.length > 0 ? [s[s.length - 1]] : s) },
];

const modes: FlushMode[] = ['per-write', 'per-write-dup', 'per-state', 'end'];

describe('calc graph state sequences', () => {
  for (const bt of baseTests) {
    for (const ex of expanders) {
      test(`${bt.name} / ${ex.name}`, () => {
        const states = ex.fn(bt.states);
        for (const mode of modes) {
          const { snapshots } = runStates(H, states, mode, { spuriousDeletes: mode === 'per-write' });
          if (mode === 'end') {
            assert.deepEqual(snapshots[snapshots.length - 1], computeFromScratch(states[states.length - 1] ?? [], H), `${mode}: final model`);
          } else {
            states.forEach((st, i) => assert.deepEqual(snapshots[i], computeFromScratch(st, H), `${mode}: model after state ${i}`));
          }
        }
      });
    }
  }
});

describe('calc graph outputs', () => {
  test('full state: expected sets, policies, endpoints, routes', () => {
    const m = computeFromScratch(full, H);
    assert.deepEqual(Object.keys(m.endpoints), ['default/web1', 'prod/db1']);
    assert.deepEqual(Object.keys(m.hostEndpoints), ['h1']);
    assert.deepEqual(Object.keys(m.policies).sort(), ['prod/db', 'sec', 'web']);
    assert.equal(m.profiles.missing?.missing, true);
    assert.deepEqual(m.endpoints['prod/db1'].profiles, ['base', 'missing']);
    assert.equal(m.endpoints['default/web1'].labels.role, 'trusted');
    assert.deepEqual(m.endpoints['default/web1'].tiers.map((x) => x.name), ['security', 'default']);
    // lb is remote but its addresses populate the selector set; web2's named port is in the named-port set.
    const members = Object.values(m.ipSets).flatMap((s) => s.members);
    assert.ok(members.includes('192.0.2.71/32') && members.includes('2001:db8::71/128'));
    assert.ok(members.includes('192.0.2.70,tcp:8081') && members.includes('192.0.2.10,tcp:8080'));
    assert.ok(members.includes('203.0.113.0/24'), 'global network set in the notSelector set');
    assert.deepEqual(m.routes['192.0.2.0/26'], { dst: '192.0.2.0/26', type: 'blackhole' });
    assert.deepEqual(m.routes['192.0.2.64/26'], { dst: '192.0.2.64/26', type: 'remote-block', node: 'n2', via: '198.18.0.2' });
    assert.equal(m.routes['192.0.2.128/26'], undefined);
    assert.deepEqual(m.routes['192.0.2.30/32'], { dst: '192.0.2.30/32', type: 'remote-workload', node: 'n2', via: '198.18.0.2', endpoint: 'default/borrowed' });
    assert.equal(m.routes['192.0.2.70/32'], undefined, 'inside its own node\'s block: covered by the block route');
    assert.equal(m.routes['2001:db8::30/128'], undefined, 'n2 has no IPv6 address: withheld');
    assert.deepEqual(m.routes['192.0.2.10/32'], { dst: '192.0.2.10/32', type: 'local-workload', iface: 'caliweb1', endpoint: 'default/web1' });
    assert.deepEqual(m.ipPools['default-pool'], { cidr: '192.0.2.0/24', natOutgoing: true, disabled: false });
    assert.equal(m.config.defaultEndpointToHostAction, 'accept');
    assert.deepEqual(m.hostAddrs, ['198.18.0.1']);
  });

  test('a policy that selects no local endpoint is not active and costs no IP sets', () => {
    const m = computeFromScratch([...full, t.gnp('unused', { selector: "app == 'nothing-here'", ingress: [{ action: 'Allow', source: { selector: "x == 'y'" } }] })], H);
    assert.equal(m.policies.unused, undefined);
    assert.ok(!Object.values(m.ipSets).some((s) => s.description.includes('x == "y"')));
  });

  test('IP set members are deduplicated and ref-counted', () => {
    const g = new CalcGraph({ host: H });
    const sel = t.gnp('p', { selector: "app == 'x'", ingress: [{ action: 'Allow', source: { selector: "app == 'y'" } }] });
    g.onUpdates([sel, t.wep('x', { node: H, ips: ['192.0.2.1'], labels: { app: 'x' } })].map((kv) => ({ ...kv, revision: 1 })));
    g.onUpdates([t.wep('y1', { node: 'n2', ips: ['192.0.2.9'], labels: { app: 'y' } }), t.wep('y2', { node: 'n3', ips: ['192.0.2.9'], labels: { app: 'y' } }),
      t.gns('y3', ['192.0.2.9/32'], { app: 'y' })].map((kv) => ({ ...kv, revision: 2 })));
    g.flush();
    const setOf = (): string[] => Object.values(g.snapshot().ipSets)[0].members;
    assert.deepEqual(setOf(), ['192.0.2.9/32']);
    const delKey = (kv: t.KV): void => g.onUpdates([{ key: kv.key, value: undefined, revision: 3 }]);
    delKey(t.wep('y1', { node: 'n2', ips: [], labels: {} }));
    delKey(t.gns('y3', [], {}));
    let evs = g.flush();
    assert.deepEqual(evs, [], 'still contributed by y2: no change');
    assert.deepEqual(setOf(), ['192.0.2.9/32']);
    delKey(t.wep('y2', { node: 'n3', ips: [], labels: {} }));
    evs = g.flush();
    assert.deepEqual(evs.map((e) => e.type), ['ipset-delta']);
    assert.deepEqual(setOf(), []);
  });

  test('flush order: adds sets → policies → profiles → endpoints; removes in reverse', () => {
    const g = new CalcGraph({ host: H });
    g.onUpdates(full.map((kv) => ({ ...kv, revision: 1 })));
    g.onStatus('in-sync');
    const evs = g.flush().map((e) => e.type);
    const firstIdx = (ty: string): number => evs.indexOf(ty as never);
    const lastIdx = (ty: string): number => evs.lastIndexOf(ty as never);
    assert.equal(evs[0], 'config');
    assert.ok(lastIdx('ipset-update') < firstIdx('policy-update'));
    assert.ok(lastIdx('policy-update') < firstIdx('profile-update'));
    assert.ok(lastIdx('profile-update') < firstIdx('endpoint-update'));
    assert.equal(evs[evs.length - 1], 'in-sync');
    g.onUpdates(full.map((kv) => ({ key: kv.key, value: undefined, revision: 2 })));
    const rm = g.flush().map((e) => e.type);
    const f = (ty: string): number => rm.indexOf(ty as never);
    const l = (ty: string): number => rm.lastIndexOf(ty as never);
    assert.ok(l('endpoint-remove') < f('profile-remove'));
    assert.ok(l('profile-remove') < f('policy-remove'));
    assert.ok(l('policy-remove') < f('ipset-remove'));
  });

  test('invalid values are reported and treated as absent', () => {
    const seen: string[] = [];
    const g = new CalcGraph({ host: H, onInvalid: (key, reason) => seen.push(`${key}: ${reason}`) });
    const bad = t.gnp('bad', { ingress: [{ action: 'Allow', destination: { ports: [80] } }] });
    g.onUpdates([{ ...bad, revision: 1 }, { key: t.profile('x').key, value: '{', revision: 2 }]);
    assert.equal(g.stats().invalid, 2);
    assert.match(seen[0], /globalnetworkpolicies\/bad: GlobalNetworkPolicy bad ingress\[0\]\.destination: rules that specify ports must set protocol/);
    assert.match(seen[1], /profiles\/x: /);
  });

  test('coalescing: add then remove within one flush emits nothing', () => {
    const g = new CalcGraph({ host: H });
    g.onUpdates([{ key: sEndpoints[0].key, value: sEndpoints[0].value, revision: 1 }, { key: sEndpoints[0].key, value: undefined, revision: 2 }]);
    assert.deepEqual(g.flush().filter((e) => e.type !== 'config'), []);
  });
});
