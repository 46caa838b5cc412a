import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWeftError } from '../lib/errors.ts';
import { toV3 } from './resources.ts';
import { expectIssue, issuesOf, ok, v3 } from './testutil.ts';

describe('IPPool', () => {
  test('defaults for an IPv4 pool', () => {
    const r = ok(v3('IPPool', { name: 'pool-a' }, { cidr: '192.0.2.0/24' }));
    assert.deepEqual(r.spec, {
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
    });
  });
  test('IPv6 defaults and canonical CIDR text', () => {
    const r = ok(v3('IPPool', { name: 'v6' }, { cidr: '2001:DB8:0::/64' }));
    assert.equal(r.kind, 'IPPool');
    if (r.kind !== 'IPPool') return;
    assert.equal(r.spec.cidr, '2001:db8::/64');
    assert.equal(r.spec.blockSize, 122);
  });
  test('errors name the field path', () => {
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/33' }), 'spec.cidr', /^"192\.0\.2\.0\/33" is not a CIDR$/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.1/24' }), 'spec.cidr', /host bits set; did you mean "192\.0\.2\.0\/24"/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', blockSize: 19 }), 'spec.blockSize', /20\.\.32/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '2001:db8::/64', blockSize: 64 }), 'spec.blockSize', /116\.\.128/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/28' }), 'spec.cidr', /smaller than one block/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', ipipMode: 'sometimes' }), 'spec.ipipMode', /not one of Never, Always, CrossSubnet/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', ipipMode: 'Always', vxlanMode: 'Always' }), 'spec.vxlanMode', /both/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '2001:db8::/64', ipipMode: 'Always' }), 'spec.ipipMode', /IPv6/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', nodeSelector: 'a ==' }), 'spec.nodeSelector', /not a valid selector/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', natOutgoing: 'yes' }), 'spec.natOutgoing', /expected true or false/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', colour: 'red' }), 'spec.colour', /unknown field/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '169.254.0.0/16' }), 'spec.cidr', /link-local/);
    expectIssue(v3('IPPool', { name: 'p' }, {}), 'spec.cidr', /required/);
    expectIssue(v3('IPPool', { name: 'p', namespace: 'x' }, { cidr: '192.0.2.0/24' }), 'metadata.namespace', /not namespaced/);
  });
  test('names are DNS-1123 subdomains', () => {
    expectIssue(v3('IPPool', { name: 'Pool_A' }, { cidr: '192.0.2.0/24' }), 'metadata.name', /not a valid name/);
    expectIssue(v3('IPPool', { name: 'a'.repeat(254) }, { cidr: '192.0.2.0/24' }), 'metadata.name', /253/);
    expectIssue(v3('IPPool', {}, { cidr: '192.0.2.0/24' }), 'metadata.name', /required/);
    ok(v3('IPPool', { name: 'a.b-c.d' }, { cidr: '192.0.2.0/24' }));
  });
  test('the thrown error names document, kind, name and field', () => {
    try {
      toV3(v3('IPPool', { name: 'pool-a' }, { cidr: '192.0.2.0/33' }), { ref: { document: 2 } });
      assert.fail('should throw');
    } catch (e) {
      assert.ok(isWeftError(e, 'ERR_VALIDATION'));
      assert.equal(e.message, 'document 2 (IPPool "pool-a"): spec.cidr: "192.0.2.0/33" is not a CIDR');
      assert.deepEqual(e.details?.issues, [{ path: 'spec.cidr', message: '"192.0.2.0/33" is not a CIDR' }]);
      assert.equal(e.details?.kind, 'IPPool');
      assert.equal(e.details?.name, 'pool-a');
      assert.equal(e.details?.document, 2);
    }
  });
});

