import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule, parseProtocol } from './rules.ts';
import type { IPSetSpec } from './rules.ts';
import { effectiveTypes, policyDef, tierDef, compareTiers, comparePolicies, implicitTier } from './defs.ts';
import { isWeftError } from '../lib/errors.ts';
import type { RuleSpec } from './resources.ts';

function compile(r: RuleSpec, ns?: string): { rule: ReturnType<typeof compileRule>; sets: IPSetSpec[] } {
  const sets = new Map<string, IPSetSpec>();
  const rule = compileRule(r, ns, sets, 'test');
  return { rule, sets: [...sets.values()] };
}

describe('protocols', () => {
  const table: [string | number, number | undefined][] = [
    ['TCP', 6], ['tcp', 6], ['UDP', 17], ['ICMP', 1], ['ICMPv6', 58], ['SCTP', 132], ['UDPLite', 136],
    [6, 6], ['6', 6], [255, 255], [0, 0], [256, undefined], ['bogus', undefined], [1.5, undefined],
  ];
  for (const [input, want] of table) test(`${JSON.stringify(input)} → ${want}`, () => assert.equal(parseProtocol(input), want));
});

describe('rule compilation', () => {
  test('actions, case-insensitive; unknown rejected', () => {
    for (const a of ['Allow', 'Deny', 'Log', 'Pass']) assert.equal(compile({ action: a }).rule.action, a.toLowerCase());
    assert.throws(() => compile({ action: 'Drop' }), (e) => isWeftError(e, 'ERR_VALIDATION'));
  });

  test('ports: numbers, ranges, names; require TCP/UDP/SCTP', () => {
    const { rule, sets } = compile({ action: 'Allow', protocol: 'TCP', destination: { ports: [80, '8000:8080', 'http'], notPorts: ['9000'] } });
    assert.deepEqual(rule.dstPorts, [{ first: 80, last: 80 }, { first: 8000, last: 8080 }]);
    assert.deepEqual(rule.notDstPorts, [{ first: 9000, last: 9000 }]);
    assert.equal(rule.dstNamedPortIPSets?.length, 1);
    assert.equal(sets[0].type, 'named-port');
    assert.equal(sets[0].portName, 'http');
    assert.equal(sets[0].protocol, 'tcp');
    assert.throws(() => compile({ action: 'Allow', destination: { ports: [80] } }), /protocol to TCP, UDP or SCTP/);
    assert.throws(() => compile({ action: 'Allow', protocol: 'ICMP', destination: { ports: [80] } }), /protocol/);
    assert.throws(() => compile({ action: 'Allow', protocol: 'TCP', destination: { ports: ['90:80'] } }), /reversed/);
    assert.throws(() => compile({ action: 'Allow', protocol: 'TCP', destination: { ports: [70000] } }), /range/);
  });

  test('icmp requires ICMP/ICMPv6 and a type for a code', () => {
    assert.deepEqual(compile({ action: 'Allow', protocol: 'ICMP', icmp: { type: 8, code: 0 } }).rule, { action: 'allow', protocol: 1, icmpType: 8, icmpCode: 0 });
    assert.throws(() => compile({ action: 'Allow', protocol: 'TCP', icmp: { type: 8 } }), /ICMP/);
    assert.throws(() => compile({ action: 'Allow', protocol: 'ICMP', icmp: { code: 1 } }), /requires icmp.type/);
    assert.throws(() => compile({ action: 'Allow', protocol: 'ICMP', ipVersion: 6 }), /ipVersion/);
  });

  test('nets are canonicalised; bare addresses become host prefixes', () => {
    const { rule } = compile({ action: 'Allow', source: { nets: ['192.0.2.7/24', '2001:DB8::1'] }, destination: { notNets: ['198.51.100.1'] } });
    assert.deepEqual(rule.srcNets, ['192.0.2.0/24', '2001:db8::1/128']);
    assert.deepEqual(rule.notDstNets, ['198.51.100.1/32']);
    assert.throws(() => compile({ action: 'Allow', source: { nets: ['nope'] } }), /invalid CIDR/);
  });

  test('selector sets: same selector → same id; namespaced policies scope selectors', () => {
    const a = compile({ action: 'Allow', source: { selector: "app == 'x'" } });
    const b = compile({ action: 'Allow', destination: { selector: 'app=="x"' } });
    assert.equal(a.rule.srcIPSets?.[0], b.rule.dstIPSets?.[0]);
    const scoped = compile({ action: 'Allow', source: { selector: "app == 'x'" } }, 'prod');
    assert.notEqual(scoped.rule.srcIPSets?.[0], a.rule.srcIPSets?.[0]);
    assert.equal(scoped.sets[0].matcher.matches({ app: 'x', 'projectcalico.org/namespace': 'prod' }), true);
    assert.equal(scoped.sets[0].matcher.matches({ app: 'x', 'projectcalico.org/namespace': 'dev' }), false);
    // A rule with no selector in a namespaced policy matches any address (no set at all).
    assert.equal(compile({ action: 'Allow', source: { nets: ['192.0.2.0/24'] } }, 'prod').rule.srcIPSets, undefined);
    // notSelector in a namespaced policy: positive set = the namespace, negative set unscoped.
    const ns = compile({ action: 'Allow', source: { notSelector: "app == 'x'" } }, 'prod');
    assert.equal(ns.rule.srcIPSets?.length, 1);
    assert.equal(ns.rule.notSrcIPSets?.[0], a.rule.srcIPSets?.[0]);
  });

  test('invalid selectors are rejected', () => {
    assert.throws(() => compile({ action: 'Allow', source: { selector: 'app ==' } }), (e) => isWeftError(e, 'ERR_SELECTOR'));
  });
});

