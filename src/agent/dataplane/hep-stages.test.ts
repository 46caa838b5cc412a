/**
 * The host endpoint stage semantics the nftables rendering implements (render.ts: raw-prerouting /
 * raw-output → mangle-prerouting → filter), pinned on the evaluator the kernel is checked against
 * (test/e2e/host-endpoint.test.ts). Felix: rules/static.go, rules/endpoints.go; Calico docs
 * "untracked ingress rules apply to all incoming traffic through a host endpoint — regardless of
 * where that traffic is going — but untracked egress rules only apply to traffic that is sent
 * from the host itself".
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { emptyHostModel, evaluateHost, type CompiledRule, type EndpointTier, type HostEndpointModel, type HostModel } from '../../policy/index.ts';

const OUT = '198.51.100.7';
const HOST = '198.18.0.1';
const WL = '192.0.2.2';

function model(): { m: HostModel; hep: HostEndpointModel } {
  const m = emptyHostModel('h1');
  const pol = (id: string, inbound: CompiledRule[], outbound: CompiledRule[] = [], kind: Partial<Record<'applyOnForward' | 'preDNAT' | 'doNotTrack', boolean>> = {}) => {
    m.policies[id] = { id, tier: 'default', inbound, outbound, applyOnForward: false, preDNAT: false, doNotTrack: false, ...kind };
  };
  const tcp = (port: number, action: CompiledRule['action']): CompiledRule => ({ action, protocol: 6, dstPorts: [{ first: port, last: port }] });
  pol('untracked', [tcp(9090, 'allow'), tcp(80, 'deny')], [{ action: 'deny', protocol: 6, dstPorts: [{ first: 443, last: 443 }] }], { doNotTrack: true, applyOnForward: true });
  pol('prednat', [tcp(30080, 'deny'), tcp(30443, 'allow'), { action: 'deny', protocol: 6, dstPorts: [{ first: 22, last: 22 }] }], [], { preDNAT: true, applyOnForward: true });
  pol('fwd', [tcp(8080, 'allow')], [], { applyOnForward: true });
  const tier = (ingress: string[], egress: string[] = []): EndpointTier[] => [{ name: 'default', defaultAction: 'deny', ingressPolicies: ingress, egressPolicies: egress }];
  const hep: HostEndpointModel = {
    id: 'h1-eth0', iface: 'eth0', expectedIPs: [HOST], labels: {}, profiles: [],
    tiers: tier(['fwd']), forwardTiers: tier(['fwd']), preDNATTiers: tier(['prednat']), untrackedTiers: tier(['untracked'], ['untracked']),
  };
  m.hostEndpoints[hep.id] = hep;
  return { m, hep };
}

const tcpIn = (dst: string, dstPort: number, srcPort = 40000) => ({ src: OUT, dst, protocol: 'TCP', srcPort, dstPort });

describe('host endpoint stages (the contract render.ts implements)', () => {
  test('untracked ingress applies to forwarded traffic too; its allow skips forward policy', () => {
    const { m, hep } = model();
    const fwd = (port: number) => evaluateHost(m, hep, 'ingress', tcpIn(WL, port), { forwarded: true });
    assert.deepEqual(fwd(9090).decidedBy, { kind: 'policy-rule', tier: 'default', policy: 'untracked', ruleIndex: 0, action: 'allow', stage: 'untracked' });
    assert.equal(fwd(80).verdict, 'deny');
    assert.equal(fwd(8080).verdict, 'allow', 'no untracked verdict: forward policy allows');
    assert.equal(fwd(8081).verdict, 'deny', 'forward tier drops at its end');
  });

  test('untracked egress applies only to what the host itself sends', () => {
    const { m, hep } = model();
    const p = { src: HOST, dst: OUT, protocol: 'TCP', srcPort: 40000, dstPort: 443 };
    assert.equal(evaluateHost(m, hep, 'egress', p).decidedBy.kind, 'policy-rule');
    const f = evaluateHost(m, hep, 'egress', { ...p, src: WL }, { forwarded: true });
    assert.deepEqual([f.verdict, f.decidedBy.kind], ['allow', 'host-not-policed'], 'forwarded: only (egress) forward policy, none here');
  });

  test('all-interfaces (`*`) host endpoints have no untracked stage (felix ignores it)', () => {
    const { m, hep } = model();
    const star = { ...hep, id: 'star', iface: '*' };
    assert.deepEqual(evaluateHost(m, star, 'ingress', tcpIn(HOST, 9090)).decidedBy, { kind: 'tier-default', tier: 'default' }, 'normal policy decides');
    assert.equal(evaluateHost(m, hep, 'ingress', tcpIn(HOST, 9090)).verdict, 'allow', 'the same policy on a named interface');
  });

  test('pre-DNAT: explicit verdicts win over normal and forward policy; failsafes skip it', () => {
    const { m, hep } = model();
    assert.equal(evaluateHost(m, hep, 'ingress', tcpIn(HOST, 30080)).verdict, 'deny');
    assert.equal(evaluateHost(m, hep, 'ingress', tcpIn(HOST, 30443)).verdict, 'allow', 'pre-DNAT allow skips normal policy');
    assert.equal(evaluateHost(m, hep, 'ingress', tcpIn(WL, 30443), { forwarded: true }).verdict, 'allow', '… and forward policy');
    // tcp/22 is a failsafe port: to the host it is allowed outright; forwarded, it skips the
    // pre-DNAT deny but forward policy (no failsafes there) still decides.
    assert.equal(evaluateHost(m, hep, 'ingress', tcpIn(HOST, 22)).decidedBy.kind, 'failsafe');
    const f = evaluateHost(m, hep, 'ingress', tcpIn(WL, 22), { forwarded: true });
    assert.deepEqual(f.decidedBy, { kind: 'tier-default', tier: 'default' });
    assert.ok(f.steps.some((s) => s.type === 'failsafe'));
    assert.ok(!f.steps.some((s) => s.type === 'policy' && s.policy === 'prednat'));
  });

  test('raw failsafes: a reply from a failsafe outbound port skips untracked policy only', () => {
    const { m, hep } = model();
    // udp/53 is an outbound failsafe: a packet from port 53 is not subject to untracked policy.
    m.policies.untracked!.inbound.unshift({ action: 'deny', protocol: 17 });
    const dns = { src: OUT, dst: HOST, protocol: 'UDP', srcPort: 53, dstPort: 40000 };
    const v = evaluateHost(m, hep, 'ingress', dns);
    assert.ok(!v.steps.some((s) => s.type === 'policy' && s.policy === 'untracked'));
    assert.equal(evaluateHost(m, hep, 'ingress', { ...dns, srcPort: 54 }).decidedBy.kind, 'policy-rule');
  });
});
