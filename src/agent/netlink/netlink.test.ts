import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ExecRunner, RecordingRunner } from './exec.ts';
import { NftCli, parseNftJson } from './nft.ts';
import { IpRouteTable, parseIpRoutes, routeArgs, routeKey, WEFT_ROUTE_PROTO } from './routes.ts';
import { IpLinkOps, checkIfName, parseIpAddr } from './links.ts';
import { createNetns, deleteNetns, netnsSkipReason, nsExec, uniqueNetnsName } from '../../../test/helpers/netns.ts';

describe('netlink shims (recorded)', () => {
  test('nft apply sends the script on stdin of nft -f -', async () => {
    const r = new RecordingRunner();
    await new NftCli(r).apply('add table inet weft\n');
    assert.deepEqual(r.calls[0], { argv: ['nft', '-f', '-'], input: 'add table inet weft\n' });
  });

  test('nft listTable: missing table is undefined, other errors throw', async () => {
    const missing = new RecordingRunner(() => ({ code: 1, stdout: '', stderr: 'Error: No such file or directory' }));
    assert.equal(await new NftCli(missing).listTable('inet', 'weft'), undefined);
    const broken = new RecordingRunner(() => ({ code: 1, stdout: '', stderr: 'Error: permission denied' }));
    await assert.rejects(new NftCli(broken).listTable('inet', 'weft'), /permission denied/);
    const ok = new RecordingRunner(() => ({ code: 0, stdout: '{"nftables":[{"table":{"family":"inet","name":"weft"}}]}', stderr: '' }));
    assert.deepEqual(await new NftCli(ok).listTable('inet', 'weft'), [{ table: { family: 'inet', name: 'weft' } }]);
    assert.throws(() => parseNftJson('{}'), /nftables/);
  });

  test('route table only ever names its own protocol', async () => {
    const r = new RecordingRunner(() => ({ code: 0, stdout: '[]', stderr: '' }));
    const rt = new IpRouteTable(r);
    await rt.list(4);
    await rt.replace({ dst: '192.0.2.2/32', type: 'unicast', dev: 'cali1', scope: 'link' });
    await rt.del({ dst: '192.0.2.0/26', type: 'blackhole' });
    assert.deepEqual(r.calls.map((c) => c.argv.join(' ')), [
      `ip -json -4 route show table main proto ${WEFT_ROUTE_PROTO}`,
      `ip -4 route replace 192.0.2.2/32 dev cali1 scope link proto ${WEFT_ROUTE_PROTO}`,
      `ip -4 route del blackhole 192.0.2.0/26 proto ${WEFT_ROUTE_PROTO}`,
    ]);
  });

  test('parseIpRoutes canonicalises destinations and keeps type/gateway/scope', () => {
    const rows = parseIpRoutes(4, JSON.stringify([
      { dst: '192.0.2.5', dev: 'd0', scope: 'link', flags: [] },
      { type: 'blackhole', dst: '192.0.2.64/26', flags: [] },
      { dst: '203.0.113.0/26', gateway: '198.18.0.2', dev: 'd0', flags: ['onlink'] },
      { dst: 'default', gateway: '198.18.0.254', dev: 'd0' },
    ]));
    assert.deepEqual(rows, [
      { dst: '192.0.2.5/32', type: 'unicast', dev: 'd0', scope: 'link' },
      { dst: '192.0.2.64/26', type: 'blackhole' },
      { dst: '203.0.113.0/26', type: 'unicast', gateway: '198.18.0.2', dev: 'd0', onlink: true },
      { dst: '0.0.0.0/0', type: 'unicast', gateway: '198.18.0.254', dev: 'd0' },
    ]);
    assert.deepEqual(routeArgs(rows[2]!), ['203.0.113.0/26', 'via', '198.18.0.2', 'dev', 'd0', 'onlink']);
    // IPv6 dumps carry no scope, so scope is not part of a v6 route's identity.
    assert.equal(routeKey({ dst: '2001:db8::1/128', type: 'unicast', dev: 'c', scope: 'link' }), routeKey({ dst: '2001:db8::1/128', type: 'unicast', dev: 'c' }));
  });

  test('link ops validate names and parse ip -json addr', async () => {
    assert.throws(() => checkIfName('this-name-is-too-long'), /invalid interface name/);
    assert.throws(() => checkIfName('a b'), /invalid interface name/);
    const l = parseIpAddr(JSON.stringify([{ ifname: 'eth0', address: 'ee:ee:ee:ee:ee:ee', flags: ['UP'], addr_info: [{ local: '192.0.2.2', prefixlen: 32 }] }]));
    assert.deepEqual(l, [{ name: 'eth0', mac: 'ee:ee:ee:ee:ee:ee', up: true, addresses: ['192.0.2.2/32'] }]);
    const r = new RecordingRunner();
    await new IpLinkOps(r).createVeth('cali1', 'eth0', 'ns1');
    await new IpLinkOps(r).sysctl('net/ipv4/conf/cali1/proxy_arp', '1');
    assert.deepEqual(r.calls[0]!.argv, ['ip', 'link', 'add', 'cali1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'ns1']);
    assert.deepEqual(r.calls[1]!.argv.slice(-2), ['1', '/proc/sys/net/ipv4/conf/cali1/proxy_arp']);
    await assert.rejects(new IpLinkOps(r).sysctl('net/ipv4/$(reboot)', '1'), /invalid sysctl key/);
  });
});

describe('netlink shims (kernel, fresh netns)', { skip: netnsSkipReason() }, () => {
  test('routes of other protocols are never listed or deleted; nft and links work in the namespace', async () => {
    const ns = uniqueNetnsName('nl');
    const peer = uniqueNetnsName('nlp');
    createNetns(ns);
    createNetns(peer);
    try {
      const runner = new ExecRunner(ns);
      const links = new IpLinkOps(runner);
      await links.createVeth('up0', 'down0', peer);
      await links.setUp('up0');
      await links.addAddress('up0', '198.18.0.1/24');
      await links.setMac('up0', 'ee:ee:ee:ee:ee:ee');
      const info = await links.getLink('up0');
      assert.equal(info?.mac, 'ee:ee:ee:ee:ee:ee');
      assert.deepEqual(info?.addresses, ['198.18.0.1/24']);
      await links.sysctl('net/ipv4/conf/up0/proxy_arp', '1');
      assert.equal(await links.readSysctl('net/ipv4/conf/up0/proxy_arp'), '1');
      assert.equal(await links.readSysctl('net/ipv4/conf/nope0/proxy_arp'), undefined);

      // A foreign route (static protocol) must survive everything the Weft table does.
      nsExec(ns, ['ip', 'route', 'add', '203.0.113.0/24', 'via', '198.18.0.2', 'proto', 'static']);
      const rt = new IpRouteTable(runner);
      await rt.replace({ dst: '192.0.2.2/32', type: 'unicast', dev: 'up0', scope: 'link' });
      await rt.replace({ dst: '192.0.2.64/26', type: 'blackhole' });
      await rt.replace({ dst: '198.51.100.0/26', type: 'unicast', gateway: '198.18.0.2' });
      const mine = await rt.list(4);
      assert.deepEqual(mine.map((r) => r.dst).sort(), ['192.0.2.2/32', '192.0.2.64/26', '198.51.100.0/26']);
      for (const r of mine) await rt.del(r);
      await rt.del({ dst: '192.0.2.99/32', type: 'unicast' }); // already gone: not an error
      assert.deepEqual(await rt.list(4), []);
      assert.match(nsExec(ns, ['ip', 'route', 'show', '203.0.113.0/24']), /via 198\.18\.0\.2/);

      const nft = new NftCli(runner);
      assert.equal(await nft.listTable('inet', 'weft'), undefined);
      await nft.apply('add table inet weft\nadd chain inet weft c1\n');
      const listing = await nft.listTable('inet', 'weft');
      assert.ok(listing?.some((o) => o.chain?.name === 'c1'));
      await assert.rejects(nft.apply('add rule inet weft nosuchchain accept\n'), /nft transaction failed/);
      await links.deleteLink('up0');
      await links.deleteLink('up0');
    } finally {
      deleteNetns(ns);
      deleteNetns(peer);
    }
  });
});