describe('policy definitions', () => {
  test('types defaulting', () => {
    assert.deepEqual(effectiveTypes({}), { ingress: true, egress: false });
    assert.deepEqual(effectiveTypes({ ingress: [{ action: 'Allow' }] }), { ingress: true, egress: false });
    assert.deepEqual(effectiveTypes({ egress: [{ action: 'Allow' }] }), { ingress: false, egress: true });
    assert.deepEqual(effectiveTypes({ ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), { ingress: true, egress: true });
    assert.deepEqual(effectiveTypes({ types: ['Egress'], ingress: [{ action: 'Allow' }] }), { ingress: false, egress: true });
  });

  test('tier default "default"; preDNAT/doNotTrack need applyOnForward', () => {
    const d = policyDef({ kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: {} });
    assert.equal(d.tier, 'default');
    assert.throws(() => policyDef({ kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: { preDNAT: true } }), /applyOnForward/);
    assert.throws(() => policyDef({ kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: {} }), /namespace/);
  });

  test('tier parsing and ordering', () => {
    assert.deepEqual(tierDef({ kind: 'Tier', metadata: { name: 't' }, spec: { order: 5, defaultAction: 'Pass' } }), { name: 't', order: 5, defaultAction: 'pass' });
    assert.equal(tierDef({ kind: 'Tier', metadata: { name: 't' } }).defaultAction, 'deny');
    const tiers = [{ name: 'b' }, { name: 'a', order: 10 }, implicitTier('default'), { name: 'c', order: 10 }, { name: 'a2' }];
    assert.deepEqual(tiers.sort(compareTiers).map((x) => x.name), ['a', 'c', 'default', 'a2', 'b']);
  });

  test('policy ordering: order, missing last, then name', () => {
    const ps = [{ id: 'z', order: 1 }, { id: 'b' }, { id: 'a' }, { id: 'y', order: 1 }, { id: 'x', order: 0.5 }];
    assert.deepEqual(ps.sort(comparePolicies).map((p) => p.id), ['x', 'y', 'z', 'a', 'b']);
  });
});
