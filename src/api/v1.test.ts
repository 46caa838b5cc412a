import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { isWeftError } from '../lib/errors.ts';
import { parseManifests } from './manifest.ts';
import { cidrToName, convertName, ipToName, normalizeName, workloadEndpointName } from './names.ts';
import { convertV1, toV3, validateAll } from './resources.ts';
import { expectIssue } from './testutil.ts';

const v1 = (kind: string, metadata: Record<string, unknown>, spec?: Record<string, unknown>) => ({
  apiVersion: 'v1',
  kind,
  metadata,
  ...(spec ? { spec } : {}),
});
const sha8 = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 8);

describe('names', () => {
  test('cidrToName / ipToName', () => {
    assert.equal(cidrToName('192.0.2.0/24'), '192-0-2-0-24');
    assert.equal(cidrToName('2001:db8::/64'), '2001-db8---64');
    assert.equal(ipToName('198.51.100.7'), '198-51-100-7');
    assert.equal(ipToName('2001:db8::1'), '2001-0db8-0000-0000-0000-0000-0000-0001');
  });
  test('normalizeName and qualifier', () => {
    const table: [string, string][] = [
      ['Node_One', 'node-one'],
      ['a/b', 'a.b'],
      ['-a..-.b-', 'a.b'],
      ['x y!z', 'x-y-z'],
      ['plain', 'plain'],
    ];
    for (const [i, o] of table) assert.equal(normalizeName(i), o, i);
    assert.equal(convertName('plain'), 'plain');
    assert.equal(convertName('Node_One'), `node-one-${sha8('Node_One')}`);
  });
  test('workloadEndpointName escapes dashes per segment', () => {
    assert.equal(workloadEndpointName({ node: 'n-1', orchestrator: 'k8s', pod: 'web-0', endpoint: 'eth0' }), 'n--1-k8s-web--0-eth0');
    assert.equal(workloadEndpointName({ node: 'n', orchestrator: 'cni', containerID: 'abc-def', endpoint: 'eth0' }), 'n-cni-abc--def-eth0');
    assert.equal(workloadEndpointName({ node: 'n', orchestrator: 'libnetwork', endpoint: 'ep-1' }), 'n-libnetwork-libnetwork-ep--1');
    assert.equal(workloadEndpointName({ node: 'n', orchestrator: 'openstack', workload: 'vm-1', endpoint: 'tap1' }), 'n-openstack-vm--1-tap1');
    assert.throws(() => workloadEndpointName({ node: 'n', orchestrator: 'k8s', endpoint: 'eth0' }), /pod/);
  });
});

