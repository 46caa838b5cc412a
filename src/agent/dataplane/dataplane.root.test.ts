/**
 * The nftables + routes dataplane against a real kernel, in namespaces this test creates:
 *
 *   uplink ns (198.18.0.254) ── host ns (198.18.0.1, default via .254, Weft table) ── A, B, C workloads
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { ExecRunner, IpLinkOps, IpRouteTable, NftCli } from '../netlink/index.ts';
import { plumbWorkload } from '../plumbing/index.ts';
import { Dataplane } from './dataplane.ts';
import { defaultDpConfig, type DataplaneModel, type DpWorkloadEndpoint } from './model.ts';
import { createNetns, deleteNetns, netnsSkipReason, nsExec, nsRun, ping, probe, startListener, uniqueNetnsName } from '../../../test/helpers/netns.ts';

function ep(iface: string, ip: string, extra: Partial<DpWorkloadEndpoint> = {}): DpWorkloadEndpoint {
  return { interfaceName: iface, ipv4Nets: [`${ip}/32`], ipv6Nets: [], tiers: [], profileIds: ['p1'], ...extra };
}

describe('nftables dataplane (kernel, fresh namespaces)', { skip: netnsSkipReason() }, () => {
  test('programs, enforces, fails closed, repairs drift and restarts without flushing', async () => {
    const H = uniqueNetnsName('dph');
    const U = uniqueNetnsName('dpu');
    const A = uniqueNetnsName('dpa');
    const B = uniqueNetnsName('dpb');
    const C = uniqueNetnsName('dpc');
    const all = [H, U, A, B, C];
    const children: ChildProcess[] = [];
    let dp: Dataplane | undefined;
    let dp2: Dataplane | undefined;
    for (const n of all) createNetns(n);
    try {
      nsExec(H, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1', 'netns', U]);
      nsExec(H, ['ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'up0']);
      nsExec(H, ['ip', 'link', 'set', 'up0', 'up']);
      nsExec(U, ['ip', 'addr', 'add', '198.18.0.254/24', 'dev', 'up1']);
      nsExec(U, ['ip', 'link', 'set', 'up1', 'up']);
      nsExec(H, ['ip', 'route', 'add', 'default', 'via', '198.18.0.254']);
      nsExec(H, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);

      const hr = new ExecRunner(H);
      const hostLinks = new IpLinkOps(hr);
      const plumb = async (ns: string, ip: string, withRoute = false) =>
        (await plumbWorkload({ host: hostLinks, workload: new IpLinkOps(new ExecRunner(ns)), routes: withRoute ? new IpRouteTable(hr, 81) : undefined },
          { workloadId: ns, netns: ns, addresses: [ip] })).hostInterface;
      const ifA = await plumb(A, '192.0.2.2');
      const ifB = await plumb(B, '192.0.2.3');
      // C is plumbed like a CNI plugin would (own route, other protocol) but unknown to Weft yet.
      const ifC = await plumb(C, '192.0.2.4', true);

      const model = (withC: boolean, nat = true): DataplaneModel => {
        const endpoints = new Map([
          ['A', ep(ifA, '192.0.2.2')],
          ['B', ep(ifB, '192.0.2.3', { tiers: [{ name: 'default', defaultAction: 'deny', ingressPolicies: ['deny-80-from-a'], egressPolicies: [] }] })],
        ]);
        if (withC) endpoints.set('C', ep(ifC, '192.0.2.4'));
        return {
          config: defaultDpConfig(),
          ipSets: new Map([['sel-a', { type: 'net' as const, members: ['192.0.2.2/32'] }]]),
          policies: new Map([['deny-80-from-a', {
            inbound: [{ action: 'deny' as const, protocol: 6, srcIPSets: ['sel-a'], dstPorts: [{ first: 80, last: 80 }] }, { action: 'pass' as const }],
            outbound: [],
          }]]),
          profiles: new Map([['p1', { inbound: [{ action: 'allow' as const }], outbound: [{ action: 'allow' as const }] }]]),
          endpoints,
          hostEndpoints: new Map(),
          routes: [
            { dst: '192.0.2.2/32', type: 'local-workload' as const, interfaceName: ifA },
            { dst: '192.0.2.3/32', type: 'local-workload' as const, interfaceName: ifB },
            ...(withC ? [{ dst: '192.0.2.4/32', type: 'local-workload' as const, interfaceName: ifC }] : []),
          ],
          ipPools: [{ cidr: '192.0.2.0/24', natOutgoing: nat }],
        };
      };

      const nft = new NftCli(hr);
      dp = new Dataplane({ nft, routes: new IpRouteTable(hr), links: hostLinks, refreshIntervalMs: 0 });
      dp.update(model(false));
      await dp.flush();
      assert.equal(await nft.listTable('inet', 'weft'), undefined, 'nothing programmed before in-sync');

      dp.setInSync();
      await dp.flush();
      const listing = await nft.listTable('inet', 'weft');
      const chains = (listing ?? []).flatMap((o) => (o.chain ? [String(o.chain.name)] : []));
      for (const c of [`fw-${ifA}`, `tw-${ifB}`, 'pi-deny-80-from-a', 'filter-forward', 'wl-to-host']) assert.ok(chains.includes(c), c);
      assert.match(nsExec(H, ['ip', 'route', 'show', '192.0.2.3']), new RegExp(`dev ${ifB} proto 80 scope link`));

      for (const port of [80, 81]) children.push(await startListener(B, port));
      children.push(await startListener(H, 22));
      children.push(await startListener(H, 8080));

      // Policy: ICMP and TCP 81 allowed by the profile; TCP 80 from A denied by the policy.
      assert.ok(ping(A, '192.0.2.3', 2), 'A → B ping');
      assert.ok(probe(A, '192.0.2.3', 81), 'A → B tcp/81');
      assert.equal(probe(A, '192.0.2.3', 80, { timeoutMs: 700 }), false, 'A → B tcp/80 denied');

      // Fail closed: C has a veth and a route but no Weft endpoint yet.
      assert.equal(ping(C, '192.0.2.3', 1), false, 'unknown workload C cannot send');
      assert.equal(ping(B, '192.0.2.4', 1), false, 'nobody reaches unknown workload C');

      // Anti-spoofing: A sends from an address that is not its own.
      nsExec(A, ['ip', 'addr', 'add', '192.0.2.50/32', 'dev', 'eth0']);
      assert.equal(nsRun(A, ['ping', '-c', '1', '-W', '1', '-I', '192.0.2.50', '192.0.2.3']).status === 0, false, 'spoofed source dropped');
      assert.ok(probe(A, '192.0.2.3', 81), 'own source still fine');

      // Workload → host: default drop, failsafe tcp/22 allowed.
      assert.equal(probe(A, '198.18.0.1', 8080, { timeoutMs: 700 }), false, 'workload → host tcp/8080 dropped');
      assert.ok(probe(A, '198.18.0.1', 22), 'workload → host tcp/22 failsafe');

      // natOutgoing: the uplink has no route back to the pool, so only masquerade makes A → uplink work.
      assert.ok(ping(A, '198.18.0.254', 2), 'A → uplink masqueraded (natOutgoing)');
      dp.update(model(false, false));
      await dp.flush();
      assert.equal(ping(A, '198.18.0.254', 1), false, 'no natOutgoing: no masquerade, no way back');
      assert.equal((await nft.listTable('inet', 'weft'))!.some((o) => o.chain?.name === 'nat-postrouting'), false, 'no NAT hook without a natOutgoing pool');

      // Programming C opens it.
      dp.update(model(true));
      await dp.flush();
      assert.ok(ping(C, '192.0.2.3', 2), 'C → B after programming');

      // Drift: remove A's dispatch entry and chain, and B's route, by hand.
      nsExec(H, ['nft', `delete element inet weft wl-from { "${ifA}" }`]);
      nsExec(H, ['nft', `delete chain inet weft fw-${ifA}`]);
      nsExec(H, ['ip', 'route', 'del', '192.0.2.3/32']);
      nsExec(H, ['ip', 'route', 'add', '203.0.113.0/24', 'via', '198.18.0.254', 'proto', 'static']);
      assert.equal(ping(A, '192.0.2.3', 1), false, 'broken by hand');
      dp.resync();
      await dp.flush();
      assert.ok(ping(A, '192.0.2.3', 2), 'repaired by resync');
      assert.match(nsExec(H, ['ip', 'route', 'show', '192.0.2.3']), /proto 80/);
      // Weft took over C's CNI route (same destination) but never touches routes it does not own.
      assert.match(nsExec(H, ['ip', 'route', 'show', '192.0.2.4']), /proto 80/);
      assert.match(nsExec(H, ['ip', 'route', 'show', '203.0.113.0/24']), /proto static/, 'other protocols untouched');

      // Restart: a new agent reconverges without rewriting anything.
      await dp.stop();
      dp = undefined;
      const scripts: string[] = [];
      dp2 = new Dataplane({ nft, routes: new IpRouteTable(hr), refreshIntervalMs: 0, onScript: (s) => scripts.push(s) });
      dp2.update(model(true));
      dp2.setInSync();
      await dp2.flush();
      assert.deepEqual(scripts, [], 'no transaction needed after restart');
      assert.deepEqual(dp2.lastReport?.routes, { replaced: 0, deleted: 0, failed: 0 });
      assert.ok(ping(A, '192.0.2.3', 2));
    } finally {
      await dp?.stop();
      await dp2?.stop();
      for (const c of children) c.kill('SIGKILL');
      for (const n of all) deleteNetns(n);
    }
  });

  test('host endpoint: default drop both ways, failsafe ports open, policy opens ICMP', async () => {
    const H = uniqueNetnsName('heh');
    const U = uniqueNetnsName('heu');
    const children: ChildProcess[] = [];
    let dp: Dataplane | undefined;
    for (const n of [H, U]) createNetns(n);
    try {
      nsExec(H, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1', 'netns', U]);
      nsExec(H, ['ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'up0']);
      nsExec(H, ['ip', 'link', 'set', 'up0', 'up']);
      nsExec(U, ['ip', 'addr', 'add', '198.18.0.254/24', 'dev', 'up1']);
      nsExec(U, ['ip', 'link', 'set', 'up1', 'up']);
      children.push(await startListener(H, 22), await startListener(H, 8080), await startListener(U, 8080));
      const hr = new ExecRunner(H);
      const model = (icmp: boolean): DataplaneModel => ({
        config: defaultDpConfig(), ipSets: new Map(),
        policies: new Map([['allow-icmp', { inbound: [{ action: 'allow' as const, protocol: 1 }], outbound: [{ action: 'allow' as const, protocol: 1 }] }]]),
        profiles: new Map(), endpoints: new Map(),
        hostEndpoints: new Map([['up0', {
          interfaceName: 'up0', profileIds: [],
          tiers: icmp ? [{ name: 'default', defaultAction: 'deny' as const, ingressPolicies: ['allow-icmp'], egressPolicies: ['allow-icmp'] }] : [],
        }]]),
        routes: [], ipPools: [],
      });
      assert.ok(ping(U, '198.18.0.1'), 'before programming everything flows');
      dp = new Dataplane({ nft: new NftCli(hr), routes: new IpRouteTable(hr), refreshIntervalMs: 0 });
      dp.update(model(false));
      dp.setInSync();
      await dp.flush();
      assert.equal(ping(U, '198.18.0.1', 1), false, 'ICMP to the host endpoint dropped');
      assert.equal(probe(U, '198.18.0.1', 8080, { timeoutMs: 700 }), false, 'tcp/8080 to the host dropped');
      assert.ok(probe(U, '198.18.0.1', 22), 'failsafe tcp/22 in');
      assert.equal(probe(H, '198.18.0.254', 8080, { timeoutMs: 700 }), false, 'host → out tcp/8080 dropped');
      dp.update(model(true));
      await dp.flush();
      assert.ok(ping(U, '198.18.0.1', 2), 'policy allows ICMP in');
      assert.ok(ping(H, '198.18.0.254', 2), 'policy allows ICMP out');
      assert.equal(probe(U, '198.18.0.1', 8080, { timeoutMs: 700 }), false, 'tcp/8080 still dropped (end of tier)');
    } finally {
      await dp?.stop();
      for (const c of children) c.kill('SIGKILL');
      for (const n of [H, U]) deleteNetns(n);
    }
  });
});
