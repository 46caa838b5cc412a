import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rib, compare } from './index.ts';
import type { Path, RibPeer } from './index.ts';
import type { PathAttributes, UpdateMessage } from '../packet/index.ts';

const C4 = { fourOctetAs: true };
const LOCAL_AS = 64512;

function upd(nlri: string[], attrs: PathAttributes, withdrawn: string[] = []): UpdateMessage {
  return { type: 'update', withdrawn, attributes: attrs, nlri };
}

const base = (asns: number[], nh: string, extra: PathAttributes = {}): PathAttributes => ({
  origin: 0, asPath: asns.length ? [{ type: 2, asns }] : [], nextHop: nh, ...extra,
});

function setup(opts: { clusterId?: string } = {}) {
  const changes: [string, string | undefined][] = [];
  const rib = new Rib({
    localAs: LOCAL_AS, routerId: '198.18.0.1', ...opts,
    onBestChange: (prefix, best) => changes.push([prefix, best?.nextHop]),
  });
  const peer = (address: string, asn: number, extra: { rrClient?: boolean; nextHopSelf?: boolean; allowLocalAs?: number } = {}): RibPeer => {
    const p = rib.addPeer({ id: address, address, asn, ...extra });
    rib.peerUp(address, { routerId: address, localAddress: '198.18.0.1', families: [1, 2] });
    rib.collect(address);
    return p;
  };
  const out = (id: string) => {
    const b = rib.collect(id);
    const ann: Record<string, PathAttributes> = {};
    for (const f of [b?.v4, b?.v6]) for (const [a, ps] of f?.groups ?? []) for (const x of ps) ann[x] = a;
    return { ann, wd: [...(b?.v4.withdraw ?? []), ...(b?.v6.withdraw ?? [])] };
  };
  return { rib, peer, out, changes };
}

describe('rib: decision process (RFC 4271 §9.1.2.2, RFC 4456 §9)', () => {
  const P = (peer: Partial<RibPeer> | null, attrs: PathAttributes): Path => ({
    peer: peer === null ? null : { address: '198.18.0.9', ebgp: false, routerId: '198.18.0.9', ...peer } as RibPeer,
    attrs, nextHop: '198.18.0.9', afi: 1, epoch: 0,
  });
  const cases: { name: string; a: Path; b: Path; reason: string }[] = [
    { name: 'higher LOCAL_PREF', a: P({}, { localPref: 200, asPath: [{ type: 2, asns: [1, 2, 3] }] }), b: P({}, { localPref: 100 }), reason: 'local-pref' },
    { name: 'locally originated', a: P(null, { asPath: [{ type: 2, asns: [1, 2] }] }), b: P({}, { asPath: [] }), reason: 'local-origin' },
    { name: 'shorter AS_PATH (AS_SET counts 1)', a: P({}, { asPath: [{ type: 2, asns: [1] }, { type: 1, asns: [5, 6, 7] }] }), b: P({}, { asPath: [{ type: 2, asns: [1, 2, 3] }] }), reason: 'as-path' },
    { name: 'lower ORIGIN', a: P({}, { origin: 0 }), b: P({}, { origin: 2 }), reason: 'origin' },
    { name: 'lower MED, same neighbour AS', a: P({}, { asPath: [{ type: 2, asns: [7] }], med: 5 }), b: P({}, { asPath: [{ type: 2, asns: [7] }], med: 10 }), reason: 'med' },
    { name: 'MED ignored across neighbour ASes → eBGP wins', a: P({ ebgp: true }, { asPath: [{ type: 2, asns: [8] }], med: 50 }), b: P({}, { asPath: [{ type: 2, asns: [7] }], med: 10 }), reason: 'ebgp-over-ibgp' },
    { name: 'lower ORIGINATOR_ID stands for router id', a: P({ routerId: '198.18.0.200' }, { originatorId: '198.18.0.3' }), b: P({ routerId: '198.18.0.4' }, {}), reason: 'router-id' },
    { name: 'shorter CLUSTER_LIST', a: P({}, { originatorId: '198.18.0.3', clusterList: ['198.18.0.7'] }), b: P({}, { originatorId: '198.18.0.3', clusterList: ['198.18.0.7', '198.18.0.8'] }), reason: 'cluster-list' },
    { name: 'lower peer address', a: P({ address: '198.18.0.2' }, {}), b: P({ address: '198.18.0.3' }, {}), reason: 'peer-address' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepStrictEqual(compare(c.a, c.b), { winner: c.a, reason: c.reason });
      assert.deepStrictEqual(compare(c.b, c.a), { winner: c.a, reason: c.reason });
    });
  }
});

