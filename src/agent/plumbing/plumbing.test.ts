import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ExecRunner, FakeLinkOps, FakeRouteTable, IpLinkOps, IpRouteTable, RecordingRunner } from '../netlink/index.ts';
import { gatewayRouted, hostInterfaceName, plumbWorkload, primaryPrefix, unplumbWorkload, GATEWAY_V6 } from './plumbing.ts';
import { createNetns, deleteNetns, netnsSkipReason, nsExec, nsRun, ping, uniqueNetnsName } from '../../../test/helpers/netns.ts';

describe('workload plumbing (fakes)', () => {
  test('host interface names: prefix + hash, ≤ 15 chars, stable', () => {
    const a = hostInterfaceName('ns.pod-a');
    assert.match(a, /^cali[0-9a-f]{11}$/);
    assert.equal(a, hostInterfaceName('ns.pod-a'));
    assert.notEqual(a, hostInterfaceName('ns.pod-b'));
    assert.match(hostInterfaceName('x', 'tap'), /^tap[0-9a-f]{12}$/);
    assert.equal(primaryPrefix('tap, cali'), 'tap');
    assert.equal(primaryPrefix(undefined), 'cali');
    assert.throws(() => hostInterfaceName('x', 'bad prefix'), /bad interface prefix/);
  });

  test('calls: veth into the workload, MAC, sysctls, /32 + gateway routes, host route', async () => {
    const host = new FakeLinkOps();
    const workload = new FakeLinkOps('w1');
    const routes = new FakeRouteTable();
    const r = await plumbWorkload({ host, workload, routes }, { workloadId: 'w1', netns: 'w1', addresses: ['192.0.2.2', '2001:db8::2/64'] });
    assert.equal(r.hostInterface, hostInterfaceName('w1'));
    assert.deepEqual(r.ipv4Nets, ['192.0.2.2/32']);
    assert.deepEqual(r.ipv6Nets, ['2001:db8::2/128']);
    const h = r.hostInterface;
    assert.ok(host.calls.includes(`createVeth ${h} eth0 w1`));
    assert.ok(host.calls.includes(`setMac ${h} ee:ee:ee:ee:ee:ee`));
    for (const k of [`net/ipv4/conf/${h}/proxy_arp`, `net/ipv4/conf/${h}/forwarding`, `net/ipv4/conf/${h}/route_localnet`, `net/ipv6/conf/${h}/proxy_ndp`]) {
      assert.equal(host.sysctlValues.get(k), '1', k);
    }
    assert.equal(host.sysctlValues.get(`net/ipv4/neigh/${h}/proxy_delay`), '0');
    assert.equal(host.sysctlValues.get(`net/ipv6/conf/${h}/accept_ra`), '0');
    assert.deepEqual(workload.routes, ['169.254.1.1 dev eth0 scope link', 'default via 169.254.1.1 dev eth0', `default via ${GATEWAY_V6} dev eth0`]);
    assert.ok(workload.calls.includes('addAddress eth0 192.0.2.2/32'));
    assert.deepEqual([...routes.routes.keys()].sort(), ['192.0.2.2/32', '2001:db8::2/128']);
    await unplumbWorkload({ host, routes }, h, ['192.0.2.2', '2001:db8::2']);
    assert.equal(routes.routes.size, 0);
    assert.ok(!host.links.has(h));
  });

  test('a failure half-way removes the veth again', async () => {
    const host = new FakeLinkOps();
    const workload = new FakeLinkOps('w1');
    workload.setUp = () => Promise.reject(new Error('boom'));
    await assert.rejects(plumbWorkload({ host, workload }, { workloadId: 'w1', netns: 'w1', addresses: ['192.0.2.2'] }), /boom/);
    assert.ok(host.calls.at(-1)?.startsWith('deleteLink cali'));
  });

  test('gatewayRouted reports a missing route to 169.254.1.1 (seed 001)', async () => {
    const runner = new RecordingRunner((argv) => {
      if (argv[0] === 'ip') return { code: 2, stdout: '', stderr: 'RTNETLINK answers: Network is unreachable' };
      return { code: 0, stdout: '', stderr: '' };
    });
    const gw = await gatewayRouted(runner);
    assert.equal(gw.routed, false);
    assert.match(gw.evidence, /Network is unreachable/);
  });
});

describe('workload plumbing (kernel, fresh namespaces)', { skip: netnsSkipReason() }, () => {
  test('two workloads on one host reach each other; without a default route they do not (seed 001)', async () => {
    const host = uniqueNetnsName('h');
    const w1 = uniqueNetnsName('w1');
    const w2 = uniqueNetnsName('w2');
    for (const n of [host, w1, w2]) createNetns(n);
    try {
      const hr = new ExecRunner(host);
      const hostLinks = new IpLinkOps(hr);
      const routes = new IpRouteTable(hr);
      nsExec(host, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      const a = await plumbWorkload({ host: hostLinks, workload: new IpLinkOps(new ExecRunner(w1)), routes }, { workloadId: `${w1}`, netns: w1, addresses: ['192.0.2.2', '2001:db8::2'] });
      await plumbWorkload({ host: hostLinks, workload: new IpLinkOps(new ExecRunner(w2)), routes }, { workloadId: `${w2}`, netns: w2, addresses: ['192.0.2.3', '2001:db8::3'] });
      assert.match(nsExec(host, ['ip', 'route', 'show', '192.0.2.2']), new RegExp(`dev ${a.hostInterface} proto 80 scope link`));
      assert.match(nsExec(w1, ['ip', 'route']), /default via 169\.254\.1\.1 dev eth0/);

      // No route covering 169.254.1.1 in the host: proxy ARP stays silent → 100 % loss.
      assert.equal((await gatewayRouted(hr)).routed, false);
      assert.equal(ping(w1, '192.0.2.3'), false);

      // A default route (to an uplink) fixes it.
      const up = uniqueNetnsName('up');
      createNetns(up);
      try {
        nsExec(host, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1', 'netns', up]);
        nsExec(host, ['ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'up0']);
        nsExec(host, ['ip', 'link', 'set', 'up0', 'up']);
        nsExec(host, ['ip', 'route', 'add', 'default', 'via', '198.18.0.254']);
        assert.equal((await gatewayRouted(hr)).routed, true);
        assert.ok(ping(w1, '192.0.2.3', 2), 'w1 → w2 ping');
        assert.ok(ping(w2, '192.0.2.2', 2), 'w2 → w1 ping');
        assert.ok(ping(w1, '2001:db8::3', 2) || ping(w1, '2001:db8::3', 2), 'w1 → w2 ping6');
      } finally {
        deleteNetns(up);
      }
      await unplumbWorkload({ host: hostLinks, routes }, a.hostInterface, ['192.0.2.2']);
      assert.equal(nsRun(host, ['ip', 'link', 'show', a.hostInterface]).status !== 0, true);
    } finally {
      for (const n of [host, w1, w2]) deleteNetns(n);
    }
  });
});
