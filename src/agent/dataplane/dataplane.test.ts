import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNft, FakeRouteTable, FakeLinkOps } from '../netlink/index.ts';
import { Dataplane } from './dataplane.ts';
import { sampleModel } from './testmodel.ts';

describe('Dataplane driver (fakes)', () => {
  test('no kernel change before the first in-sync; then one transaction', async () => {
    const nft = new FakeNft();
    const routes = new FakeRouteTable();
    const dp = new Dataplane({ nft, routes, refreshIntervalMs: 0 });
    dp.update(sampleModel());
    dp.update(sampleModel());
    await dp.flush();
    assert.equal(nft.scripts.length, 0);
    assert.equal(nft.listCalls, 0);
    assert.equal(routes.ops.length, 0);
    dp.setInSync();
    await dp.flush();
    assert.equal(nft.scripts.length, 1);
    assert.ok(nft.scripts[0]!.startsWith('add table inet weft\n'));
    assert.deepEqual(routes.ops.sort(), [
      'replace 192.0.2.64/26 via 198.18.0.2',
      'replace 192.0.2.2/32 dev cali0000000web scope link',
      'replace blackhole 192.0.2.0/26',
    ].sort());
    await dp.stop();
  });

  test('unchanged model → no transaction; a change → only the delta', async () => {
    const nft = new FakeNft();
    const dp = new Dataplane({ nft, routes: new FakeRouteTable(), refreshIntervalMs: 0 });
    dp.update(sampleModel());
    dp.setInSync();
    await dp.flush();
    dp.update(sampleModel());
    await dp.flush();
    assert.equal(nft.scripts.length, 1);
    const m = sampleModel();
    const ipSets = new Map(m.ipSets);
    ipSets.set('s:p1-members', { type: 'net', members: ['192.0.2.2'] });
    dp.update({ ...m, ipSets });
    await dp.flush();
    assert.equal(nft.scripts.length, 2);
    assert.equal(nft.scripts[1], 'add table inet weft\ndelete element inet weft s4-s_p1-members-7d9ec586 { 192.0.2.3 }\n');
    await dp.stop();
  });

  test('a failed transaction is retried (re-reading the kernel) and never fatal', async () => {
    const nft = new FakeNft();
    nft.failNext = 2;
    const dp = new Dataplane({ nft, routes: new FakeRouteTable(), refreshIntervalMs: 0, retryMinMs: 1, retryMaxMs: 5 });
    dp.setInSync();
    dp.update(sampleModel());
    while (nft.scripts.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.ok(nft.listCalls >= 3);
    await dp.stop();
  });

  test('resync re-lists the kernel and repairs drift; routes from other sources (BGP) merge', async () => {
    const nft = new FakeNft();
    const routes = new FakeRouteTable();
    const dp = new Dataplane({ nft, routes, refreshIntervalMs: 0 });
    dp.update(sampleModel());
    dp.setInSync();
    await dp.flush();
    // Someone deletes the whole table and a route by hand.
    nft.listing = undefined;
    routes.routes.delete('192.0.2.2/32');
    dp.resync();
    await dp.flush();
    assert.equal(nft.scripts.length, 2);
    assert.ok(routes.routes.has('192.0.2.2/32'));
    dp.setRoutes('bgp', [{ dst: '203.0.113.0/26', type: 'unicast', gateway: '198.18.0.3' }, { dst: '192.0.2.0/26', type: 'unicast', gateway: '198.18.0.9' }]);
    await dp.flush();
    assert.equal(routes.routes.get('203.0.113.0/26')?.gateway, '198.18.0.3');
    // The model's blackhole for the local block wins over a learned route for the same prefix.
    assert.equal(routes.routes.get('192.0.2.0/26')?.type, 'blackhole');
    await dp.stop();
  });

  test('a route waiting for a missing interface is retried on a link event, not only by the timer', async () => {
    const routes = new FakeRouteTable();
    routes.missingDevices.add('cali0000000web');
    // A retry timer far beyond the test: only linksChanged() can get the route in.
    const dp = new Dataplane({ nft: new FakeNft(), routes, refreshIntervalMs: 0, retryMinMs: 600_000 });
    dp.setInSync();
    dp.update(sampleModel());
    await dp.flush();
    assert.equal(routes.routes.has('192.0.2.2/32'), false);
    const applies = dp.applies;
    // Bounded so that a linksChanged() that does nothing fails an assertion instead of hanging.
    const settle = (): Promise<unknown> => Promise.race([dp.flush(), new Promise((r) => setTimeout(r, 5000))]);
    dp.linksChanged(); // some other interface: the device is still missing
    await settle();
    assert.equal(routes.routes.has('192.0.2.2/32'), false);
    routes.missingDevices.delete('cali0000000web');
    dp.linksChanged();
    await settle();
    assert.equal(routes.routes.get('192.0.2.2/32')?.dev, 'cali0000000web', 'the route went in on the link event');
    assert.equal(dp.applies, applies + 2);
    // Nothing waiting: a link event costs no apply.
    dp.linksChanged();
    await dp.flush();
    assert.equal(dp.applies, applies + 2);
    await dp.stop();
  });

  test('workload interface sysctls are applied once the interface exists', async () => {
    const links = new FakeLinkOps();
    const dp = new Dataplane({ nft: new FakeNft(), routes: new FakeRouteTable(), links, refreshIntervalMs: 0 });
    dp.setInSync();
    dp.update(sampleModel());
    await dp.flush();
    assert.equal(links.calls.length, 0);
    links.sysctlValues.set('net/ipv4/conf/cali0000000web/proxy_arp', '0');
    dp.resync();
    await dp.flush();
    assert.equal(links.sysctlValues.get('net/ipv4/conf/cali0000000web/proxy_arp'), '1');
    assert.equal(links.sysctlValues.get('net/ipv6/conf/cali0000000web/proxy_ndp'), '1');
    await dp.stop();
  });
});
