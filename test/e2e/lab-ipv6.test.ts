/**
 * e2e (root, real kernel, real namespaces): dual-stack labs.
 *   1. BGP (the default): two hosts with an IPv6 underlay (2001:db8:ffff::/64), agents started with
 *      --ip6; five workloads, one with a fixed `ip6`, the others from IPAM (one IPv4 + one IPv6 per
 *      workload, from an IPv6 pool the resources bring, so no default IPv6 pool is added). Asserts
 *      the addresses lie in the pools, each host has the other's IPv6 block as a proto-80 route via
 *      the other host's IPv6 underlay address, one BGP session per family (each carrying only its
 *      family's block), `ping -6` and IPv4 pings same-host and cross-host, a NetworkPolicy denying
 *      `role == bad` enforced for IPv6 (and IPv4) and lifted again by deleting it, and `weft lab status`
 *      printing both addresses.
 *   2. Flat mode (`bgp: false`) with no `ipv6:` and no pools: a workload's `ip6` makes the lab dual
 *      stack, the default IPv6 pool is created, routes to the other host's IPv6 block go via its
 *      IPv6 node address, `ping -6` works across hosts.
 * Every lab is taken down in `finally` (agents killed by PID, namespaces deleted), also on failure.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LAB_DEFAULT_POOL6 } from '../../src/lab/index.ts';
import { SqliteBackend } from '../../src/datastore/index.ts';
import { ResourceClient } from '../../src/api/index.ts';
import { canonicalCIDR, cidrContainsIP, parseCIDR, parseIP } from '../../src/lib/ip.ts';
import { withLab } from '../helpers/lab.ts';
import { netnsSkipReason, nsExec, ping } from '../helpers/netns.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const POOL4 = '192.0.2.0/24';
const POOL6 = '2001:db8:42::/112';
const FIXED6 = '2001:db8:42::2';

const BGP_TOPOLOGY = (name: string): string => `
name: ${name}
ipv6: true
hosts: [{name: h1}, {name: h2}]
pools: [{cidr: ${POOL4}, blockSize: 26}]
resources:
  - {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {name: v6}, spec: {cidr: "${POOL6}", blockSize: 122, ipipMode: Never, vxlanMode: Never}}
  - apiVersion: projectcalico.org/v3
    kind: NetworkPolicy
    metadata: {name: deny-bad, namespace: default}
    spec:
      selector: role == 'web'
      types: [Ingress]
      ingress:
        - {action: Deny, source: {selector: role == 'bad'}}
        - {action: Pass}
workloads:
  - {name: w1, host: h1, ip6: "${FIXED6}", labels: {role: web}}
  - {name: w2, host: h1, labels: {role: bad}}
  - {name: w3, host: h1, labels: {role: good}}
  - {name: w4, host: h2, labels: {role: bad}}
  - {name: w5, host: h2, labels: {role: good}}
`;

const FLAT_TOPOLOGY = (name: string): string => `
name: ${name}
bgp: false
hosts: [{name: h1}, {name: h2}]
workloads:
  - {name: w1, host: h1, ip6: "2001:db8:1::2"}
  - {name: w2, host: h2}
`;

async function eventually(what: string, fn: () => boolean, timeoutMs = 60_000, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}\n${detail()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const inCidr = (cidr: string, addr: string): boolean => cidrContainsIP(parseCIDR(cidr)!, parseIP(addr.split('/')[0]!)!);
const plain = (a: string): string => a.split('/')[0]!;

/** The /122 block (the pools' block size) of an IPv6 workload address, as the kernel prints it (RFC 5952). */
const block6 = (addr: string): string => canonicalCIDR(`${plain(addr)}/122`)!;

const routes6 = (hostNs: string): string => nsExec(hostNs, ['ip', '-6', 'route', 'show', 'proto', '80']);
const routes4 = (hostNs: string): string => nsExec(hostNs, ['ip', '-4', 'route', 'show', 'proto', '80']);

