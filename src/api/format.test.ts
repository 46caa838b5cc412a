import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { formatResources, summarizeBatch } from './format.ts';
import { resolveKind, lookupKind } from './kinds.ts';
import { ok, v3 } from './testutil.ts';

const a = ok(v3('IPPool', { name: 'pool-a' }, { cidr: '192.0.2.0/24' }));
const b = ok(v3('IPPool', { name: 'pool-b' }, { cidr: '2001:db8::/64', vxlanMode: 'Always', natOutgoing: true }));

describe('formatResources', () => {
  test('yaml: one object, or a <Kind>List', () => {
    const one = formatResources([a], 'yaml');
    assert.equal(
      one,
      [
        'apiVersion: projectcalico.org/v3',
        'kind: IPPool',
        'metadata:',
        '  name: pool-a',
        'spec:',
        '  allowedUses:',
        '  - Workload',
        '  - Tunnel',
        '  assignmentMode: Automatic',
        '  blockSize: 26',
        '  cidr: 192.0.2.0/24',
        '  disableBGPExport: false',
        '  disabled: false',
        '  ipipMode: Never',
        '  natOutgoing: false',
        '  nodeSelector: all()',
        '  vxlanMode: Never',
        '',
      ].join('\n'),
    );
    const list = YAML.parse(formatResources([a, b], 'yaml'));
    assert.equal(list.kind, 'IPPoolList');
    assert.equal(list.apiVersion, 'projectcalico.org/v3');
    assert.equal(list.items.length, 2);
    const forced = YAML.parse(formatResources([a], 'yaml', { list: true, listResourceVersion: '7' }));
    assert.deepEqual([forced.kind, forced.metadata], ['IPPoolList', { resourceVersion: '7' }]);
    const empty = YAML.parse(formatResources([], 'yaml', { kind: 'IPPool' }));
    assert.deepEqual([empty.kind, empty.items], ['IPPoolList', []]);
  });
  test('json', () => {
    assert.deepEqual(JSON.parse(formatResources([a], 'json')), a);
    const t = ok(v3('Tier', { name: 't' }));
    assert.equal(JSON.parse(formatResources([a, t], 'json')).kind, 'List');
  });
  test('table and wide columns', () => {
    assert.equal(
      formatResources([a, b], 'table'),
      'NAME     CIDR            SELECTOR\npool-a   192.0.2.0/24    all()\npool-b   2001:db8::/64   all()\n',
    );
    const wide = formatResources([a, b], 'wide').split('\n');
    assert.match(wide[0], /^NAME\s+CIDR\s+NAT\s+IPIPMODE\s+VXLANMODE\s+DISABLED\s+DISABLEBGPEXPORT\s+SELECTOR\s+ALLOWEDUSES$/);
    assert.match(wide[2], /^pool-b\s+2001:db8::\/64\s+true\s+Never\s+Always\s+false\s+false\s+all\(\)\s+Workload,Tunnel$/);
    const np = ok(v3('NetworkPolicy', { name: 'p', namespace: 'prod' }, { order: 10 }));
    assert.equal(formatResources([np], 'table', { allNamespaces: true }), 'NAMESPACE   NAME\nprod        p\n');
    assert.equal(formatResources([], 'table', { kind: 'IPPool' }), 'NAME   CIDR   SELECTOR\n');
  });
  test('name', () => {
    assert.equal(formatResources([a, b], 'name'), 'ippool/pool-a\nippool/pool-b\n');
  });
});

test('summarizeBatch as calicoctl', () => {
  const it = (kind: 'IPPool' | 'Tier', status: 'created' | 'skipped') => ({ document: 1, source: '-', kind, name: 'x', status });
  assert.equal(summarizeBatch('create', [it('IPPool', 'created')]), "Successfully created 1 'IPPool' resource(s)\n");
  assert.equal(summarizeBatch('create', [it('IPPool', 'created'), it('Tier', 'created'), it('IPPool', 'skipped')]), "Successfully created 2 resource(s)\nSkipped 1 'IPPool' resource(s) (already exists)\n");
});

describe('kind aliases', () => {
  test('calicoctl aliases resolve', () => {
    const table: [string, string][] = [
      ['ippool', 'IPPool'], ['ippools', 'IPPool'], ['ipp', 'IPPool'], ['pool', 'IPPool'], ['pools', 'IPPool'],
      ['node', 'Node'], ['nodes', 'Node'], ['no', 'Node'],
      ['bgppeer', 'BGPPeer'], ['bgppeers', 'BGPPeer'], ['bp', 'BGPPeer'],
      ['bgpconfig', 'BGPConfiguration'], ['bgpconfigurations', 'BGPConfiguration'],
      ['profile', 'Profile'], ['profiles', 'Profile'], ['pro', 'Profile'],
      ['networkpolicy', 'NetworkPolicy'], ['networkpolicies', 'NetworkPolicy'], ['policy', 'NetworkPolicy'], ['np', 'NetworkPolicy'], ['pol', 'NetworkPolicy'],
      ['globalnetworkpolicy', 'GlobalNetworkPolicy'], ['gnp', 'GlobalNetworkPolicy'],
      ['workloadendpoints', 'WorkloadEndpoint'], ['wep', 'WorkloadEndpoint'],
      ['hostendpoint', 'HostEndpoint'], ['hep', 'HostEndpoint'],
      ['felixconfig', 'FelixConfiguration'], ['felixconfigurations', 'FelixConfiguration'],
      ['networksets', 'NetworkSet'], ['netsets', 'NetworkSet'],
      ['globalnetworkset', 'GlobalNetworkSet'], ['gnetsets', 'GlobalNetworkSet'],
      ['ipreservations', 'IPReservation'], ['tiers', 'Tier'], ['clusterinformation', 'ClusterInformation'],
      ['IPPool', 'IPPool'], ['GNP', 'GlobalNetworkPolicy'], ['ipamconfig', 'IPAMConfiguration'],
    ];
    for (const [alias, kind] of table) assert.equal(resolveKind(alias), kind, alias);
    assert.equal(lookupKind('widgets'), undefined);
    assert.throws(() => resolveKind('widgets'), { code: 'ERR_USAGE' });
  });
});