describe('rib: import/export', () => {
  test('iBGP split horizon; eBGP gets AS prepended, next hop self, no LOCAL_PREF/MED', () => {
    const { rib, peer, out } = setup();
    peer('198.18.0.2', LOCAL_AS);
    peer('198.18.0.3', LOCAL_AS);
    peer('198.18.0.4', 65001);
    rib.applyUpdate('198.18.0.2', upd(['192.0.2.0/24'], base([], '198.18.0.2', { localPref: 150, med: 7 })), C4);
    assert.deepStrictEqual(out('198.18.0.3').ann, {});
    assert.deepStrictEqual(out('198.18.0.4').ann['192.0.2.0/24'], { origin: 0, asPath: [{ type: 2, asns: [LOCAL_AS] }], nextHop: '198.18.0.1' });
    assert.deepStrictEqual(out('198.18.0.2').ann, {}); // never back to the sender
    // eBGP-learned → iBGP keeps next hop, gains LOCAL_PREF 100; → other eBGP drops its MED.
    peer('198.18.0.5', 65002);
    rib.applyUpdate('198.18.0.4', upd(['198.51.100.0/24'], base([65001], '198.18.0.4', { med: 3, localPref: 999 })), C4);
    assert.deepStrictEqual(out('198.18.0.3').ann['198.51.100.0/24'], { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '198.18.0.4', med: 3, localPref: 100 });
    assert.deepStrictEqual(out('198.18.0.5').ann['198.51.100.0/24'], { origin: 0, asPath: [{ type: 2, asns: [LOCAL_AS, 65001] }], nextHop: '198.18.0.1' });
  });

  test('route reflection: client routes go everywhere with ORIGINATOR_ID/CLUSTER_LIST, non-client routes only to clients', () => {
    const { rib, peer, out } = setup({ clusterId: '198.18.0.100' });
    peer('198.18.0.2', LOCAL_AS, { rrClient: true });
    peer('198.18.0.3', LOCAL_AS, { rrClient: true });
    peer('198.18.0.4', LOCAL_AS); // non-client
    peer('198.18.0.6', LOCAL_AS); // non-client
    rib.applyUpdate('198.18.0.2', upd(['192.0.2.0/24'], base([], '198.18.0.2', { localPref: 100 })), C4);
    const want = { origin: 0, asPath: [], nextHop: '198.18.0.2', localPref: 100, originatorId: '198.18.0.2', clusterList: ['198.18.0.100'] };
    assert.deepStrictEqual(out('198.18.0.3').ann['192.0.2.0/24'], want);
    assert.deepStrictEqual(out('198.18.0.4').ann['192.0.2.0/24'], want);
    rib.applyUpdate('198.18.0.4', upd(['203.0.113.0/24'], base([], '198.18.0.4', { localPref: 100 })), C4);
    assert.ok(out('198.18.0.3').ann['203.0.113.0/24']);
    assert.equal(out('198.18.0.6').ann['203.0.113.0/24'], undefined);
  });

  test('loop detection: own AS (eBGP), own ORIGINATOR_ID or CLUSTER_ID (iBGP) are not accepted', () => {
    const { rib, peer } = setup();
    peer('198.18.0.2', LOCAL_AS);
    peer('198.18.0.4', 65001);
    rib.applyUpdate('198.18.0.4', upd(['192.0.2.0/24'], base([65001, LOCAL_AS], '198.18.0.4')), C4);
    rib.applyUpdate('198.18.0.2', upd(['198.51.100.0/24'], base([], '198.18.0.2', { originatorId: '198.18.0.1' })), C4);
    rib.applyUpdate('198.18.0.2', upd(['203.0.113.0/24'], base([], '198.18.0.2', { clusterList: ['198.18.0.1'] })), C4);
    assert.equal(rib.loc.size, 0);
  });

  describe('allow local AS (Calico numAllowedLocalASNumbers, BIRD `allow local as N`)', () => {
    // Prefixes from 192.0.2.0/24: a control with no own AS, then 1, 2 and 3 occurrences of it.
    const paths: [string, PathAttributes['asPath']][] = [
      ['192.0.2.0/26', [{ type: 2, asns: [65001, 65010] }]],
      ['192.0.2.64/26', [{ type: 2, asns: [65001, LOCAL_AS] }]],
      ['192.0.2.128/26', [{ type: 2, asns: [65001, LOCAL_AS, 65010, LOCAL_AS] }]],
      ['192.0.2.192/26', [{ type: 2, asns: [65001, LOCAL_AS, LOCAL_AS] }, { type: 1, asns: [65020, LOCAL_AS] }]],
    ];
    const accepted = (allowLocalAs: number | undefined): string[] => {
      const { rib, peer } = setup();
      peer('198.18.0.4', 65001, allowLocalAs === undefined ? {} : { allowLocalAs });
      for (const [prefix, asPath] of paths) rib.applyUpdate('198.18.0.4', upd([prefix], { origin: 0, asPath, nextHop: '198.18.0.4' }), C4);
      return [...rib.loc.keys()].sort();
    };
    test('default (0) drops every path holding our AS', () => {
      assert.deepStrictEqual(accepted(undefined), ['192.0.2.0/26']);
      assert.deepStrictEqual(accepted(0), ['192.0.2.0/26']);
    });
    test('N = 1 accepts one occurrence, drops two', () => {
      assert.deepStrictEqual(accepted(1), ['192.0.2.0/26', '192.0.2.64/26']);
    });
    test('AS_SET members count like sequence members (3 occurrences need N = 3)', () => {
      assert.deepStrictEqual(accepted(2), ['192.0.2.0/26', '192.0.2.128/26', '192.0.2.64/26']);
      assert.deepStrictEqual(accepted(3), paths.map(([p]) => p).sort());
    });
    test('counted after AS4_PATH is merged for a 2-octet session (RFC 6793)', () => {
      const big = 4200000001; // our AS does not fit in 2 octets: AS_PATH carries AS_TRANS, AS4_PATH the real one
      const mk = (allowLocalAs: number): Rib => {
        const rib = new Rib({ localAs: big, routerId: '198.18.0.1' });
        rib.addPeer({ id: 'x', address: '198.18.0.4', asn: 65001, allowLocalAs });
        rib.peerUp('x', { routerId: '198.18.0.4', localAddress: '198.18.0.1', families: [1] });
        const attrs: PathAttributes = {
          origin: 0, nextHop: '198.18.0.4',
          asPath: [{ type: 2, asns: [65001, 23456, 23456] }],
          as4Path: [{ type: 2, asns: [big, 4200000002] }],
        };
        rib.applyUpdate('x', upd(['198.51.100.0/24'], attrs), { fourOctetAs: false });
        return rib;
      };
      assert.equal(mk(0).loc.size, 0);
      assert.equal(mk(1).loc.size, 1);
      // On a 4-octet session AS4_PATH is not merged (§4.1), so only AS_PATH counts.
      const rib = new Rib({ localAs: big, routerId: '198.18.0.1' });
      rib.addPeer({ id: 'x', address: '198.18.0.4', asn: 65001 });
      rib.peerUp('x', { routerId: '198.18.0.4', localAddress: '198.18.0.1', families: [1] });
      rib.applyUpdate('x', upd(['198.51.100.0/24'], { origin: 0, nextHop: '198.18.0.4', asPath: [{ type: 2, asns: [65001, big] }] }), C4);
      assert.equal(rib.loc.size, 0);
    });
    test('per peer: another eBGP peer keeps the strict check', () => {
      const { rib, peer } = setup();
      peer('198.18.0.4', 65001, { allowLocalAs: 1 });
      peer('198.18.0.5', 65002);
      rib.applyUpdate('198.18.0.4', upd(['198.51.100.0/24'], base([65001, LOCAL_AS], '198.18.0.4')), C4);
      rib.applyUpdate('198.18.0.5', upd(['203.0.113.0/24'], base([65002, LOCAL_AS], '198.18.0.5')), C4);
      assert.deepStrictEqual([...rib.loc.keys()], ['198.51.100.0/24']);
    });
    test('a route that becomes a loop replaces (withdraws) the accepted one', () => {
      const { rib, peer, changes } = setup();
      peer('198.18.0.4', 65001, { allowLocalAs: 1 });
      rib.applyUpdate('198.18.0.4', upd(['198.51.100.0/24'], base([65001, LOCAL_AS], '198.18.0.4')), C4);
      rib.applyUpdate('198.18.0.4', upd(['198.51.100.0/24'], base([65001, LOCAL_AS, LOCAL_AS], '198.18.0.4')), C4);
      assert.deepStrictEqual(changes, [['198.51.100.0/24', '198.18.0.4'], ['198.51.100.0/24', undefined]]);
    });
  });

  test('treat-as-withdraw removes a previously learned route; withdrawals and best changes reported', () => {
    const { rib, peer, changes } = setup();
    peer('198.18.0.2', LOCAL_AS);
    peer('198.18.0.3', LOCAL_AS);
    rib.applyUpdate('198.18.0.2', upd(['192.0.2.0/24'], base([], '198.18.0.2')), C4);
    rib.applyUpdate('198.18.0.3', upd(['192.0.2.0/24'], base([], '198.18.0.3', { localPref: 200 })), C4);
    rib.applyUpdate('198.18.0.3', { ...upd(['192.0.2.0/24'], {}), treatAsWithdraw: true }, C4);
    rib.applyUpdate('198.18.0.2', upd([], {}, ['192.0.2.0/24']), C4);
    assert.deepStrictEqual(changes, [['192.0.2.0/24', '198.18.0.2'], ['192.0.2.0/24', '198.18.0.3'], ['192.0.2.0/24', '198.18.0.2'], ['192.0.2.0/24', undefined]]);
  });

  test('IPv6 via MP_REACH; exported with our IPv4-mapped next hop when the session is IPv4', () => {
    const { rib, peer, out } = setup();
    peer('198.18.0.4', 65001);
    peer('198.18.0.5', 65002);
    rib.applyUpdate('198.18.0.4', upd([], { origin: 0, asPath: [{ type: 2, asns: [65001] }], mpReach: { afi: 2, safi: 1, nextHops: ['2001:db8::4'], nlri: ['2001:db8:1::/48'] } }), C4);
    assert.equal(rib.best('2001:db8:1::/48')?.nextHop, '2001:db8::4');
    assert.equal(out('198.18.0.5').ann['2001:db8:1::/48'].nextHop, '::ffff:198.18.0.1');
    rib.applyUpdate('198.18.0.4', upd([], { mpUnreach: { afi: 2, safi: 1, withdrawn: ['2001:db8:1::/48'] } }), C4);
    assert.deepStrictEqual(out('198.18.0.5').wd, ['2001:db8:1::/48']);
  });

  test('local routes are announced with next hop self and withdrawn', () => {
    const { rib, peer, out } = setup();
    peer('198.18.0.2', LOCAL_AS);
    rib.originate('192.0.2.0/26');
    assert.deepStrictEqual(out('198.18.0.2').ann['192.0.2.0/26'], { origin: 0, asPath: [], nextHop: '198.18.0.1', localPref: 100 });
    rib.withdrawLocal('192.0.2.0/26');
    assert.deepStrictEqual(out('198.18.0.2').wd, ['192.0.2.0/26']);
  });

  test('graceful restart helper: stale routes kept, refreshed ones kept, rest swept', () => {
    const { rib, peer } = setup();
    const p = peer('198.18.0.2', LOCAL_AS);
    rib.applyUpdate('198.18.0.2', upd(['192.0.2.0/24', '198.51.100.0/24'], base([], '198.18.0.2')), C4);
    rib.markStale('198.18.0.2');
    assert.equal(rib.loc.size, 2);
    rib.peerUp('198.18.0.2', { routerId: '198.18.0.2', localAddress: '198.18.0.1', families: [1] });
    rib.applyUpdate('198.18.0.2', upd(['192.0.2.0/24'], base([], '198.18.0.2')), C4);
    assert.equal(p.staleCount, 1);
    assert.equal(rib.sweepStale('198.18.0.2'), 1);
    assert.deepStrictEqual([...rib.loc.keys()], ['192.0.2.0/24']);
    assert.equal(p.received, 1);
  });

  test('End-of-RIB is owed after the first full sync', () => {
    const { rib } = setup();
    rib.addPeer({ id: 'x', address: '198.18.0.2', asn: LOCAL_AS });
    rib.peerUp('x', { routerId: '198.18.0.2', localAddress: '198.18.0.1', families: [1, 2] });
    assert.deepStrictEqual(rib.collect('x')?.endOfRib, [1, 2]);
    assert.deepStrictEqual(rib.collect('x')?.endOfRib, []);
  });
});