describe('envelope', () => {
  test('apiVersion and kind', () => {
    expectIssue({ kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '192.0.2.0/24' } }, 'apiVersion', /required/);
    expectIssue({ apiVersion: 'projectcalico.org/v2', kind: 'IPPool' }, 'apiVersion', /not supported/);
    expectIssue({ apiVersion: 'projectcalico.org/v3', kind: 'ippool' }, 'kind', /did you mean "IPPool"/);
    expectIssue({ apiVersion: 'projectcalico.org/v3', kind: 'Widget' }, 'kind', /not a known kind/);
    expectIssue('hello', '', /expected a resource object/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24' }) && { ...v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24' }), extra: 1 }, 'extra', /unknown field/);
  });
  test('unknown fields get suggestions', () => {
    expectIssue(v3('IPPool', { name: 'p', lables: {} }, { cidr: '192.0.2.0/24' }), 'metadata.lables', /did you mean "labels"/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', blocksize: 26 }), 'spec.blocksize', /did you mean "blockSize"/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', 'nat-outgoing': true }), 'spec.nat-outgoing', /v1 field "nat-outgoing" is natOutgoing/);
    expectIssue(v3('GlobalNetworkPolicy', { name: 'p' }, { ingress: [{ action: 'Allow', source: { tag: 'db' } }] }), 'spec.ingress[0].source.tag', /selector/);
    expectIssue(v3('FelixConfiguration', { name: 'default' }, { ipipEnable: true }), 'spec.ipipEnable', /did you mean "ipipEnabled"/);
    expectIssue(v3('IPPool', { name: 'p' }, { cidr: '192.0.2.0/24', zzzzzz: 1 }), 'spec.zzzzzz', /^unknown field$/);
  });
  test('labels follow Kubernetes rules', () => {
    expectIssue(v3('GlobalNetworkSet', { name: 'n', labels: { 'bad key!': 'x' } }), 'metadata.labels.bad key!', /label key/);
    expectIssue(v3('GlobalNetworkSet', { name: 'n', labels: { ok: 'bad value!' } }), 'metadata.labels.ok', /label value/);
    ok(v3('GlobalNetworkSet', { name: 'n', labels: { 'example.org/role': 'db', empty: '' } }));
  });
});

