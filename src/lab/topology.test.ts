import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadTopology, loadTopologyText, parseTopology } from './topology.ts';
import { fileURLToPath } from 'node:url';
import { execNamespace, hostNs, isDualStack, labPools, nsPrefix, underlayNs, workloadNs, type LabState } from './lab.ts';
import { hostAddress4, hostAddress6, LAB_UNDERLAY6 } from './topology.ts';
import { cidrContainsIP, parseCIDR, parseIP } from '../lib/ip.ts';

describe('lab topology', () => {
  test('the example from the issue parses, with defaults', () => {
    const t = parseTopology(`
name: demo
datastore: sqlite
hosts: [{name: h1}, {name: h2, asNumber: 64513, labels: {rack: b}}]
workloads:
  - {name: w1, host: h1, ip: 192.0.2.2, labels: {role: web}, profiles: [p1]}
  - {name: w2, host: h2, labels: {role: db}}
`);
    assert.equal(t.name, 'demo');
    assert.equal(t.hosts[1]!.asNumber, 64513);
    assert.equal(t.workloads[1]!.ip, undefined);
  });

  test('addresses outside the documentation ranges, unknown hosts, duplicates are refused', () => {
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nworkloads: [{name: w1, host: h1, ip: 100.64.0.1}]'), /must lie inside/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\npools: [{cidr: 240.0.0.0/16}]'), /must lie inside/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nworkloads: [{name: w1, host: h9}]'), /unknown host h9/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}, {name: h1}]'), /duplicate host/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nworkloads: [{name: h1, host: h1}]'), /duplicate name/);
    assert.throws(() => parseTopology('name: a-b\nhosts: [{name: h1}]'), /name/);
    assert.throws(() => parseTopology('name: x\nhosts: []'), /hosts/);
    assert.throws(() => parseTopology('name: [x'), /ERR_PARSE|topology/);
  });

  test('inline resources become manifests; namespace names never overlap between labs', () => {
    const l = loadTopologyText('name: x\nhosts: [{name: h1}]\nresources: [{kind: Profile, metadata: {name: p1}}]');
    assert.equal(l.manifests.length, 1);
    assert.match(l.manifests[0]!.text, /"Profile"/);
    assert.ok(hostNs('a', 'b').startsWith(nsPrefix('a')));
    assert.ok(!hostNs('ab', 'c').startsWith(nsPrefix('a')));
    assert.notEqual(underlayNs('a'), hostNs('a', 'underlay'));
    assert.notEqual(workloadNs('a', 'w'), hostNs('a', 'w'));
    const state = { name: 'x', hosts: [{ name: 'h1', ns: 'weft-x-h1' }], workloads: [{ name: 'w1', ns: 'weft-x--w-w1' }] } as unknown as LabState;
    assert.equal(execNamespace(state, 'w1'), 'weft-x--w-w1');
    assert.equal(execNamespace(state, 'h1'), 'weft-x-h1');
    assert.throws(() => execNamespace(state, 'nope'), /no host or workload/);
  });

  test('dual stack: ipv6 explicit or inferred; default pools per family; the IPv6 underlay is kept out of pools', () => {
    const load = (extra: string, resources: Record<string, unknown>[] = []): ReturnType<typeof loadTopologyText> =>
      loadTopologyText(`name: x\nhosts: [{name: h1}]\n${extra}\n${resources.length > 0 ? `resources: ${JSON.stringify(resources)}` : ''}`);
    const cidrs = (l: ReturnType<typeof loadTopologyText>): string[] => labPools(l, isDualStack(l)).map((p) => p.cidr);
    // Single stack by default: the IPv4 default pool only.
    assert.equal(isDualStack(load('')), false);
    assert.deepEqual(cidrs(load('')), ['192.0.2.0/24']);
    // ipv6: true adds the default IPv6 pool (Calico's /122 blocks).
    const ds = load('ipv6: true');
    assert.equal(isDualStack(ds), true);
    assert.deepEqual(labPools(ds, true), [{ cidr: '192.0.2.0/24', blockSize: 26 }, { cidr: '2001:db8:1::/112', blockSize: 122 }]);
    // Inferred from an IPv6 pool (topology or resources, v3 or v1) or a workload ip6; explicit false wins.
    assert.equal(isDualStack(load('pools: [{cidr: "2001:db8:2::/112"}]')), true);
    assert.deepEqual(cidrs(load('pools: [{cidr: "2001:db8:2::/112"}]')), ['2001:db8:2::/112'], 'an explicit pools list is complete');
    assert.deepEqual(cidrs(load('pools: []')), [], 'pools: [] = no pool (make demo creates the seed pool itself)');
    const v3pool = { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p6' }, spec: { cidr: '2001:db8:3::/112' } };
    assert.equal(isDualStack(load('', [v3pool])), true);
    assert.deepEqual(cidrs(load('', [v3pool])), ['192.0.2.0/24'], 'the resources bring the IPv6 pool: no default one');
    const v1pool = { apiVersion: 'v1', kind: 'ipPool', metadata: { cidr: '198.51.100.0/24' } };
    assert.deepEqual(cidrs(load('ipv6: true', [v1pool])), ['2001:db8:1::/112'], 'a seed v1 ipPool is an IPv4 pool: no default IPv4 pool');
    assert.equal(isDualStack(load('workloads: [{name: w1, host: h1, ip6: "2001:db8:1::5"}]')), true);
    assert.equal(isDualStack(load('ipv6: false\npools: [{cidr: "2001:db8:2::/112"}]')), false);
    // Underlay addressing mirrors IPv4 (same digits); pools and addresses may not touch it.
    assert.equal(hostAddress4(9), '198.18.0.10');
    assert.equal(hostAddress6(9), '2001:db8:ffff::10');
    for (let i = 0; i < 200; i++) assert.ok(cidrContainsIP(parseCIDR(LAB_UNDERLAY6)!, parseIP(hostAddress6(i))!));
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\npools: [{cidr: "2001:db8:ffff::/112"}]'), /underlay/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\npools: [{cidr: "2001:db8::/32"}]'), /underlay/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nworkloads: [{name: w1, host: h1, ip6: "2001:db8:ffff::9"}]'), /underlay/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nworkloads: [{name: w1, host: h1, ip6: 192.0.2.9}]'), /IPv6/);
    assert.throws(() => parseTopology('name: x\nhosts: [{name: h1}]\nworkloads: [{name: w1, host: h1, ip: "2001:db8:1::9"}]'), /IPv4/);
  });

  test('examples/lab-dualstack.yaml is a valid dual-stack topology', () => {
    const l = loadTopology(fileURLToPath(new URL('../../examples/lab-dualstack.yaml', import.meta.url)));
    assert.equal(isDualStack(l), true);
    assert.deepEqual(labPools(l, true).map((p) => p.cidr), ['192.0.2.0/24', '2001:db8:1::/112']);
    assert.equal(l.topology.workloads.filter((w) => w.ip6 !== undefined).length, 1);
  });
});