describe('v1 → v3 conversion (calicoctl convert)', () => {
  test('the seed manifest: top-level list with one ipPool', () => {
    const docs = parseManifests('- apiVersion: v1\n  kind: ipPool\n  metadata:\n    cidr: 192.0.2.0/24\n', 'seed.yaml');
    const [pool] = validateAll(docs);
    assert.deepEqual(pool, {
      apiVersion: 'projectcalico.org/v3',
      kind: 'IPPool',
      metadata: { name: '192-0-2-0-24' },
      spec: {
        cidr: '192.0.2.0/24',
        blockSize: 26,
        ipipMode: 'Never',
        vxlanMode: 'Never',
        natOutgoing: false,
        disabled: false,
        disableBGPExport: false,
        nodeSelector: 'all()',
        allowedUses: ['Workload', 'Tunnel'],
        assignmentMode: 'Automatic',
      },
    });
  });
  test('ipPool ipip / nat-outgoing / v6 / host bits', () => {
    const table: [Record<string, unknown> | undefined, string][] = [
      [undefined, 'Never'],
      [{ ipip: { enabled: false, mode: 'always' } }, 'Never'],
      [{ ipip: { enabled: true } }, 'Always'],
      [{ ipip: { enabled: true, mode: 'always' } }, 'Always'],
      [{ ipip: { enabled: true, mode: 'cross-subnet' } }, 'CrossSubnet'],
    ];
    for (const [spec, mode] of table) {
      const r = convertV1(v1('ipPool', { cidr: '192.0.2.0/24' }, spec));
      assert.ok(r.kind === 'IPPool');
      if (r.kind === 'IPPool') assert.equal(r.spec.ipipMode, mode, JSON.stringify(spec));
    }
    const nat = convertV1(v1('ipPool', { cidr: '192.0.2.0/24' }, { 'nat-outgoing': true, disabled: true }));
    if (nat.kind === 'IPPool') assert.deepEqual([nat.spec.natOutgoing, nat.spec.disabled], [true, true]);
    const six = convertV1(v1('ipPool', { cidr: '2001:db8:1::/48' }));
    assert.equal(six.metadata.name, '2001-db8-1---48');
    if (six.kind === 'IPPool') assert.equal(six.spec.blockSize, 122);
    const masked = convertV1(v1('ipPool', { cidr: '192.0.2.77/24' }));
    if (masked.kind === 'IPPool') assert.equal(masked.spec.cidr, '192.0.2.0/24');
    expectIssue(v1('ipPool', { cidr: 'nonsense' }), 'metadata.cidr', /not a CIDR/);
    expectIssue(v1('ipPool', { cidr: '192.0.2.0/24' }, { ipip: { enabled: true, mode: 'sometimes' } }), 'spec.ipip.mode', /always, cross-subnet/);
    expectIssue(v1('ipPool', { cidr: '192.0.2.0/24', name: 'x' }), 'metadata.name', /unknown field/);
  });
  test('policy → GlobalNetworkPolicy with rules, tags, selectors', () => {
    const r = toV3(
      v1('policy', { name: 'allow-tcp-6379' }, {
        order: 10,
        selector: "role == 'database' && calico/k8s_ns == 'prod'",
        ingress: [
          { action: 'allow', protocol: 'tcp', source: { tag: 'frontend', selector: "a == 'b'" }, destination: { ports: [6379], net: '192.0.2.7/24', nets: ['198.51.100.0/24'] } },
          { action: 'next-tier' },
          { action: 'deny', protocol: 'icmp', icmp: { type: 8 }, source: { notTag: 'bad' } },
          {},
        ],
        egress: [{ action: 'log' }],
      }),
    );
    assert.equal(r.kind, 'GlobalNetworkPolicy');
    if (r.kind !== 'GlobalNetworkPolicy') return;
    assert.equal(r.metadata.name, 'default.allow-tcp-6379');
    assert.equal(r.spec.tier, 'default');
    assert.equal(r.spec.order, 10);
    assert.equal(r.spec.selector, "role == 'database' && projectcalico.org/namespace == 'prod'");
    assert.deepEqual(r.spec.types, ['Ingress', 'Egress']);
    assert.deepEqual(r.spec.ingress, [
      { action: 'Allow', protocol: 'TCP', source: { selector: "(a == 'b') && frontend == ''" }, destination: { nets: ['192.0.2.0/24', '198.51.100.0/24'], ports: [6379] } },
      { action: 'Pass' },
      { action: 'Deny', protocol: 'ICMP', icmp: { type: 8 }, source: { notSelector: "bad == ''" } },
      { action: 'Allow' },
    ]);
    assert.deepEqual(r.spec.egress, [{ action: 'Log' }]);
  });
  test('policy names are normalised without dots, with a qualifier when changed', () => {
    const r = convertV1(v1('policy', { name: 'My.Policy' }));
    assert.equal(r.metadata.name, `default.my-policy-${sha8('My.Policy')}`);
    const t = convertV1(v1('policy', { name: 'p', tier: 'security' }));
    if (t.kind === 'GlobalNetworkPolicy') assert.deepEqual([t.metadata.name, t.spec.tier], ['security.p', 'security']);
  });
  test('policy types: explicit lowercase, defaults, doNotTrack/preDNAT imply applyOnForward', () => {
    const types = (spec: Record<string, unknown>) => {
      const r = convertV1(v1('policy', { name: 'p' }, spec));
      return r.kind === 'GlobalNetworkPolicy' ? r.spec : undefined;
    };
    assert.deepEqual(types({ types: ['ingress', 'egress'] })?.types, ['Ingress', 'Egress']);
    assert.deepEqual(types({ egress: [{ action: 'allow' }] })?.types, ['Egress']);
    assert.deepEqual(types({})?.types, ['Ingress']);
    const dnt = types({ doNotTrack: true, ingress: [{ action: 'deny' }] });
    assert.deepEqual([dnt?.doNotTrack, dnt?.applyOnForward], [true, true]);
    const pre = types({ preDNAT: true, ingress: [{ action: 'deny' }] });
    assert.deepEqual([pre?.preDNAT, pre?.applyOnForward, pre?.types], [true, true, ['Ingress']]);
    expectIssue(v1('policy', { name: 'p' }, { types: ['sideways'] }), 'spec.types[0]', /invalid policy type/);
  });
  test('profile: tags + labels → labelsToApply, k8s_ns → kns', () => {
    const r = convertV1(v1('profile', { name: 'k8s_ns.prod', tags: ['db', 'web'], labels: { role: 'x' } }, { ingress: [{ action: 'allow' }], egress: [{ action: 'allow' }] }));
    assert.equal(r.kind, 'Profile');
    if (r.kind !== 'Profile') return;
    assert.equal(r.metadata.name, 'kns.prod');
    assert.deepEqual(r.spec.labelsToApply, { role: 'x', db: '', web: '' });
    assert.deepEqual(r.spec.ingress, [{ action: 'Allow' }]);
    expectIssue(v1('profile', { name: 'p', tags: ['role'], labels: { role: 'x' } }), 'metadata.tags[0]', /same key/);
  });
  test('bgpPeer: names from the IP, node scope', () => {
    const g = convertV1(v1('bgpPeer', { scope: 'global', peerIP: '198.51.100.1' }, { asNumber: 64567 }));
    assert.deepEqual([g.metadata.name, g.spec], ['198-51-100-1', { peerIP: '198.51.100.1', asNumber: 64567 }]);
    const n = convertV1(v1('bgpPeer', { scope: 'node', node: 'Rack1_Host', peerIP: '2001:db8::2' }, { asNumber: '1.5' }));
    assert.equal(n.metadata.name, 'rack1-host.2001-0db8-0000-0000-0000-0000-0000-0002');
    if (n.kind === 'BGPPeer') assert.deepEqual(n.spec, { node: 'rack1-host', peerIP: '2001:db8::2', asNumber: 65541 });
    expectIssue(v1('bgpPeer', { scope: 'node', peerIP: '198.51.100.1' }, { asNumber: 1 }), 'metadata.node', /required/);
    expectIssue(v1('bgpPeer', { scope: 'global', node: 'x', peerIP: '198.51.100.1' }, { asNumber: 1 }), 'metadata.node', /global/);
  });
  test('hostEndpoint, workloadEndpoint, node, tier', () => {
    const h = convertV1(v1('hostEndpoint', { name: 'eth0', node: 'host1', labels: { role: 'edge' } }, { interfaceName: 'eth0', expectedIPs: ['2001:db8::1', '198.18.0.1'], profiles: ['k8s_ns.a'] }));
    assert.equal(h.metadata.name, 'host1.eth0');
    if (h.kind === 'HostEndpoint') assert.deepEqual(h.spec, { node: 'host1', interfaceName: 'eth0', expectedIPs: ['198.18.0.1', '2001:db8::1'], profiles: ['kns.a'] });

    const w = convertV1(v1('workloadEndpoint', { name: 'eth0', workload: 'prod.web-0', orchestrator: 'k8s', node: 'node-1', activeInstanceID: 'c0ffee', labels: { 'calico/k8s_ns': 'prod', app: 'web' } }, { ipNetworks: ['192.0.2.5/32'], profiles: ['k8s_ns.prod'], interfaceName: 'cali0123' }));
    assert.equal(w.kind, 'WorkloadEndpoint');
    if (w.kind === 'WorkloadEndpoint') {
      assert.deepEqual(w.metadata, { name: 'node--1-k8s-web--0-eth0', namespace: 'prod', labels: { app: 'web', 'projectcalico.org/namespace': 'prod' } });
      assert.deepEqual([w.spec.pod, w.spec.containerID, w.spec.profiles], ['web-0', 'c0ffee', ['kns.prod']]);
    }
    const lib = convertV1(v1('workloadEndpoint', { name: 'ep1', workload: 'abc', orchestrator: 'libnetwork', node: 'n' }));
    assert.equal(lib.metadata.name, 'n-libnetwork-libnetwork-ep1');
    expectIssue(v1('workloadEndpoint', { name: 'e', workload: 'nodot', orchestrator: 'k8s', node: 'n' }), 'metadata.workload', /namespace/);

    const n = convertV1(v1('node', { name: 'Node1' }, { bgp: { asNumber: 64512, ipv4Address: '198.18.0.5' } }));
    assert.equal(n.metadata.name, 'node1');
    if (n.kind === 'Node') assert.deepEqual(n.spec.bgp, { asNumber: 64512, ipv4Address: '198.18.0.5/32' });

    const t = convertV1(v1('tier', { name: 'security' }, { order: 100 }));
    if (t.kind === 'Tier') assert.deepEqual(t.spec, { order: 100, defaultAction: 'Deny' });
  });
  test('unknown v1 kind and non-v1 input', () => {
    expectIssue(v1('widget', { name: 'x' }), 'kind', /not a v1 kind/);
    expectIssue(v1('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24' }), 'apiVersion', /use "projectcalico\.org\/v3"/);
    expectIssue(v1('calicoApiConfig', {}, { datastoreType: 'etcdv2' }), 'kind', /connection file, not a resource/);
    assert.throws(
      () => convertV1({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool' }),
      (e) => isWeftError(e, 'ERR_VALIDATION'),
    );
  });
  test('v3 errors after conversion name the v1 kind', () => {
    try {
      toV3(v1('policy', { name: 'p' }, { ingress: [{ action: 'allow', protocol: 'tcp', destination: { ports: [99999] } }] }), { ref: { document: 1 } });
      assert.fail('should throw');
    } catch (e) {
      assert.ok(isWeftError(e, 'ERR_VALIDATION'));
      assert.match(e.message, /^document 1 \(GlobalNetworkPolicy \(from v1 policy\) "default\.p"\): spec\.ingress\[0\]\.destination\.ports\[0\]: 99999 is not a port/);
    }
  });
});