describe('BGPConfiguration and BGPPeer', () => {
  test('global defaults', () => {
    const r = ok(v3('BGPConfiguration', { name: 'default' }));
    assert.deepEqual(r.spec, { logSeverityScreen: 'Info', nodeToNodeMeshEnabled: true, asNumber: 64512 });
  });
  test('per-node config cannot set global-only fields', () => {
    expectIssue(v3('BGPConfiguration', { name: 'node.a' }, { asNumber: 65000 }), 'spec.asNumber', /global/);
    const r = ok(v3('BGPConfiguration', { name: 'node.a' }, { logSeverityScreen: 'Debug' }));
    assert.deepEqual(r.spec, { logSeverityScreen: 'Debug' });
  });
  test('AS numbers: plain and dotted', () => {
    const r = ok(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1', asNumber: '1.10' }));
    assert.ok(r.kind === 'BGPPeer');
    if (r.kind === 'BGPPeer') assert.equal(r.spec.asNumber, 65546);
    ok(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1', asNumber: 4294967295 }));
    expectIssue(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1', asNumber: 0 }), 'spec.asNumber', /not an AS number/);
    expectIssue(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1', asNumber: 4294967296 }), 'spec.asNumber', /not an AS number/);
    expectIssue(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1', asNumber: '65536.1' }), 'spec.asNumber', /not an AS number/);
  });
  test('peer address forms and exclusivity', () => {
    const r = ok(v3('BGPPeer', { name: 'p' }, { peerIP: '[2001:DB8::1]:179', asNumber: 65001 }));
    if (r.kind === 'BGPPeer') assert.equal(r.spec.peerIP, '[2001:db8::1]:179');
    ok(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1:1179', asNumber: 65001 }));
    expectIssue(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.300' }), 'spec.peerIP', /not a peer address/);
    expectIssue(v3('BGPPeer', { name: 'p' }, { peerIP: '198.51.100.1', peerSelector: 'all()' }), 'spec.peerSelector', /cannot both/);
    expectIssue(v3('BGPPeer', { name: 'p' }, { node: 'a', nodeSelector: 'all()' }), 'spec.nodeSelector', /cannot both/);
  });
});

describe('Node', () => {
  test('BGP addresses keep the host part', () => {
    const r = ok(v3('Node', { name: 'node-1' }, { bgp: { ipv4Address: '198.18.0.5/24', ipv6Address: '2001:db8::5', asNumber: 64512 } }));
    if (r.kind === 'Node') {
      assert.equal(r.spec.bgp?.ipv4Address, '198.18.0.5/24');
      assert.equal(r.spec.bgp?.ipv6Address, '2001:db8::5/128');
    }
    expectIssue(v3('Node', { name: 'n' }, { bgp: { ipv4Address: '2001:db8::5/64' } }), 'spec.bgp.ipv4Address', /IPv4/);
    ok(v3('Node', { name: 'n' }));
  });
});

describe('policy kinds', () => {
  const rule = { action: 'Allow', protocol: 'TCP', destination: { ports: [80, '8080:8090', 'http'] } };
  test('types default from rules', () => {
    const t = (spec: Record<string, unknown>) => {
      const r = ok(v3('GlobalNetworkPolicy', { name: 'p' }, spec));
      return r.kind === 'GlobalNetworkPolicy' ? r.spec.types : undefined;
    };
    assert.deepEqual(t({}), ['Ingress']);
    assert.deepEqual(t({ ingress: [rule] }), ['Ingress']);
    assert.deepEqual(t({ egress: [rule] }), ['Egress']);
    assert.deepEqual(t({ ingress: [rule], egress: [rule] }), ['Ingress', 'Egress']);
    assert.deepEqual(t({ types: ['Egress'], ingress: [rule] }), ['Egress']);
  });
  test('NetworkPolicy namespace and tier defaults', () => {
    const r = ok(v3('NetworkPolicy', { name: 'allow-web' }, { selector: "app == 'web'", ingress: [rule] }));
    assert.equal(r.kind, 'NetworkPolicy');
    if (r.kind === 'NetworkPolicy') {
      assert.equal(r.metadata.namespace, 'default');
      assert.equal(r.spec.tier, 'default');
      assert.deepEqual(r.spec.ingress?.[0].destination?.ports, [80, '8080:8090', 'http']);
    }
  });
  test('policy names', () => {
    ok(v3('GlobalNetworkPolicy', { name: 'default.allow' }));
    ok(v3('GlobalNetworkPolicy', { name: 'sec.allow' }, { tier: 'sec' }));
    expectIssue(v3('GlobalNetworkPolicy', { name: 'allow' }, { tier: 'sec' }), 'metadata.name', /must start with "sec\."/);
    expectIssue(v3('GlobalNetworkPolicy', { name: 'other.allow' }, { tier: 'sec' }), 'metadata.name', /prefix/);
    expectIssue(v3('GlobalNetworkPolicy', { name: 'a.b.c' }), 'metadata.name', /not a valid policy name/);
    expectIssue(v3('NetworkPolicy', { name: 'knp.default.x' }), 'metadata.name', /reserved/);
  });
  test('rule checks', () => {
    const gnp = (r: unknown) => v3('GlobalNetworkPolicy', { name: 'p' }, { ingress: [r] });
    expectIssue(gnp({ action: 'allow' }), 'spec.ingress[0].action', /did you mean "Allow"/);
    expectIssue(gnp({ action: 'Accept' }), 'spec.ingress[0].action', /Allow, Deny, Log, Pass/);
    expectIssue(gnp({ action: 'Allow', protocol: 'tcp' }), 'spec.ingress[0].protocol', /did you mean "TCP"/);
    expectIssue(gnp({ action: 'Allow', protocol: 256 }), 'spec.ingress[0].protocol', /1\.\.255/);
    expectIssue(gnp({ action: 'Allow', protocol: 'ICMP', destination: { ports: [80] } }), 'spec.ingress[0].destination.ports', /TCP, UDP or SCTP/);
    expectIssue(gnp({ action: 'Allow', protocol: 'TCP', destination: { ports: [70000] } }), 'spec.ingress[0].destination.ports[0]', /0\.\.65535/);
    expectIssue(gnp({ action: 'Allow', protocol: 'TCP', destination: { ports: ['9:1'] } }), 'spec.ingress[0].destination.ports[0]', /range/);
    expectIssue(gnp({ action: 'Allow', protocol: 'TCP', icmp: { type: 8 } }), 'spec.ingress[0].icmp', /ICMP/);
    expectIssue(gnp({ action: 'Allow', protocol: 'ICMP', icmp: { code: 1 } }), 'spec.ingress[0].icmp.code', /type/);
    expectIssue(gnp({ action: 'Allow', protocol: 'ICMP', icmp: { type: 255 } }), 'spec.ingress[0].icmp.type', /254/);
    expectIssue(gnp({ action: 'Allow', source: { nets: ['192.0.2.0/24'], selector: 'has(' } }), 'spec.ingress[0].source.selector', /selector/);
    expectIssue(gnp({ action: 'Allow', ipVersion: 6, source: { nets: ['192.0.2.0/24'] } }), 'spec.ingress[0].source.nets[0]', /ipVersion 6/);
    expectIssue(gnp({ action: 'Allow', source: { selector: 'global()' } }), 'spec.ingress[0].source.selector', /global\(\)/);
    ok(gnp({ action: 'Allow', source: { namespaceSelector: 'global()' } }));
    expectIssue(gnp({ action: 'Deny', http: { methods: ['GET'] } }), 'spec.ingress[0].http', /Allow/);
    const r = ok(gnp({ action: 'Allow', protocol: 6, source: { nets: ['192.0.2.7/24', '2001:DB8::1'] }, destination: { ports: ['443', '80:80'] } }));
    if (r.kind === 'GlobalNetworkPolicy') {
      assert.deepEqual(r.spec.ingress?.[0].source?.nets, ['192.0.2.0/24', '2001:db8::1/128']);
      assert.deepEqual(r.spec.ingress?.[0].destination?.ports, [443, 80]);
    }
  });
  test('doNotTrack / preDNAT', () => {
    expectIssue(v3('GlobalNetworkPolicy', { name: 'p' }, { doNotTrack: true }), 'spec.applyOnForward', /must be true/);
    expectIssue(v3('GlobalNetworkPolicy', { name: 'p' }, { preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }), 'spec.egress', /preDNAT/);
    ok(v3('GlobalNetworkPolicy', { name: 'p' }, { preDNAT: true, applyOnForward: true, ingress: [{ action: 'Deny' }] }));
  });
  test('Tier defaults and built-in orders', () => {
    const t = ok(v3('Tier', { name: 'security' }, { order: 100 }));
    if (t.kind === 'Tier') assert.deepEqual(t.spec, { order: 100, defaultAction: 'Deny' });
    const d = ok(v3('Tier', { name: 'default' }));
    if (d.kind === 'Tier') assert.deepEqual(d.spec, { order: 1000000, defaultAction: 'Deny' });
    expectIssue(v3('Tier', { name: 'default' }, { order: 5 }), 'spec.order', /fixed/);
    expectIssue(v3('Tier', { name: 'a.b' }), 'metadata.name', /not a valid name/);
    expectIssue(v3('Tier', { name: 't' }, { defaultAction: 'Allow' }), 'spec.defaultAction', /Deny, Pass/);
  });
  test('Profile', () => {
    const p = ok(v3('Profile', { name: 'kns.default' }, { labelsToApply: { role: 'db' }, ingress: [{ action: 'Allow' }] }));
    assert.equal(p.kind, 'Profile');
    ok(v3('Profile', { name: 'empty' }));
  });
});

describe('endpoints', () => {
  test('WorkloadEndpoint name is built from the spec', () => {
    const r = ok(v3('WorkloadEndpoint', { namespace: 'prod' }, { node: 'node-1', orchestrator: 'k8s', pod: 'web-0', endpoint: 'eth0', ipNetworks: ['192.0.2.5'] }));
    assert.equal(r.metadata.name, 'node--1-k8s-web--0-eth0');
    if (r.kind === 'WorkloadEndpoint') {
      assert.equal(r.metadata.namespace, 'prod');
      assert.deepEqual(r.spec.ipNetworks, ['192.0.2.5/32']);
    }
    expectIssue(
      v3('WorkloadEndpoint', { name: 'wrong' }, { node: 'n', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0' }),
      'metadata.name',
      /does not match.*"n-k8s-p-eth0"/,
    );
    expectIssue(v3('WorkloadEndpoint', {}, { node: 'n' }), 'metadata.name', /required/);
    expectIssue(v3('WorkloadEndpoint', { name: 'x' }, { mac: 'zz' }), 'spec.mac', /MAC/);
    expectIssue(v3('WorkloadEndpoint', { name: 'x' }, { interfaceName: 'a-very-long-interface' }), 'spec.interfaceName', /interface name/);
  });
  test('HostEndpoint needs an interface or expected IPs', () => {
    ok(v3('HostEndpoint', { name: 'h' }, { node: 'n', interfaceName: '*' }));
    ok(v3('HostEndpoint', { name: 'h' }, { node: 'n', expectedIPs: ['198.18.0.1'] }));
    expectIssue(v3('HostEndpoint', { name: 'h' }, { node: 'n' }), 'spec.expectedIPs', /required/);
    expectIssue(v3('HostEndpoint', { name: 'h' }, { interfaceName: 'eth0' }), 'spec.node', /required/);
    expectIssue(v3('HostEndpoint', { name: 'h' }, { node: 'n', interfaceName: 'eth0', ports: [{ name: 'ssh', protocol: 'ICMP', port: 22 }] }), 'spec.ports[0].protocol', /TCP, UDP, SCTP/);
  });
});

describe('other kinds', () => {
  test('NetworkSet / GlobalNetworkSet / IPReservation', () => {
    const n = ok(v3('NetworkSet', { name: 'ext' }, { nets: ['198.51.100.0/24', '203.0.113.9'] }));
    if (n.kind === 'NetworkSet') {
      assert.equal(n.metadata.namespace, 'default');
      assert.deepEqual(n.spec.nets, ['198.51.100.0/24', '203.0.113.9/32']);
    }
    expectIssue(v3('GlobalNetworkSet', { name: 'g' }, { nets: ['nope'] }), 'spec.nets[0]', /not a CIDR or IP/);
    ok(v3('IPReservation', { name: 'r' }, { reservedCIDRs: ['192.0.2.0/28'] }));
  });
  test('FelixConfiguration: typed fields, unknown refused', () => {
    ok(v3('FelixConfiguration', { name: 'default' }, { logSeverityScreen: 'Info', ipipEnabled: true, reportingInterval: '30s', failsafeInboundHostPorts: [{ protocol: 'TCP', port: 22 }] }));
    ok(v3('FelixConfiguration', { name: 'node.node-1' }, { defaultEndpointToHostAction: 'Accept' }));
    expectIssue(v3('FelixConfiguration', { name: 'default' }, { reportingInterval: '30 seconds' }), 'spec.reportingInterval', /duration/);
    expectIssue(v3('FelixConfiguration', { name: 'default' }, { ipipEnable: true }), 'spec.ipipEnable', /unknown field/);
    expectIssue(v3('FelixConfiguration', { name: 'default' }, { defaultEndpointToHostAction: 'DROP' }), 'spec.defaultEndpointToHostAction', /Drop, Accept, Return/);
  });
  test('ClusterInformation and IPAMConfiguration', () => {
    ok(v3('ClusterInformation', { name: 'default' }, { clusterGUID: 'abc', datastoreReady: true }));
    const i = ok(v3('IPAMConfiguration', { name: 'default' }));
    assert.deepEqual(i.spec, { strictAffinity: false, maxBlocksPerHost: 0, autoAllocateBlocks: true });
    expectIssue(v3('IPAMConfiguration', { name: 'other' }), 'metadata.name', /"default"/);
    expectIssue(v3('ClusterInformation', { name: 'other' }), 'metadata.name', /"default"/);
  });
  test('several issues are all reported', () => {
    const is = issuesOf(v3('IPPool', { name: 'Bad' }, { cidr: 'x', natOutgoing: 1, extra: true }));
    assert.deepEqual(is.map((i) => i.path).sort(), ['metadata.name', 'spec.cidr', 'spec.extra', 'spec.natOutgoing']);
  });
  test('validated output validates again to itself', () => {
    for (const doc of [
      v3('IPPool', { name: 'p' }, { cidr: '2001:DB8::/64', vxlanMode: 'CrossSubnet' }),
      v3('GlobalNetworkPolicy', { name: 'p' }, { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: ['80'] } }] }),
      v3('BGPConfiguration', { name: 'default' }, { asNumber: '1.1' }),
      v3('WorkloadEndpoint', {}, { node: 'n', orchestrator: 'cni', containerID: 'abc-1', endpoint: 'eth0' }),
    ]) {
      const once = ok(doc);
      assert.deepEqual(ok(once), once);
    }
  });
});
