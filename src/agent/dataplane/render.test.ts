import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { renderTable, objName, renderRules, Maps, Chains, RenderCache } from './render.ts';
import { diffTable, emptyObserved, observedFromDesired } from './nftdiff.ts';
import { collapseCidrs, ruleHashes } from './nftmodel.ts';
import { sampleModel } from './testmodel.ts';
import { emptyModel, fromHostModel } from './model.ts';
import { emptyHostModel } from '../../policy/index.ts';

const GOLDEN = new URL('../../../test/fixtures/dataplane/', import.meta.url);

/** Golden files: set WEFT_UPDATE_GOLDEN=1 to rewrite them after an intended change. */
function golden(name: string, actual: string): void {
  const url = new URL(name, GOLDEN);
  if (process.env.WEFT_UPDATE_GOLDEN === '1') writeFileSync(url, actual);
  assert.equal(actual, readFileSync(url, 'utf8'), `golden ${name} differs (WEFT_UPDATE_GOLDEN=1 to accept)`);
}

describe('nftables renderer', () => {
  test('golden: sample model → full transaction', () => {
    golden('sample.nft', diffTable(renderTable(sampleModel()), emptyObserved()).script);
  });

  test('golden: empty model still installs dispatch, fail-closed and failsafes', () => {
    golden('empty.nft', diffTable(renderTable(emptyModel()), emptyObserved()).script);
  });

  test('dispatch is by verdict map, never one rule per endpoint', () => {
    const m = sampleModel();
    const t = renderTable(m);
    const fwd = t.chains.get(Chains.forward)!;
    assert.ok(fwd.rules.includes(`iifname vmap @${Maps.wlFrom}`));
    assert.ok(fwd.rules.includes('iifname "cali*" meta mark & 0x00010000 != 0x00010000 drop'));
    assert.equal(fwd.rules.filter((r) => r.includes('cali0')).length, 0);
    assert.deepEqual([...t.sets.get(Maps.wlFrom)!.elements.keys()].sort(), ['cali00000000db', 'cali0000000web']);
  });

  test('anti-spoofing honours allowSpoofedSourcePrefixes; no v6 address → v6 dropped', () => {
    const t = renderTable(sampleModel());
    const db = t.chains.get('fw-cali00000000db')!.rules;
    assert.ok(db.includes('ip saddr != { 192.0.2.3, 198.51.100.0/24 } drop'));
    assert.ok(db.includes('meta nfproto ipv6 drop'));
    const web = t.chains.get('fw-cali0000000web')!.rules;
    assert.ok(web.includes('ip saddr != 192.0.2.2 drop'));
    assert.ok(web.includes('ip6 saddr != 2001:db8::2 drop'));
  });

  test('interface prefixes: every prefix fails closed (OpenStack `tap`)', () => {
    const m = emptyModel({ ...sampleModel().config, interfacePrefixes: ['cali', 'tap'] });
    const fwd = renderTable(m).chains.get(Chains.forward)!.rules;
    assert.equal(fwd.filter((r) => r.endsWith('drop') && (r.includes('"cali*"') || r.includes('"tap*"'))).length, 4);
  });

  test('rules: families follow nets and protocol; ports use the protocol header', () => {
    assert.deepEqual(renderRules([{ action: 'allow', protocol: 6, dstPorts: [{ first: 80, last: 80 }, { first: 8000, last: 8080 }] }], 'c'),
      ['meta l4proto tcp tcp dport { 80, 8000-8080 } meta mark set meta mark | 0x00010000 return']);
    assert.deepEqual(renderRules([{ action: 'deny', srcNets: ['192.0.2.0/24', '192.0.2.7/32', '2001:db8::/64'] }], 'c'),
      ['ip saddr 192.0.2.0/24 drop', 'ip6 saddr 2001:db8::/64 drop']);
    assert.deepEqual(renderRules([{ action: 'deny', protocol: 58, icmpType: 128 }], 'c'), ['meta l4proto ipv6-icmp icmpv6 type 128 drop']);
    assert.deepEqual(renderRules([{ action: 'pass', ipVersion: 4 }], 'c'), ['meta nfproto ipv4 meta mark set meta mark | 0x00020000 return']);
    assert.deepEqual(renderRules([{ action: 'deny', protocol: 1, notICMPType: 8, notICMPCode: 0 }], 'c'),
      ['meta l4proto icmp icmp type . icmp code != 8 . 0 drop']);
  });

  test('adapter from the calc graph HostModel', () => {
    const hm = emptyHostModel('h1');
    hm.config.raw = { interfacePrefix: 'cali,tap' };
    hm.endpoints['ns/w1'] = {
      id: 'ns/w1', name: 'w1', iface: 'cali123', addrs: ['192.0.2.2/32', '2001:db8::2/128'], allowSpoofedSourcePrefixes: [],
      labels: {}, tiers: [], profiles: ['p1'],
    };
    hm.routes['192.0.2.2/32'] = { dst: '192.0.2.2/32', type: 'local-workload', iface: 'cali123', endpoint: 'ns/w1' };
    hm.routes['192.0.2.64/26'] = { dst: '192.0.2.64/26', type: 'remote-block', node: 'h2', via: '198.18.0.2' };
    hm.routes['192.0.2.0/26'] = { dst: '192.0.2.0/26', type: 'blackhole' };
    const m = fromHostModel(hm);
    assert.deepEqual(m.config.interfacePrefixes, ['cali', 'tap']);
    assert.deepEqual(m.endpoints.get('ns/w1')?.ipv6Nets, ['2001:db8::2/128']);
    assert.deepEqual(m.routes.map((r) => r.type).sort(), ['local-block', 'local-workload', 'remote-block']);
  });

  test('property: object names are valid nft identifiers and distinct ids never collide', () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.string({ minLength: 1, maxLength: 80 }), (a, b) => {
      const na = objName('po', a);
      assert.match(na, /^[A-Za-z][A-Za-z0-9_.-]*$/);
      assert.ok(na.length <= 64);
      if (a !== b) assert.notEqual(na, objName('po', b));
    }));
  });

  test('property: collapseCidrs keeps the union and removes contained entries', () => {
    const v4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 })).map(([h, p]) => `192.0.2.${h}/${p}`);
    fc.assert(fc.property(fc.array(v4, { maxLength: 12 }), (list) => {
      const out = collapseCidrs(list, 4);
      const covers = (set: string[], ip: number): boolean => set.some((c) => {
        const [a, p] = c.includes('/') ? c.split('/') : [c, '32'];
        const last = Number(a!.split('.')[3]);
        const size = 2 ** (32 - Number(p));
        return ip >= last && ip < last + size;
      });
      for (let ip = 0; ip < 256; ip++) assert.equal(covers(out, ip), covers(list.map((c) => c.replace(/^(\d+\.\d+\.\d+\.)(\d+)\/(\d+)$/, (_m, pre: string, h: string, p: string) => `${pre}${Number(h) & ~(2 ** (32 - Number(p)) - 1)}/${p}`)), ip));
      assert.equal(new Set(out).size, out.length);
    }));
  });

  test('property: rendering is deterministic and diffing against itself is empty', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), (nEp, nPol) => {
      const m = sampleModel();
      const policies = new Map(m.policies);
      const endpoints = new Map(m.endpoints);
      for (let i = 0; i < nPol; i++) policies.set(`p${i}`, { inbound: [{ action: 'allow', protocol: 6, dstPorts: [{ first: 1000 + i, last: 1000 + i }] }], outbound: [] });
      for (let i = 0; i < nEp; i++) {
        endpoints.set(`e${i}`, { interfaceName: `cali${String(i).padStart(11, '0')}`, ipv4Nets: [`192.0.2.${10 + i}/32`], ipv6Nets: [], tiers: [{ name: 'default', defaultAction: 'deny', ingressPolicies: [...policies.keys()], egressPolicies: [] }], profileIds: [] });
      }
      const mm = { ...m, policies, endpoints };
      const a = renderTable(mm);
      const b = renderTable(mm);
      assert.equal(diffTable(a, observedFromDesired(b)).script, '');
      for (const c of a.chains.values()) assert.equal(new Set(ruleHashes(c)).size, c.rules.length);
    }), { numRuns: 20 });
  });
});

