import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { loadTopologyText, parseTopology } from './topology.ts';
import { execNamespace, hostNs, nsPrefix, underlayNs, workloadNs, type LabState } from './lab.ts';

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
});
