import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from './render.ts';
import { diffTable, emptyObserved, observedFromDesired, observedFromJson } from './nftdiff.ts';
import { sampleModel } from './testmodel.ts';
import type { NftJsonObject } from '../netlink/index.ts';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

describe('nftables diff', () => {
  test('changing one policy rewrites only its chain', () => {
    const before = sampleModel();
    const after = sampleModel();
    const policies = new Map(after.policies);
    policies.set('default.deny-80-from-bad', { inbound: [{ action: 'deny', protocol: 6, dstPorts: [{ first: 81, last: 81 }] }], outbound: [] });
    const d = diffTable(renderTable({ ...after, policies }), observedFromDesired(renderTable(before)));
    assert.deepEqual(d.stats, { chainsWritten: 1, chainsDeleted: 0, setsCreated: 0, setsDeleted: 0, elementsAdded: 0, elementsDeleted: 0 });
    assert.deepEqual(lines(d.script).slice(0, 2), ['add table inet weft', 'flush chain inet weft pi-default.deny-80-from-bad']);
  });

  test('adding an endpoint adds its chains and map elements, nothing else', () => {
    const before = sampleModel();
    const endpoints = new Map(before.endpoints);
    endpoints.set('new', { interfaceName: 'cali000000000nw', ipv4Nets: ['192.0.2.9/32'], ipv6Nets: [], tiers: [], profileIds: ['kns.p1'] });
    const d = diffTable(renderTable({ ...before, endpoints }), observedFromDesired(renderTable(before)));
    assert.equal(d.stats.chainsWritten, 2);
    assert.equal(d.stats.elementsAdded, 2);
    assert.ok(d.script.includes('add element inet weft wl-from { "cali000000000nw" : jump fw-cali000000000nw }'));
    assert.ok(!d.script.includes('flush chain'));
  });

  test('removing an endpoint: map elements go before chains are flushed and deleted', () => {
    const before = sampleModel();
    const endpoints = new Map(before.endpoints);
    endpoints.delete('db');
    const d = diffTable(renderTable({ ...before, endpoints }), observedFromDesired(renderTable(before)));
    const l = lines(d.script);
    const delEl = l.findIndex((x) => x.startsWith('delete element inet weft wl-from'));
    const flush = l.indexOf('flush chain inet weft fw-cali00000000db');
    const del = l.indexOf('delete chain inet weft fw-cali00000000db');
    assert.ok(delEl > 0 && flush > delEl && del > flush, d.script);
    assert.equal(d.stats.chainsDeleted, 2);
  });

  test('set membership changes are element deltas', () => {
    const before = sampleModel();
    const ipSets = new Map(before.ipSets);
    ipSets.set('s:p1-members', { type: 'net', members: ['192.0.2.2', '192.0.2.5'] });
    const d = diffTable(renderTable({ ...before, ipSets }), observedFromDesired(renderTable(before)));
    assert.deepEqual(lines(d.script).slice(1), [
      'delete element inet weft s4-s_p1-members-7d9ec586 { 192.0.2.3 }',
      'add element inet weft s4-s_p1-members-7d9ec586 { 192.0.2.5 }',
    ]);
  });

  test('mark and sweep: unknown chains and sets in Weft\'s table are deleted; foreign rules force a rewrite', () => {
    const desired = renderTable(sampleModel());
    const obs = observedFromDesired(desired);
    obs.chains.set('stale-chain', { base: false, hashes: ['x'] });
    obs.sets.set('stale-set', { kind: 'set', type: 'ipv4_addr', elements: new Map() });
    obs.chains.get('failsafe-in')!.hashes.push('foreign:12');
    const d = diffTable(desired, obs);
    assert.ok(d.script.includes('delete chain inet weft stale-chain'));
    assert.ok(d.script.includes('delete set inet weft stale-set'));
    assert.ok(d.script.includes('flush chain inet weft failsafe-in'));
  });

  test('no table at all → full creation; empty diff when equal', () => {
    const desired = renderTable(sampleModel());
    assert.ok(diffTable(desired, emptyObserved()).script.startsWith('add table inet weft\n'));
    assert.equal(diffTable(desired, observedFromDesired(desired)).script, '');
  });

  test('observedFromJson reads rules by comment, vmaps and prefix/concat elements', () => {
    const json: NftJsonObject[] = [
      { table: { family: 'inet', name: 'weft' } },
      { chain: { family: 'inet', table: 'weft', name: 'c1' } },
      { chain: { family: 'inet', table: 'weft', name: 'filter-forward', hook: 'forward' } },
      { rule: { family: 'inet', table: 'weft', chain: 'c1', handle: 3, comment: 'weft:abc' } },
      { rule: { family: 'inet', table: 'weft', chain: 'c1', handle: 4 } },
      { set: { family: 'inet', table: 'weft', name: 's', type: 'ipv4_addr', elem: ['192.0.2.1', { prefix: { addr: '192.0.2.0', len: 26 } }] } },
      { set: { family: 'inet', table: 'weft', name: 'n', type: ['ipv4_addr', 'inet_proto', 'inet_service'], elem: [{ concat: ['192.0.2.2', 'tcp', 80] }] } },
      { map: { family: 'inet', table: 'weft', name: 'm', type: 'ifname', map: 'verdict', elem: [['cali1', { jump: { target: 'fw-cali1' } }]] } },
    ];
    const o = observedFromJson(json, 'inet', 'weft');
    assert.deepEqual(o.chains.get('c1'), { base: false, hashes: ['abc', 'foreign:4'] });
    assert.equal(o.chains.get('filter-forward')?.base, true);
    assert.deepEqual([...o.sets.get('s')!.elements.keys()], ['192.0.2.1', '192.0.2.0/26']);
    assert.deepEqual([...o.sets.get('n')!.elements.keys()], ['192.0.2.2 . tcp . 80']);
    assert.equal(o.sets.get('n')!.type, 'ipv4_addr . inet_proto . inet_service');
    assert.deepEqual([...o.sets.get('m')!.elements], [['cali1', 'jump fw-cali1']]);
    assert.equal(o.sets.get('m')!.type, 'ifname : verdict');
  });
});
