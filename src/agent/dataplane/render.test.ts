import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { renderTable, objName, renderRules, Maps, Chains, RenderCache } from './render.ts';
import { diffTable, emptyObserved, observedFromDesired } from './nftdiff.ts';
import { collapseCidrs, ruleHashes } from './nftmodel.ts';
import { hostEndpointModel, sampleModel } from './testmodel.ts';
import { emptyModel, fromHostModel, type DataplaneModel, type DpHostEndpoint } from './model.ts';
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

/** A copy of `m` with host endpoint `key` replaced (or removed with `undefined`). */
function withHep(m: DataplaneModel, key: string, h: DpHostEndpoint | undefined): DataplaneModel {
  const hostEndpoints = new Map(m.hostEndpoints);
  if (h === undefined) hostEndpoints.delete(key);
  else hostEndpoints.set(key, h);
  return { ...m, hostEndpoints };
}

const ACCEPTED = 'meta mark & 0x00010000 == 0x00010000';
const NOT_ACCEPTED = 'meta mark & 0x00010000 != 0x00010000';

describe('host endpoints: applyOnForward, preDNAT, doNotTrack', () => {
  test('golden: forward (applyOnForward) policy', () => {
    golden('hep-forward.nft', diffTable(renderTable(hostEndpointModel('forward')), emptyObserved()).script);
  });

  test('golden: pre-DNAT policy', () => {
    golden('hep-prednat.nft', diffTable(renderTable(hostEndpointModel('preDNAT')), emptyObserved()).script);
  });

  test('golden: untracked (doNotTrack) policy', () => {
    golden('hep-untracked.nft', diffTable(renderTable(hostEndpointModel('untracked')), emptyObserved()).script);
  });

  test('forward: per-interface verdict maps, skipped when raw/pre-DNAT allowed, workload policy still applies', () => {
    const t = renderTable(hostEndpointModel('forward'));
    const fwd = t.chains.get(Chains.forward)!.rules;
    // No untracked or pre-DNAT stage sets the ACCEPT bit here, so the forward chain clears marks first.
    assert.deepEqual(fwd.slice(0, 2), ['meta mark set meta mark & 0xfffcffff', `${NOT_ACCEPTED} iifname vmap @${Maps.hepFwdFrom}`], 'ingress forward policy first');
    const wl = fwd.indexOf(`iifname vmap @${Maps.wlFrom}`);
    const hepOut = fwd.indexOf(`oifname vmap @${Maps.hepFwdTo}`);
    assert.ok(wl > 0 && hepOut > fwd.indexOf(`oifname vmap @${Maps.wlTo}`), 'order: HEP in → workload out/in → HEP out');
    assert.equal(fwd[wl - 1], 'meta mark set meta mark & 0xfffcffff', 'marks cleared before workload policy: a HEP allow never skips it');
    assert.equal(fwd[hepOut - 1], 'meta mark set meta mark & 0xfffcffff');
    assert.equal(fwd.filter((r) => r.includes('eth0')).length, 0, 'no per-interface rule in the base chain');
    assert.equal(t.sets.get(Maps.hepFwdFrom)!.elements.get('eth0'), 'jump fhfw-eth0');
    assert.equal(t.sets.get(Maps.hepFwdTo)!.elements.get('eth1'), 'jump thfw-eth1');
    const fhfw = t.chains.get('fhfw-eth0')!.rules;
    assert.deepEqual(fhfw.slice(0, 2), ['ct state established,related accept', 'ct state invalid drop']);
    assert.ok(fhfw.includes('meta mark & 0x00020000 != 0x00020000 jump pi-hep-fwd'));
    assert.ok(fhfw.includes('meta mark & 0x00020000 != 0x00020000 drop'), 'end of tier drops');
    assert.ok(!fhfw.some((r) => r.includes('hep-normal')), 'normal (non-applyOnForward) policy is not in the forward chain');
    assert.ok(!fhfw.some((r) => r.includes('failsafe')), 'no failsafes for forwarded traffic');
    assert.equal(fhfw.at(-1), 'meta mark set meta mark | 0x00010000 return', 'nothing denied: allowed');
    // A host endpoint without forward policy allows forwarded traffic (not default deny).
    assert.deepEqual(t.chains.get('fhfw-eth1')!.rules, [
      'ct state established,related accept', 'ct state invalid drop', 'meta mark set meta mark & 0xfffcffff', 'meta mark set meta mark | 0x00010000 return',
    ]);
    // `*`: fallback after the map, for interfaces without their own host endpoint (their chains
    // always return with the ACCEPT bit, so the fallback does not run for them).
    assert.ok(fwd.includes(`${NOT_ACCEPTED} iifname != "lo" jump fhfw-any-interface`));
    assert.ok(fwd.includes(`${NOT_ACCEPTED} oifname != "lo" jump thfw-any-interface`));
    // Normal host policy still only in input/output.
    assert.equal(t.chains.get('fh-eth0')!.rules.filter((r) => r.includes('jump pi-hep-normal')).length, 1);
  });

  test('pre-DNAT: mangle-priority prerouting chain, failsafes first, no end-of-tier drop, allow marks for filter', () => {
    const t = renderTable(hostEndpointModel('preDNAT'));
    const base = t.chains.get(Chains.manglePrerouting)!;
    assert.deepEqual(base.base, { type: 'filter', hook: 'prerouting', priority: 'mangle', policy: 'accept' });
    assert.deepEqual(base.rules, [
      'ct state established,related accept',
      // No untracked stage before it: marks cleared here.
      'meta mark set meta mark & 0xfffcffff',
      `iifname vmap @${Maps.hepPreDnat}`,
      'iifname != "lo" goto fhpd-any-interface',
    ]);
    const c = t.chains.get('fhpd-eth0')!.rules;
    assert.ok(c.indexOf(`jump ${Chains.failsafeIn}`) >= 0 && c.indexOf(`jump ${Chains.failsafeIn}`) < c.findIndex((r) => r.includes('jump pi-')), 'failsafe before policy');
    assert.ok(!c.some((r) => r.endsWith(' drop') && !r.startsWith('ct state invalid')), 'no default drop in pre-DNAT');
    assert.equal(c.at(-1), `${ACCEPTED} return`, 'allow returns with the ACCEPT bit');
    // Interfaces with a host endpoint but no pre-DNAT policy stop the `*` fallback.
    assert.deepEqual(Object.fromEntries(t.sets.get(Maps.hepPreDnat)!.elements), { eth0: 'goto fhpd-eth0', eth1: 'accept' });
    assert.equal(t.chains.get('fhpd-eth1'), undefined);
    // filter-input honours a pre-DNAT (or untracked) allow before normal host policy.
    const input = t.chains.get(Chains.input)!.rules;
    assert.ok(input.indexOf(`${ACCEPTED} accept`) < input.indexOf(`iifname vmap @${Maps.hepFrom}`));
    assert.ok(input.indexOf('iifname "cali*" goto wl-to-host') < input.indexOf(`${ACCEPTED} accept`), 'workload traffic never skips its egress policy');
    // Without a `*` pre-DNAT policy there is no fallback.
    const noStar = renderTable(withHep(hostEndpointModel('preDNAT'), 'all', undefined));
    assert.deepEqual(noStar.chains.get(Chains.manglePrerouting)!.rules.slice(-1), [`iifname vmap @${Maps.hepPreDnat}`]);
  });

  test('stages are installed only when used: no host endpoint = no raw/mangle chains, no HEP forward dispatch, no ACCEPT-bit shortcut', () => {
    const plain = renderTable(emptyModel());
    for (const c of [Chains.rawPrerouting, Chains.rawOutput, Chains.manglePrerouting, Chains.failsafeInRaw, Chains.failsafeOutRaw]) assert.equal(plain.chains.get(c), undefined, c);
    const fwd = plain.chains.get(Chains.forward)!.rules;
    assert.ok(!fwd.some((r) => r.includes('hep-fwd')), 'no host endpoint dispatch in forward');
    assert.ok(!plain.chains.get(Chains.input)!.rules.some((r) => r.startsWith(`${ACCEPTED}`)), 'no ACCEPT-bit shortcut without a stage that sets it');
    assert.ok(!plain.chains.get(Chains.output)!.rules.some((r) => r.startsWith(`${ACCEPTED}`)));
    // Untracked present: raw chains and both shortcuts; pre-DNAT alone: mangle chain, input shortcut only.
    const u = renderTable(hostEndpointModel('untracked'));
    assert.ok(u.chains.get(Chains.rawPrerouting) && u.chains.get(Chains.rawOutput));
    assert.ok(u.chains.get(Chains.output)!.rules.includes(`${ACCEPTED} accept`));
    const d = renderTable(hostEndpointModel('preDNAT'));
    assert.equal(d.chains.get(Chains.rawPrerouting), undefined);
    assert.ok(d.chains.get(Chains.input)!.rules.includes(`${ACCEPTED} accept`));
    assert.ok(!d.chains.get(Chains.output)!.rules.includes(`${ACCEPTED} accept`));
  });

  test('untracked: raw-priority chains, allow = notrack + ACCEPT, no end-of-tier drop, no `*`', () => {
    const t = renderTable(hostEndpointModel('untracked'));
    assert.deepEqual(t.chains.get(Chains.rawPrerouting)!.base, { type: 'filter', hook: 'prerouting', priority: 'raw', policy: 'accept' });
    assert.deepEqual(t.chains.get(Chains.rawOutput)!.base, { type: 'filter', hook: 'output', priority: 'raw', policy: 'accept' });
    const c = t.chains.get('fhnt-eth0')!.rules;
    assert.equal(c[0], `jump ${Chains.failsafeInRaw}`);
    assert.ok(c.includes('meta mark & 0x00020000 != 0x00020000 jump pi-hep-untracked'));
    assert.ok(c.includes(`${ACCEPTED} notrack return`));
    assert.ok(!c.some((r) => r.endsWith('drop')), 'no default drop: normal policy still applies');
    assert.ok(t.chains.get('thnt-eth0')!.rules.includes(`${ACCEPTED} notrack return`));
    assert.deepEqual(Object.fromEntries(t.sets.get(Maps.hepNotrackFrom)!.elements), { eth0: 'goto fhnt-eth0', eth1: 'goto fhnt-eth1' });
    assert.deepEqual(Object.fromEntries(t.sets.get(Maps.hepNotrackTo)!.elements), { eth0: 'goto thnt-eth0' }, 'eth1 has no untracked egress policy');
    assert.equal(t.chains.get('fhnt-any-interface'), undefined, 'doNotTrack on `*` is ignored (felix)');
    assert.equal(t.chains.get('thnt-any-interface'), undefined);
    // Raw failsafes also pass replies (source port of the other direction's failsafes).
    const fsIn = t.chains.get(Chains.failsafeInRaw)!.rules;
    assert.ok(fsIn.some((r) => r.startsWith('meta l4proto . th dport') && r.includes('tcp . 22')));
    assert.ok(fsIn.some((r) => r.startsWith('meta l4proto . th sport') && r.includes('udp . 53')));
    const fsOut = t.chains.get(Chains.failsafeOutRaw)!.rules;
    assert.ok(fsOut.some((r) => r.startsWith('meta l4proto . th sport') && r.includes('tcp . 22')));
    // An untracked egress allow is honoured by filter-output before anything else.
    assert.equal(t.chains.get(Chains.output)!.rules[0], `${ACCEPTED} accept`);
  });

  test('failsafes with a net: raw reply rules match the remote side', () => {
    const m = hostEndpointModel('untracked');
    const t = renderTable({ ...m, config: { ...m.config, failsafeInboundHostPorts: [{ protocol: 'tcp', port: 22, net: '198.51.100.0/24' }], failsafeOutboundHostPorts: [{ protocol: 'udp', port: 53, net: '2001:db8::/64' }] } });
    assert.deepEqual(t.chains.get(Chains.failsafeInRaw)!.rules, [
      'ip saddr 198.51.100.0/24 meta l4proto tcp th dport 22 accept',
      'ip6 saddr 2001:db8::/64 meta l4proto udp th sport 53 accept',
    ]);
    assert.deepEqual(t.chains.get(Chains.failsafeOutRaw)!.rules, [
      'ip6 daddr 2001:db8::/64 meta l4proto udp th dport 53 accept',
      'ip daddr 198.51.100.0/24 meta l4proto tcp th sport 22 accept',
    ]);
  });

  test('incremental: adding pre-DNAT policy to one host endpoint rewrites nothing else', () => {
    const before = hostEndpointModel('preDNAT');
    const eth1 = before.hostEndpoints.get('eth1')!;
    const after = withHep(before, 'eth1', { ...eth1, preDNATTiers: [{ name: 'default', defaultAction: 'deny', ingressPolicies: ['hep-prednat'], egressPolicies: [] }] });
    const { script, stats } = diffTable(renderTable(after), observedFromDesired(renderTable(before)));
    assert.equal(script, [
      'add table inet weft',
      'add chain inet weft fhpd-eth1',
      ...t0(renderTable(after).chains.get('fhpd-eth1')!).map((r) => `add rule inet weft fhpd-eth1 ${r}`),
      'delete element inet weft hep-prednat { "eth1" }',
      'add element inet weft hep-prednat { "eth1" : goto fhpd-eth1 }',
    ].join('\n') + '\n');
    assert.equal(stats.chainsWritten, 1);
    // And back: the chain is swept after its map entry is gone.
    const back = diffTable(renderTable(before), observedFromDesired(renderTable(after))).script.split('\n');
    assert.ok(back.indexOf('add element inet weft hep-prednat { "eth1" : accept }') < back.indexOf('delete chain inet weft fhpd-eth1'));
  });

  test('adapter carries forward, pre-DNAT and untracked tiers', () => {
    const hm = emptyHostModel('h1');
    const tier = (id: string) => [{ name: 'default', defaultAction: 'deny' as const, ingressPolicies: [id], egressPolicies: [] }];
    hm.hostEndpoints.h1eth0 = {
      id: 'h1eth0', iface: 'eth0', expectedIPs: ['198.18.0.1'], labels: {}, profiles: [],
      tiers: tier('n'), forwardTiers: tier('f'), preDNATTiers: tier('p'), untrackedTiers: tier('u'),
    };
    const h = fromHostModel(hm).hostEndpoints.get('h1eth0')!;
    assert.deepEqual([h.tiers, h.forwardTiers, h.preDNATTiers, h.untrackedTiers].map((x) => x?.[0]?.ingressPolicies), [['n'], ['f'], ['p'], ['u']]);
  });
});

/** Rule bodies with their ownership comments, as the diff writes them. */
function t0(c: { name: string; rules: string[] }): string[] {
  const hashes = ruleHashes(c);
  return c.rules.map((r, i) => `${r} comment "weft:${hashes[i]}"`);
}