interface PeerJson { address: string; type: string; state: string; prefixesReceived: number; prefixesAdvertised: number }
function nodePeers(hostNs: string): PeerJson[] | undefined {
  const r = spawnSync('ip', ['netns', 'exec', hostNs, process.execPath, MAIN, 'node', 'status', '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { peers: PeerJson[] }).peers;
  } catch {
    return undefined;
  }
}

describe('lab e2e: dual stack (IPv6 underlay, IPv6 auto-assign)', { skip: netnsSkipReason() }, () => {
  test('BGP mode: addresses, per-family sessions, routes, ping -6, policy on IPv6', { timeout: 400_000 }, async () => {
    await withLab(`v${process.pid.toString(36)}`.slice(0, 12), BGP_TOPOLOGY, { dumpLogsOf: ['h1', 'h2'] }, async ({ name, stateRoot, state: s, host, wl }) => {
      const v4 = (n: string): string => plain(wl(n).ipv4[0]!);
      const v6 = (n: string): string => plain(wl(n).ipv6[0]!);

      // ---- addresses ----------------------------------------------------------------------------
      assert.equal(s.ipv6, true);
      assert.deepEqual(s.hosts.map((h) => [h.name, h.ip, h.ip6]), [['h1', '198.18.0.1/24', '2001:db8:ffff::1/64'], ['h2', '198.18.0.2/24', '2001:db8:ffff::2/64']]);
      for (const w of s.workloads) {
        assert.equal(w.ipv4.length, 1, `${w.name}: one IPv4 address ${JSON.stringify(w.ipv4)}`);
        assert.equal(w.ipv6.length, 1, `${w.name}: one IPv6 address ${JSON.stringify(w.ipv6)}`);
        assert.ok(inCidr(POOL4, w.ipv4[0]!), `${w.name} ${w.ipv4[0]} in ${POOL4}`);
        assert.ok(inCidr(POOL6, w.ipv6[0]!), `${w.name} ${w.ipv6[0]} in ${POOL6}`);
        // The address is really on the workload's interface.
        assert.match(nsExec(w.ns, ['ip', '-6', 'addr', 'show', 'dev', 'eth0']), new RegExp(`inet6 ${plain(w.ipv6[0]!)}/128`));
      }
      assert.equal(v6('w1'), FIXED6);
      assert.equal(new Set(s.workloads.map((w) => v6(w.name))).size, s.workloads.length, 'IPv6 addresses are distinct');
      const backend = new SqliteBackend({ path: s.dbPath });
      let client = new ResourceClient(backend);
      try {
        // The resources brought an IPv6 pool: no default one besides it.
        const pools = (await client.list('IPPool')).map((p) => (p.spec as { cidr: string }).cidr).sort();
        assert.deepEqual(pools, [POOL4, POOL6].sort());
        const n1 = await client.get('Node', 'h1') as unknown as { spec: { bgp: { ipv4Address: string; ipv6Address?: string } } };
        assert.equal(n1.spec.bgp.ipv6Address, '2001:db8:ffff::1/64');
      } finally {
        await backend.close();
      }

      // ---- routes: each host has the other's IPv6 block via its IPv6 underlay address, proto 80 --
      const b6 = { h1: block6(v6('w2')), h2: block6(v6('w4')) };
      assert.equal(block6(v6('w3')), b6.h1, 'h1 workloads share a block');
      assert.notEqual(b6.h1, b6.h2, 'one block per host');
      const detail = (): string => s.hosts.map((h) => `${h.name}:\n${routes6(h.ns)}${routes4(h.ns)}`).join('\n');
      await eventually('h1 has h2\'s IPv6 block via 2001:db8:ffff::2', () => routes6(host('h1').ns).includes(`${b6.h2} via 2001:db8:ffff::2 dev eth0`), 90_000, detail);
      await eventually('h2 has h1\'s IPv6 block via 2001:db8:ffff::1', () => routes6(host('h2').ns).includes(`${b6.h1} via 2001:db8:ffff::1 dev eth0`), 90_000, detail);
      await eventually('h1 has h2\'s IPv4 block via 198.18.0.2', () => new RegExp(`^192\\.0\\.2\\.\\d+/26 via 198\\.18\\.0\\.2 dev eth0`, 'm').test(routes4(host('h1').ns)), 90_000, detail);
      assert.match(routes6(host('h1').ns), new RegExp(`^blackhole ${b6.h1.replace(/[.:]/g, (c) => `\\${c}`)} `, 'm'), 'local IPv6 block is a blackhole');
      // The IPv4 session to h2 must not carry h2's IPv6 block with some other next hop: exactly one route.
      assert.equal(routes6(host('h1').ns).split('\n').filter((l) => l.startsWith(`${b6.h2} `)).length, 1);

      // ---- BGP: one session per family, each carrying only its family's block -----------------
      const peersDetail = (): string => JSON.stringify(nodePeers(host('h1').ns) ?? null);
      await eventually('h1: IPv4 and IPv6 mesh sessions established, one prefix each way', () => {
        const peers = nodePeers(host('h1').ns);
        return peers !== undefined && JSON.stringify(peers.map((p) => [p.address, p.type, p.state, p.prefixesReceived, p.prefixesAdvertised]).sort()) === JSON.stringify([
          ['198.18.0.2', 'node-to-node mesh', 'established', 1, 1],
          ['2001:db8:ffff::2', 'node-to-node mesh', 'established', 1, 1],
        ]);
      }, 90_000, peersDetail);

      // ---- connectivity: IPv6 and IPv4, same host and across hosts ------------------------------
      for (const [a, b] of [['w3', 'w1'], ['w1', 'w3'], ['w5', 'w1'], ['w1', 'w5'], ['w3', 'w5'], ['w5', 'w3']] as const) {
        await eventually(`${a} → ${b} ping -6 ${v6(b)}`, () => ping(wl(a).ns, v6(b)), 60_000, detail);
        await eventually(`${a} → ${b} ping ${v4(b)}`, () => ping(wl(a).ns, v4(b)), 60_000, detail);
      }

      // ---- policy: role == bad denied into role == web, for IPv6 as for IPv4 ---------------------
      assert.equal(ping(wl('w2').ns, v6('w1')), false, 'bad → web IPv6 same host denied');
      assert.equal(ping(wl('w4').ns, v6('w1')), false, 'bad → web IPv6 across hosts denied');
      assert.equal(ping(wl('w2').ns, v4('w1')), false, 'bad → web IPv4 denied');
      assert.ok(ping(wl('w2').ns, v6('w3')), 'bad → good IPv6 allowed (policy selects web only)');
      assert.ok(ping(wl('w4').ns, v6('w5')), 'bad → good IPv6 allowed on h2');
      assert.ok(ping(wl('w3').ns, v6('w1')) && ping(wl('w5').ns, v6('w1')), 'good → web IPv6 allowed');

      // ---- `weft lab status` shows both addresses -----------------------------------------------
      const st = spawnSync(process.execPath, [MAIN, 'lab', 'status', name, '--state-root', stateRoot], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(st.status, 0, st.stderr);
      assert.match(st.stdout, /\(dual stack\)/);
      assert.match(st.stdout, /host h2\t198\.18\.0\.2\/24,2001:db8:ffff::2\/64/);
      for (const w of s.workloads) assert.ok(st.stdout.includes(`${w.ipv4[0]},${w.ipv6[0]}`), `${w.name} in:\n${st.stdout}`);

      // ---- removing the policy restores IPv6 (and IPv4) from bad ---------------------------------
      const b2 = new SqliteBackend({ path: s.dbPath });
      client = new ResourceClient(b2);
      try {
        await client.delete({ kind: 'NetworkPolicy', name: 'deny-bad', namespace: 'default' });
      } finally {
        await b2.close();
      }
      await eventually('bad → web IPv6 same host after policy removal', () => ping(wl('w2').ns, v6('w1')));
      await eventually('bad → web IPv6 across hosts after policy removal', () => ping(wl('w4').ns, v6('w1')));
      await eventually('bad → web IPv4 after policy removal', () => ping(wl('w2').ns, v4('w1')));
    });
  });

  test('flat mode (bgp: false): dual stack inferred from ip6, default IPv6 pool, routes via node IPv6 addresses', { timeout: 300_000 }, async () => {
    await withLab(`f${process.pid.toString(36)}`.slice(0, 12), FLAT_TOPOLOGY, { dumpLogsOf: ['h1', 'h2'] }, async ({ state: s, host, wl }) => {
      assert.equal(s.ipv6, true, 'a workload ip6 makes the lab dual stack');
      assert.equal(s.bgp, false);
      assert.equal(plain(wl('w1').ipv6[0]!), '2001:db8:1::2');
      assert.equal(wl('w1').ipv4.length, 1, 'w1 also got an IPv4 address from IPAM');
      assert.ok(inCidr(LAB_DEFAULT_POOL6.cidr, wl('w2').ipv6[0]!), `w2 ${wl('w2').ipv6[0]} in the default pool ${LAB_DEFAULT_POOL6.cidr}`);
      assert.ok(inCidr('192.0.2.0/24', wl('w2').ipv4[0]!));
      const detail = (): string => s.hosts.map((h) => `${h.name}:\n${routes6(h.ns)}`).join('\n');
      await eventually('h1 routes h2\'s IPv6 block via 2001:db8:ffff::2 (proto 80, no BGP)', () => routes6(host('h1').ns).includes(`${block6(wl('w2').ipv6[0]!)} via 2001:db8:ffff::2 dev eth0`), 60_000, detail);
      await eventually('h2 routes h1\'s IPv6 block via 2001:db8:ffff::1', () => routes6(host('h2').ns).includes(`${block6(wl('w1').ipv6[0]!)} via 2001:db8:ffff::1 dev eth0`), 60_000, detail);
      await eventually('w1 → w2 ping -6', () => ping(wl('w1').ns, plain(wl('w2').ipv6[0]!)), 60_000, detail);
      await eventually('w2 → w1 ping -6', () => ping(wl('w2').ns, '2001:db8:1::2'), 60_000, detail);
      await eventually('w2 → w1 ping (IPv4)', () => ping(wl('w2').ns, plain(wl('w1').ipv4[0]!)), 60_000, detail);
    });
  });
});
