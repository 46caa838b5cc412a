import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { computeBgpPlan, durationSeconds, samePeer, splitPeerIP, PeerTypes, type BgpNode, type BgpPeerResource } from './peers.ts';
import { computeExports } from './exports.ts';
import { formatNodeStatus } from './status.ts';
import { familyFilter, nodeFromResource, peerFromResource, configFromResource } from './agent.ts';

const node = (name: string, ipv4: string, extra: Partial<BgpNode> = {}): BgpNode => ({ name, labels: {}, ipv4, ...extra });
const nodes = (...ns: BgpNode[]): Map<string, BgpNode> => new Map(ns.map((n) => [n.name, n]));

describe('computeBgpPlan', () => {
  const three = nodes(node('h1', '198.18.0.1'), node('h2', '198.18.0.2'), node('h3', '198.18.0.3', { asNumber: 64600 }));

  test('full mesh by default; lower address active, higher passive; AS from node else config else 64512', () => {
    const p1 = computeBgpPlan('h1', three, [], {});
    assert.equal(p1.speaker?.asn, 64512);
    assert.equal(p1.speaker?.routerId, '198.18.0.1');
    assert.equal(p1.speaker?.listenPort, 179);
    assert.deepEqual(p1.peers.map((p) => [p.address, p.asn, p.passive, p.type]), [
      ['198.18.0.2', 64512, false, PeerTypes.mesh],
      ['198.18.0.3', 64600, false, PeerTypes.mesh],
    ]);
    const p2 = computeBgpPlan('h2', three, [], { asNumber: 65000 });
    assert.equal(p2.speaker?.asn, 65000);
    assert.deepEqual(p2.peers.map((p) => [p.address, p.passive]), [['198.18.0.1', true], ['198.18.0.3', false]]);
    // Exactly one side of every pair is active.
    for (const [a, b] of [['h1', 'h2'], ['h1', 'h3'], ['h2', 'h3']]) {
      const pa = computeBgpPlan(a, three, [], {}).peers.find((p) => p.peerNode === b)!;
      const pb = computeBgpPlan(b, three, [], {}).peers.find((p) => p.peerNode === a)!;
      assert.notEqual(pa.passive, pb.passive, `${a}-${b}`);
    }
  });

  test('numeric, not lexical, address order decides the passive side', () => {
    const ns = nodes(node('a', '198.18.0.9'), node('b', '198.18.0.10'));
    assert.equal(computeBgpPlan('a', ns, [], {}).peers[0].passive, false);
    assert.equal(computeBgpPlan('b', ns, [], {}).peers[0].passive, true);
  });

  test('no Node or no IPv4 address: no speaker', () => {
    assert.equal(computeBgpPlan('x', three, [], {}).speaker, undefined);
    assert.equal(computeBgpPlan('h', nodes({ name: 'h', labels: {} }), [], {}).speaker, undefined);
  });

  test('mesh off + route reflector via peerSelector: clients peer only with the RR, RR with every client', () => {
    const ns = nodes(
      node('h1', '198.18.0.1', { labels: { 'route-reflector': 'true' }, routeReflectorClusterID: '244.0.0.1' }),
      node('h2', '198.18.0.2'), node('h3', '198.18.0.3'),
    );
    const peers: BgpPeerResource[] = [{ name: 'peer-with-rr', nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" }];
    const rr = computeBgpPlan('h1', ns, peers, { nodeToNodeMeshEnabled: false });
    assert.equal(rr.speaker?.clusterId, '244.0.0.1');
    assert.deepEqual(rr.peers.map((p) => [p.address, p.rrClient, p.type, p.source]), [
      ['198.18.0.2', true, PeerTypes.node, 'peer-with-rr'],
      ['198.18.0.3', true, PeerTypes.node, 'peer-with-rr'],
    ]);
    const c = computeBgpPlan('h2', ns, peers, { nodeToNodeMeshEnabled: false });
    assert.equal(c.speaker?.clusterId, undefined);
    assert.deepEqual(c.peers.map((p) => [p.address, p.rrClient, p.passive]), [['198.18.0.1', false, true]]);
    // Two RRs of the same cluster are not each other's clients.
    const two = nodes(node('r1', '198.18.0.1', { routeReflectorClusterID: '244.0.0.1', labels: { rr: 'y' } }), node('r2', '198.18.0.2', { routeReflectorClusterID: '244.0.0.1', labels: { rr: 'y' } }));
    const pr = computeBgpPlan('r1', two, [{ name: 'p', peerSelector: 'has(rr)' }], { nodeToNodeMeshEnabled: false });
    assert.deepEqual(pr.peers.map((p) => [p.address, p.rrClient]), [['198.18.0.2', false]]);
  });

  test('global and node-specific peerIP peers; ports; node-specific wins over mesh for the same address', () => {
    const peers: BgpPeerResource[] = [
      { name: 'tor', peerIP: '198.18.0.254', asNumber: 65001 },
      { name: 'only-h2', node: 'h2', peerIP: '198.18.1.1:1790', asNumber: 65002, keepaliveTime: 2 },
      { name: 'rack-a', nodeSelector: "rack == 'a'", peerIP: '198.18.1.2', asNumber: 65003 },
      { name: 'h3-explicit', node: 'h1', peerIP: '198.18.0.3' },
    ];
    const ns = nodes(node('h1', '198.18.0.1', { labels: { rack: 'a' } }), node('h2', '198.18.0.2'), node('h3', '198.18.0.3'));
    const p1 = computeBgpPlan('h1', ns, peers, {});
    const by = new Map(p1.peers.map((p) => [p.address, p]));
    assert.equal(by.get('198.18.0.254')?.type, PeerTypes.global);
    assert.equal(by.get('198.18.0.254')?.asn, 65001);
    assert.equal(by.get('198.18.0.254')?.passive, false);
    assert.equal(by.has('198.18.1.1'), false);
    assert.equal(by.get('198.18.1.2')?.type, PeerTypes.node);
    assert.equal(by.get('198.18.0.3')?.type, PeerTypes.node);
    assert.equal(by.get('198.18.0.3')?.asn, 64512);
    assert.equal(by.get('198.18.0.2')?.type, PeerTypes.mesh);
    const p2 = computeBgpPlan('h2', ns, peers, {});
    const tor2 = p2.peers.find((p) => p.address === '198.18.1.1')!;
    assert.deepEqual([tor2.port, tor2.asn, tor2.keepaliveTime, tor2.holdTime], [1790, 65002, 2, 6]);
    assert.equal(p2.peers.some((p) => p.address === '198.18.1.2'), false);
  });

  test('IPv6 sessions when both nodes have an IPv6 address', () => {
    const ns = nodes(node('h1', '198.18.0.1', { ipv6: '2001:db8::1' }), node('h2', '198.18.0.2', { ipv6: '2001:db8::2' }), node('h3', '198.18.0.3'));
    const p = computeBgpPlan('h1', ns, [], {});
    assert.deepEqual(p.peers.map((x) => x.address), ['198.18.0.2', '198.18.0.3', '2001:db8::2']);
    assert.equal(p.speaker?.nextHop6, '2001:db8::1');
  });

  test('one session per family with a dual-stack node; IPv6 rides the IPv4 session otherwise', () => {
    const ns = nodes(node('h1', '198.18.0.1', { ipv6: '2001:db8::1' }), node('h2', '198.18.0.2', { ipv6: '2001:db8::2' }), node('h3', '198.18.0.3'));
    const tor: BgpPeerResource = { name: 'tor', peerIP: '198.18.0.201', asNumber: 65001 };
    const tor6: BgpPeerResource = { name: 'tor6', peerIP: '[2001:db8::201]:179', asNumber: 65001 };
    const p = computeBgpPlan('h1', ns, [tor, tor6], {});
    assert.deepEqual(p.peers.map((x) => [x.address, x.exportFamilies]), [
      ['198.18.0.2', ['ipv4']], // h2 also has an IPv6 session: IPv4 routes only here
      ['198.18.0.3', undefined], // h3 has no IPv6 address: both families (IPv6 with nextHop6)
      ['198.18.0.201', undefined], // external peer over IPv4: both families
      ['2001:db8::2', ['ipv6']], // an IPv4 route would have no next hop on an IPv6 session
      ['2001:db8::201', ['ipv6']],
    ]);
    assert.equal(familyFilter(['ipv4'])('192.0.2.0/26'), true);
    assert.equal(familyFilter(['ipv4'])('2001:db8:1::/122'), false);
    assert.equal(familyFilter(['ipv6'])('2001:db8:1::/122'), true);
    assert.equal(familyFilter(['ipv6'])('192.0.2.0/26'), false);
    // Changing the families re-creates the session (the export policy is per session).
    const single = computeBgpPlan('h1', nodes(node('h1', '198.18.0.1', { ipv6: '2001:db8::1' }), node('h2', '198.18.0.2')), [], {}).peers[0]!;
    assert.equal(samePeer(single, p.peers[0]!), false);
  });

  test('listenPort and nodeMeshMaxRestartTime from BGPConfiguration', () => {
    const p = computeBgpPlan('h1', three, [], { listenPort: 1179, nodeMeshMaxRestartTime: 5 });
    assert.equal(p.speaker?.listenPort, 1179);
    assert.equal(p.speaker?.restartTime, 5);
    assert.ok(p.peers.every((x) => x.port === 1179));
    assert.ok(p.peers.every((x) => x.restartTime === 5), 'mesh sessions advertise nodeMeshMaxRestartTime');
  });

  test('per-peer restart time: BGPPeer maxRestartTime, mesh nodeMeshMaxRestartTime, else 120 (confd + BIRD default)', () => {
    const ns = nodes(node('h1', '198.18.0.1', { labels: { rr: 'y' } }), node('h2', '198.18.0.2'), node('h3', '198.18.0.3'));
    const peers: BgpPeerResource[] = [
      { name: 'tor', peerIP: '198.18.0.254', asNumber: 65001, maxRestartTime: 77 },
      { name: 'tor2', peerIP: '198.18.0.253', asNumber: 65001 },
      { name: 'to-h3', node: 'h1', peerIP: '198.18.0.3', maxRestartTime: 12.6 },
      { name: 'long', peerIP: '198.18.0.252', asNumber: 65001, maxRestartTime: 7200 },
    ];
    const p = computeBgpPlan('h1', ns, peers, { nodeMeshMaxRestartTime: 300 });
    assert.deepStrictEqual(p.peers.map((x) => [x.address, x.type, x.restartTime]), [
      ['198.18.0.2', PeerTypes.mesh, 300],
      ['198.18.0.3', PeerTypes.node, 13], // whole seconds (confd rounds)
      ['198.18.0.252', PeerTypes.global, 4095], // the capability field has 12 bits
      ['198.18.0.253', PeerTypes.global, 120], // not nodeMeshMaxRestartTime: that is the mesh's
      ['198.18.0.254', PeerTypes.global, 77],
    ]);
    assert.equal(p.speaker?.restartTime, 300);
    // peerSelector sessions are BGPPeer sessions: the BGPPeer's value, on both sides.
    const sel: BgpPeerResource[] = [{ name: 'rr', nodeSelector: 'all()', peerSelector: 'has(rr)', maxRestartTime: 45 }];
    const rr = computeBgpPlan('h1', ns, sel, { nodeToNodeMeshEnabled: false, nodeMeshMaxRestartTime: 300 });
    assert.deepStrictEqual(rr.peers.map((x) => x.restartTime), [45, 45]);
    assert.deepStrictEqual(computeBgpPlan('h2', ns, sel, { nodeToNodeMeshEnabled: false }).peers.map((x) => [x.address, x.restartTime]), [['198.18.0.1', 45]]);
  });

  test('numAllowedLocalASNumbers → allowLocalAs on that BGPPeer\'s sessions only', () => {
    const peers: BgpPeerResource[] = [
      { name: 'tor', peerIP: '198.18.0.254', asNumber: 65001, numAllowedLocalASNumbers: 1 },
      { name: 'tor0', peerIP: '198.18.0.253', asNumber: 65001, numAllowedLocalASNumbers: 0 },
    ];
    const p = computeBgpPlan('h1', three, peers, {});
    assert.deepStrictEqual(p.peers.map((x) => [x.address, x.allowLocalAs]), [
      ['198.18.0.2', undefined], ['198.18.0.3', undefined], ['198.18.0.253', undefined], ['198.18.0.254', 1],
    ]);
  });

  test('changing maxRestartTime or numAllowedLocalASNumbers changes only that session', () => {
    const tor: BgpPeerResource = { name: 'tor', peerIP: '198.18.0.254', asNumber: 65001 };
    const other: BgpPeerResource = { name: 'other', peerIP: '198.18.0.253', asNumber: 65002, maxRestartTime: 60 };
    const before = computeBgpPlan('h1', three, [tor, other], {}).peers;
    for (const change of [{ maxRestartTime: 90 }, { numAllowedLocalASNumbers: 2 }]) {
      const after = computeBgpPlan('h1', three, [{ ...tor, ...change }, other], {}).peers;
      assert.deepStrictEqual(after.map((x, i) => samePeer(x, before[i]) ? 'same' : x.address), ['same', 'same', 'same', '198.18.0.254'], JSON.stringify(change));
    }
    // Explicitly 0 or 120 is the default again: no re-creation.
    const same = computeBgpPlan('h1', three, [{ ...tor, maxRestartTime: 120, numAllowedLocalASNumbers: 0 }, other], {}).peers;
    assert.ok(same.every((x, i) => samePeer(x, before[i])));
  });
});

test('durationSeconds and splitPeerIP', () => {
  assert.equal(durationSeconds('90s'), 90);
  assert.equal(durationSeconds('1m30s'), 90);
  assert.equal(durationSeconds('250ms'), 0.25);
  assert.equal(durationSeconds('x'), undefined);
  assert.deepEqual(splitPeerIP('198.18.0.1', 179), { address: '198.18.0.1', port: 179 });
  assert.deepEqual(splitPeerIP('198.18.0.1:1790', 179), { address: '198.18.0.1', port: 1790 });
  assert.deepEqual(splitPeerIP('[2001:db8::1]:1790', 179), { address: '2001:db8::1', port: 1790 });
  assert.deepEqual(splitPeerIP('2001:db8::1', 179), { address: '2001:db8::1', port: 179 });
});

test('computeExports: blocks aggregated, borrowed /32s, disableBGPExport pools', () => {
  const routes = [
    { dst: '192.0.2.0/26', type: 'blackhole' as const },
    { dst: '192.0.2.5/32', type: 'local-workload' as const, iface: 'cali1', endpoint: 'a' },
    { dst: '192.0.2.70/32', type: 'local-workload' as const, iface: 'cali2', endpoint: 'b' },
    { dst: '198.51.100.0/26', type: 'blackhole' as const },
    { dst: '203.0.113.0/26', type: 'remote-block' as const, node: 'h2', via: '198.18.0.2' },
  ];
  assert.deepEqual([...computeExports(routes, [])].sort(), ['192.0.2.0/26', '192.0.2.70/32', '198.51.100.0/26']);
  assert.deepEqual([...computeExports(routes, [{ cidr: '198.51.100.0/24', disableBGPExport: true }])].sort(), ['192.0.2.0/26', '192.0.2.70/32']);
});

test('resource parsing', () => {
  const n = nodeFromResource('h1', { metadata: { name: 'h1', labels: { a: 'b' } }, spec: { bgp: { ipv4Address: '198.18.0.1/24', asNumber: '1.10', routeReflectorClusterID: '244.0.0.1' } } });
  assert.deepEqual(n, { name: 'h1', labels: { a: 'b' }, ipv4: '198.18.0.1', asNumber: 65546, routeReflectorClusterID: '244.0.0.1' });
  assert.deepEqual(peerFromResource('p', { spec: { peerIP: '198.18.0.9', asNumber: 65001, keepaliveTime: '2s' } }), { name: 'p', peerIP: '198.18.0.9', asNumber: 65001, keepaliveTime: 2 });
  assert.deepEqual(peerFromResource('p', { spec: { peerIP: '198.18.0.9', asNumber: 65001, maxRestartTime: '2m', numAllowedLocalASNumbers: 1 } }),
    { name: 'p', peerIP: '198.18.0.9', asNumber: 65001, maxRestartTime: 120, numAllowedLocalASNumbers: 1 });
  assert.deepEqual(configFromResource({ spec: { nodeToNodeMeshEnabled: false, asNumber: 64600, listenPort: 1179, nodeMeshMaxRestartTime: '10s' } }),
    { nodeToNodeMeshEnabled: false, asNumber: 64600, listenPort: 1179, nodeMeshMaxRestartTime: 10 });
});

test('formatNodeStatus', () => {
  const text = formatNodeStatus({
    enabled: true, running: true, asn: 64512, routerId: '198.18.0.1', listenPort: 179, advertised: [], learned: [],
    peers: [{ address: '198.18.0.2', asn: 64512, type: PeerTypes.mesh, state: 'established', since: '2026-01-01T10:00:00.000Z', info: 'Established', prefixesReceived: 1, prefixesAdvertised: 2, prefixesStale: 0, passive: false, rrClient: false }],
  }, new Date('2026-01-01T12:00:00Z'));
  assert.match(text, /\| 198\.18\.0\.2 +\| node-to-node mesh \| up +\| 10:00:00 \| Established \| 1 +\| 2 +\|/);
  assert.match(text, /No IPv6 peers found/);
  assert.match(formatNodeStatus({ enabled: false, running: false, peers: [], advertised: [], learned: [] }), /disabled/);
});