describe('render cache', () => {
  test('property: a cached render equals a fresh render across random model edits', () => {
    const edit = fc.record({
      dropPolicy: fc.boolean(),
      dropProfile: fc.boolean(),
      port: fc.integer({ min: 1, max: 65535 }),
      members: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 5 }),
      addEndpoints: fc.integer({ min: 0, max: 3 }),
      spoof: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(edit, { minLength: 1, maxLength: 8 }), (edits) => {
      const cache = new RenderCache();
      for (const e of edits) {
        const m = sampleModel();
        const policies = new Map(m.policies);
        if (e.dropPolicy) policies.delete('default.deny-80-from-bad');
        else policies.set('default.deny-80-from-bad', { inbound: [{ action: 'deny', protocol: 6, dstPorts: [{ first: e.port, last: e.port }] }], outbound: [] });
        const profiles = new Map(m.profiles);
        if (e.dropProfile) profiles.delete('kns.p1');
        const ipSets = new Map(m.ipSets);
        ipSets.set('s:bad', { type: 'net', members: e.members.map((h) => `192.0.2.${h}`) });
        const endpoints = new Map(m.endpoints);
        for (let i = 0; i < e.addEndpoints; i++) {
          endpoints.set(`x${i}`, { interfaceName: `calix${i}`, ipv4Nets: [`198.51.100.${i}/32`], ipv6Nets: [], tiers: [], profileIds: ['kns.p1'], ...(e.spoof ? { allowSpoofedSourcePrefixes: ['203.0.113.0/24'] } : {}) });
        }
        const mm = { ...m, policies, profiles, ipSets, endpoints };
        assert.equal(diffTable(renderTable(mm, cache), emptyObserved()).script, diffTable(renderTable(mm), emptyObserved()).script);
      }
    }), { numRuns: 40 });
  });
});
