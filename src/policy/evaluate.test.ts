import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyHostModel } from './model.ts';
import type { HostModel, WorkloadEndpointModel } from './model.ts';
import { evaluateWorkload, ruleMismatch, parsePacket } from './evaluate.ts';
import { tracePolicy, formatTrace } from './trace.ts';

function model(): HostModel {
  const m = emptyHostModel('n1');
  m.ipSets['s:web'] = { type: 'net', description: 'app == "web"', members: ['192.0.2.10/32', '198.51.100.0/24'] };
  m.ipSets['n:http'] = { type: 'named-port', description: 'named port tcp:http of all()', members: ['192.0.2.20,tcp:8080'] };
  m.policies.allow = { id: 'allow', tier: 'default', inbound: [{ action: 'allow', protocol: 6, srcIPSets: ['s:web'], dstNamedPortIPSets: ['n:http'] }], outbound: [], applyOnForward: false, preDNAT: false, doNotTrack: false };
  m.profiles.open = { id: 'open', inbound: [], outbound: [{ action: 'allow' }] };
  const ep = (id: string, addr: string, tiers: WorkloadEndpointModel['tiers'], profiles: string[]): WorkloadEndpointModel => ({
    id, name: id.split('/')[1], namespace: 'default', iface: `cali-${id}`, addrs: [addr], allowSpoofedSourcePrefixes: [], labels: {}, tiers, profiles,
  });
  m.endpoints['default/web'] = ep('default/web', '192.0.2.10/32', [], ['open']);
  m.endpoints['default/api'] = ep('default/api', '192.0.2.20/32', [{ name: 'default', defaultAction: 'deny', ingressPolicies: ['allow'], egressPolicies: [] }], []);
  return m;
}

describe('evaluator', () => {
  test('rule mismatch names the first failing field', () => {
    const m = model();
    const r = m.policies.allow.inbound[0];
    assert.equal(ruleMismatch(m, r, parsePacket({ src: '192.0.2.10', dst: '192.0.2.20', protocol: 'UDP', dstPort: 8080 })), 'protocol');
    assert.equal(ruleMismatch(m, r, parsePacket({ src: '192.0.2.11', dst: '192.0.2.20', dstPort: 8080 })), 'source.selector');
    assert.equal(ruleMismatch(m, r, parsePacket({ src: '198.51.100.9', dst: '192.0.2.20', dstPort: 80 })), 'destination.ports');
    assert.equal(ruleMismatch(m, r, parsePacket({ src: '198.51.100.9', dst: '192.0.2.20', dstPort: 8080 })), undefined);
  });

  test('verdicts with decision path', () => {
    const m = model();
    const v = evaluateWorkload(m, m.endpoints['default/api'], 'ingress', { src: '192.0.2.10', dst: '192.0.2.20', dstPort: 8080 });
    assert.equal(v.verdict, 'allow');
    assert.deepEqual(v.decidedBy, { kind: 'policy-rule', tier: 'default', policy: 'allow', ruleIndex: 0, action: 'allow' });
    const d = evaluateWorkload(m, m.endpoints['default/api'], 'ingress', { src: '192.0.2.10', dst: '192.0.2.20', dstPort: 81 });
    assert.deepEqual(d.decidedBy, { kind: 'tier-default', tier: 'default' });
  });

  test('packet parsing rejects bad input', () => {
    assert.throws(() => parsePacket({ src: 'x', dst: '192.0.2.1' }), /not an IP/);
    assert.throws(() => parsePacket({ src: '192.0.2.1', dst: '2001:db8::1' }), /IP versions/);
    assert.throws(() => parsePacket({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 'bogus' }), /protocol/);
  });
});

describe('tracePolicy / formatTrace', () => {
  test('both sides, resolved by name or address, JSON-able', () => {
    const m = model();
    const r = tracePolicy(m, 'web', '192.0.2.20', { protocol: 'tcp', dstPort: 8080 });
    assert.equal(r.verdict, 'allow');
    assert.equal(r.from.endpoint, 'default/web');
    assert.equal(r.to.endpoint, 'default/api');
    assert.equal(r.egress.evaluated && r.egress.decidedBy.kind, 'profile-rule');
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    const text = formatTrace(r);
    assert.match(text, /Verdict: ALLOW$/);
    assert.match(text, /policy allow rule 0: Allow/);
  });

  test('a deny explains itself and says what to do', () => {
    const m = model();
    const r = tracePolicy(m, { address: '203.0.113.5' }, 'default/api', { dstPort: 8080 });
    assert.equal(r.verdict, 'deny');
    assert.equal(r.egress.evaluated, false);
    const text = formatTrace(r);
    assert.match(text, /not evaluated — source 203\.0\.113\.5 is not an endpoint/);
    assert.match(text, /end of tier default/);
    assert.match(text, /hint: add an ingress Allow rule for TCP port 8080 to a policy in tier default that selects default\/api/);
    assert.match(text, /Verdict: DENY$/);
  });

  test('unknown endpoint names are an error with a hint', () => {
    assert.throws(() => tracePolicy(model(), 'nope', 'default/api'), /no endpoint "nope"/);
  });
});

describe('evaluatePacket', () => {
  test('looks the endpoint up by id', async () => {
    const { evaluatePacket } = await import('./evaluate.ts');
    const m = model();
    assert.equal(evaluatePacket(m, { endpoint: 'default/api', direction: 'ingress', src: '192.0.2.10', dst: '192.0.2.20', dstPort: 8080 }).verdict, 'allow');
    assert.throws(() => evaluatePacket(m, { endpoint: 'nope', direction: 'ingress', src: '192.0.2.10', dst: '192.0.2.20' }), /not a local endpoint/);
  });
});
